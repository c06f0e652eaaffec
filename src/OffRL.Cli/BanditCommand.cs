using System.CommandLine;
using System.Text.Json;
using OffRL.Bandits;
using OffRL.Evaluation;
using OffRL.IO;
using OffRL.Serving;
using OffRL.Tensors;

namespace OffRL.Cli;

/// <summary>`offrl bandit init|simulate|learn|export` and `offrl serve`: the contextual-bandit loop.</summary>
internal static class BanditCommand
{
    public static Command Create()
    {
        var cmd = new Command("bandit", "Contextual bandits: create, simulate, learn offline from logs, export decision logs");
        cmd.Subcommands.Add(Init());
        cmd.Subcommands.Add(Simulate());
        cmd.Subcommands.Add(Learn());
        cmd.Subcommands.Add(Export());
        return cmd;
    }

    private static (Option<string> Algo, Option<string> Oracle, Option<string?> Config, Option<string[]> Set) LearnerOptions() => (
        new Option<string>("--algo") { Description = "Learner: " + string.Join(", ", BanditLearner.Names), DefaultValueFactory = _ => "squarecb" },
        new Option<string>("--oracle") { Description = "Regression oracle: ridge or neural (linucb and thompson use ridge)", DefaultValueFactory = _ => "ridge" },
        new Option<string?>("--config") { Description = "YAML or JSON file of BanditLearnerConfig fields (epsilon, temperature, gamma_scale, alpha, v, floor, batch_size, hidden, ...)" },
        new Option<string[]>("--set") { Description = "KEY=VALUE overriding one config field (repeatable), e.g. --set epsilon=0.1 --set hidden=[32,32]", AllowMultipleArgumentsPerToken = false });

    private static BanditLearnerConfig LearnerConfig(ParseResult r, (Option<string> Algo, Option<string> Oracle, Option<string?> Config, Option<string[]> Set) o, ulong seed)
    {
        var cfg = new BanditLearnerConfig { Algo = r.GetValue(o.Algo)!, Oracle = r.GetValue(o.Oracle)!, Seed = seed };
        cfg = ConfigFile.Naming(r.GetValue(o.Config), r.GetValue(o.Set), () =>
        {
            var c = ConfigFile.Apply(cfg, ConfigFile.Overrides(r.GetValue(o.Config), r.GetValue(o.Set)));
            FieldRange.Check(c);
            return c;
        });
        BanditLearner.Create(cfg, 1, 1); // validates the names and ranges now, with the CLI's error handling
        return cfg;
    }

    private static Command Init()
    {
        var lo = LearnerOptions();
        var contextDim = new Option<int>("--context-dim") { Description = "Number of context features", Required = true }.InRange("[0, 100000]");
        var arms = new Option<string?>("--arms") { Description = "Comma-separated arm ids (one-hot action features)" };
        var actionDim = new Option<int>("--action-dim") { Description = "Descriptive action features per candidate (instead of --arms)", DefaultValueFactory = _ => 0 }.InRange("[0, 100000]");
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Policy file to write (JSON)", Required = true };
        var cmd = new Command("init", "Create an untrained bandit policy file to serve") { lo.Algo, lo.Oracle, lo.Config, lo.Set, contextDim, arms, actionDim, seed, output };
        cmd.SetAction(r =>
        {
            new OffRL.IO.PathGuard().Input("--config", r.GetValue(lo.Config)).Output("--out", r.GetValue(output)).Check();
            var cfg = LearnerConfig(r, lo, r.GetValue(seed));
            var ids = r.GetValue(arms)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
            if (ids.Length == 0 && r.GetValue(actionDim) <= 0) throw new ArgumentException("--arms or --action-dim: the policy needs arm ids or an action feature size");
            if (r.GetValue(contextDim) < 0) throw new ArgumentException("--context-dim: must be >= 0");
            var policy = ids.Length > 0 ? BanditPolicy.Create(cfg, r.GetValue(contextDim), ids)
                : new BanditPolicy(BanditLearner.Create(cfg, r.GetValue(contextDim), r.GetValue(actionDim)));
            policy.Save(r.GetValue(output)!);
            Console.WriteLine($"wrote {r.GetValue(output)}: {cfg.Algo} ({cfg.Oracle}), context {policy.Learner.ContextDim}, action features {policy.Learner.ActionDim}");
        });
        return cmd;
    }

    private static Command Simulate()
    {
        var lo = LearnerOptions();
        var sim = new Option<string>("--sim") { Description = BanditSimulators.Names, DefaultValueFactory = _ => "synthetic" };
        var algos = new Option<string?>("--compare") { Description = "Comma-separated learners to compare (default: --algo only); 'uniform' is the random baseline" };
        var steps = new Option<int>("--steps") { Description = "Decisions per learner", DefaultValueFactory = _ => 5000 }.InRange("[1, 100000000]");
        var delay = new Option<double>("--delay") { Description = "Mean reward lag in decisions (payments default 50; -1 = the simulator's default)", DefaultValueFactory = _ => -1 }.InRange("[-1, 1000000]");
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 0 };
        var logsOut = new Option<string?>("--logs-out") { Description = "Write the (first) learner's logged decisions as bandit feedback CSV" };
        var policyOut = new Option<string?>("--policy-out") { Description = "Write the (first) learner's final policy file" };
        var plot = new Option<string?>("--plot") { Description = "PNG of cumulative regret per learner" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line" };
        var cmd = new Command("simulate", "Run learners online against a simulator: regret, reward, logged propensities")
            { lo.Algo, lo.Oracle, lo.Config, lo.Set, sim, algos, steps, delay, seed, logsOut, policyOut, plot, json };
        cmd.SetAction(r =>
        {
            ulong s = r.GetValue(seed);
            new OffRL.IO.PathGuard().Input("--config", r.GetValue(lo.Config))
                .Output("--logs-out", r.GetValue(logsOut)).Output("--policy-out", r.GetValue(policyOut)).Output("--plot", r.GetValue(plot)).Check();
            var names = r.GetValue(algos) is { } compare ? Judged.Items("--compare", compare) : [r.GetValue(lo.Algo)!];
            var baseCfg = LearnerConfig(r, lo, s);
            Console.WriteLine($"{"learner",-16} {"mean_reward",12} {"regret",10} {"regret/step (last 20%)",24} {"decisions/s",12}");
            var results = BanditSimulation.Compare(names, baseCfg, () => BanditSimulators.Create(r.GetValue(sim)!, s, r.GetValue(delay)), r.GetValue(steps), s, e =>
            {
                int n = e.Result.CumulativeRegret.Length;
                Console.WriteLine($"{e.Name,-16} {e.Result.MeanReward,12:F4} {e.Result.CumulativeRegret[^1],10:F1} {e.Result.RegretRate(n - Math.Max(1, n / 5), n),24:F4} {e.DecisionsPerSecond,12:F0}");
            });
            var first = results[0];
            if (r.GetValue(logsOut) is { } lf) { first.Result.ToFeedback(r.GetValue(sim)!).WriteCsv(lf); Console.WriteLine($"wrote {lf} ({first.Result.Log.Count} logged decisions)"); }
            if (r.GetValue(policyOut) is { } pf) { first.Policy.Learner.Flush(); first.Policy.Save(pf); Console.WriteLine($"wrote {pf}"); }
            if (r.GetValue(plot) is { } png)
            {
                var plt = new ScottPlot.Plot();
                foreach (var (name, res, _, _) in results)
                {
                    var xs = Enumerable.Range(1, res.CumulativeRegret.Length).Select(i => (double)i).ToArray();
                    plt.Add.ScatterLine(xs, res.CumulativeRegret).LegendText = name;
                }
                plt.Title($"Cumulative regret on {r.GetValue(sim)}");
                plt.XLabel("decision"); plt.YLabel("cumulative regret");
                plt.ShowLegend();
                Plots.WritePng(plt, png, 800, 500);
                Console.WriteLine($"wrote {png}");
            }
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(results.ToDictionary(x => x.Name, x => new Dictionary<string, double>
                {
                    ["mean_reward"] = x.Result.MeanReward, ["regret"] = x.Result.CumulativeRegret[^1],
                    ["regret_rate_last"] = x.Result.RegretRate(x.Result.CumulativeRegret.Length * 4 / 5, x.Result.CumulativeRegret.Length),
                })));
        });
        return cmd;
    }

    private static Command Learn()
    {
        var logs = new Option<string>("--logs") { Description = "Logged bandit feedback: a decision log (.db), OffRL CSV, or an OBD campaign file", Required = true };
        var format = new Option<string?>("--format") { Description = "service, offrl or obd (default: service for .db/.sqlite, else offrl)" };
        var weighting = new Option<string>("--weighting") { Description = "ips or dr", DefaultValueFactory = _ => "ips" };
        var lambda = new Option<double?>("--lambda") { Description = "Variance penalty (default: picked on a validation split)" }.InRange("[0, 1000000]");
        var clip = new Option<double>("--clip") { Description = "Importance weight clip M", DefaultValueFactory = _ => 100 }.InRange("(0, 1000000000]");
        var selfNorm = new Option<bool>("--self-normalize") { Description = "Norm-POEM objective" };
        var model = new Option<string>("--reward-model") { Description = "ridge, logistic, mlp, mlp-logistic (DR weighting and the OPE report)", DefaultValueFactory = _ => "ridge" };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Policy file to write (servable with offrl serve)", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line" };
        var cmd = new Command("learn", "Learn a policy offline from logs (POEM counterfactual risk minimization) and estimate it before switching")
            { logs, format, weighting, lambda, clip, selfNorm, model, seed, output, json };
        cmd.SetAction(r =>
        {
            var path = r.GetValue(logs)!;
            new OffRL.IO.PathGuard().Input("--logs", path).Output("--out", r.GetValue(output)).Check();
            var (data, arms) = BanditOpeJob.ReadLogs(path, r.GetValue(format));
            var cfg = new PoemConfig
            {
                Weighting = r.GetValue(weighting)!, Lambda = r.GetValue(lambda), Clip = r.GetValue(clip), SelfNormalize = r.GetValue(selfNorm),
                RewardModel = r.GetValue(model)!, Seed = r.GetValue(seed),
            };
            var (policy, report) = PolicyLearning.LearnAndEvaluate(data, cfg, arms);
            policy.Save(r.GetValue(output)!);
            Console.WriteLine($"{data.Count} logged decisions, {data.Actions} actions; learned on {data.Count - report.TestRows}, evaluated on {report.TestRows} held out");
            Console.WriteLine($"{"policy",-10} {"estimator",-10} {"estimate",10} {"ci_low",10} {"ci_high",10}");
            Console.WriteLine($"{"logging",-10} {"on-policy",-10} {report.LoggingValue,10:G4} {report.LoggingCiLow,10:G4} {report.LoggingCiHigh,10:G4}");
            foreach (var e in report.Learned) Console.WriteLine($"{"learned",-10} {e.Estimator,-10} {e.Estimate,10:G4} {e.CiLow,10:G4} {e.CiHigh,10:G4}");
            var dr = report.LearnedDr;
            Console.WriteLine($"verdict: {report.Verdict}");
            Console.WriteLine($"wrote {r.GetValue(output)}");
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["logging"] = report.LoggingValue, ["logging_ci_low"] = report.LoggingCiLow, ["logging_ci_high"] = report.LoggingCiHigh,
                    ["learned_dr"] = dr.Estimate, ["learned_dr_ci_low"] = dr.CiLow, ["learned_dr_ci_high"] = dr.CiHigh, ["test_rows"] = report.TestRows,
                }));
        });
        return cmd;
    }

    private static Command Export()
    {
        var log = new Option<string>("--log") { Description = "Decision log written by offrl serve: a SQLite file, or postgres://user:password@host:port/database", Required = true };
        var output = new Option<string>("--out") { Description = ".parquet (every decision, reward null while pending) or .csv (bandit feedback of rewarded decisions)", Required = true };
        var cmd = new Command("export", "Export a decision log for other tools") { log, output };
        cmd.SetAction(r =>
        {
            string o = r.GetValue(output)!;
            var logPath = r.GetValue(log)!;
            new OffRL.IO.PathGuard().Input("--log", logPath.Contains("://", StringComparison.Ordinal) ? null : logPath).Output("--out", o).Check();
            if (o.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
                Console.WriteLine($"wrote {o} ({DecisionLog.ExportParquet(r.GetValue(log)!, o)} decisions)");
            else
            {
                var (logs, ids) = DecisionLog.ToFeedback(r.GetValue(log)!);
                logs.WriteCsv(o);
                Console.WriteLine($"wrote {o} ({logs.Count} rewarded decisions; actions 0..{ids.Length - 1} = {string.Join(",", ids)})");
            }
        });
        return cmd;
    }

    public static Command Serve()
    {
        var policy = new Option<string>("--policy") { Description = "Bandit policy file (offrl bandit init | learn | simulate --policy-out), or a trained RL checkpoint folder (offrl train --out; served at POST /act)", Required = true };
        var sigma = new Option<double>("--exploration-sigma") { Description = "RL policies, continuous actions: std of the logged Gaussian exploration", DefaultValueFactory = _ => 0.1 }.InRange("(0, 1000]");
        var epsilon = new Option<double>("--epsilon") { Description = "RL policies, discrete actions: epsilon of the logged epsilon-greedy exploration", DefaultValueFactory = _ => 0.05 }.InRange("[0, 1]");
        var urls = new Option<string>("--urls") { Description = "Address to listen on", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var log = new Option<string>("--log") { Description = "Durable decision log: a SQLite file (WAL), or postgres://user:password@host:port/database shared by several instances", DefaultValueFactory = _ => "decisions.db" };
        var noLearn = new Option<bool>("--no-learn") { Description = "Serve the policy as is (no online learning, no replay)" };
        var sync = new Option<string>("--sync") { Description = "full (survives machine crashes) or normal (survives process crashes; faster)", DefaultValueFactory = _ => "full" };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 0 };
        var token = new Option<string?>("--token") { Description = "Bearer token required on every endpoint but /health (default: $OFFRL_SERVE_TOKEN; needed to listen beyond loopback)" };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "Largest request body (413 beyond)", DefaultValueFactory = _ => 1 << 20 }.InRange("[64, 1073741824]");
        var maxCandidates = new Option<int>("--max-candidates") { Description = "Most candidate actions per /decide", DefaultValueFactory = _ => 1000 }.InRange("[1, 1000000]");
        var maxWidth = new Option<int>("--max-context-width") { Description = "Longest context or feature vector in a request", DefaultValueFactory = _ => 4096 }.InRange("[1, 1000000]");
        var rewardMin = new Option<float>("--reward-min") { Description = "Smallest reward /reward accepts", DefaultValueFactory = _ => -1e6f }.InRange("[-1e30, 1e30]");
        var rewardMax = new Option<float>("--reward-max") { Description = "Largest reward /reward accepts", DefaultValueFactory = _ => 1e6f }.InRange("[-1e30, 1e30]");
        var maxAbs = new Option<double>("--max-abs-value") { Description = "Largest |value| in an observation, context or feature vector (400 beyond)", DefaultValueFactory = _ => 1e9 }.InRange("(0, 3.5e38]");
        var outOfRange = new Option<string>("--out-of-range") { Description = "reject (400) or clip a reward outside [--reward-min, --reward-max]", DefaultValueFactory = _ => "reject" };
        var cmd = new Command("serve", "Decision service: POST /decide (bandit policies) or POST /act (RL checkpoints), POST /reward, GET /health; every decision and reward logged durably")
            { policy, urls, log, noLearn, sync, seed, token, maxBody, maxCandidates, maxWidth, maxAbs, rewardMin, rewardMax, outOfRange, sigma, epsilon };
        cmd.SetAction(r =>
        {
            string s = r.GetValue(sync)!.ToLowerInvariant();
            if (r.GetValue(rewardMin) >= r.GetValue(rewardMax))
                throw new ArgumentException($"--reward-min ({r.GetValue(rewardMin)}) must be below --reward-max ({r.GetValue(rewardMax)})");
            var logPath = r.GetValue(log)!;
            // The log is written (appended to); it must not be the policy it serves, nor a file another process holds.
            var guard = new OffRL.IO.PathGuard().Input("--policy", r.GetValue(policy));
            if (!logPath.Contains("://", StringComparison.Ordinal)) guard.Output("--log", logPath);
            guard.Check();
            if (s is not ("full" or "normal")) throw new ArgumentException($"--sync: '{s}' is not full or normal");
            var range = r.GetValue(outOfRange)!.ToLowerInvariant() switch
            {
                "reject" => OutOfRangeReward.Reject, "clip" => OutOfRangeReward.Clip,
                var other => throw new ArgumentException($"--out-of-range: '{other}' is not reject or clip"),
            };
            var svc = DecisionService.StartAsync(new DecisionServiceOptions
            {
                PolicyPath = r.GetValue(policy)!, LogPath = r.GetValue(log)!, Urls = r.GetValue(urls)!, Learn = !r.GetValue(noLearn),
                SynchronousFull = s == "full", Seed = r.GetValue(seed), Log = Console.WriteLine,
                Token = r.GetValue(token) is { Length: > 0 } given ? given : Environment.GetEnvironmentVariable("OFFRL_SERVE_TOKEN") is { Length: > 0 } env ? env : null,
                MaxBodyBytes = r.GetValue(maxBody), MaxCandidates = r.GetValue(maxCandidates), MaxContextWidth = r.GetValue(maxWidth), MaxAbsValue = r.GetValue(maxAbs),
                RewardMin = r.GetValue(rewardMin), RewardMax = r.GetValue(rewardMax), OutOfRange = range,
                ExplorationSigma = r.GetValue(sigma), Epsilon = r.GetValue(epsilon),
            }).GetAwaiter().GetResult();
            Console.WriteLine("ready; Ctrl+C stops");
            svc.WaitForShutdownAsync().GetAwaiter().GetResult();
            svc.DisposeAsync().AsTask().GetAwaiter().GetResult();
        });
        return cmd;
    }
}
