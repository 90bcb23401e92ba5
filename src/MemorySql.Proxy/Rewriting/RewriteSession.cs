using System.Buffers;
using System.Diagnostics;
using System.Text;
using MemorySql.Embeddings;
using MemorySql.Protocol;
using MemorySql.Rewrite;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace MemorySql.Proxy.Rewriting;

/// <summary>A prepared statement the proxy rewrote: the client sees <see cref="VisibleParameters"/>, PostgreSQL more.</summary>
/// <param name="Injected">The embedding parameters, one per client parameter holding a text.</param>
/// <param name="Reflects">Its reflect calls on the LLM path (each with four parameters after the embedding ones).</param>
/// <param name="Context">The proxy's reflect_context statement for those calls, with the client parameters it binds.</param>
internal sealed record StatementRewrite(int VisibleParameters, IReadOnlyList<InjectedParameter> Injected, IReadOnlyList<ReflectCall> Reflects,
    ReflectContextStatement? Context)
{
    /// <summary>Trailing parameters ParameterDescription hides from the client.</summary>
    public int Hidden => Injected.Count + Reflects.Count * ReflectCall.ParametersPerCall;
}

/// <summary>
/// The statement the proxy runs before a Bind of a statement with reflect calls: <c>SELECT reflect_context(…)::text, …</c>
/// with the calls' own arguments. <see cref="ClientParameters"/>[i] is the client parameter bound as $(i+1) (declared
/// type <see cref="Types"/>[i]); then one vector parameter per entry of <see cref="EmbeddingSources"/> (the client
/// parameter whose text it embeds).
/// </summary>
internal sealed record ReflectContextStatement(string Sql, int[] ClientParameters, int[] Types, int[] EmbeddingSources);

/// <summary>
/// The memory-call rewrite of one session (DESIGN §4): finds memory calls in Query and Parse, embeds their
/// texts, and keeps client and server in step — Bind gets the injected values, ParameterDescription hides
/// them, and the responses to messages the proxy adds are dropped. Called by the frontend loop (messages
/// from the client) and the backend loop (responses); the queues both use are locked.
/// </summary>
internal sealed class RewriteSession
{
    /// <summary>Name of the statement the proxy prepares to report an embedding failure at Execute.</summary>
    internal const string FailureStatement = "memorysql_embedding_failure";

    /// <summary>Name of the statement and portal the proxy uses for reflect_context before a Bind.</summary>
    internal const string ContextStatement = "memorysql_reflect_context";

    private readonly PlanCache _plans;
    private readonly IEmbeddingProvider _embeddings;
    private readonly ReflectSynthesizer? _synthesizer;
    private readonly ILogger _logger;
    private readonly long _sessionId;
    private readonly Dictionary<string, StatementRewrite> _statements = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly Queue<(long Generation, int Hide)> _describes = new();
    private readonly Queue<(long Generation, byte Type)> _dropped = new();
    private readonly Queue<ResponseCapture> _captures = new();
    // Frontend loop only: Sync/Query messages sent (the generation of what is being sent) and completion
    // responses owed for what was sent since the last one.
    private long _syncsSent;
    private long _unitsSent;
    // Backend loop, under _gate: ReadyForQuery seen, completion responses seen since, whether an error came since.
    private long _readySeen;
    private long _unitsReceived;
    private bool _errorSinceReady;
    private bool _aborted;
    // The cancel of the statement being rewritten (from the client's message until the proxy sends its own in its
    // place); null between statements. A CancelRequest cancels it, and every step checks it.
    private CancellationTokenSource? _statement;
    private volatile bool _clientEncodingIsUtf8 = true;
    private volatile bool _standardConformingStrings = true;

    public RewriteSession(PlanCache plans, IEmbeddingProvider embeddings, ILogger logger, long sessionId, ReflectSynthesizer? synthesizer = null)
    {
        _plans = plans;
        _embeddings = embeddings;
        _logger = logger;
        _sessionId = sessionId;
        _synthesizer = synthesizer;
    }

    /// <summary>
    /// Whether Query and Parse texts are rewritten: only while the client's encoding is UTF-8 (texts are read as
    /// UTF-8, and a rewritten text is sent as UTF-8: another encoding would garble the texts and corrupt the
    /// client's other literals) and standard_conforming_strings is on (the lexer reads '…' that way; with it off,
    /// '\x77' means "w"). Otherwise statements pass unchanged and the routines leave the embedding to the embed
    /// worker, which reads the stored text.
    /// </summary>
    public bool RewritesSql => _clientEncodingIsUtf8 && _standardConformingStrings;

    /// <summary>
    /// A ParameterStatus from the server (at startup, and after SET/RESET): follows client_encoding and
    /// standard_conforming_strings.
    /// </summary>
    public void OnParameterStatus(string name, string value)
    {
        switch (name)
        {
            case "client_encoding":
                // PostgreSQL reports the canonical name ("UTF8" also after SET client_encoding = 'unicode').
                _clientEncodingIsUtf8 = string.Equals(value, "UTF8", StringComparison.OrdinalIgnoreCase);
                break;
            case "standard_conforming_strings":
                _standardConformingStrings = !string.Equals(value, "off", StringComparison.OrdinalIgnoreCase);
                break;
            default:
                return;
        }
        _logger.LogDebug("Session {Session}: {Name} = {Value}: memory calls in SQL texts {State}", _sessionId, name, value,
            RewritesSql ? "are rewritten" : "pass unchanged");
    }

    /// <summary>True when the backend loop must count completion responses (the proxy may insert statements of its own).</summary>
    public bool TracksResponses => _synthesizer is not null;

    /// <summary>True when a Bind may need values appended.</summary>
    public bool HasRewrittenStatements => _statements.Count > 0;

    // ------------------------------------------------------------------ frontend: which messages to take over

    /// <summary>Query or Parse: true when the text may contain a memory call (the rewrite then takes the message).</summary>
    public bool MightRewrite(byte type, ReadOnlySpan<byte> message)
    {
        var payload = message[MessageHeader.Size..];
        if (type == FrontendCode.Parse)
        {
            var nameEnd = payload.IndexOf((byte)0);
            if (nameEnd < 0) return false; // malformed: PostgreSQL reports it
            var sql = payload[(nameEnd + 1)..];
            var sqlEnd = sql.IndexOf((byte)0);
            if (sqlEnd < 0) return false;
            if (RewritesSql && _plans.Rewriter.Prefilter.MightContainCall(sql[..sqlEnd])) return true;
            if (_statements.Count > 0) _statements.Remove(Encoding.UTF8.GetString(payload[..nameEnd])); // a new statement under that name
            return false;
        }
        return RewritesSql && _plans.Rewriter.Prefilter.MightContainCall(payload);
    }

    /// <summary>Bind: true when it binds a statement the proxy rewrote.</summary>
    public bool IsRewrittenBind(ReadOnlySpan<byte> message)
    {
        var reader = new WireReader(message);
        reader.ReadCString();
        return _statements.ContainsKey(reader.ReadCString());
    }

    /// <summary>Every message the frontend forwards whole passes here (in order) so responses can be matched to requests.</summary>
    public void OnForwarded(byte type, ReadOnlySpan<byte> message)
    {
        switch (type)
        {
            case FrontendCode.Sync:
            case FrontendCode.Query:
                NextGeneration();
                break;
            case FrontendCode.Describe when message.Length > MessageHeader.Size && message[MessageHeader.Size] == (byte)'S':
            {
                var reader = new WireReader(message);
                reader.ReadBytes(1);
                var hide = _statements.TryGetValue(reader.ReadCString(), out var rewrite) ? rewrite.Hidden : 0;
                lock (_gate) _describes.Enqueue((_syncsSent, hide));
                _unitsSent += 2; // ParameterDescription, then RowDescription or NoData
                break;
            }
            case FrontendCode.Close when message.Length > MessageHeader.Size && message[MessageHeader.Size] == (byte)'S':
            {
                var reader = new WireReader(message);
                reader.ReadBytes(1);
                _statements.Remove(reader.ReadCString());
                _unitsSent++;
                break;
            }
            default:
                CountSent(type);
                break;
        }
    }

    /// <summary>A message forwarded as it streams (Execute, Bind, …): counts the completion response it is owed.</summary>
    public void CountSent(byte type)
    {
        if (type is FrontendCode.Parse or FrontendCode.Bind or FrontendCode.Execute or FrontendCode.Close or FrontendCode.FunctionCall
            or FrontendCode.Describe)
            _unitsSent++;
    }

    private void NextGeneration()
    {
        _syncsSent++;
        _unitsSent = 0;
    }

    // ------------------------------------------------------------------ frontend: rewrites

    /// <summary>
    /// A simple Query with memory calls: embed the literal texts; for reflect calls on the LLM path, first run
    /// reflect_context on the client's own connection (its responses never reach the client) and ask the LLM; then
    /// send the rewritten text.
    /// </summary>
    public async ValueTask<byte[]> RewriteQueryAsync(ReadOnlyMemory<byte> message, MessageSink upstream)
    {
        var sql = ReadQueryText(message.Span);
        var plan = _plans.Get(sql);
        if (plan is null || plan.LiteralTexts.Count == 0) return SendQuery(message.ToArray());
        using var scope = BeginStatement();
        var (vectors, failure) = await EmbedAsync(plan.LiteralTexts, scope.Token).ConfigureAwait(false);
        failure ??= CanceledBefore("the statement", scope.Token);
        if (failure is not null) return SendQuery(new MessageBuilder().Query(FailingStatement(failure)).ToArray());
        // A blank text is bad input, not something to embed: PostgreSQL's own check reports it (22023).
        if (!AllEmbedded(vectors!, out var embedded)) return SendQuery(message.ToArray());

        var reflects = ReflectCall.Plan(plan, _synthesizer is not null, literalOnly: true);
        if (reflects.Count == 0) return SendQuery(new MessageBuilder().Query(plan.RenderWithLiterals(embedded, _embeddings.Model)).ToArray());

        var arguments = new Dictionary<MemoryCallSite, ReflectArguments>();
        var llm = reflects.Where(r => r.Mode == ReflectMode.Llm).ToList();
        if (llm.Count > 0)
        {
            var context = "SELECT " + string.Join(", ", llm.Select(r =>
                $"memory.reflect_context({r.ContextArguments}, _embedding => {SqlText.Quote(embedded[r.Site.LiteralIndex])}::vector, _model => {SqlText.Quote(_embeddings.Model)})::text"));
            var capture = BeginCapture(expectedUnits: 0);
            NextGeneration();
            await upstream.WriteMessagesAsync(new MessageBuilder().Query(context).WrittenMemory).ConfigureAwait(false);
            var result = await capture.Completion.Task.ConfigureAwait(false);
            if (result.ErrorResponse is not null)
            {
                // The client has its error (the backend passed it on); an empty statement gives it its ReadyForQuery.
                lock (_gate) _dropped.Enqueue((_syncsSent, BackendCode.EmptyQueryResponse));
                return SendQuery(new MessageBuilder().Query("").ToArray());
            }
            // A cancel that came while reflect_context ran may have found the server done with it (and been dropped
            // there): the statement is still the client's, so it ends here with 57014 rather than asking the LLM.
            var synthesized = await SynthesizeAsync(llm, result.Rows.Count > 0 ? result.Rows[0] : null, scope.StartedAt, scope.Token).ConfigureAwait(false);
            var failed = synthesized.Failure ?? CanceledBefore("the reflect call", scope.Token);
            if (failed is not null) return SendQuery(new MessageBuilder().Query(FailingStatement(failed)).ToArray());
            arguments = synthesized.Arguments!;
        }
        foreach (var call in reflects.Where(r => r.Mode == ReflectMode.Offline)) arguments[call.Site] = ReflectArguments.Offline(call.OfflineReason!);

        var model = SqlText.Quote(_embeddings.Model);
        var rendered = plan.Render(site =>
        {
            if (site.Kind != CallSiteKind.Literal) return null;
            var embedding = $", _embedding => {SqlText.Quote(embedded[site.LiteralIndex])}::vector, _model => {model}";
            return arguments.TryGetValue(site, out var a) ? embedding + a.ToSql() : embedding;
        });
        return SendQuery(new MessageBuilder().Query(rendered).ToArray());
    }

    private byte[] SendQuery(byte[] query)
    {
        NextGeneration();
        return query;
    }

    /// <summary>A Parse with memory calls: literal texts inlined, parameter texts get an injected $k::vector; reflect calls their LLM parameters.</summary>
    public async ValueTask<byte[]> RewriteParseAsync(ReadOnlyMemory<byte> message)
    {
        string name, sql;
        int[] types;
        {
            var reader = new WireReader(message.Span);
            name = reader.ReadCString();
            sql = reader.ReadCString();
            types = new int[Math.Max((int)reader.ReadInt16(), 0)];
            for (var i = 0; i < types.Length; i++) types[i] = reader.ReadInt32();
        }
        _statements.Remove(name);
        _unitsSent++; // ParseComplete, whatever is sent in its place
        var plan = _plans.Get(sql);
        if (plan is null || (plan.LiteralTexts.Count == 0 && plan.TextParameters.Count == 0)) return message.ToArray();

        string[] literalVectors = [];
        if (plan.LiteralTexts.Count > 0)
        {
            using var scope = BeginStatement();
            var (vectors, failure) = await EmbedAsync(plan.LiteralTexts, scope.Token).ConfigureAwait(false);
            failure ??= CanceledBefore("the statement", scope.Token);
            if (failure is not null)
            {
                // The statement reports the failure when it runs (Execute), inside the client's own pipeline.
                return ParseMessage(name, FailingStatement(failure), []);
            }
            // A blank literal text is bad input: the statement goes as the client wrote it and PostgreSQL reports it.
            if (!AllEmbedded(vectors!, out var embedded)) return message.ToArray();
            literalVectors = embedded;
        }
        var visible = Math.Max(plan.MaxParameterNumber, types.Length);
        var reflects = ReflectCall.Plan(plan, _synthesizer is not null, literalOnly: false);
        if (reflects.All(r => r.Mode == ReflectMode.None))
        {
            var rewrite = plan.RenderWithParameters(literalVectors, _embeddings.Model, visible + 1);
            if (rewrite.InjectedParameters.Count > 0) _statements[name] = new StatementRewrite(visible, rewrite.InjectedParameters, [], null);
            // Types of the injected parameters are left to PostgreSQL (0): "$k::vector" makes them vector.
            var allTypes = new int[types.Length == 0 && rewrite.InjectedParameters.Count == 0 ? 0 : visible + rewrite.InjectedParameters.Count];
            types.CopyTo(allTypes, 0);
            return ParseMessage(name, rewrite.Sql, allTypes);
        }

        // Embedding parameters first (one per client parameter holding a text), then four per reflect call on the LLM path.
        var first = visible + 1;
        var injected = plan.TextParameters.Select((source, slot) => new InjectedParameter(first + slot, source)).ToList();
        var next = first + injected.Count;
        var llm = new List<ReflectCall>();
        foreach (var call in reflects.Where(r => r.Mode == ReflectMode.Llm))
        {
            llm.Add(call with { FirstParameter = next });
            next += ReflectCall.ParametersPerCall;
        }
        var model = SqlText.Quote(_embeddings.Model);
        string EmbeddingOf(MemoryCallSite site) => site.Kind == CallSiteKind.Literal
            ? $"{SqlText.Quote(literalVectors[site.LiteralIndex])}::vector"
            : $"${(first + IndexOf(plan.TextParameters, site.ParameterNumber)).ToString(CultureInfo.InvariantCulture)}::vector";
        var rendered = plan.Render(site =>
        {
            if (site.Kind is not (CallSiteKind.Literal or CallSiteKind.Parameter)) return null;
            var text = $", _embedding => {EmbeddingOf(site)}, _model => {model}";
            if (llm.Find(c => c.Site == site) is { } call)
            {
                var p = call.FirstParameter;
                text += string.Create(CultureInfo.InvariantCulture,
                    $", _synthesis => ${p}::text, _sources => ${p + 1}::uuid[], _llm => ${p + 2}::jsonb, _offline_reason => ${p + 3}::text");
            }
            else if (reflects.Find(c => c.Site == site) is { Mode: ReflectMode.Offline } offline)
            {
                text += ", _offline_reason => " + SqlText.Quote(offline.OfflineReason!);
            }
            return text;
        });

        ReflectContextStatement? context = null;
        if (llm.Count > 0)
        {
            // reflect_context with the calls' own arguments; the client parameters they use renumbered from $1, then the vectors.
            var numbers = new Dictionary<int, int>();
            var columns = llm.Select(c => (Call: c, Arguments: ReflectCall.Renumber(sql, c.Site, numbers))).ToList();
            var embeddingSources = new List<int>();
            var parts = new List<string>();
            foreach (var (call, arguments) in columns)
            {
                string vector;
                if (call.Site.Kind == CallSiteKind.Literal)
                {
                    vector = $"{SqlText.Quote(literalVectors[call.Site.LiteralIndex])}::vector";
                }
                else
                {
                    embeddingSources.Add(call.Site.ParameterNumber);
                    vector = $"${(numbers.Count + embeddingSources.Count).ToString(CultureInfo.InvariantCulture)}::vector";
                }
                parts.Add($"memory.reflect_context({arguments}, _embedding => {vector}, _model => {model})::text");
            }
            var clientParameters = numbers.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray();
            var contextTypes = clientParameters.Select(p => p <= types.Length ? types[p - 1] : 0).Concat(embeddingSources.Select(_ => 0)).ToArray();
            context = new ReflectContextStatement("SELECT " + string.Join(", ", parts), clientParameters, contextTypes, [.. embeddingSources]);
        }
        if (injected.Count > 0 || llm.Count > 0) _statements[name] = new StatementRewrite(visible, injected, llm, context);
        var hidden = injected.Count + llm.Count * ReflectCall.ParametersPerCall;
        var parseTypes = new int[types.Length == 0 && hidden == 0 ? 0 : visible + hidden];
        types.CopyTo(parseTypes, 0);
        return ParseMessage(name, rendered, parseTypes);
    }

    /// <summary>
    /// A Bind of a rewritten statement: embed the bound texts and append them as the injected parameters; for reflect
    /// calls on the LLM path, first run reflect_context with the bound values (responses kept from the client), ask the
    /// LLM, and append what reflect should record.
    /// </summary>
    public async ValueTask<byte[]> RewriteBindAsync(ReadOnlyMemory<byte> message, MessageSink upstream)
    {
        string portal, statement;
        short[] formats;
        (int Length, int Offset)[] values;
        byte[] resultFormatsTail;
        {
            var reader = new WireReader(message.Span);
            portal = reader.ReadCString();
            statement = reader.ReadCString();
            formats = new short[Math.Max((int)reader.ReadInt16(), 0)];
            for (var i = 0; i < formats.Length; i++) formats[i] = reader.ReadInt16();
            values = new (int, int)[Math.Max((int)reader.ReadInt16(), 0)];
            for (var i = 0; i < values.Length; i++)
            {
                var length = reader.ReadInt32();
                var offset = message.Length - reader.Rest.Length;
                if (length > 0) reader.ReadBytes(length);
                values[i] = (length, offset);
            }
            resultFormatsTail = reader.Rest.ToArray();
        }
        var rewrite = _statements[statement];
        if (values.Length != rewrite.VisibleParameters)
        {
            _unitsSent++;
            return message.ToArray(); // PostgreSQL reports the count mismatch
        }

        // The texts to embed: each injected parameter's source $n, in text or binary format (both UTF-8 for text).
        // Bound since the client left UTF-8: the statement still needs its values, NULL vectors (the worker embeds).
        // (standard_conforming_strings does not matter here: bound values are not quoted.)
        var texts = new List<string>();
        var textOf = new Dictionary<int, int>(); // client parameter -> index in texts
        var utf8 = _clientEncodingIsUtf8;
        foreach (var source in rewrite.Injected.Select(i => i.SourceParameter).Concat(rewrite.Context?.EmbeddingSources ?? []))
        {
            if (textOf.ContainsKey(source)) continue;
            var (length, offset) = values[source - 1];
            if (length < 0 || !utf8)
            {
                textOf[source] = -1;
                continue;
            }
            textOf[source] = texts.Count;
            texts.Add(Encoding.UTF8.GetString(message.Span.Slice(offset, length)));
        }
        using var scope = BeginStatement();
        string?[] vectors = [];
        if (texts.Count > 0)
        {
            var (embedded, failure) = await EmbedAsync(texts, scope.Token).ConfigureAwait(false);
            if (failure is not null) return FailingBind(portal, failure);
            vectors = embedded!;
        }
        if (CanceledBefore("the bound values", scope.Token) is { } canceled) return FailingBind(portal, canceled);
        string? VectorOf(int source) => textOf[source] < 0 ? null : vectors[textOf[source]];
        short FormatOf(int parameter) => formats.Length == 0 ? (short)0 : formats.Length == 1 ? formats[0] : formats[parameter - 1];

        var reflectValues = new List<string?>();
        if (rewrite.Context is { } context)
        {
            var arguments = ReflectArgumentsForNone(rewrite.Reflects);
            var result = await RunContextAsync(context, upstream, values, message, FormatOf, VectorOf).ConfigureAwait(false);
            if (!result.Skipped && result.ErrorResponse is null)
            {
                // As for a simple query: a cancel the server dropped because reflect_context had finished still counts.
                var synthesized = await SynthesizeAsync(rewrite.Reflects, result.Rows.Count > 0 ? result.Rows[0] : null, scope.StartedAt, scope.Token).ConfigureAwait(false);
                var failed = synthesized.Failure ?? CanceledBefore("the reflect call's values", scope.Token);
                if (failed is not null) return FailingBind(portal, failed);
                arguments = synthesized.Arguments!;
            }
            foreach (var call in rewrite.Reflects)
            {
                var a = arguments[call.Site];
                reflectValues.Add(a.Synthesis);
                reflectValues.Add(a.SourcesText);
                reflectValues.Add(a.Llm);
                reflectValues.Add(a.OfflineReason);
            }
        }

        var b = new MessageBuilder(message.Length + 64 * (rewrite.Injected.Count + 1) + reflectValues.Sum(v => v?.Length ?? 0));
        b.StartMessage(FrontendCode.Bind).WriteCString(portal).WriteCString(statement);
        var total = values.Length + rewrite.Injected.Count + reflectValues.Count;
        if (formats.Length == 0 || (formats.Length == 1 && formats[0] == 0))
        {
            b.WriteInt16((short)formats.Length);
            foreach (var f in formats) b.WriteInt16(f);
        }
        else
        {
            // One code for all (binary), or one per parameter: spell out one per parameter, text for the injected ones.
            b.WriteInt16((short)total);
            for (var i = 0; i < values.Length; i++) b.WriteInt16(formats.Length == 1 ? formats[0] : formats[i]);
            for (var k = 0; k < rewrite.Injected.Count + reflectValues.Count; k++) b.WriteInt16(0);
        }
        b.WriteInt16((short)total);
        foreach (var (length, offset) in values)
        {
            b.WriteInt32(length);
            if (length > 0) b.WriteBytes(message.Span.Slice(offset, length));
        }
        foreach (var value in rewrite.Injected.Select(i => VectorOf(i.SourceParameter)).Concat(reflectValues))
        {
            if (value is null)
            {
                b.WriteInt32(-1);
                continue;
            }
            var bytes = Encoding.UTF8.GetBytes(value);
            b.WriteInt32(bytes.Length).WriteBytes(bytes);
        }
        b.WriteBytes(resultFormatsTail);
        _unitsSent++;
        return b.EndMessage().ToArray();
    }

    private static int IndexOf(IReadOnlyList<int> list, int value)
    {
        for (var i = 0; i < list.Count; i++)
            if (list[i] == value) return i;
        return -1;
    }

    private static Dictionary<MemoryCallSite, ReflectArguments> ReflectArgumentsForNone(IReadOnlyList<ReflectCall> calls) =>
        calls.ToDictionary(c => c.Site, _ => ReflectArguments.None);

    /// <summary>
    /// Runs the reflect_context statement before the client's Bind: Close, Parse, Bind, Execute and Close again (seven
    /// completion responses), then Flush so the server answers now. The backend loop takes the responses out of the
    /// stream; an error is passed on to the client (its Bind fails the same way), and the server then skips the client's
    /// messages up to Sync as it would have.
    /// </summary>
    private async Task<CaptureResult> RunContextAsync(ReflectContextStatement context, MessageSink upstream, (int Length, int Offset)[] values,
        ReadOnlyMemory<byte> bind, Func<int, short> formatOf, Func<int, string?> vectorOf)
    {
        var b = new MessageBuilder(bind.Length + 512 + context.Sql.Length);
        b.StartMessage(FrontendCode.Close).WriteByte((byte)'P').WriteCString(ContextStatement).EndMessage();
        b.StartMessage(FrontendCode.Close).WriteByte((byte)'S').WriteCString(ContextStatement).EndMessage();
        b.WriteBytes(ParseMessage(ContextStatement, context.Sql, context.Types));
        b.StartMessage(FrontendCode.Bind).WriteCString(ContextStatement).WriteCString(ContextStatement);
        var count = context.ClientParameters.Length + context.EmbeddingSources.Length;
        b.WriteInt16((short)count);
        foreach (var p in context.ClientParameters) b.WriteInt16(formatOf(p));
        foreach (var _ in context.EmbeddingSources) b.WriteInt16(0);
        b.WriteInt16((short)count);
        foreach (var p in context.ClientParameters)
        {
            var (length, offset) = values[p - 1];
            b.WriteInt32(length);
            if (length > 0) b.WriteBytes(bind.Span.Slice(offset, length));
        }
        foreach (var source in context.EmbeddingSources)
        {
            if (vectorOf(source) is not { } vector)
            {
                b.WriteInt32(-1);
                continue;
            }
            var bytes = Encoding.UTF8.GetBytes(vector);
            b.WriteInt32(bytes.Length).WriteBytes(bytes);
        }
        b.WriteInt16(0); // result columns: text
        b.EndMessage();
        b.StartMessage(FrontendCode.Execute).WriteCString(ContextStatement).WriteInt32(0).EndMessage();
        b.StartMessage(FrontendCode.Close).WriteByte((byte)'P').WriteCString(ContextStatement).EndMessage();
        b.StartMessage(FrontendCode.Close).WriteByte((byte)'S').WriteCString(ContextStatement).EndMessage();
        b.StartMessage(FrontendCode.Flush).EndMessage();
        const int Units = 7;
        var capture = BeginCapture(Units);
        _unitsSent += Units;
        await upstream.WriteMessagesAsync(b.WrittenMemory).ConfigureAwait(false);
        return await capture.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// The LLM's part for each reflect call, from the context row (one text column per call, in order). A client cancel
    /// gives 57014, and so does the session's statement_timeout (reported by reflect_context), counted from
    /// <paramref name="startedAt"/>: the LLM, with its own timeout and retries, may take minutes, which a client that
    /// set a statement_timeout does not expect a statement to take.
    /// </summary>
    private async Task<(Dictionary<MemoryCallSite, ReflectArguments>? Arguments, PgError? Failure)> SynthesizeAsync(IReadOnlyList<ReflectCall> calls, string?[]? row,
        long startedAt, CancellationToken cancellationToken)
    {
        var statementTimeout = row is null ? null : ReflectSynthesizer.StatementTimeout(Array.Find(row, c => c is not null));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (statementTimeout is { } limit)
            deadline.CancelAfter(TimeSpan.FromTicks(Math.Max((limit - Stopwatch.GetElapsedTime(startedAt)).Ticks, 0)));
        try
        {
            var arguments = new Dictionary<MemoryCallSite, ReflectArguments>();
            for (var i = 0; i < calls.Count; i++)
            {
                var context = row is not null && i < row.Length ? row[i] : null;
                // Off the socket thread, like embeddings: building the prompt and parsing the answer is CPU work.
                arguments[calls[i].Site] = await Task.Run(() => _synthesizer!.SynthesizeAsync(context, _sessionId, deadline.Token), deadline.Token).ConfigureAwait(false);
            }
            return (arguments, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return (null, QueryCanceled("MemorySql was waiting for the LLM to answer reflect."));
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return (null, PgError.Error(SqlStates.QueryCanceled, "canceling statement due to statement timeout",
                detail: string.Create(CultureInfo.InvariantCulture,
                    $"MemorySql was waiting for the LLM to answer reflect; statement_timeout is {statementTimeout!.Value.TotalMilliseconds:0} ms, counted from when MemorySql received the statement."),
                hint: "Raise statement_timeout for reflect (SET LOCAL statement_timeout = ...), or configure a faster LLM."));
        }
    }

    // ------------------------------------------------------------------ backend: keep the client's view

    /// <summary>ReadyForQuery: everything the proxy expected from the batches before it is settled.</summary>
    public void OnReadyForQuery()
    {
        lock (_gate) ReadyForQueryLocked();
    }

    private void ReadyForQueryLocked()
    {
        _readySeen++;
        _unitsReceived = 0;
        _errorSinceReady = false;
        while (_describes.Count > 0 && _describes.Peek().Generation < _readySeen) _describes.Dequeue();
        while (_dropped.Count > 0 && _dropped.Peek().Generation < _readySeen) _dropped.Dequeue();
        // A capture of a finished batch that never started (the server skipped it) is over.
        while (_captures.Count > 0 && _captures.Peek().Generation < _readySeen && !_captures.Peek().IsSimpleQuery)
            _captures.Dequeue().Completion.TrySetResult(CaptureResult.WasSkipped);
    }

    /// <summary>True when a response of this type answers a message the proxy added, and must not reach the client.</summary>
    public bool ShouldDrop(byte type)
    {
        lock (_gate)
        {
            if (_dropped.Count == 0 || _dropped.Peek().Type != type || _dropped.Peek().Generation != _readySeen) return false;
            _dropped.Dequeue();
            return true;
        }
    }

    public bool HasPendingDrops
    {
        get
        {
            lock (_gate) return _dropped.Count > 0;
        }
    }

    /// <summary>ParameterDescription: how many trailing (injected) parameter types to hide.</summary>
    public int ParametersToHide()
    {
        lock (_gate)
        {
            while (_describes.Count > 0 && _describes.Peek().Generation < _readySeen) _describes.Dequeue();
            return _describes.Count > 0 ? _describes.Dequeue().Hide : 0;
        }
    }

    public bool HasPendingDescribes
    {
        get
        {
            lock (_gate) return _describes.Count > 0;
        }
    }

    // ------------------------------------------------------------------ backend: the proxy's own statements

    /// <summary>A completion response (see <see cref="ResponseCapture"/>) that goes to the client.</summary>
    public void OnCompletion()
    {
        lock (_gate) _unitsReceived++;
    }

    /// <summary>An ErrorResponse that goes to the client: the server now skips to Sync, including any statement of the proxy's queued in this batch.</summary>
    public void OnError()
    {
        lock (_gate)
        {
            _errorSinceReady = true;
            while (_captures.Count > 0 && !_captures.Peek().IsSimpleQuery && _captures.Peek().Generation == _readySeen)
                _captures.Dequeue().Completion.TrySetResult(CaptureResult.WasSkipped);
        }
    }

    /// <summary>True when the next response (other than a notice, a parameter status or a notification) is the proxy's.</summary>
    public bool IsCapturing
    {
        get
        {
            lock (_gate)
            {
                if (_captures.Count == 0) return false;
                var head = _captures.Peek();
                return head.Generation == _readySeen && _unitsReceived >= head.UnitsBefore;
            }
        }
    }

    /// <summary>
    /// A response to the proxy's own statement: rows are kept, completion responses counted, the end of the
    /// statement completes the capture. Returns what must still reach the client: an error (the client's statement
    /// would fail the same way), told in terms of reflect, not of the proxy's statement.
    /// </summary>
    public byte[]? Capture(byte type, ReadOnlySpan<byte> message)
    {
        lock (_gate)
        {
            var head = _captures.Peek();
            switch (type)
            {
                case BackendCode.DataRow:
                    head.Rows.Add(ReadDataRow(message));
                    return null;
                case BackendCode.ErrorResponse:
                    head.Error = message.ToArray();
                    _errorSinceReady = true;
                    if (!head.IsSimpleQuery) Complete(head);
                    return AsReflectError(message);
                case BackendCode.ReadyForQuery:
                    _captures.Dequeue();
                    head.Completion.TrySetResult(new CaptureResult(head.Rows, head.Error, false));
                    ReadyForQueryLocked();
                    return null;
                case BackendCode.ParseComplete or BackendCode.BindComplete or BackendCode.CloseComplete or BackendCode.ParameterDescription
                    or BackendCode.RowDescription or BackendCode.NoData or BackendCode.CommandComplete or BackendCode.EmptyQueryResponse
                    or BackendCode.PortalSuspended or BackendCode.FunctionCallResponse:
                    _unitsReceived++;
                    head.UnitsSeen++;
                    if (!head.IsSimpleQuery && head.UnitsSeen >= head.ExpectedUnits) Complete(head);
                    return null;
                default:
                    return null;
            }
        }
    }

    /// <summary>
    /// An error of the proxy's reflect_context statement as the client's reflect call would have raised it: the
    /// routine named as reflect, without the cursor position and internal query (they point into the proxy's text).
    /// </summary>
    private static byte[] AsReflectError(ReadOnlySpan<byte> message)
    {
        var b = new MessageBuilder(message.Length).StartMessage(BackendCode.ErrorResponse);
        var payload = message[MessageHeader.Size..];
        while (!payload.IsEmpty && payload[0] != 0)
        {
            var code = payload[0];
            payload = payload[1..];
            var end = payload.IndexOf((byte)0);
            if (end < 0) end = payload.Length;
            var value = Encoding.UTF8.GetString(payload[..end]);
            payload = end < payload.Length ? payload[(end + 1)..] : [];
            if (code is (byte)'P' or (byte)'p' or (byte)'q') continue;
            b.WriteByte(code).WriteCString(value.Replace("memory.reflect_context", "reflect", StringComparison.Ordinal)
                .Replace("reflect_context", "reflect", StringComparison.Ordinal));
        }
        return b.WriteByte(0).EndMessage().ToArray();
    }

    private void Complete(ResponseCapture head)
    {
        _captures.Dequeue();
        head.Completion.TrySetResult(new CaptureResult(head.Rows, head.Error, false));
    }

    /// <summary>The connection ended: nothing more will answer the proxy's statements.</summary>
    public void Abort()
    {
        lock (_gate)
        {
            _aborted = true;
            while (_captures.Count > 0)
                _captures.Dequeue().Completion.TrySetException(new IOException("the upstream connection ended before MemorySql's own statement was answered"));
        }
    }

    /// <summary>Registers the responses to the messages about to be sent as the proxy's (see <see cref="ResponseCapture"/>).</summary>
    private ResponseCapture BeginCapture(int expectedUnits)
    {
        var capture = new ResponseCapture(_syncsSent, _unitsSent, expectedUnits);
        lock (_gate)
        {
            if (_aborted)
                capture.Completion.TrySetException(new IOException("the upstream connection ended"));
            else if (expectedUnits > 0 && capture.Generation == _readySeen && _errorSinceReady)
                capture.Completion.TrySetResult(CaptureResult.WasSkipped); // the server is already skipping to Sync
            else
                _captures.Enqueue(capture);
        }
        return capture;
    }

    /// <summary>The columns of a DataRow as text (the proxy asks for text results), NULL as null.</summary>
    private static string?[] ReadDataRow(ReadOnlySpan<byte> message)
    {
        var payload = message[MessageHeader.Size..];
        var count = System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(payload);
        var columns = new string?[Math.Max((int)count, 0)];
        var at = 2;
        for (var i = 0; i < columns.Length; i++)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(payload[at..]);
            at += 4;
            if (length < 0) continue;
            columns[i] = Encoding.UTF8.GetString(payload.Slice(at, length));
            at += length;
        }
        return columns;
    }

    // ------------------------------------------------------------------ cancel

    /// <summary>
    /// A CancelRequest for this session: cancels the statement being rewritten, if one is (the client then gets 57014).
    /// Whatever step it is at — embedding, waiting for the LLM, or between two steps while the server is idle and would
    /// drop the cancel — it stops before the next one. A cancel while no statement is being rewritten is the server's.
    /// </summary>
    public void CancelStatement()
    {
        lock (_gate) _statement?.Cancel();
    }

    /// <summary>Starts the cancel scope of a statement being rewritten; disposing it ends the scope.</summary>
    private StatementScope BeginStatement()
    {
        var cancel = new CancellationTokenSource();
        lock (_gate) _statement = cancel;
        return new StatementScope(this, cancel, Stopwatch.GetTimestamp());
    }

    private readonly struct StatementScope(RewriteSession session, CancellationTokenSource cancel, long startedAt) : IDisposable
    {
        public CancellationToken Token => cancel.Token;

        /// <summary>When the proxy received the statement (<see cref="Stopwatch"/> timestamp).</summary>
        public long StartedAt => startedAt;

        public void Dispose()
        {
            // Cleared under the lock before it is disposed: CancelStatement never cancels a disposed source.
            lock (session._gate)
                if (session._statement == cancel) session._statement = null;
            cancel.Dispose();
        }
    }

    /// <summary>57014 when the statement was canceled before the proxy sent <paramref name="what"/> to the server; null otherwise.</summary>
    private static PgError? CanceledBefore(string what, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested ? QueryCanceled($"The cancel came before MemorySql had sent {what} to the server.") : null;

    private static PgError QueryCanceled(string detail) =>
        PgError.Error(SqlStates.QueryCanceled, "canceling statement due to user request", detail: detail);

    // ------------------------------------------------------------------ helpers

    /// <summary>
    /// The pgvector text form of each text's embedding, in order; null for a blank text (empty or white space),
    /// which is not sent to the provider: it is bad input for the routine, and PostgreSQL's own argument check
    /// (22023, naming the argument) is the right answer, not a provider error.
    /// </summary>
    private async ValueTask<(string?[]? Vectors, PgError? Failure)> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        var result = new string?[texts.Count];
        var toEmbed = new List<string>(texts.Count);
        foreach (var text in texts)
            if (!string.IsNullOrWhiteSpace(text)) toEmbed.Add(text);
        if (toEmbed.Count == 0) return (result, null);

        try
        {
            // Off the socket thread: the relay's continuations run inline on the epoll loop shared by every session,
            // and computing embeddings is CPU work (the builtin model's first use loads WordNet for a second or more):
            // done there, it would hold up every other session's bytes, and their cancels, meanwhile.
            var vectors = await Task.Run(() => _embeddings.EmbedAsync(toEmbed, cancellationToken).AsTask(), cancellationToken).ConfigureAwait(false);
            if (vectors.Length != toEmbed.Count)
                throw new EmbeddingException(_embeddings.Model, $"returned {vectors.Length} vectors for {toEmbed.Count} texts", isTransient: false);
            for (int i = 0, v = 0; i < texts.Count; i++)
                if (!string.IsNullOrWhiteSpace(texts[i])) result[i] = VectorText.Format(vectors[v++]);
            return (result, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return (null, QueryCanceled($"MemorySql was computing embeddings with the model {_embeddings.Model}."));
        }
        catch (Exception e)
        {
            _logger.LogWarning("Session {Session}: embedding provider {Model} failed: {Message}", _sessionId, _embeddings.Model, e.Message);
            return (null, PgError.Error(EmbeddingException.SqlState,
                $"the embedding provider for model \"{_embeddings.Model}\" failed: {e.Message}",
                hint: "The statement was not run. Check the provider (MemorySql logs and configuration) and retry."));
        }
    }

    /// <summary>True when every text got a vector (none was blank).</summary>
    private static bool AllEmbedded(string?[] vectors, out string[] embedded)
    {
        embedded = Array.ConvertAll(vectors, v => v ?? "");
        return Array.IndexOf(vectors, null) < 0;
    }

    /// <summary>
    /// A statement that makes PostgreSQL itself raise the error, so its transaction state (failed inside a
    /// block, skip-to-Sync in the extended protocol) matches what the client is told.
    /// </summary>
    internal static string FailingStatement(PgError error)
    {
        static string Quote(string s) => "'" + s.Replace("'", "''", StringComparison.Ordinal).Replace("$memorysql$", "$ memorysql$", StringComparison.Ordinal) + "'";
        var sb = new StringBuilder("DO $memorysql$BEGIN RAISE EXCEPTION USING ERRCODE = ").Append(Quote(error.SqlState))
            .Append(", MESSAGE = ").Append(Quote(error.Message));
        if (error.Detail is not null) sb.Append(", DETAIL = ").Append(Quote(error.Detail));
        if (error.Hint is not null) sb.Append(", HINT = ").Append(Quote(error.Hint));
        return sb.Append("; END$memorysql$").ToString();
    }

    /// <summary>
    /// In place of a Bind whose texts could not be embedded: bind the client's portal to a statement that
    /// raises the error, so the client's Execute reports it. The Close and Parse responses are dropped.
    /// </summary>
    private byte[] FailingBind(string portal, PgError error)
    {
        var b = new MessageBuilder();
        b.StartMessage(FrontendCode.Close).WriteByte((byte)'S').WriteCString(FailureStatement).EndMessage();
        b.WriteBytes(ParseMessage(FailureStatement, FailingStatement(error), []));
        b.StartMessage(FrontendCode.Bind).WriteCString(portal).WriteCString(FailureStatement).WriteInt16(0).WriteInt16(0).WriteInt16(0).EndMessage();
        lock (_gate)
        {
            _dropped.Enqueue((_syncsSent, BackendCode.CloseComplete));
            _dropped.Enqueue((_syncsSent, BackendCode.ParseComplete));
        }
        _unitsSent += 3;
        return b.ToArray();
    }

    private static byte[] ParseMessage(string name, string sql, int[] types)
    {
        var b = new MessageBuilder(sql.Length + 64).StartMessage(FrontendCode.Parse).WriteCString(name).WriteCString(sql).WriteInt16((short)types.Length);
        foreach (var t in types) b.WriteInt32(t);
        return b.EndMessage().ToArray();
    }

    private static string ReadQueryText(ReadOnlySpan<byte> message)
    {
        var reader = new WireReader(message);
        return reader.ReadCString();
    }
}
