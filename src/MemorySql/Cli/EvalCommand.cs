using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MemorySql.Eval;
using MemorySql.Hosting;

namespace MemorySql.Cli;

/// <summary>`memorysql eval locomo`: retrieval quality and latency of recall on the LoCoMo conversations.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data")
        {
            Description = "The LoCoMo JSON file (e.g. locomo-dev.json or locomo10.json). It is read, never copied.",
            Required = true,
        };
        var ks = new Option<string>("--k")
        {
            Description = "The cut-offs to score, comma-separated (recall is asked for the largest).",
            DefaultValueFactory = _ => "1,5,10,25,50",
        };
        var modes = new Option<string>("--modes")
        {
            Description = "Ranking modes to compare: lexical (BM25 only), vector (embedding similarity only), hybrid (recall's default fusion); " +
                "ablations: hybrid-no-context, hybrid-no-entity, hybrid-no-vector (hybrid without that signal), fusion (vector, lexical, importance, recency).",
            DefaultValueFactory = _ => "lexical,vector,hybrid",
        };
        var output = new Option<string>("--out")
        {
            Description = "Folder for the report: locomo.md (the table), locomo.png (the chart), locomo.json (every question's evidence ranks and latency).",
            DefaultValueFactory = _ => "eval-out",
        };
        var dataDir = new Option<string?>("--data-dir", "-d")
        {
            Description = "Evaluate on the running `memorysql up` of this data folder (through its proxy, with its embedding model) instead of a temporary instance.",
        };
        var conversations = new Option<int?>("--conversations")
        {
            Description = "Only the first N conversations (a quick look; the full file is what counts).",
        };
        var keep = new Option<bool>("--keep")
        {
            Description = "With --data-dir: leave the evaluation's workspaces (eval_<sample id>) behind to look at; by default they are dropped.",
        };
        var reuse = new Option<bool>("--reuse")
        {
            Description = "With --data-dir and --keep: reuse conversations an earlier kept run stored completely instead of storing them again (for ranking experiments; ingestion time is then not measured).",
        };
        var config = CommonOptions.Config();
        var locomo = new Command("locomo",
            "Store every LoCoMo conversation turn as a memory (one workspace per conversation, through the proxy), ask every " +
            "question with recall() in each ranking mode, and report the mean fraction of each question's evidence turns " +
            "found in the top k, per category and overall, with recall latency and ingestion time, as Markdown and a PNG chart. " +
            "Without --data-dir it runs on a temporary embedded instance of its own.")
        {
            data, ks, modes, output, dataDir, conversations, keep, reuse, config,
        };
        locomo.SetAction((parse, cancellationToken) => Output.Guard(async () =>
        {
            var kList = RecallModes.ParseKs(parse.GetValue(ks)!);
            var modeList = RecallModes.Parse(parse.GetValue(modes)!);
            var dataPath = Path.GetFullPath(parse.GetValue(data)!);
            var (all, load) = LocomoDataset.Load(dataPath);
            var limit = parse.GetValue(conversations);
            if (limit is < 1) throw new ArgumentException("--conversations must be at least 1");
            var selected = limit is { } n ? all.Take(n).ToList() : all.ToList();
            Output.Progress($"{selected.Count} conversations, {selected.Sum(c => c.Turns.Count)} turns, {selected.Sum(c => c.Questions.Count(q => q.Evidence.Count > 0))} scored questions; modes {string.Join(", ", modeList)}; k {string.Join(",", kList)}");

            var configuration = MemorySqlConfiguration.Build(parse.GetValue(config), new Dictionary<string, string?>());
            await using var environment = parse.GetValue(dataDir) is { } dir
                ? await EvalEnvironment.AttachAsync(dir, cancellationToken)
                : await EvalEnvironment.StartTemporaryAsync(configuration, Output.Progress, cancellationToken);
            var runner = new LocomoRunner(environment.Target, new LocomoRunOptions(kList, modeList, parse.GetValue(keep), parse.GetValue(reuse)), Output.Progress);
            var result = await runner.RunAsync(selected, cancellationToken);

            var outDir = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(outDir);
            var markdown = EvalReport.Markdown(result.Modes, kList, load, result.Ingestion, result.Memories, dataPath, environment.Description);
            await File.WriteAllTextAsync(Path.Combine(outDir, "locomo.md"), markdown, cancellationToken);
            EvalReport.Chart(result.Modes, kList, Path.Combine(outDir, "locomo.png"),
                $"MEMORYSQL RECALL ON {Path.GetFileNameWithoutExtension(dataPath).ToUpperInvariant()} ({result.Modes.FirstOrDefault()?.Count(null) ?? 0} QUESTIONS)");
            await using (var json = File.Create(Path.Combine(outDir, "locomo.json")))
                await JsonSerializer.SerializeAsync(json, result.Outcomes, EvalJson.Default.ListQuestionOutcome, cancellationToken);
            Console.WriteLine(markdown);
            Output.Success(string.Create(CultureInfo.InvariantCulture, $"report written to {outDir} (locomo.md, locomo.png, locomo.json)"));
            return 0;
        }));
        return new Command("eval", "Measure recall quality and latency on public benchmarks.") { locomo };
    }
}
