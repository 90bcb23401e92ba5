namespace MemorySql;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        await Task.Yield();
        Console.WriteLine("memorysql: " + string.Join(' ', args));
        return 0;
    }
}
