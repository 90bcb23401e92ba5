# MemorySql in a container, for `docker compose up` (see docker-compose.yml). Not built by the tests.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/MemorySql/MemorySql.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/runtime:10.0
WORKDIR /app
COPY --from=build /app .
EXPOSE 6432
ENTRYPOINT ["dotnet", "/app/memorysql.dll"]
CMD ["serve", "--listen", "0.0.0.0", "--migrate", "--upstream", "postgresql://postgres:postgres@db:5432/postgres"]
