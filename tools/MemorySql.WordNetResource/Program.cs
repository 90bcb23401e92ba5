using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace MemorySql.WordNetResource;

/// <summary>
/// Writes the concept table of the builtin embedding model from WordNet 3.0 (Princeton University; licence
/// in src/MemorySql.Embeddings/Builtin/Resources/WORDNET-LICENSE.txt): for every single-word lemma, the
/// concepts (synsets) it names, weighted — its most frequent senses, each sense's hypernyms, and the
/// synsets derivationally related to its first sense ("paint" ~ "painting") — and for every irregular
/// inflection ("chose", "mice", also when the form is a word itself, like "made") the lemma it belongs to. Output is deterministic: same input, same bytes.
/// Usage: MemorySql.WordNetResource &lt;wordnet dict folder&gt; &lt;output file&gt;
/// </summary>
internal static class Program
{
    /// <summary>How many senses of a word per part of speech count (WordNet lists them most frequent first).</summary>
    private const int SensesPerPos = 3;
    /// <summary>At most this many concepts per word (the highest weights).</summary>
    private const int MaxConcepts = 12;

    private static readonly (string File, char Pos, int Id)[] Parts = [("noun", 'n', 0), ("verb", 'v', 1), ("adj", 'a', 2), ("adv", 'r', 3)];

    public static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: MemorySql.WordNetResource <wordnet dict folder, e.g. /usr/share/wordnet> <output .bin>");
            return 2;
        }
        var dict = args[0];
        var synsets = new Dictionary<long, Synset>();
        foreach (var (file, _, id) in Parts) ReadData(Path.Combine(dict, "data." + file), id, synsets);

        var words = new SortedDictionary<string, Dictionary<long, float>>(StringComparer.Ordinal);
        foreach (var (file, _, id) in Parts) ReadIndex(Path.Combine(dict, "index." + file), id, synsets, words);

        var exceptions = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var (file, _, _) in Parts) ReadExceptions(Path.Combine(dict, file + ".exc"), exceptions);

        using var output = new MemoryStream();
        using (var z = new BrotliStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        using (var w = new BinaryWriter(z, Encoding.UTF8, leaveOpen: true))
        {
            w.Write("MSWN1"u8);
            w.Write(words.Count);
            foreach (var (word, concepts) in words)
            {
                w.Write(word);
                var top = concepts.OrderByDescending(c => c.Value).ThenBy(c => c.Key).Take(MaxConcepts).ToList();
                w.Write((byte)top.Count);
                foreach (var (concept, weight) in top)
                {
                    w.Write7BitEncodedInt((int)concept);
                    w.Write((byte)Math.Clamp((int)Math.Round(weight * 100), 1, 255));
                }
            }
            var usable = exceptions.Where(e => e.Value.Any(l => l != e.Key && words.ContainsKey(l))).ToList();
            w.Write(usable.Count);
            foreach (var (form, lemmas) in usable)
            {
                w.Write(form);
                w.Write(lemmas.First(l => l != form && words.ContainsKey(l)));
            }
            Console.Error.WriteLine($"{words.Count} words, {synsets.Count} synsets, {usable.Count} irregular forms");
        }
        File.WriteAllBytes(args[1], output.ToArray());
        Console.Error.WriteLine($"wrote {args[1]} ({output.Length / 1024} KiB)");
        return 0;
    }

    private sealed record Synset(List<long> Hypernyms, Dictionary<int, List<long>> Derived);

    /// <summary>A synset's id across the four files: part of speech in the top bits, byte offset below.</summary>
    private static long Key(int pos, long offset) => ((long)pos << 26) | offset;

    private static int PosId(string symbol) => symbol switch { "n" => 0, "v" => 1, "a" or "s" => 2, "r" => 3, _ => -1 };

    /// <summary>data.*: "offset lexfile ss_type w_cnt(hex) (word lex_id)* p_cnt (symbol offset pos source/target)* … | gloss".</summary>
    private static void ReadData(string path, int pos, Dictionary<long, Synset> synsets)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith(' ')) continue; // licence header
            var f = line.Split(' ');
            var offset = long.Parse(f[0], CultureInfo.InvariantCulture);
            var wordCount = int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var i = 4 + 2 * wordCount;
            var pointerCount = int.Parse(f[i++], CultureInfo.InvariantCulture);
            var synset = new Synset([], []);
            for (var p = 0; p < pointerCount; p++, i += 4)
            {
                var symbol = f[i];
                var target = Key(PosId(f[i + 2]), long.Parse(f[i + 1], CultureInfo.InvariantCulture));
                if (symbol is "@" or "@i") synset.Hypernyms.Add(target);
                else if (symbol is "+" or "\\" or "<")
                {
                    // Lexical pointer: source word number in the top two hex digits (00 = the whole synset).
                    var source = int.Parse(f[i + 3].AsSpan(0, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (!synset.Derived.TryGetValue(source, out var list)) synset.Derived[source] = list = [];
                    list.Add(target);
                }
            }
            synsets[Key(pos, offset)] = synset;
        }
    }

    /// <summary>index.*: "lemma pos synset_cnt p_cnt (symbol)* sense_cnt tagsense_cnt (offset)*", senses most frequent first.</summary>
    private static void ReadIndex(string path, int pos, Dictionary<long, Synset> synsets, SortedDictionary<string, Dictionary<long, float>> words)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith(' ')) continue;
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var lemma = f[0];
            if (!IsWord(lemma)) continue;
            var synsetCount = int.Parse(f[2], CultureInfo.InvariantCulture);
            var pointerCount = int.Parse(f[3], CultureInfo.InvariantCulture);
            var first = 4 + pointerCount + 2;
            if (!words.TryGetValue(lemma, out var concepts)) words[lemma] = concepts = [];
            for (var s = 0; s < Math.Min(synsetCount, SensesPerPos); s++)
            {
                var key = Key(pos, long.Parse(f[first + s], CultureInfo.InvariantCulture));
                var weight = 1f / (s + 1);
                Add(concepts, key, weight);
                if (!synsets.TryGetValue(key, out var synset)) continue;
                foreach (var hypernym in synset.Hypernyms)
                {
                    Add(concepts, hypernym, weight * 0.5f);
                    if (synsets.TryGetValue(hypernym, out var parent))
                        foreach (var grandparent in parent.Hypernyms) Add(concepts, grandparent, weight * 0.25f);
                }
                if (s == 0)
                    foreach (var related in synset.Derived.Values.SelectMany(v => v)) Add(concepts, related, 0.5f);
            }
        }
    }

    private static void Add(Dictionary<long, float> concepts, long key, float weight) =>
        concepts[key] = Math.Max(concepts.GetValueOrDefault(key), weight);

    /// <summary>*.exc: "inflected lemma [lemma…]".</summary>
    private static void ReadExceptions(string path, SortedDictionary<string, SortedSet<string>> exceptions)
    {
        foreach (var line in File.ReadLines(path))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2 || !IsWord(f[0])) continue;
            if (!exceptions.TryGetValue(f[0], out var lemmas)) exceptions[f[0]] = lemmas = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var lemma in f.Skip(1).Where(IsWord)) lemmas.Add(lemma);
        }
    }

    /// <summary>Single words of letters (the embedder's tokens); collocations ("motor_vehicle") and numbers are left out.</summary>
    private static bool IsWord(string lemma) => lemma.Length is > 1 and <= 24 && lemma.All(char.IsAsciiLetterLower);
}
