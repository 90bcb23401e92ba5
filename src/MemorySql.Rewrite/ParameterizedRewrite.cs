namespace MemorySql.Rewrite;

/// <summary>A statement rewritten for the extended protocol: the SQL to send in Parse, and the parameters it added.</summary>
public sealed class ParameterizedRewrite
{
    internal ParameterizedRewrite(string sql, IReadOnlyList<InjectedParameter> injectedParameters)
    {
        Sql = sql;
        InjectedParameters = injectedParameters;
    }

    /// <summary>The SQL for Parse.</summary>
    public string Sql { get; }

    /// <summary>The added parameters in ascending order of number, consecutive from the first injected number.</summary>
    public IReadOnlyList<InjectedParameter> InjectedParameters { get; }
}
