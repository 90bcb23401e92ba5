namespace MemorySql.Rewrite;

/// <summary>
/// A parameter the rewrite added: $<see cref="Number"/> carries the embedding of the text the client binds to
/// $<see cref="SourceParameter"/>. The proxy appends one value per injected parameter, in order of
/// <see cref="Number"/>, to every Bind of the statement.
/// </summary>
public readonly record struct InjectedParameter(int Number, int SourceParameter);
