namespace MemorySql.Rewrite.Lexing;

internal enum TokenKind : byte
{
    /// <summary>An unquoted name or keyword (PostgreSQL folds it to lower case).</summary>
    Identifier,
    /// <summary>"…" or U&amp;"…" (with its UESCAPE clause, if any).</summary>
    QuotedIdentifier,
    /// <summary>Any string constant; <see cref="Token.Form"/> says which.</summary>
    String,
    /// <summary>$n; <see cref="Token.Value"/> is n.</summary>
    Parameter,
    Number,
    Operator,
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
    Comma,
    Semicolon,
    Dot,
    Colon,
    /// <summary>::</summary>
    TypeCast,
    /// <summary>:= (the old named-argument syntax)</summary>
    ColonEquals,
    /// <summary>=></summary>
    EqualsGreater,
    /// <summary>A character PostgreSQL's grammar has no use for (\, {, a lone $ …).</summary>
    Other,
}

internal enum StringForm : byte
{
    None,
    /// <summary>'…' (backslash escapes too when standard_conforming_strings is off)</summary>
    Standard,
    /// <summary>E'…'</summary>
    Escape,
    /// <summary>U&amp;'…' [UESCAPE 'c']</summary>
    Unicode,
    /// <summary>B'…'</summary>
    Bit,
    /// <summary>X'…'</summary>
    Hex,
    /// <summary>N'…' (a character(n) constant)</summary>
    National,
    /// <summary>$tag$…$tag$</summary>
    Dollar,
}

/// <summary>
/// One token: its kind and its extent [Start, End) in the SQL text. For a string the extent covers every
/// continuation part and a UESCAPE clause; <see cref="Value"/> is a parameter's number or a Unicode
/// escape character (0 for the default backslash).
/// </summary>
internal readonly record struct Token(TokenKind Kind, int Start, int End, StringForm Form = StringForm.None, int Value = 0)
{
    public int Length => End - Start;
}
