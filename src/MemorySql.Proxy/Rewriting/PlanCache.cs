using System.Collections.Concurrent;
using MemorySql.Rewrite;

namespace MemorySql.Proxy.Rewriting;

/// <summary>
/// Rewrite plans per statement text, shared by all sessions (plans are immutable). "Nothing to rewrite" is
/// cached too. Bounded: when full it starts over, which costs a re-plan, never a wrong answer.
/// </summary>
internal sealed class PlanCache
{
    private readonly ConcurrentDictionary<string, RewritePlan?> _plans = new(StringComparer.Ordinal);
    private readonly SqlRewriter _rewriter;
    private readonly int _capacity;

    public PlanCache(SqlRewriter rewriter, int capacity = 10_000)
    {
        _rewriter = rewriter;
        _capacity = capacity;
    }

    public SqlRewriter Rewriter => _rewriter;

    public RewritePlan? Get(string sql)
    {
        if (_plans.TryGetValue(sql, out var plan)) return plan;
        plan = _rewriter.Plan(sql);
        if (_plans.Count >= _capacity) _plans.Clear();
        _plans[sql] = plan;
        return plan;
    }
}
