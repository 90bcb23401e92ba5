namespace MemorySql.Rewrite.Tests;

/// <summary>The text a call receives, decoded from every string form PostgreSQL has.</summary>
public sealed class LiteralDecodingTests
{
    [Theory]
    [InlineData("'plain'", "plain")]
    [InlineData("''", "")]
    [InlineData("'it''s'", "it's")]
    [InlineData("''''", "'")]
    [InlineData("'back\\slash'", "back\\slash")]
    [InlineData("'line\nbreak'", "line\nbreak")]
    [InlineData("'naïve café 日本 😀'", "naïve café 日本 😀")]
    [InlineData("'recall(''x'') -- not a comment /* nor this */'", "recall('x') -- not a comment /* nor this */")]
    public void StandardStrings(string literal, string expected) => Assert.Equal(expected, Decode(literal));

    [Theory]
    [InlineData("E'\\n'", "\n")]
    [InlineData("e'a\\tb\\rc\\fd\\be'", "a\tb\rc\fd\be")]
    [InlineData("E'\\x41'", "A")]
    [InlineData("E'\\x4g'", "\u0004g")]
    [InlineData("E'\\xg'", "xg")]
    [InlineData("E'\\101\\60\\0601'", "A001")]
    [InlineData("E'\\xC3\\xA9'", "é")]
    [InlineData("E'\\u00e9'", "é")]
    [InlineData("E'\\U0001F600'", "😀")]
    [InlineData("E'\\uD83D\\uDE00'", "😀")]
    [InlineData("E'it\\'s'", "it's")]
    [InlineData("E'it''s'", "it's")]
    [InlineData("E'\\\\'", "\\")]
    [InlineData("E'\\q\\v'", "qv")]
    [InlineData("E'\\é'", "é")]
    public void EscapeStrings(string literal, string expected) => Assert.Equal(expected, Decode(literal));

    [Theory]
    [InlineData("U&'d\\0061t\\+000061'", "data")]
    [InlineData("u&'d!0061t' UESCAPE '!'", "dat")]
    [InlineData("U&'d!0061t!!' uescape '!'", "dat!")]
    [InlineData("U&'a\\\\b'", "a\\b")]
    [InlineData("U&'\\D83D\\DE00'", "😀")]
    [InlineData("U&'it''s'", "it's")]
    [InlineData("U&'x#0079' /* c */ UESCAPE -- c\n '#'", "xy")]
    public void UnicodeStrings(string literal, string expected) => Assert.Equal(expected, Decode(literal));

    [Theory]
    [InlineData("$$it's$$", "it's")]
    [InlineData("$tag$ $$ ' \\n $tag$", " $$ ' \\n ")]
    [InlineData("$a$x$b$a$", "x$b")]
    [InlineData("$ü$ü$ü$", "ü")]
    public void DollarQuotedStrings(string literal, string expected) => Assert.Equal(expected, Decode(literal));

    [Theory]
    [InlineData("'a'\n'b'", "ab")]
    [InlineData("'a'  \r\n\t  'b'", "ab")]
    [InlineData("'a' -- comment\n-- another\n 'b'\n'c'", "abc")]
    [InlineData("E'a\\n'\n'\\x41'", "a\nA")]
    [InlineData("U&'\\0061'\n'!0062' UESCAPE '!'", "\\0061b")]
    [InlineData("N'a '\n'b  '", "a b")]
    public void ContinuationAcrossNewlines_ConcatenatesParts(string literal, string expected) => Assert.Equal(expected, Decode(literal));

    [Fact]
    public void StringsWithoutNewlineBetween_AreNotOneLiteral()
    {
        // 'a' 'b' is a syntax error in PostgreSQL; it is certainly not the literal "ab".
        Assert.Equal(CallSiteKind.NotRewritable, Sql.Single("SELECT * FROM recall('a' 'b')").Kind);
        Assert.Equal(CallSiteKind.NotRewritable, Sql.Single("SELECT * FROM recall('a' /* c */\n'b')").Kind);
    }

    [Theory]
    [InlineData("N'abc'", "abc")]
    [InlineData("n'abc   '", "abc")]
    [InlineData("N' a '", " a")]
    public void NationalStrings_LoseTrailingSpacesAsCharacterValuesDo(string literal, string expected) => Assert.Equal(expected, Decode(literal));

    [Fact]
    public void WithoutStandardConformingStrings_PlainStringsTakeBackslashEscapes()
    {
        var rewriter = new SqlRewriter(new RewriteOptions { StandardConformingStrings = false });
        Assert.Equal("a\nb", Sql.LiteralOf("SELECT * FROM recall('a\\nb')", rewriter));
        Assert.Equal("it's", Sql.LiteralOf("SELECT * FROM recall('it\\'s')", rewriter));
        Assert.Equal("a') recall('b", Sql.LiteralOf("SELECT * FROM recall('a\\') recall(\\'b')", rewriter));
        Assert.Equal(CallSiteKind.NotRewritable, Sql.Single("SELECT * FROM recall(U&'x')", rewriter).Kind);
    }

    [Fact]
    public void WithStandardConformingStrings_ABackslashDoesNotEscapeTheQuote()
    {
        var sites = Sql.Sites("SELECT * FROM recall('a\\') , reflect('b')");
        Assert.Equal(["a\\", "b"], sites.Select(s => s.LiteralText));
    }

    private static string? Decode(string literal) => Sql.LiteralOf($"SELECT * FROM recall({literal})");
}
