using System.CommandLine;
using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data.IO;
using OffRL.Bandits;
using OffRL.Evaluation;

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
        new Option<int>("--bootstrap") { Description = "Bootstrap resamples", DefaultValueFactory = _ => 1000 },
        new Option<double>("--alpha") { Description = "1 - confidence level", DefaultValueFactory = _ => 0.05 },
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
        var folds = new Option<int>("--folds") { Description = "Cross-fitting folds for the reward model", DefaultValueFactory = _ => 3 };
        var (ci, boot, alpha, seed, plot, json) = Common();
        var cmd = new Command("bandit", "OPE on logged bandit feedback") { logs, format, target, campaign, est, model, folds, ci, boot, alpha, seed, plot, json };
        cmd.SetAction(r =>
        {
            var res = BanditOpeJob.Run(new BanditOpeJob.Request(r.GetValue(logs)!, r.GetValue(format)!, r.GetValue(target)!, r.GetValue(campaign),
                Split(r.GetValue(est)!), r.GetValue(model)!, r.GetValue(folds),
                new BanditOpe.Options(ParseCi(r.GetValue(ci)!), r.GetValue(alpha), r.GetValue(boot), r.GetValue(seed))));
            Console.WriteLine($"{res.Logs.Count} rows, {res.Logs.Actions} actions, {res.Logs.Positions} positions; logged mean reward {res.Logs.MeanReward():G4}");
            Report(res.Estimates, r.GetValue(plot), $"OPE of {r.GetValue(target)} on {Path.GetFileName(r.GetValue(logs))}", r.GetValue(json));
        });
        return cmd;
    }

    private static Command Rl()
    {
        var dataset = new Option<string>("--dataset") { Description = "Dataset file with behavior_log_probs (offrl collect writes them)", Required = true };
        var policy = new Option<string>("--policy") { Description = "Checkpoint folder of the target policy (offrl train --out)", Required = true };
        var sigma = new Option<double>("--sigma") { Description = "Continuous actions: std of the Gaussian around the policy's action", DefaultValueFactory = _ => 0.1 };
        var eps = new Option<double>("--epsilon") { Description = "Discrete actions: epsilon of the epsilon-greedy target", DefaultValueFactory = _ => 0.05 };
        var gamma = new Option<double>("--gamma") { Description = "Discount", DefaultValueFactory = _ => 0.99 };
        var est = new Option<string>("--estimators") { Description = "Comma-separated: " + string.Join(",", RlOpe.All), DefaultValueFactory = _ => "pdis,snpdis,dr,wdr,fqe,mis" };
        var fqeSteps = new Option<int>("--fqe-steps") { Description = "FQE gradient steps", DefaultValueFactory = _ => 20_000 };
        var (ci, boot, alpha, seed, plot, json) = Common();
        var cmd = new Command("rl", "OPE of a trained policy on logged trajectories") { dataset, policy, sigma, eps, gamma, est, fqeSteps, ci, boot, alpha, seed, plot, json };
        cmd.SetAction(r =>
        {
            var data = DatasetFile.Read(r.GetValue(dataset)!, truncateTail: true);
            var agent = AlgorithmRegistry.Load(r.GetValue(policy)!, r.GetValue(seed));
            IProbabilisticPolicy target = data.DiscreteActions
                ? new EpsilonGreedyPolicy(agent, r.GetValue(eps), r.GetValue(seed))
                : new GaussianPolicy(agent, r.GetValue(sigma), r.GetValue(seed));
            var d = new OpeData(data, target, r.GetValue(gamma), seed: r.GetValue(seed));
            var progress = new Progress<string>(m => Console.Error.WriteLine(m));
            var res = RlOpe.Run(d, Split(r.GetValue(est)!), new RlOpe.Options(ParseCi(r.GetValue(ci)!), r.GetValue(alpha), r.GetValue(boot), r.GetValue(seed),
                Fqe: new FqeConfig(Steps: r.GetValue(fqeSteps))), progress);
            Console.WriteLine($"{data.Count} transitions, {data.EpisodeCount} episodes; behavior discounted return {Enumerable.Range(0, d.EpisodeCount).Average(e => TrajectoryIs.DiscountedReturn(d, e)):G4}");
            Report(res, r.GetValue(plot), $"OPE of {agent.Name} on {Path.GetFileName(r.GetValue(dataset))}", r.GetValue(json));
        });
        return cmd;
    }

    private static string[] Split(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

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
        OffRL.IO.AtomicFile.WritePng(plt, path, 900, 500);
    }
}
