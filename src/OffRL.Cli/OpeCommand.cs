using System.CommandLine;
using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data.IO;
using OffRL.Bandits;
using OffRL.Evaluation;
using OffRL.Runs;
using OffRL.Serving;

namespace OffRL.Cli;

/// <summary>`offrl ope bandit | rl`: off-policy estimates with intervals, a table, a PNG and (with --json) one JSON line.</summary>
internal static class OpeCommand
{
    public static Command Create()
    {
        var cmd = new Command("ope", "Off-policy evaluation of a target policy from logged data");
        cmd.Subcommands.Add(Bandit());
        cmd.Subcommands.Add(Rl());
        return cmd;
    }

    private static (Option<string> Ci, Option<int> Boot, Option<double> Alpha, Option<ulong> Seed, Option<string?> Plot, Option<bool> Json) Common() => (
        new Option<string>("--ci") { Description = "Interval: bootstrap, normal, t, hoeffding, bernstein (closed forms apply to mean-type estimators)", DefaultValueFactory = _ => "bootstrap" },
        new Option<int>("--bootstrap") { Description = "Bootstrap resamples", DefaultValueFactory = _ => 1000 }.InRange("[2, 1000000]"),
        new Option<double>("--alpha") { Description = "1 - confidence level", DefaultValueFactory = _ => 0.05 }.InRange("(0, 1)"),
        new Option<ulong>("--seed") { Description = "Random seed (cross-fitting folds, bootstrap, fitted models)", DefaultValueFactory = _ => 0 },
        new Option<string?>("--plot") { Description = "PNG of the estimates with their intervals" },
        new Option<bool>("--json") { Description = "Print one JSON object as the last line" });

    private static CiMethod ParseCi(string s) => s.ToLowerInvariant() switch
    {
        "bootstrap" => CiMethod.Bootstrap, "normal" => CiMethod.Normal, "t" or "ttest" => CiMethod.StudentT,
        "hoeffding" => CiMethod.Hoeffding, "bernstein" => CiMethod.Bernstein,
        _ => throw new ArgumentException($"--ci: '{s}' is not bootstrap, normal, t, hoeffding or bernstein"),
    };

    private static Command Bandit()
    {
        var logs = new Option<string>("--logs") { Description = "Logged bandit feedback (CSV)", Required = true };
        var format = new Option<string>("--format") { Description = "obd (Open Bandit Dataset campaign file), offrl (action,position,reward,propensity,x0..) or service (decision log of offrl serve)", DefaultValueFactory = _ => "offrl" };
        var target = new Option<string>("--target") { Description = "uniform, a bandit policy file (.json), or a CSV table item_id,pos1..posK[,campaign] such as OBD's bts_action_dist.csv", DefaultValueFactory = _ => "uniform" };
        var campaign = new Option<string?>("--campaign") { Description = "Campaign rows of the target table (default: the logs' file name)" };
        var est = new Option<string>("--estimators") { Description = "Comma-separated: " + string.Join(",", BanditEstimator.All), DefaultValueFactory = _ => string.Join(",", BanditEstimator.All) };
        var model = new Option<string>("--reward-model") { Description = "ridge, logistic, mlp, mlp-logistic", DefaultValueFactory = _ => "logistic" };
        var folds = new Option<int>("--folds") { Description = "Cross-fitting folds for the reward model", DefaultValueFactory = _ => 3 }.InRange("[2, 100]");
        var (ci, boot, alpha, seed, plot, json) = Common();
        var cmd = new Command("bandit", "OPE on logged bandit feedback") { logs, format, target, campaign, est, model, folds, ci, boot, alpha, seed, plot, json };
        cmd.SetAction(r =>
        {
            var tgt = r.GetValue(target)!;
            new OffRL.IO.PathGuard().Input("--logs", r.GetValue(logs)).Input("--target", tgt == "uniform" ? null : tgt).Output("--plot", r.GetValue(plot)).Check();
            var res = BanditOpeJob.Run(new BanditOpeJob.Request(r.GetValue(logs)!, r.GetValue(format)!, r.GetValue(target)!, r.GetValue(campaign),
                Judged.Names("--estimators", r.GetValue(est)!), r.GetValue(model)!, r.GetValue(folds),
                new BanditOpe.Options(ParseCi(r.GetValue(ci)!), r.GetValue(alpha), r.GetValue(boot), r.GetValue(seed))));
            Console.WriteLine($"{res.Logs.Count} rows, {res.Logs.Actions} actions, {res.Logs.Positions} positions; logged mean reward {res.Logs.MeanReward():G4}");
            Report(res.Estimates, r.GetValue(plot), $"OPE of {r.GetValue(target)} on {Path.GetFileName(r.GetValue(logs))}", r.GetValue(json));
        });
        return cmd;
    }

    private static Command Rl()
    {
        var dataset = new Option<string>("--dataset") { Description = "Dataset file (behavior_log_probs, which offrl collect writes, needed by the importance-sampling estimators; fqe, mb and mis need none)", Required = true };
        var policy = new Option<string>("--policy") { Description = "Checkpoint folder of the target policy (offrl train --out)", Required = true };
        var (sigma, eps, gamma, fqeSteps) = TargetOptions("FQE gradient steps");
        var est = new Option<string>("--estimators") { Description = "Comma-separated: " + string.Join(",", RlOpe.All), DefaultValueFactory = _ => "pdis,snpdis,dr,wdr,fqe,mis" };
        var (ci, boot, alpha, seed, plot, json) = Common();
        var env = new Option<string?>("--env") { Description = "The environment the data is from (default: the one the dataset names): spaces and bounds checked, given to data that declares none" };
        var model = ModelOption();
        var cmd = new Command("rl", "OPE of a trained policy on logged trajectories") { dataset, policy, env, sigma, eps, gamma, est, fqeSteps, model, ci, boot, alpha, seed, plot, json };
        cmd.SetAction(r =>
        {
            new OffRL.IO.PathGuard().Input("--dataset", r.GetValue(dataset)).Input("--policy", r.GetValue(policy)).Input("--model", r.GetValue(model))
                .Output("--plot", r.GetValue(plot)).Check();
            var (data, envName) = Recipes.Open(r.GetValue(dataset)!, r.GetValue(env), needEnv: false);
            var agent = AlgorithmRegistry.Load(r.GetValue(policy)!, r.GetValue(seed));
            IProbabilisticPolicy target = data.DiscreteActions
                ? new EpsilonGreedyPolicy(agent, r.GetValue(eps), r.GetValue(seed))
                : new GaussianPolicy(agent, r.GetValue(sigma), r.GetValue(seed));
            var d = new OpeData(data, target, r.GetValue(gamma), seed: r.GetValue(seed));
            var progress = new Progress<string>(m => Console.Error.WriteLine(m));
            var res = RlOpe.Run(d, RlOpe.ParseEstimators(Judged.Items("--estimators", r.GetValue(est)!)), new RlOpe.Options(ParseCi(r.GetValue(ci)!), r.GetValue(alpha), r.GetValue(boot), r.GetValue(seed),
                Fqe: new FqeConfig(Steps: r.GetValue(fqeSteps)), ModelBased: new ModelBasedConfig(Env: string.IsNullOrEmpty(envName) ? null : envName, Model: r.GetValue(model))), progress);
            Console.WriteLine($"{data.Count} transitions, {data.EpisodeCount} episodes; behavior discounted return {Enumerable.Range(0, d.EpisodeCount).Average(e => TrajectoryIs.DiscountedReturn(d, e)):G4}");
            Report(res, r.GetValue(plot), $"OPE of {agent.Name} on {Path.GetFileName(r.GetValue(dataset))}", r.GetValue(json));
        });
        return cmd;
    }

    /// <summary>--model: a dynamics ensemble from `offrl model fit` for the mb estimator.</summary>
    private static Option<string?> ModelOption() => new("--model")
    {
        Description = "Folder of a dynamics ensemble from offrl model fit, for the mb estimator (default: one fitted here, OfflineRL-Kit's settings, at most 100 epochs and 20 000 steps)",
    };

    /// <summary>The target policy's options (OPE of one policy and selection among many share them).</summary>
    private static (Option<double> Sigma, Option<double> Epsilon, Option<double> Gamma, Option<int> FqeSteps) TargetOptions(string fqeDescription) => (
        new Option<double>("--sigma") { Description = "Continuous actions: std of the Gaussian around the policy's action", DefaultValueFactory = _ => 0.1 }.InRange("(0, 1000]"),
        new Option<double>("--epsilon") { Description = "Discrete actions: epsilon of the epsilon-greedy target", DefaultValueFactory = _ => 0.05 }.InRange("[0, 1]"),
        new Option<double>("--gamma") { Description = "Discount", DefaultValueFactory = _ => 0.99 }.InRange("(0, 1]"),
        new Option<int>("--fqe-steps") { Description = fqeDescription, DefaultValueFactory = _ => 20_000 }.InRange("[1, 100000000]"));

    private static void Report(List<OpeEstimate> res, string? plot, string title, bool json)
    {
        Console.WriteLine($"{"estimator",-12} {"estimate",12} {"ci_low",12} {"ci_high",12} {"ci",10} {"ess",10} {"max_weight",12}");
        foreach (var e in res)
            Console.WriteLine($"{e.Estimator,-12} {e.Estimate,12:G5} {e.CiLow,12:G5} {e.CiHigh,12:G5} {e.CiMethod,10} {e.EffectiveSampleSize,10:F1} {e.MaxWeight,12:G5}");
        foreach (var w in res.Select(e => e.Warning).Where(w => w is not null).Distinct()) Console.WriteLine($"warning: {w}");
        if (plot is not null) Plot(res, title, plot);
        if (json)
        {
            var o = new Dictionary<string, object?>();
            foreach (var e in res)
                o[e.Estimator] = new Dictionary<string, object?>
                {
                    ["estimate"] = e.Estimate, ["ci_low"] = e.CiLow, ["ci_high"] = e.CiHigh, ["ci"] = e.CiMethod,
                    ["ess"] = e.EffectiveSampleSize, ["max_weight"] = e.MaxWeight, ["n"] = e.N, ["hyperparameter"] = e.Hyperparameter is { } h && double.IsFinite(h) ? h : null,
                };
            Console.WriteLine(JsonSerializer.Serialize(o));
        }
    }

    private static void Plot(List<OpeEstimate> res, string title, string path)
    {
        var plt = new ScottPlot.Plot();
        for (int i = 0; i < res.Count; i++)
        {
            var e = res[i];
            plt.Add.Scatter(new double[] { i, i }, new double[] { e.CiLow, e.CiHigh }).LineWidth = 3;
            plt.Add.Marker(i, e.Estimate);
        }
        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, res.Count).Select(i => (double)i).ToArray(), res.Select(e => e.Estimator).ToArray());
        plt.Title(title);
        plt.YLabel("estimated policy value");
        Plots.WritePng(plt, path, 900, 500);
    }

    /// <summary><c>offrl select</c>: which checkpoint to ship, from the logged data alone (and judged in an environment when one is named).</summary>
    public static Command Select()
    {
        var dataset = new Option<string>("--dataset") { Description = "Logged data, a file or a built-in name (behavior_log_probs needed by the importance-sampling estimators; fqe, mb and mis need none)", Required = true };
        var candidates = new Option<string[]>("--candidates") { Description = "Checkpoint folders (offrl train --out), e.g. runs/*/", Required = true, AllowMultipleArgumentsPerToken = true };
        var est = new Option<string>("--estimators") { Description = "Comma-separated: " + string.Join(",", RlOpe.All) + "; the first ranks the table", DefaultValueFactory = _ => "fqe,dr,mis,mb" };
        var ks = new Option<string>("--k") { Description = "Comma-separated k of the top-k measures (each in [1, 1000])", DefaultValueFactory = _ => "1,3,5" };
        var env = new Option<string?>("--env") { Description = "Also roll the candidates out here and judge the selection (Regret@k, rank correlation, nMSE)" };
        var episodes = new Option<int>("--episodes") { Description = "Episodes per candidate with --env", DefaultValueFactory = _ => 10 }.InRange("[1, 100000]");
        var (sigma, eps, gamma, fqeSteps) = TargetOptions("FQE gradient steps per candidate");
        var (ci, boot, alpha, seed, plot, json) = Common();
        var model = ModelOption();
        plot.Description = "PNG: estimates with intervals per candidate (with --env: estimated against measured values)";
        var cmd = new Command("select", "Rank candidate checkpoints by OPE on logged data: values, intervals and SCOPE-RL's top-k risk-return measures")
            { dataset, candidates, est, ks, env, episodes, sigma, eps, gamma, fqeSteps, model, ci, boot, alpha, seed, plot, json };
        cmd.SetAction(r =>
        {
            var guard = new OffRL.IO.PathGuard().Input("--dataset", OffRL.Runs.Recipes.FileOf(r.GetValue(dataset), 0)).Input("--model", r.GetValue(model)).Output("--plot", r.GetValue(plot));
            foreach (var c in r.GetValue(candidates)!) guard.Input("--candidates", c);
            guard.Check();
            int[] k = Judged.Integers("--k", r.GetValue(ks)!, "[1, 1000]");
            var estimators = RlOpe.ParseEstimators(Judged.Items("--estimators", r.GetValue(est)!));
            var data = Recipes.Open(r.GetValue(dataset)!, r.GetValue(env), needEnv: false).Data;
            var o = new SelectionOptions
            {
                Estimators = estimators, K = k, Env = r.GetValue(env), Episodes = r.GetValue(episodes), Sigma = r.GetValue(sigma),
                Epsilon = r.GetValue(eps), Gamma = r.GetValue(gamma), FqeSteps = r.GetValue(fqeSteps), Ci = ParseCi(r.GetValue(ci)!),
                Alpha = r.GetValue(alpha), BootstrapSamples = r.GetValue(boot), Seed = r.GetValue(seed),
                ModelBased = new ModelBasedConfig(Model: r.GetValue(model)),
            };
            var res = PolicySelection.Run(data, r.GetValue(candidates)!, o, new Progress<string>(m => Console.Error.WriteLine(m)));
            PrintSelection(res, o);
            if (r.GetValue(plot) is { } png) PlotSelection(res, png);
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(SelectionJson(res)));
        });
        return cmd;
    }

    private static void PrintSelection(SelectionResult res, SelectionOptions o)
    {
        var first = res.ByEstimator[0];
        bool measured = o.Env is not null;
        Console.WriteLine($"{res.Candidates.Count} candidates ranked by {first.Estimator}; behavior policy's value on the logged data {res.BehaviorValue:G5}");
        var header = $"{"rank",4}  {"candidate",-32} {"algo",-8} {"updates",8}";
        foreach (var e in o.Estimators) header += $"  {e + $" [{100 * (1 - o.Alpha):G3}% CI]",-30}";
        if (measured) header += $"  {"true value",11} {"true return",12}";
        Console.WriteLine(header);
        for (int rank = 0; rank < first.Ranking.Length; rank++)
        {
            var c = res.Candidates[first.Ranking[rank]];
            var line = $"{rank + 1,4}  {Short(c.Folder),-32} {c.Algorithm,-8} {c.Updates,8}";
            foreach (var e in o.Estimators)
            {
                var x = c.Estimates[e];
                line += $"  {$"{x.Estimate:G5} [{x.CiLow:G4}, {x.CiHigh:G4}]",-30}";
            }
            if (measured) line += $"  {c.TrueValue,11:G5} {c.TrueReturn,12:G5}";
            Console.WriteLine(line);
        }
        foreach (var (folder, why) in res.Skipped) Console.WriteLine($"skipped {folder}: {why}");
        foreach (var s in res.ByEstimator)
        {
            Console.WriteLine($"top-k by {s.Estimator} (estimated{(measured ? " | measured" : "")}): k, best, worst, mean, std, SharpeRatio@k");
            for (int i = 0; i < s.Estimated.Length; i++)
            {
                var line = $"  k={s.Estimated[i].K,-3} {Row(s.Estimated[i])}";
                if (s.Measured is { } m) line += $"  |  {Row(m[i])}";
                Console.WriteLine(line);
            }
            if (s.Quality is { } q)
                Console.WriteLine($"  {s.Estimator}: rank correlation {q.RankCorrelation:F3}, nMSE {q.NormalizedMse:G4}, " +
                    string.Join(", ", o.K.Where(k => k <= q.RegretAtK.Length).Select(k => $"Regret@{k} {q.RegretAtK[k - 1]:G4}")));
        }
        static string Row(TopK t) => $"{t.Best,10:G5} {t.Worst,10:G5} {t.Mean,10:G5} {t.Std,9:G4} {(t.SharpeRatio is { } sr ? sr.ToString("G4", System.Globalization.CultureInfo.InvariantCulture) : "-"),8}";
        static string Short(string f) { f = f.TrimEnd('/', '\\'); return f.Length <= 32 ? f : "..." + f[^29..]; }
    }

    private static Dictionary<string, object?> SelectionJson(SelectionResult res) => new()
    {
        ["behavior_value"] = res.BehaviorValue,
        ["candidates"] = res.Candidates.Select(c => new Dictionary<string, object?>
        {
            ["folder"] = c.Folder, ["algo"] = c.Algorithm, ["updates"] = c.Updates, ["true_value"] = c.TrueValue, ["true_return"] = c.TrueReturn,
            ["estimates"] = c.Estimates.ToDictionary(kv => kv.Key, kv => new Dictionary<string, double> { ["estimate"] = kv.Value.Estimate, ["ci_low"] = kv.Value.CiLow, ["ci_high"] = kv.Value.CiHigh }),
        }).ToList(),
        ["skipped"] = res.Skipped.Select(s => new Dictionary<string, string> { ["folder"] = s.Folder, ["reason"] = s.Reason }).ToList(),
        ["by_estimator"] = res.ByEstimator.ToDictionary(s => s.Estimator, s => new Dictionary<string, object?>
        {
            ["ranking"] = s.Ranking.Select(i => res.Candidates[i].Folder).ToList(),
            ["estimated_top_k"] = s.Estimated, ["measured_top_k"] = s.Measured,
            ["rank_correlation"] = s.Quality is { } q && double.IsFinite(q.RankCorrelation) ? q.RankCorrelation : null,
            ["nmse"] = s.Quality is { } q2 && double.IsFinite(q2.NormalizedMse) ? q2.NormalizedMse : null,
            ["regret_at_k"] = s.Quality?.RegretAtK,
        }),
    };

    private static void PlotSelection(SelectionResult res, string path)
    {
        var plt = new ScottPlot.Plot();
        bool measured = res.Candidates.All(c => c.TrueValue is not null);
        for (int si = 0; si < res.ByEstimator.Count; si++)
        {
            var s = res.ByEstimator[si];
            var color = plt.Add.Palette.GetColor(si);
            var xs = new List<double>(); var ys = new List<double>();
            for (int i = 0; i < res.Candidates.Count; i++)
            {
                var e = res.Candidates[i].Estimates[s.Estimator];
                double x = measured ? res.Candidates[i].TrueValue!.Value : i;
                if (!double.IsFinite(e.Estimate)) continue;
                xs.Add(x); ys.Add(e.Estimate);
                var bar = plt.Add.Scatter(new[] { x, x }, new[] { e.CiLow, e.CiHigh });
                bar.LineWidth = 1; bar.MarkerSize = 0; bar.Color = color;
            }
            var sc = plt.Add.ScatterPoints(xs.ToArray(), ys.ToArray());
            sc.LegendText = s.Estimator;
            sc.MarkerSize = 8; sc.Color = color;
        }
        if (measured)
        {
            double lo = res.Candidates.Min(c => c.TrueValue!.Value), hi = res.Candidates.Max(c => c.TrueValue!.Value);
            var diag = plt.Add.Line(lo, lo, hi, hi);
            diag.LinePattern = ScottPlot.LinePattern.Dashed;
            plt.XLabel("measured value (rollouts)");
        }
        else
        {
            plt.Axes.Bottom.SetTicks(Enumerable.Range(0, res.Candidates.Count).Select(i => (double)i).ToArray(),
                res.Candidates.Select(c => Path.GetFileName(c.Folder.TrimEnd('/', '\\'))).ToArray());
            plt.XLabel("candidate");
        }
        plt.YLabel("estimated value");
        plt.Title("offline policy selection");
        plt.ShowLegend();
        Plots.WritePng(plt, path, 1000, 600);
    }
}
