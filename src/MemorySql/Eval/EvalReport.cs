using System.Globalization;
using System.Text;

namespace MemorySql.Eval;

/// <summary>Results of one ranking mode (lexical, vector, hybrid) over every question.</summary>
internal sealed class ModeResult
{
    public ModeResult(string mode) => Mode = mode;

    public string Mode { get; }
    /// <summary>Per question: category and the evidence fraction found at each k.</summary>
    public List<(int Category, double[] RecallAtK)> Questions { get; } = [];
    public List<double> LatenciesMs { get; } = [];

    public double Mean(int? category, int kIndex)
    {
        var rows = Questions.Where(q => category is null || q.Category == category).Select(q => q.RecallAtK[kIndex]).Where(v => !double.IsNaN(v)).ToList();
        return rows.Count == 0 ? double.NaN : rows.Average() * 100;
    }

    public int Count(int? category) => Questions.Count(q => (category is null || q.Category == category) && !double.IsNaN(q.RecallAtK[0]));
}

/// <summary>Writes the evaluation as a Markdown table and a PNG chart.</summary>
internal static class EvalReport
{
    public static readonly (int Id, string Name)[] Categories =
        [(1, "multi-hop"), (2, "temporal"), (3, "open-domain"), (4, "single-hop"), (5, "adversarial")];

    /// <summary>Published anchors over all ten LoCoMo conversations (LoCoMo paper, Table 3), by k.</summary>
    public static readonly (string Name, Dictionary<int, double> ByK)[] Anchors =
    [
        ("DRAGON (published, 10 conv.)", new() { [5] = 56.7, [10] = 66.2, [25] = 76.7, [50] = 82.7 }),
        ("BM25 (published, 10 conv.)", new() { [5] = 51.7, [10] = 58.5, [25] = 66.9, [50] = 71.4 }),
    ];

    public static string Markdown(IReadOnlyList<ModeResult> modes, IReadOnlyList<int> ks, LocomoLoadReport load, TimeSpan ingestion, int memories, string dataPath, string? environment = null)
    {
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine(inv, $"Evidence recall (mean % of a question's evidence turns in the top k) on `{Path.GetFileName(dataPath)}`: {(modes.Count > 0 ? modes[0].Count(null) : 0)} scored questions, {memories} memories.");
        md.AppendLine();
        md.Append("| mode | category | n |");
        foreach (var k in ks) md.Append(inv, $" k={k} |");
        md.AppendLine();
        md.Append("|---|---|---:|");
        foreach (var _ in ks) md.Append("---:|");
        md.AppendLine();
        foreach (var mode in modes)
        {
            foreach (var (id, name) in Categories.Append((0, "**overall**")))
            {
                int? cat = id == 0 ? null : id;
                md.Append(inv, $"| {mode.Mode} | {name} | {mode.Count(cat)} |");
                for (var i = 0; i < ks.Count; i++) md.Append(inv, $" {Format(mode.Mean(cat, i), id == 0)} |");
                md.AppendLine();
            }
        }
        foreach (var (name, byK) in Anchors)
        {
            md.Append(inv, $"| {name} | overall | 1986 |");
            foreach (var k in ks) md.Append(byK.TryGetValue(k, out var v) ? v.ToString("0.0", inv) : "–").Append(" |");
            md.AppendLine();
        }
        md.AppendLine();
        md.AppendLine("| mode | recall p50 (ms) | recall p95 (ms) |");
        md.AppendLine("|---|---:|---:|");
        foreach (var mode in modes)
            md.AppendLine(inv, $"| {mode.Mode} | {RetrievalMetrics.Percentile(mode.LatenciesMs, 50):0.00} | {RetrievalMetrics.Percentile(mode.LatenciesMs, 95):0.00} |");
        md.AppendLine();
        md.AppendLine(inv, $"Ingestion: {memories} memories in {ingestion.TotalSeconds:0.0} s ({memories / Math.Max(ingestion.TotalSeconds, 1e-9):0} memories/s, through the proxy, embeddings included).");
        if (environment is not null) md.AppendLine(inv, $"Measured on: {environment}; every call through the proxy as the conversation's workspace role; {Environment.ProcessorCount} CPUs, load average {LoadAverage()}.");
        md.AppendLine(inv, $"Data: {load.Questions} questions; {load.NormalisedEvidenceIds} evidence ids normalised, {load.DroppedEvidenceIds} dropped (malformed or pointing to no turn), {load.QuestionsWithoutEvidence} questions without usable evidence (not scored).");
        return md.ToString();

        static string Format(double v, bool bold) => double.IsNaN(v) ? "–" : bold ? $"**{v.ToString("0.0", CultureInfo.InvariantCulture)}**" : v.ToString("0.0", CultureInfo.InvariantCulture);
    }

    /// <summary>The 1-minute load average (Linux), so a latency figure says how busy the machine was.</summary>
    private static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static readonly (byte, byte, byte)[] Palette = [(0x4C, 0x78, 0xA8), (0xF5, 0x85, 0x18), (0x54, 0xA2, 0x4B), (0xB2, 0x79, 0xA2), (0xE4, 0x57, 0x56), (0x72, 0xB7, 0xB2), (0x9D, 0x75, 0x5D), (0x6B, 0x6B, 0x6B)];

    /// <summary>Two panels: per-category bars at k = 10 for each mode, and overall recall against k with the published anchors.</summary>
    public static void Chart(IReadOnlyList<ModeResult> modes, IReadOnlyList<int> ks, string path, string title)
    {
        var white = ((byte)255, (byte)255, (byte)255);
        var ink = ((byte)40, (byte)40, (byte)40);
        var grid = ((byte)225, (byte)225, (byte)225);
        var canvas = new Canvas(1400, 620, white);
        canvas.Text(30, 16, title, ink, 3);

        // Left panel: bars by category at k = 10 (or the k nearest to it).
        var kIndex = ks.Select((k, i) => (k, i)).OrderBy(x => Math.Abs(x.k - 10)).First().i;
        int left = 80, top = 80, width = 760, height = 420;
        Axes(canvas, left, top, width, height, ink, grid);
        canvas.Text(left, top - 30, $"EVIDENCE RECALL @ K={ks[kIndex]} BY CATEGORY (%)", ink, 2);
        var groups = Categories.Select(c => ((int?)c.Id, c.Name)).Append((null, "overall")).ToArray();
        var groupWidth = width / groups.Length;
        var barWidth = Math.Max(6, (groupWidth - 20) / Math.Max(1, modes.Count));
        for (var g = 0; g < groups.Length; g++)
        {
            for (var m = 0; m < modes.Count; m++)
            {
                var v = modes[m].Mean(groups[g].Item1, kIndex);
                if (double.IsNaN(v)) continue;
                var h = (int)(v / 100 * height);
                var x = left + g * groupWidth + 10 + m * barWidth;
                canvas.FillRect(x, top + height - h, barWidth - 2, h, Palette[m % Palette.Length]);
                var label = v.ToString("0", CultureInfo.InvariantCulture);
                canvas.Text(x + (barWidth - Canvas.TextWidth(label, 1)) / 2, top + height - h - 10, label, ink, 1);
            }
            var name = groups[g].Name;
            canvas.Text(left + g * groupWidth + (groupWidth - Canvas.TextWidth(name, 1)) / 2, top + height + 8, name, ink, 1);
        }

        // Right panel: overall recall against k, one line per mode, anchors dashed.
        int left2 = 940, width2 = 420;
        Axes(canvas, left2, top, width2, height, ink, grid);
        canvas.Text(left2, top - 30, "OVERALL RECALL VS K (%)", ink, 2);
        int X(int k) => left2 + (int)(Math.Log(k) / Math.Log(ks.Max()) * width2);
        int Y(double v) => top + height - (int)(v / 100 * height);
        foreach (var k in ks) canvas.Text(X(k) - Canvas.TextWidth(k.ToString(CultureInfo.InvariantCulture), 1) / 2, top + height + 8, k.ToString(CultureInfo.InvariantCulture), ink, 1);
        for (var m = 0; m < modes.Count; m++)
        {
            for (var i = 1; i < ks.Count; i++)
                canvas.Line(X(ks[i - 1]), Y(modes[m].Mean(null, i - 1)), X(ks[i]), Y(modes[m].Mean(null, i)), Palette[m % Palette.Length], 3);
        }
        var anchorColours = new[] { ((byte)120, (byte)120, (byte)120), ((byte)170, (byte)170, (byte)170) };
        for (var a = 0; a < Anchors.Length; a++)
        {
            var points = Anchors[a].ByK.Where(p => ks.Contains(p.Key)).OrderBy(p => p.Key).ToList();
            for (var i = 1; i < points.Count; i++)
                canvas.Line(X(points[i - 1].Key), Y(points[i - 1].Value), X(points[i].Key), Y(points[i].Value), anchorColours[a], 2, dash: 6);
        }

        // Legend: entries left to right, wrapping onto a new row when the next one would not fit.
        var ly = top + height + 40;
        var lx = left;
        void Entry(string name, Action<int, int> swatch)
        {
            var entryWidth = 40 + Canvas.TextWidth(name, 2);
            if (lx + entryWidth > canvas.Width - 20 && lx > left)
            {
                lx = left;
                ly += 26;
            }
            swatch(lx, ly);
            canvas.Text(lx + 24, ly, name, ink, 2);
            lx += entryWidth;
        }
        for (var m = 0; m < modes.Count; m++)
        {
            var colour = Palette[m % Palette.Length];
            Entry(modes[m].Mode, (x, y) => canvas.FillRect(x, y, 18, 12, colour));
        }
        for (var a = 0; a < Anchors.Length; a++)
        {
            var colour = anchorColours[a];
            Entry(Anchors[a].Name, (x, y) => canvas.Line(x, y + 6, x + 18, y + 6, colour, 2, dash: 4));
        }
        canvas.SavePng(path);
    }

    private static void Axes(Canvas canvas, int left, int top, int width, int height, (byte, byte, byte) ink, (byte, byte, byte) grid)
    {
        for (var v = 0; v <= 100; v += 20)
        {
            var y = top + height - v * height / 100;
            canvas.Line(left, y, left + width, y, grid);
            canvas.Text(left - 30, y - 4, v.ToString(CultureInfo.InvariantCulture), ink, 1);
        }
        canvas.Line(left, top, left, top + height, ink, 2);
        canvas.Line(left, top + height, left + width, top + height, ink, 2);
    }
}
