using System.Collections.ObjectModel;
using System.Globalization;

namespace MemorySql.Rewrite;

/// <summary>
/// How to rewrite one statement text: which texts need an embedding and where the extra arguments go.
/// Immutable and safe to share between connections: plan once per statement text, cache, render per use.
/// </summary>
/// <remarks>
/// Each rewritable call gets <c>, _embedding => …::vector, _model => '…'</c> just before its closing
/// parenthesis. Nothing is inserted next to a token the added text could merge with: it starts with a comma
/// and ends with a string constant, and the character after it is the call's own ")", so comments, missing
/// spaces and line breaks around the call stay valid SQL.
/// </remarks>
public sealed class RewritePlan
{
    /// <summary>PostgreSQL's limit on the parameters of one statement (Bind counts them in 16 bits).</summary>
    public const int MaxParameterCount = 65535;

    private const string VectorCast = "::vector";

    private readonly Insertion[] _literalInsertions;
    private readonly Insertion[] _allInsertions;
    private readonly string _embeddingPrefix;
    private readonly string _modelPrefix;

    internal RewritePlan(string sql, List<MemoryCallSite> sites, int maxParameterNumber, RewriteOptions options)
    {
        OriginalSql = sql;
        CallSites = sites.AsReadOnly();
        MaxParameterNumber = maxParameterNumber;
        _embeddingPrefix = ", " + options.EmbeddingArgument + " => ";
        _modelPrefix = ", " + options.ModelArgument + " => ";

        // Dictionaries, not IndexOf: a batch of thousands of CALL remember(…) must not plan in quadratic time.
        var literals = new List<string>();
        var literalIndexes = new Dictionary<string, int>(StringComparer.Ordinal);
        var parameters = new List<int>();
        var parameterSlots = new Dictionary<int, int>();
        var literalInsertions = new List<Insertion>();
        var allInsertions = new List<Insertion>();
        foreach (var site in sites)
        {
            switch (site.Kind)
            {
                case CallSiteKind.Literal:
                    if (!literalIndexes.TryGetValue(site.LiteralText!, out var index))
                    {
                        index = literals.Count;
                        literalIndexes.Add(site.LiteralText!, index);
                        literals.Add(site.LiteralText!);
                    }
                    site.LiteralIndex = index;
                    literalInsertions.Add(new Insertion(site.InsertAt, IsParameter: false, index));
                    allInsertions.Add(new Insertion(site.InsertAt, IsParameter: false, index));
                    break;
                case CallSiteKind.Parameter:
                    if (!parameterSlots.TryGetValue(site.ParameterNumber, out var slot))
                    {
                        slot = parameters.Count;
                        parameterSlots.Add(site.ParameterNumber, slot);
                        parameters.Add(site.ParameterNumber);
                    }
                    allInsertions.Add(new Insertion(site.InsertAt, IsParameter: true, slot));
                    break;
            }
        }
        LiteralTexts = literals.AsReadOnly();
        TextParameters = parameters.AsReadOnly();
        // Nested calls (recall(… reflect('x') …)) close in the opposite order of their names.
        _literalInsertions = [.. literalInsertions.OrderBy(i => i.Position)];
        _allInsertions = [.. allInsertions.OrderBy(i => i.Position)];
    }

    /// <summary>The statement text the plan was made for.</summary>
    public string OriginalSql { get; }

    /// <summary>Every call of a memory routine in the text, in order of position, including the ones left alone (with the reason).</summary>
    public IReadOnlyList<MemoryCallSite> CallSites { get; }

    /// <summary>
    /// The distinct literal texts to embed, in order of first appearance. Vectors passed to the render methods
    /// follow this order; each literal site's <see cref="MemoryCallSite.LiteralIndex"/> points here.
    /// </summary>
    public IReadOnlyList<string> LiteralTexts { get; }

    /// <summary>The distinct client parameters ($n) holding texts, in order of first appearance.</summary>
    public IReadOnlyList<int> TextParameters { get; }

    /// <summary>
    /// The highest $n anywhere in the text (0 when none). Injected parameters must be numbered above both this
    /// and the count of parameter types the Parse message declares, or PostgreSQL sees a gap.
    /// </summary>
    public int MaxParameterNumber { get; }

    /// <summary>
    /// For the simple protocol: every call whose text is a literal gets its vector inlined
    /// (<c>, _embedding => '[…]'::vector, _model => 'model'</c>). Calls whose text is a parameter are left
    /// alone (a simple Query has no parameters; PREPARE bodies are not rewritten).
    /// </summary>
    /// <param name="vectorTexts">pgvector text forms ("[0.1,…]"), one per <see cref="LiteralTexts"/> entry, in that order.</param>
    /// <param name="model">The model that produced the vectors.</param>
    public string RenderWithLiterals(IReadOnlyList<string> vectorTexts, string model)
    {
        CheckVectors(vectorTexts);
        ArgumentNullException.ThrowIfNull(model);
        return Render(_literalInsertions, vectorTexts, model, 0);
    }

    /// <summary>
    /// For the extended protocol (Parse): calls whose text is $n get <c>, _embedding => $k::vector, _model => 'model'</c>
    /// with k counted up from <paramref name="firstInjectedParameter"/> (one k per distinct $n); calls whose text
    /// is a literal get the inlined vector as in <see cref="RenderWithLiterals"/>.
    /// </summary>
    /// <param name="literalVectorTexts">Vectors of <see cref="LiteralTexts"/>, in that order (empty when there are none).</param>
    /// <param name="model">The model the proxy embeds with.</param>
    /// <param name="firstInjectedParameter">
    /// max(<see cref="MaxParameterNumber"/>, parameter types declared in Parse) + 1.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">The number is not above <see cref="MaxParameterNumber"/>, or the injected parameters would pass 65535.</exception>
    public ParameterizedRewrite RenderWithParameters(IReadOnlyList<string> literalVectorTexts, string model, int firstInjectedParameter)
    {
        CheckVectors(literalVectorTexts);
        ArgumentNullException.ThrowIfNull(model);
        if (firstInjectedParameter <= MaxParameterNumber || firstInjectedParameter < 1)
            throw new ArgumentOutOfRangeException(nameof(firstInjectedParameter), firstInjectedParameter,
                $"The first injected parameter must be above every parameter of the statement (the highest is ${MaxParameterNumber}).");
        if ((long)firstInjectedParameter + TextParameters.Count - 1 > MaxParameterCount)
            throw new ArgumentOutOfRangeException(nameof(firstInjectedParameter), firstInjectedParameter,
                $"Injecting {TextParameters.Count} parameter(s) from ${firstInjectedParameter} passes PostgreSQL's limit of {MaxParameterCount} parameters.");
        var injected = new InjectedParameter[TextParameters.Count];
        for (var k = 0; k < injected.Length; k++) injected[k] = new InjectedParameter(firstInjectedParameter + k, TextParameters[k]);
        var sql = Render(_allInsertions, literalVectorTexts, model, firstInjectedParameter);
        return new ParameterizedRewrite(sql, Array.AsReadOnly(injected));
    }

    /// <summary>
    /// The statement with, before the closing parenthesis of each call site that has one (<see cref="MemoryCallSite.InsertAt"/>
    /// ≥ 0), the text <paramref name="argumentsFor"/> returns for it (null or empty: nothing). The text must start with
    /// a comma, like the arguments the other render methods add. For rewrites beyond the embedding (the proxy's reflect path).
    /// </summary>
    public string Render(Func<MemoryCallSite, string?> argumentsFor)
    {
        ArgumentNullException.ThrowIfNull(argumentsFor);
        var inserts = new List<(int Position, string Text)>();
        foreach (var site in CallSites)
            if (site.InsertAt >= 0 && argumentsFor(site) is { Length: > 0 } text) inserts.Add((site.InsertAt, text));
        if (inserts.Count == 0) return OriginalSql;
        inserts.Sort((a, b) => a.Position.CompareTo(b.Position));
        var sb = new System.Text.StringBuilder(OriginalSql.Length + inserts.Sum(i => i.Text.Length));
        var read = 0;
        foreach (var (position, text) in inserts)
        {
            sb.Append(OriginalSql, read, position - read).Append(text);
            read = position;
        }
        return sb.Append(OriginalSql, read, OriginalSql.Length - read).ToString();
    }

    private void CheckVectors(IReadOnlyList<string> vectorTexts)
    {
        ArgumentNullException.ThrowIfNull(vectorTexts);
        if (vectorTexts.Count != LiteralTexts.Count)
            throw new ArgumentException(
                $"The plan has {LiteralTexts.Count} literal text(s) to embed but {vectorTexts.Count} vector(s) were given; pass one per LiteralTexts entry, in order.",
                nameof(vectorTexts));
        for (var i = 0; i < vectorTexts.Count; i++)
            if (vectorTexts[i] is null) throw new ArgumentException($"Vector {i} is null.", nameof(vectorTexts));
    }

    /// <summary>One exact-length allocation: the original segments with the added arguments between them.</summary>
    private string Render(Insertion[] insertions, IReadOnlyList<string> vectors, string model, int firstInjected)
    {
        if (insertions.Length == 0) return OriginalSql;
        var modelLength = SqlText.QuotedLength(model);
        var length = OriginalSql.Length;
        foreach (var insertion in insertions)
        {
            var value = insertion.IsParameter
                ? 1 + DigitCount(firstInjected + insertion.Index)
                : SqlText.QuotedLength(vectors[insertion.Index]);
            length += _embeddingPrefix.Length + value + VectorCast.Length + _modelPrefix.Length + modelLength;
        }
        return string.Create(length, new RenderState(this, insertions, vectors, model, firstInjected), static (span, state) => state.Plan.Write(span, state));
    }

    private void Write(Span<char> destination, in RenderState state)
    {
        var source = OriginalSql.AsSpan();
        var read = 0;
        var w = 0;
        foreach (var insertion in state.Insertions)
        {
            source[read..insertion.Position].CopyTo(destination[w..]);
            w += insertion.Position - read;
            read = insertion.Position;
            _embeddingPrefix.CopyTo(destination[w..]);
            w += _embeddingPrefix.Length;
            if (insertion.IsParameter)
            {
                destination[w++] = '$';
                (state.FirstInjected + insertion.Index).TryFormat(destination[w..], out var digits, default, CultureInfo.InvariantCulture);
                w += digits;
            }
            else
            {
                w += SqlText.WriteQuoted(destination[w..], state.Vectors[insertion.Index]);
            }
            VectorCast.CopyTo(destination[w..]);
            w += VectorCast.Length;
            _modelPrefix.CopyTo(destination[w..]);
            w += _modelPrefix.Length;
            w += SqlText.WriteQuoted(destination[w..], state.Model);
        }
        source[read..].CopyTo(destination[w..]);
    }

    private static int DigitCount(int value) => value < 10 ? 1 : (int)Math.Floor(Math.Log10(value)) + 1;

    private readonly record struct Insertion(int Position, bool IsParameter, int Index);

    private readonly record struct RenderState(RewritePlan Plan, Insertion[] Insertions, IReadOnlyList<string> Vectors, string Model, int FirstInjected);
}
