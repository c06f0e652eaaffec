using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Envs;
using OffRL.Runs;

namespace OffRL.Cli;

/// <summary>
/// `offrl demo`, the main job: build a small D4RL-style dataset with OffRL's own SAC (pendulum-medium-replay),
/// train BC, TD3+BC and IQL on it offline, evaluate them in the environment, print a comparison table and write a
/// learning-curve PNG. About 3 minutes on 2 cores the first time (the datasets are cached afterwards).
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "Built-in dataset", DefaultValueFactory = _ => "pendulum-medium-replay" };
        var steps = new Option<long>("--steps") { Description = "Gradient updates per algorithm", DefaultValueFactory = _ => 10_000 }.InRange("[1, 1000000000]");
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var outDir = new Option<string>("--out") { Description = "Folder for metrics, agents and the learning curve", DefaultValueFactory = _ => "offrl-demo" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line" };
        var cmd = new Command("demo", "Build a dataset, train BC, TD3+BC and IQL offline, compare them, plot learning curves") { dataset, steps, seed, outDir, json };
        cmd.SetAction(r => Run(r.GetValue(dataset)!, r.GetValue(steps), r.GetValue(seed), r.GetValue(outDir)!, r.GetValue(json)));
        return cmd;
    }

    private static readonly string[] Algorithms = ["bc", "td3bc", "iql"];

    private static void Run(string datasetName, long steps, ulong seed, string outDir, bool json)
    {
        var total = Stopwatch.StartNew();
        var png = Path.Combine(outDir, "learning-curve.png");
        // Each algorithm's run folder is claimed as any run's (an earlier demo's files are replaced, nothing else is).
        new OffRL.IO.PathGuard().Input("--dataset", Recipes.FileOf(datasetName, seed)).Output("--out", outDir).Check();
        foreach (var algo in Algorithms) OffRL.IO.OutputFolder.CheckClaimable(Path.Combine(outDir, algo), resume: false, overwrite: true);
        Console.WriteLine($"== 1. dataset {datasetName} (built with OffRL's SAC on first use, then cached)");
        var (data, env) = Recipes.Open(datasetName, seed: seed);
        var ret = data.EpisodeReturns();
        double datasetMean = ret.Average();
        Console.WriteLine($"   {data.Count} transitions, {data.EpisodeCount} episodes, mean return {datasetMean:F1}");

        var rows = new List<(string Algo, TrainResult Result)>();
        foreach (var algo in Algorithms)
        {
            Console.WriteLine($"== 2. {algo}: {steps} updates on {datasetName}, evaluated in {env}");
            var tc = new TrainerConfig(Steps: steps, EvalEvery: (int)Math.Max(1, steps / 10), EvalEpisodes: 10, Seed: seed, OutDir: Path.Combine(outDir, algo), LogEvery: 0, Overwrite: true);
            var (_, res) = Training.Offline(algo, data, env, tc);
            rows.Add((algo, res));
        }

        Console.WriteLine();
        Console.WriteLine($"{"policy",-22} {"return",10} {"± std",8} {"normalized",11} {"updates/s",10}");
        Console.WriteLine($"{"dataset (behavior)",-22} {datasetMean,10:F1} {"",8} {Score(env, datasetMean),11} {"",10}");
        foreach (var (algo, res) in rows)
            Console.WriteLine($"{algo,-22} {res.Final.ReturnMean,10:F1} {res.Final.ReturnStd,8:F1} {Score(env, res.Final.ReturnMean),11} {res.UpdatesPerSecond,10:F0}");
        Plot(rows, datasetMean, datasetName, png);
        Console.WriteLine($"\nlearning curves: {png}; metrics and agents: {outDir}/<algo>/ ({total.Elapsed.TotalSeconds:F0} s in all)");
        if (json)
        {
            var o = new Dictionary<string, object?> { ["dataset"] = datasetName, ["dataset_return_mean"] = datasetMean, ["seconds"] = total.Elapsed.TotalSeconds };
            foreach (var (algo, res) in rows) { o[$"{algo}_return_mean"] = res.Final.ReturnMean; o[$"{algo}_normalized_score"] = res.Final.NormalizedScore; o[$"{algo}_updates_per_s"] = res.UpdatesPerSecond; }
            Console.WriteLine(JsonSerializer.Serialize(o));
        }
    }

    private static string Score(string env, double ret) => NormalizedScore.ScoreOrNull(env, ret)?.ToString("F1") ?? "-";

    private static void Plot(List<(string Algo, TrainResult Result)> rows, double datasetMean, string title, string path)
    {
        var plt = new ScottPlot.Plot();
        foreach (var (algo, res) in rows)
        {
            var sc = plt.Add.Scatter(res.Evaluations.Select(e => (double)e.Step).ToArray(), res.Evaluations.Select(e => e.ReturnMean).ToArray());
            sc.LegendText = algo;
        }
        var line = plt.Add.HorizontalLine(datasetMean);
        line.LegendText = "dataset mean";
        line.LinePattern = ScottPlot.LinePattern.Dashed;
        plt.ShowLegend();
        plt.Title($"Offline RL on {title}");
        plt.XLabel("gradient updates");
        plt.YLabel("evaluation return");
        Plots.WritePng(plt, path, 900, 550);
    }
}
