using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.Envs;

namespace OffRL.Cli;

/// <summary>`offrl dataset info|corrupt|convert|mix|augment`.</summary>
internal static class DatasetCommand
{
    public static Command Create()
    {
        var cmd = new Command("dataset", "Inspect, convert, mix, corrupt and augment offline datasets (D4RL/Minari HDF5, OffRL Parquet, CSV)");
        cmd.Subcommands.Add(Info());
        cmd.Subcommands.Add(Corrupt());
        cmd.Subcommands.Add(Convert());
        cmd.Subcommands.Add(Mix());
        cmd.Subcommands.Add(Augment());
        return cmd;
    }

    private static readonly Option<bool> Json = new("--json") { Description = "Print one flat JSON object as the last line" };
    private static readonly Option<bool> TruncateTail = new("--truncate-tail") { Description = "Treat a last episode that never ends as timed out at the last row" };

    private static Command Info()
    {
        var file = new Argument<string>("file") { Description = "Dataset file (.hdf5/.h5 D4RL or Minari, .parquet, .csv) or Minari folder" };
        var plot = new Option<string?>("--plot") { Description = "Write a histogram of episode returns to this PNG (default: FILE.returns.png with --plot-default)" };
        var plotDefault = new Option<bool>("--plot-default") { Description = "Write the return histogram next to the file as FILE.returns.png" };
        var randomRet = new Option<double?>("--random-return") { Description = "Return of a random policy (normalizes trajectory quality)" };
        var expertRet = new Option<double?>("--expert-return") { Description = "Return of an expert policy (normalizes trajectory quality)" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the sample used by the nearest-neighbour measures", DefaultValueFactory = _ => 0 };
        var cmd = new Command("info", "Episodes, returns and dataset-quality measures (TQ, SACo, action divergence, transition diversity)")
            { file, Json, TruncateTail, plot, plotDefault, randomRet, expertRet, seed };
        cmd.SetAction(r =>
        {
            var path = r.GetValue(file)!;
            var png = r.GetValue(plot) ?? (r.GetValue(plotDefault) ? path.TrimEnd('/') + ".returns.png" : null);
            new OffRL.IO.PathGuard().Input("file", OffRL.Runs.Recipes.FileOf(path, r.GetValue(seed))).Output("--plot", png).Check();
            // Built-in names (pendulum-medium-replay, hopper-medium, ...) are generated on first use, as in train.
            var d = Runs.Recipes.Open(path, seed: r.GetValue(seed), truncateTail: r.GetValue(TruncateTail), log: Console.Error.WriteLine, needEnv: false).Data;
            var s = DatasetStatistics.Compute(d, new QualityReference(r.GetValue(randomRet), r.GetValue(expertRet)), seed: r.GetValue(seed));
            Console.WriteLine($"{path}: {d.ObservationSpace} observations, {d.ActionSpace} actions");
            if (d.Info.Source.Length > 0) Console.WriteLine($"  source: {d.Info.Source}");
            Console.WriteLine($"  transitions {s.Transitions}, episodes {s.Episodes} (terminal {s.Terminals}, timeout {s.Timeouts}), length mean {s.LengthMean:F1} [{s.LengthMin}, {s.LengthMax}]");
            Console.WriteLine($"  return mean {s.ReturnMean:G6} std {s.ReturnStd:G6} min {s.ReturnMin:G6} median {s.ReturnMedian:G6} max {s.ReturnMax:G6}");
            Console.WriteLine($"  TQ {s.TrajectoryQuality:F3} ({(s.TrajectoryQualityIsReferenced ? "random/expert reference" : "dataset min/max")}), SACo {s.StateActionCoverage:F3} ({s.UniqueStateActionPairs} unique state-action cells)");
            Console.WriteLine($"  action divergence {s.ActionDivergence:F3}, transition diversity {s.TransitionDiversity:F3}, {s.BytesPerTransition:F0} bytes per transition");
            foreach (var p in d.Info.Processing) Console.WriteLine($"  note: {p}");
            if (png is not null)
            {
                Plots.ReturnHistogram(d, png);
                Console.WriteLine($"  return histogram: {png}");
            }
            if (r.GetValue(Json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["source"] = d.Info.Source, ["transitions"] = s.Transitions, ["episodes"] = s.Episodes, ["terminals"] = s.Terminals, ["timeouts"] = s.Timeouts,
                    ["length_mean"] = s.LengthMean, ["return_mean"] = s.ReturnMean, ["return_std"] = s.ReturnStd,
                    ["return_min"] = s.ReturnMin, ["return_max"] = s.ReturnMax, ["return_median"] = s.ReturnMedian,
                    ["tq"] = s.TrajectoryQuality, ["saco"] = s.StateActionCoverage, ["unique_state_action"] = s.UniqueStateActionPairs,
                    ["action_divergence"] = s.ActionDivergence, ["transition_diversity"] = s.TransitionDiversity,
                    ["bytes_per_transition"] = s.BytesPerTransition,
                }));
        });
        return cmd;
    }

    private static Command Corrupt()
    {
        var file = new Argument<string>("file") { Description = "Input dataset" };
        var target = new Option<CorruptionTarget>("--target") { Description = "What to corrupt", Required = true };
        var kind = new Option<CorruptionKind>("--kind") { Description = "Random, or Adversarial (rewards: -scale*r; observations/actions need a critic through the library API)", DefaultValueFactory = _ => CorruptionKind.Random };
        var fraction = new Option<double>("--fraction") { Description = "Fraction of rows corrupted", DefaultValueFactory = _ => 0.3 }.InRange("[0, 1]");
        var scale = new Option<float>("--scale") { Description = "Corruption scale epsilon", DefaultValueFactory = _ => 1f }.InRange("[0, 1000000]");
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Output dataset (.parquet or .hdf5)", Required = true };
        var cmd = new Command("corrupt", "Corrupt a fraction of a dataset (Yang et al. 2024) for robustness studies") { file, target, kind, fraction, scale, seed, output, TruncateTail, Json };
        cmd.SetAction(r =>
        {
            new OffRL.IO.PathGuard().Input("file", r.GetValue(file)).Output("--out", r.GetValue(output)).Check();
            var d = DatasetFile.Read(r.GetValue(file)!, r.GetValue(TruncateTail));
            var cfg = new CorruptionConfig(r.GetValue(target), r.GetValue(kind), r.GetValue(fraction), r.GetValue(scale), r.GetValue(seed));
            var (data, rep) = Corruption.Apply(d, cfg);
            var outPath = r.GetValue(output)!;
            DatasetFile.Write(data, outPath);
            Console.WriteLine($"corrupted {rep.Rows.Length} of {d.Count} rows ({cfg.Target}, {cfg.Kind}, scale {cfg.Scale}); mean |change| {rep.MeanAbsChange:G4}; wrote {outPath}");
            if (r.GetValue(Json))
                Console.WriteLine(JsonSerializer.Serialize(new { rows = rep.Rows.Length, transitions = d.Count, mean_abs_change = rep.MeanAbsChange, output = outPath }));
        });
        return cmd;
    }

    private static Command Mix()
    {
        var high = new Argument<string>("high") { Description = "Dataset whose episodes are the minority (a file or built-in name, e.g. hopper-medium)" };
        var low = new Argument<string>("low") { Description = "Dataset kept whole (e.g. hopper-random)" };
        var fraction = new Option<double>("--fraction") { Description = "Share of the result's transitions from the first dataset's episodes", DefaultValueFactory = _ => 0.05 }.InRange("(0, 1)");
        var seed = new Option<ulong>("--seed") { Description = "Seed of the episode draw", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Output dataset (.parquet or .hdf5)", Required = true };
        var cmd = new Command("mix", "A few episodes of one dataset among all of another (Hong et al. 2023's mixed datasets, e.g. 5% medium + 95% random)") { high, low, fraction, seed, output, Json };
        cmd.SetAction(r =>
        {
            string a = r.GetValue(high)!, b = r.GetValue(low)!, outPath = r.GetValue(output)!;
            new OffRL.IO.PathGuard().Input("high", Runs.Recipes.FileOf(a, 0)).Input("low", Runs.Recipes.FileOf(b, 0)).Output("--out", outPath).Check();
            Dataset Open(string name) => Runs.Recipes.Open(name, log: Console.Error.WriteLine, needEnv: false).Data;
            var d = Mixing.Mix(Open(a), Open(b), r.GetValue(fraction), new OffRL.Tensors.Rng(r.GetValue(seed)));
            DatasetFile.Write(d, outPath);
            Console.WriteLine($"wrote {outPath} ({d.Count} transitions, {d.EpisodeCount} episodes): {d.Info.Source}");
            if (r.GetValue(Json)) Console.WriteLine(JsonSerializer.Serialize(new { transitions = d.Count, episodes = d.EpisodeCount, output = outPath }));
        });
        return cmd;
    }

    private static Command Augment()
    {
        var dataset = new Option<string>("--dataset") { Description = "Dataset name or file", Required = true };
        var method = new Option<string>("--method") { Description = "How the synthetic data is made: pgd (policy-guided diffusion, Jackson et al. 2024)", DefaultValueFactory = _ => "pgd" };
        var policy = new Option<string?>("--policy") { Description = "The target policy's folder (a trained agent) that guides the samples; without it the samples follow the data" };
        var segments = new Option<int>("--segments") { Description = "Synthetic segments of `horizon` transitions to write", DefaultValueFactory = _ => 1000 }.InRange("[1, 100000000]");
        var config = new Option<string?>("--config") { Description = "YAML or JSON file of DiffusionConfig fields (horizon, steps, hidden, train_steps, guidance, policy_std, ...)" };
        var set = new Option<string[]>("--set") { Description = "KEY=VALUE overriding one field after --config (repeatable), e.g. --set guidance=0.1" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the fit and the samples", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Output dataset (.parquet or .hdf5)", Required = true };
        var cmd = new Command("augment", "Synthetic transitions from a generative model of the dataset, guided towards a target policy (pgd)")
            { dataset, method, policy, segments, config, set, seed, output, Json };
        cmd.SetAction(r =>
        {
            if (r.GetValue(method) != "pgd") throw new ArgumentException($"--method: '{r.GetValue(method)}' is not a method of dataset augment (known: pgd)");
            string name = r.GetValue(dataset)!, outPath = r.GetValue(output)!;
            new OffRL.IO.PathGuard().Input("--dataset", Runs.Recipes.FileOf(name, 0)).Input("--config", r.GetValue(config)).Output("--out", outPath).Check();
            string[] sets = [$"seed={r.GetValue(seed)}", .. r.GetValue(set) ?? []];
            var c = OffRL.IO.ConfigFile.Naming(r.GetValue(config), sets, () => OffRL.IO.ConfigFile.Apply(new OffRL.Dynamics.DiffusionConfig(), OffRL.IO.ConfigFile.Overrides(r.GetValue(config), sets)));
            Algorithms.Agent? target = r.GetValue(policy) is { } dir ? Algorithms.AlgorithmRegistry.Load(dir) : null;
            var d = Runs.Recipes.Open(name, log: Console.Error.WriteLine, needEnv: false).Data;
            if (target is not null && (target.ObservationDim != d.ObservationDim || target.ActionDim != d.ActionDim || target.ActionSpace is not Box))
                throw new ArgumentException($"--policy: {r.GetValue(policy)} acts on {target.ObservationDim} observations with {target.ActionSpace}; the dataset has {d.ObservationDim} observations and {d.ActionSpace}");
            var model = new OffRL.Dynamics.TrajectoryDiffusion(d.ObservationDim, d.ActionDim, c);
            double loss = model.Fit(d, new LineProgress(Console.Error));
            var synthetic = model.Sample(r.GetValue(segments), d.ObservationSpace, d.ActionSpace, new OffRL.Tensors.Rng(c.Seed + 2), target is null ? null : target.ActionOf);
            DatasetFile.Write(synthetic, outPath);
            double? Fit(Dataset x) => target is null ? null : TargetLogLikelihood(target, x, c.PolicyStd);
            double? synth = Fit(synthetic), real = Fit(d);
            Console.WriteLine($"wrote {outPath}: {synthetic.Count} synthetic transitions ({r.GetValue(segments)} segments of {c.Horizon}), guidance {c.Guidance:G4}, diffusion loss {loss:G4}" +
                (synth is { } s1 ? $"; mean target log-likelihood {s1:G4} (the data's {real:G4})" : ""));
            if (r.GetValue(Json))
                Console.WriteLine(JsonSerializer.Serialize(new { transitions = synthetic.Count, segments = r.GetValue(segments), guidance = c.Guidance, diffusion_loss = loss,
                    target_log_likelihood = synth, data_target_log_likelihood = real, output = outPath, commit = Runs.Provenance.Commit }));
        });
        return cmd;
    }

    /// <summary>Mean over rows of log N(a; pi(s), std^2) summed over the action's dimensions (the Gaussian guidance follows).</summary>
    private static double TargetLogLikelihood(Algorithms.Agent target, Dataset d, float std)
    {
        double sum = 0;
        int od = d.ObservationDim, ad = d.ActionDim;
        for (int start = 0; start < d.Count; start += 4096)
        {
            int n = Math.Min(4096, d.Count - start);
            using var scope = OffRL.Tensors.TensorScope.Begin();
            using var noGrad = OffRL.Tensors.Tensor.NoGrad();
            var a = target.ActionOf(OffRL.Tensors.Tensor.FromArray(d.Observations.Slice(start * od, n * od).ToArray(), n, od)).Data;
            for (int i = 0; i < n * ad; i++)
            {
                double e = d.Actions[start * ad + i] - a[i];
                sum += -0.5 * (e * e / (std * std) + Math.Log(2 * Math.PI * std * std));
            }
        }
        return sum / d.Count;
    }

    private static Command Convert()
    {
        var input = new Argument<string>("input") { Description = "Input dataset file, a built-in name (hopper-medium, ...: generated on first use), or a decision log (.db) of a served RL policy" };
        var output = new Argument<string>("output") { Description = "Output dataset (.parquet or .hdf5)" };
        var env = new Option<string?>("--env") { Description = "The environment the data is from: its spaces and bounds are checked against the data's, and given to data that declares none (CSV, D4RL files, decision logs)" };
        var cmd = new Command("convert", "Convert between dataset formats (validating on the way)") { input, output, TruncateTail, env };
        cmd.SetAction(r =>
        {
            var path = r.GetValue(input)!;
            new OffRL.IO.PathGuard().Input("input", OffRL.Runs.Recipes.FileOf(path, 0)).Output("output", r.GetValue(output)).Check();
            Dataset d;
            if (path.EndsWith(".db", StringComparison.OrdinalIgnoreCase))
            {   // a served RL policy's steps as transitions with their behavior log-probabilities
                Space? actions = null;
                if (r.GetValue(env) is { } e) { using var probe = EnvRegistry.Make(e); actions = probe.ActionSpace; }
                d = OffRL.Serving.DecisionLog.ToTransitions(path, actions, out var report);
                foreach (var line in report.Lines()) Console.Error.WriteLine(line);   // every step left out, with its reason
            }
            else d = Runs.Recipes.Open(path, r.GetValue(env), truncateTail: r.GetValue(TruncateTail), log: Console.Error.WriteLine, needEnv: false).Data;
            DatasetFile.Write(d, r.GetValue(output)!);
            Console.WriteLine($"wrote {r.GetValue(output)} ({d.Count} transitions, {d.EpisodeCount} episodes)");
        });
        return cmd;
    }
}
