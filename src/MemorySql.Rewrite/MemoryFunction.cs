namespace MemorySql.Rewrite;

/// <summary>
/// A memory routine whose text argument needs an embedding: where that argument sits when passed by
/// position (0-based) and its parameter name when passed by name (<c>recall(query => $1)</c>).
/// </summary>
/// <param name="Name">The routine's name, an unquoted lower-case SQL identifier such as <c>recall</c>.</param>
/// <param name="TextPosition">0-based position of the text argument among the positional arguments.</param>
/// <param name="TextParameter">The text parameter's name, for calls that pass it as a named argument.</param>
public sealed record MemoryFunction(string Name, int TextPosition, string TextParameter);
