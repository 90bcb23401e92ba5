using System.Globalization;
using System.Text;

namespace MemorySql.Embeddings.Builtin;

/// <summary>A token: a range of the normalised text buffer.</summary>
internal readonly record struct Token(int Start, int Length);

/// <summary>
/// Turns raw text into lower-case word tokens without allocating: letters and digits of every script
/// form words; punctuation, symbols and spaces separate them. Latin diacritics are folded ("café" →
/// "cafe"), a possessive "'s" is dropped and other in-word apostrophes join ("don't" → "dont"), and
/// tokens longer than the model's limit are cut. Text with no letters or digits at all ("👍", "?!")
/// falls back to its whitespace-separated runs, so it still gets a vector.
/// </summary>
internal static class TextNormalizer
{
    // Base letters for U+00E0–U+00FF and U+0100–U+017F after lower-casing; '\0' keeps the character.
    private const string Latin1Fold = "aaaaaa\0ceeeeiiii\0nooooo\0ouuuuy\0y";
    private const string LatinExtendedAFold =
        "aaaaaaccccccccdd" + "ddeeeeeeeeeegggg" + "gggghhhhiiiiiiii" + "ii\0\0jjkk\0lllllll" +
        "lllnnnnnn\0\0\0oooo" + "oo\0\0rrrrrrssssss" + "ssttttttuuuuuuuu" + "uuuuwwyyyzzzzzzs";

    /// <summary>
    /// Writes the normalised tokens of <paramref name="text"/> into <paramref name="buffer"/> (at least
    /// text.Length long) and their ranges into <paramref name="tokens"/> (at least text.Length / 2 + 1
    /// long); returns the number of tokens, zero only for empty or whitespace text.
    /// </summary>
    public static int Tokenize(ReadOnlySpan<char> text, Span<char> buffer, Span<Token> tokens, int maxTokenLength)
    {
        var count = WordTokens(text, buffer, tokens, maxTokenLength);
        return count > 0 ? count : WhitespaceTokens(text, buffer, tokens, maxTokenLength);
    }

    /// <summary>The capacity <see cref="Tokenize"/> needs for its token ranges.</summary>
    public static int MaxTokens(int textLength) => textLength / 2 + 1;

    private static int WordTokens(ReadOnlySpan<char> text, Span<char> buffer, Span<Token> tokens, int maxTokenLength)
    {
        var writer = new TokenWriter(buffer, tokens, maxTokenLength);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c < 0x80)
            {
                if (char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)) writer.Append(c);
                else if (char.IsAsciiLetterUpper(c)) writer.Append((char)(c | 0x20));
                else if (c == '\'') i = Apostrophe(text, i, ref writer);
                else writer.EndToken();
                continue;
            }
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var rune = Rune.ToLowerInvariant(new Rune(c, text[i + 1]));
                i++;
                if (Rune.IsLetterOrDigit(rune))
                {
                    if (rune.IsBmp)
                    {
                        writer.Append((char)rune.Value);
                    }
                    else
                    {
                        var offset = rune.Value - 0x10000;
                        writer.AppendPair((char)(0xD800 + (offset >> 10)), (char)(0xDC00 + (offset & 0x3FF)));
                    }
                }
                else
                {
                    writer.EndToken();
                }
                continue;
            }
            if (c == '\u2019')
            {
                i = Apostrophe(text, i, ref writer);
                continue;
            }
            var lower = char.ToLowerInvariant(c);
            if (char.IsLetterOrDigit(lower))
            {
                writer.Append(Fold(lower));
                continue;
            }
            switch (CharUnicodeInfo.GetUnicodeCategory(lower))
            {
                case UnicodeCategory.NonSpacingMark:
                    // A combining accent on a Latin letter ("e" + U+0301) folds away like "é" does;
                    // elsewhere (Devanagari vowel signs, …) marks are part of the word.
                    if (writer.InToken && writer.Last >= 0x250) writer.Append(lower);
                    break;
                case UnicodeCategory.SpacingCombiningMark:
                case UnicodeCategory.EnclosingMark:
                    if (writer.InToken) writer.Append(lower);
                    break;
                default:
                    writer.EndToken();
                    break;
            }
        }
        writer.EndToken();
        return writer.Count;
    }

    /// <summary>Handles ' or ’ at <paramref name="i"/>; returns the index of the last character consumed.</summary>
    private static int Apostrophe(ReadOnlySpan<char> text, int i, ref TokenWriter writer)
    {
        if (!writer.InToken || i + 1 >= text.Length || !char.IsLetter(text[i + 1]))
        {
            writer.EndToken();
            return i;
        }
        var next = text[i + 1];
        if ((next == 's' || next == 'S') && (i + 2 >= text.Length || !char.IsLetterOrDigit(text[i + 2])))
        {
            writer.EndToken(); // possessive: "Dana's" -> "dana"
            return i + 1;
        }
        return i; // elision: "don't" -> "dont"
    }

    private static char Fold(char lower)
    {
        if (lower < 0xE0) return lower;
        char folded;
        if (lower <= 0xFF) folded = Latin1Fold[lower - 0xE0];
        else if (lower <= 0x17F) folded = LatinExtendedAFold[lower - 0x100];
        else return lower == 'ς' ? 'σ' : lower;
        return folded == '\0' ? lower : folded;
    }

    private static int WhitespaceTokens(ReadOnlySpan<char> text, Span<char> buffer, Span<Token> tokens, int maxTokenLength)
    {
        var writer = new TokenWriter(buffer, tokens, maxTokenLength);
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c)) writer.EndToken();
            else writer.Append(char.ToLowerInvariant(c));
        }
        writer.EndToken();
        return writer.Count;
    }

    private ref struct TokenWriter
    {
        private readonly Span<char> _buffer;
        private readonly Span<Token> _tokens;
        private readonly int _maxTokenLength;
        private int _written;
        private int _tokenStart;

        public TokenWriter(Span<char> buffer, Span<Token> tokens, int maxTokenLength)
        {
            _buffer = buffer;
            _tokens = tokens;
            _maxTokenLength = maxTokenLength;
            _tokenStart = -1;
        }

        public int Count { get; private set; }
        public readonly bool InToken => _tokenStart >= 0;
        public readonly char Last => _written > 0 ? _buffer[_written - 1] : '\0';

        public void Append(char c)
        {
            if (_tokenStart < 0) _tokenStart = _written;
            if (_written - _tokenStart < _maxTokenLength) _buffer[_written++] = c;
        }

        public void AppendPair(char high, char low)
        {
            if (_tokenStart < 0) _tokenStart = _written;
            if (_written - _tokenStart + 2 > _maxTokenLength) return;
            _buffer[_written++] = high;
            _buffer[_written++] = low;
        }

        public void EndToken()
        {
            if (_tokenStart < 0) return;
            _tokens[Count++] = new Token(_tokenStart, _written - _tokenStart);
            _tokenStart = -1;
        }
    }
}
