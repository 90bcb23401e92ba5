using System.Buffers;

namespace MemorySql.Rewrite.Lexing;

/// <summary>A growable token list on pooled arrays; dispose it to return the array.</summary>
internal sealed class TokenBuffer : IDisposable
{
    private Token[] _items;

    public TokenBuffer(int capacity) => _items = ArrayPool<Token>.Shared.Rent(Math.Max(capacity, 16));

    public int Count { get; private set; }

    public ReadOnlySpan<Token> Span => _items.AsSpan(0, Count);

    public void Add(in Token token)
    {
        if (Count == _items.Length)
        {
            var bigger = ArrayPool<Token>.Shared.Rent(_items.Length * 2);
            _items.AsSpan(0, Count).CopyTo(bigger);
            ArrayPool<Token>.Shared.Return(_items);
            _items = bigger;
        }
        _items[Count++] = token;
    }

    public void Dispose()
    {
        if (_items.Length == 0) return;
        ArrayPool<Token>.Shared.Return(_items);
        _items = [];
        Count = 0;
    }
}
