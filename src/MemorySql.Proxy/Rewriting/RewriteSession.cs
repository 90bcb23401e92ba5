using System.Buffers;
using System.Text;
using MemorySql.Embeddings;
using MemorySql.Protocol;
using MemorySql.Rewrite;
using Microsoft.Extensions.Logging;

namespace MemorySql.Proxy.Rewriting;

/// <summary>A prepared statement the proxy rewrote: the client sees <see cref="VisibleParameters"/>, PostgreSQL more.</summary>
internal sealed record StatementRewrite(int VisibleParameters, IReadOnlyList<InjectedParameter> Injected);

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

    private readonly PlanCache _plans;
    private readonly IEmbeddingProvider _embeddings;
    private readonly ILogger _logger;
    private readonly long _sessionId;
    private readonly Dictionary<string, StatementRewrite> _statements = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly Queue<(long Generation, int Hide)> _describes = new();
    private readonly Queue<(long Generation, byte Type)> _dropped = new();
    private long _syncsSent;
    private long _readySeen;
    private CancellationTokenSource? _embedding;
    private volatile bool _clientEncodingIsUtf8 = true;
    private volatile bool _standardConformingStrings = true;

    public RewriteSession(PlanCache plans, IEmbeddingProvider embeddings, ILogger logger, long sessionId)
    {
        _plans = plans;
        _embeddings = embeddings;
        _logger = logger;
        _sessionId = sessionId;
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

    /// <summary>Every message the frontend forwards passes here (in order) so responses can be matched to requests.</summary>
    public void OnForwarded(byte type, ReadOnlySpan<byte> message)
    {
        switch (type)
        {
            case FrontendCode.Sync:
            case FrontendCode.Query:
                _syncsSent++;
                break;
            case FrontendCode.Describe when message.Length > MessageHeader.Size && message[MessageHeader.Size] == (byte)'S':
            {
                var reader = new WireReader(message);
                reader.ReadBytes(1);
                var hide = _statements.TryGetValue(reader.ReadCString(), out var rewrite) ? rewrite.Injected.Count : 0;
                lock (_gate) _describes.Enqueue((_syncsSent, hide));
                break;
            }
            case FrontendCode.Close when message.Length > MessageHeader.Size && message[MessageHeader.Size] == (byte)'S':
            {
                var reader = new WireReader(message);
                reader.ReadBytes(1);
                _statements.Remove(reader.ReadCString());
                break;
            }
        }
    }

    // ------------------------------------------------------------------ frontend: rewrites

    /// <summary>A simple Query with memory calls: embed the literal texts and send the rewritten text.</summary>
    public async ValueTask<byte[]> RewriteQueryAsync(ReadOnlyMemory<byte> message)
    {
        var sql = ReadQueryText(message.Span);
        var plan = _plans.Get(sql);
        _syncsSent++;
        if (plan is null || plan.LiteralTexts.Count == 0) return message.ToArray();
        var (vectors, failure) = await EmbedAsync(plan.LiteralTexts).ConfigureAwait(false);
        if (failure is not null) return new MessageBuilder().Query(FailingStatement(failure)).ToArray();
        // A blank text is bad input, not something to embed: PostgreSQL's own check reports it (22023).
        if (!AllEmbedded(vectors!, out var embedded)) return message.ToArray();
        return new MessageBuilder().Query(plan.RenderWithLiterals(embedded, _embeddings.Model)).ToArray();
    }

    /// <summary>A Parse with memory calls: literal texts inlined, parameter texts get an injected $k::vector.</summary>
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
        var plan = _plans.Get(sql);
        if (plan is null || (plan.LiteralTexts.Count == 0 && plan.TextParameters.Count == 0)) return message.ToArray();

        IReadOnlyList<string> literalVectors = [];
        if (plan.LiteralTexts.Count > 0)
        {
            var (vectors, failure) = await EmbedAsync(plan.LiteralTexts).ConfigureAwait(false);
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
        var rewrite = plan.RenderWithParameters(literalVectors, _embeddings.Model, visible + 1);
        if (rewrite.InjectedParameters.Count > 0) _statements[name] = new StatementRewrite(visible, rewrite.InjectedParameters);
        // Types of the injected parameters are left to PostgreSQL (0): "$k::vector" makes them vector.
        var allTypes = new int[types.Length == 0 && rewrite.InjectedParameters.Count == 0 ? 0 : visible + rewrite.InjectedParameters.Count];
        types.CopyTo(allTypes, 0);
        return ParseMessage(name, rewrite.Sql, allTypes);
    }

    /// <summary>A Bind of a rewritten statement: embed the bound texts and append them as the injected parameters.</summary>
    public async ValueTask<byte[]> RewriteBindAsync(ReadOnlyMemory<byte> message)
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
        if (values.Length != rewrite.VisibleParameters) return message.ToArray(); // PostgreSQL reports the count mismatch

        // The texts to embed: each injected parameter's source $n, in text or binary format (both UTF-8 for text).
        // Bound since the client left UTF-8: the statement still needs its values, NULL vectors (the worker embeds).
        // (standard_conforming_strings does not matter here: bound values are not quoted.)
        var texts = new List<string>();
        var textIndex = new int[rewrite.Injected.Count];
        var utf8 = _clientEncodingIsUtf8;
        for (var k = 0; k < rewrite.Injected.Count; k++)
        {
            var (length, offset) = values[rewrite.Injected[k].SourceParameter - 1];
            if (length < 0 || !utf8)
            {
                textIndex[k] = -1;
                continue;
            }
            textIndex[k] = texts.Count;
            texts.Add(Encoding.UTF8.GetString(message.Span.Slice(offset, length)));
        }
        string?[] vectors = [];
        if (texts.Count > 0)
        {
            var (embedded, failure) = await EmbedAsync(texts).ConfigureAwait(false);
            if (failure is not null) return FailingBind(portal, failure);
            vectors = embedded!;
        }

        var b = new MessageBuilder(message.Length + 64 * (rewrite.Injected.Count + 1));
        b.StartMessage(FrontendCode.Bind).WriteCString(portal).WriteCString(statement);
        var total = values.Length + rewrite.Injected.Count;
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
            for (var k = 0; k < rewrite.Injected.Count; k++) b.WriteInt16(0);
        }
        b.WriteInt16((short)total);
        foreach (var (length, offset) in values)
        {
            b.WriteInt32(length);
            if (length > 0) b.WriteBytes(message.Span.Slice(offset, length));
        }
        for (var k = 0; k < rewrite.Injected.Count; k++)
        {
            // NULL text or blank text (nothing to embed; the routine reports a blank text itself) → NULL vector.
            if (textIndex[k] < 0 || vectors[textIndex[k]] is null)
            {
                b.WriteInt32(-1);
                continue;
            }
            var vector = Encoding.UTF8.GetBytes(vectors[textIndex[k]]!);
            b.WriteInt32(vector.Length).WriteBytes(vector);
        }
        b.WriteBytes(resultFormatsTail);
        return b.EndMessage().ToArray();
    }

    // ------------------------------------------------------------------ backend: keep the client's view

    /// <summary>ReadyForQuery: everything the proxy expected from the batches before it is settled.</summary>
    public void OnReadyForQuery()
    {
        lock (_gate)
        {
            _readySeen++;
            while (_describes.Count > 0 && _describes.Peek().Generation < _readySeen) _describes.Dequeue();
            while (_dropped.Count > 0 && _dropped.Peek().Generation < _readySeen) _dropped.Dequeue();
        }
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

    // ------------------------------------------------------------------ cancel

    /// <summary>A CancelRequest for this session: stop an embedding in progress (the client then gets 57014).</summary>
    public void CancelEmbedding()
    {
        lock (_gate) _embedding?.Cancel();
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>
    /// The pgvector text form of each text's embedding, in order; null for a blank text (empty or white space),
    /// which is not sent to the provider: it is bad input for the routine, and PostgreSQL's own argument check
    /// (22023, naming the argument) is the right answer, not a provider error.
    /// </summary>
    private async ValueTask<(string?[]? Vectors, PgError? Failure)> EmbedAsync(IReadOnlyList<string> texts)
    {
        var result = new string?[texts.Count];
        var toEmbed = new List<string>(texts.Count);
        foreach (var text in texts)
            if (!string.IsNullOrWhiteSpace(text)) toEmbed.Add(text);
        if (toEmbed.Count == 0) return (result, null);

        var cancel = new CancellationTokenSource();
        lock (_gate) _embedding = cancel;
        try
        {
            var vectors = await _embeddings.EmbedAsync(toEmbed, cancel.Token).ConfigureAwait(false);
            if (vectors.Length != toEmbed.Count)
                throw new EmbeddingException(_embeddings.Model, $"returned {vectors.Length} vectors for {toEmbed.Count} texts", isTransient: false);
            for (int i = 0, v = 0; i < texts.Count; i++)
                if (!string.IsNullOrWhiteSpace(texts[i])) result[i] = VectorText.Format(vectors[v++]);
            return (result, null);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return (null, PgError.Error(SqlStates.QueryCanceled, "canceling statement due to user request",
                detail: $"MemorySql was computing embeddings with the model {_embeddings.Model}."));
        }
        catch (Exception e)
        {
            _logger.LogWarning("Session {Session}: embedding provider {Model} failed: {Message}", _sessionId, _embeddings.Model, e.Message);
            return (null, PgError.Error(EmbeddingException.SqlState,
                $"the embedding provider for model \"{_embeddings.Model}\" failed: {e.Message}",
                hint: "The statement was not run. Check the provider (MemorySql logs and configuration) and retry."));
        }
        finally
        {
            lock (_gate) _embedding = null;
            cancel.Dispose();
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
