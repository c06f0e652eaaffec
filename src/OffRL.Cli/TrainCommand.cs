using System.CommandLine;
using System.Text.Json;
using OffRL.Algorithms;
using OffRL.IO;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.Envs;
using OffRL.Runs;

namespace OffRL.Cli;

/// <summary>`offrl train | finetune | eval | collect | list`.</summary>
internal static class TrainCommand
{
    public static IEnumerable<Command> Create() => [Train(), Finetune(), Eval(), Collect(), List()];

    /// <summary>
    /// The options <c>train</c> and <c>finetune</c> share, and what they make of them: the trainer's settings, the config
    /// overrides (preset, then --config, then --set, each checked before any data is read), the printed result.
    /// </summary>
    private sealed class RunOptions
    {
        public readonly Option<string> Algo;
        public readonly Option<string?> Dataset = new("--dataset", "--real-dataset") { Description = "Built-in name (pendulum-medium-replay, ...) or a dataset file (H2O: the real data, --real-dataset)" };
        public readonly Option<ulong> Seed = new("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        public readonly Option<ulong> DatasetSeed = new("--dataset-seed") { Description = "Seed of a built-in dataset (its own SAC run; independent of --seed, as D4RL's fixed datasets)", DefaultValueFactory = _ => 0 };
        public readonly Option<string?> Config = new("--config") { Description = "YAML or JSON file of config fields overriding the paper defaults (offrl list --fields ALGO names them)" };
        public readonly Option<string[]> Set = new("--set") { Description = "KEY=VALUE overriding one config field after --config (repeatable), e.g. --set batch_size=512 --set hidden=[64,64]" };
        public readonly Option<string?> Preset = new("--preset") { Description = "A published configuration for the dataset, applied before --config and --set: corl (CORL's configs), authors (the authors' code); offrl list --presets ALGO shows them" };
        public readonly Option<int?> History = new("--history") { Description = "Observation history K: the agent sees the last K observations (the config field history; as --set history=K)" };
        public readonly Option<int> EvalEvery = new Option<int>("--eval-every") { Description = "Evaluate every N steps", DefaultValueFactory = _ => 5000 }.InRange("[1, inf)");
        public readonly Option<int> EvalEpisodes = new Option<int>("--eval-episodes") { Description = "Episodes per evaluation", DefaultValueFactory = _ => 10 }.InRange("[1, 100000]");
        public readonly Option<string?> Out = new("--out") { Description = "Folder for metrics (CSV, JSON Lines) and the trained agent" };
        public readonly Option<bool> Json = new("--json") { Description = "Print one JSON object as the last line" };
        public readonly Option<int> CheckpointEvery = new Option<int>("--checkpoint-every") { Description = "Write OUT/checkpoint every N steps (optimizer and RNG state; online runs also the replay buffer)", DefaultValueFactory = _ => 0 }.InRange("[0, inf)");
        public readonly Option<string?> Resume = new("--resume") { Description = "Continue from a checkpoint folder (an earlier run's OUT or OUT/checkpoint, offline or online); its metrics after the checkpoint's step are dropped" };
        public readonly Option<string?> EvalEnv = new("--eval-env") { Description = "Evaluate in this environment instead of the run's own (a policy trained in a simulator, e.g. --env pendulum:g=2, judged in pendulum; one trained on gridworld:levels=N, judged on unseen levels in gridworld)" };
        public readonly Option<bool> Overwrite = new("--overwrite") { Description = "Remove an earlier run's own files from --out first (agent, metrics, checkpoints; never other files). A folder holding an earlier run needs --resume or --overwrite" };

        public RunOptions(string algoDescription) => Algo = new Option<string>("--algo") { Description = algoDescription, Required = true };

        public IEnumerable<Option> All => [Algo, Dataset, Seed, DatasetSeed, Config, Set, Preset, History, EvalEvery, EvalEpisodes, EvalEnv, Out, Json, CheckpointEvery, Resume, Overwrite];

        /// <summary>The trainer's settings (checked now: a bad option fails before a dataset is built or read).</summary>
        public TrainerConfig Trainer(ParseResult r, long steps, int updatesPerStep = 1, int startSteps = 5000)
        {
            if (r.GetValue(EvalEnv) is { } judged) EnvRegistry.Find(judged);   // an unknown name fails before anything runs
            var tc = new TrainerConfig(Steps: steps, EvalEvery: r.GetValue(EvalEvery), EvalEpisodes: r.GetValue(EvalEpisodes), Seed: r.GetValue(Seed), OutDir: r.GetValue(Out),
                CheckpointEvery: r.GetValue(CheckpointEvery), ResumeFrom: r.GetValue(Resume), Overwrite: r.GetValue(Overwrite), UpdatesPerStep: updatesPerStep,
                StartSteps: startSteps, EvalEnv: r.GetValue(EvalEnv));
            tc.Validate();
            return tc;
        }

        /// <summary>The inputs and the output checked against each other (no output replaces an input).</summary>
        public void CheckPaths(ParseResult r) =>
            new IO.PathGuard().Input("--dataset", Recipes.FileOf(r.GetValue(Dataset), r.GetValue(DatasetSeed))).Input("--config", r.GetValue(Config))
                .Output("--out", r.GetValue(Out)).Check();

        /// <summary>The preset's values, then --config, then --set (and --history), checked against the config record now.</summary>
        public JsonElement? Overrides(ParseResult r, AlgorithmSpec spec)
        {
            JsonElement? presetValues = null;
            var dsOption = r.GetValue(Dataset);
            if (r.GetValue(Preset) is { } presetName)
            {
                if (spec.Mode == LearningMode.Online || dsOption is null) throw new ArgumentException($"--preset: presets are per dataset; {spec.Name} on no --dataset has none");
                var (values, entry) = OffRL.Algorithms.Preset.Resolve(spec, presetName, dsOption);
                presetValues = values;
                Console.WriteLine($"preset {presetName} for {OffRL.Algorithms.Preset.DatasetKey(dsOption)}: {entry.Values} ({entry.Source})");
            }
            var sets = r.GetValue(History) is { } k ? [.. r.GetValue(Set) ?? [], $"history={k}"] : r.GetValue(Set);
            var overrides = ConfigFile.Overrides(presetValues, r.GetValue(Config), sets);
            // A bad field fails now, naming the config file, before a dataset is built or read.
            ConfigFile.Naming(r.GetValue(Config), sets, () => AlgorithmRegistry.Config(spec, overrides));
            return overrides;
        }

        /// <summary>The dataset the run reads, its environment, and the provenance its run.json records.</summary>
        public (Dataset Data, string Env, Provenance Provenance) OpenDataset(ParseResult r, string name, string? env)
        {
            var (data, envName) = Recipes.Open(name, env, r.GetValue(DatasetSeed));
            var sha = Provenance.FileSha256(Recipes.FileOf(name, r.GetValue(DatasetSeed)));
            return (data, envName, new Provenance(name, sha, r.GetValue(Preset)));
        }

        /// <summary>The result line, and with --json one JSON object as the last line (<paramref name="extra"/> added to it).</summary>
        public void Report(ParseResult r, (Agent Agent, TrainResult Result) run, string dsName, string envName, TrainerConfig tc, Dictionary<string, object?>? extra = null)
        {
            var (res, agentName) = (run.Result, run.Agent.Name);
            var f = res.Final;
            Console.WriteLine($"{agentName} on {dsName}: return {f.ReturnMean:F1} ± {f.ReturnStd:F1}{(f.NormalizedScore is { } s ? $", normalized score {s:F1}" : "")}, {res.UpdatesPerSecond:F0} updates/s over the run ({res.LearningUpdatesPerSecond:F0} in learning alone)");
            if (!r.GetValue(Json)) return;
            var o = new Dictionary<string, object?>
            {
                ["algo"] = agentName, ["dataset"] = dsName, ["steps"] = tc.Steps, ["return_mean"] = f.ReturnMean, ["return_std"] = f.ReturnStd,
                ["normalized_score"] = f.NormalizedScore, ["updates_per_s"] = res.UpdatesPerSecond, ["learning_updates_per_s"] = res.LearningUpdatesPerSecond,
                ["env"] = envName, ["seed"] = tc.Seed, ["dataset_seed"] = r.GetValue(DatasetSeed), ["seconds"] = res.Seconds,
                ["commit"] = Provenance.Commit, ["dataset_sha256"] = tc.Provenance?.DatasetSha256, ["preset"] = r.GetValue(Preset),
                ["config"] = JsonSerializer.SerializeToElement(run.Agent.Config, run.Agent.Config.GetType(), ConfigFile.JsonOptions),
            };
            foreach (var (k, v) in extra ?? []) o[k] = v;
            Console.WriteLine(JsonSerializer.Serialize(o));
        }
    }

    private static Command Train()
    {
        var o = new RunOptions($"Offline (with --dataset): {AlgorithmRegistry.Names(LearningMode.Offline)}; online (with --env): {AlgorithmRegistry.Names(LearningMode.Online)}; " +
            $"hybrid, online with a dataset in every batch (--dataset and --env): {AlgorithmRegistry.Names(LearningMode.Hybrid)}");
        var env = new Option<string?>("--env") { Description = "Environment for evaluation (online and hybrid: to train in)" };
        var steps = new Option<long>("--steps") { Description = "Gradient updates (offline) or environment steps (online, hybrid)", DefaultValueFactory = _ => 100_000 }.InRange("[1, 1000000000000]");
        var startSteps = new Option<int?>("--start-steps") { Description = "Online: environment steps with uniformly random actions and no updates before learning starts (default 5000; a hybrid method's are its config's random_steps)" }.InRange("[0, inf)");
        var simEnv = new Option<string?>("--sim-env") { Description = "Hybrid (H2O): the simulator the agent acts in, e.g. halfcheetah:gravity=2 (NAME:PARAM=SCALE,...); --env is the real environment it is evaluated in" };
        var cmd = new Command("train", "Train an agent offline on a dataset, online in an environment, or both at once (hybrid)") { env, steps, startSteps, simEnv };
        foreach (var option in o.All) cmd.Options.Add(option);
        cmd.SetAction(r =>
        {
            var spec = AlgorithmRegistry.Find(r.GetValue(o.Algo)!);
            if (r.GetValue(startSteps) is not null && spec.Mode != LearningMode.Online)
                throw new ArgumentException($"--start-steps: {spec.Name} is not an online method{(spec.Mode == LearningMode.Hybrid ? $"; its random steps are its config's: --set random_steps=N" : "")}");
            if (r.GetValue(startSteps) is not null && typeof(OnPolicyConfig).IsAssignableFrom(spec.ConfigType))
                throw new ArgumentException($"--start-steps: {spec.Name} collects every rollout with its policy; it takes no random steps");
            if (r.GetValue(simEnv) is not null && spec.Mode != LearningMode.Hybrid)
                throw new ArgumentException($"--sim-env: only a hybrid method acts in a simulator beside its data ({AlgorithmRegistry.Names(LearningMode.Hybrid)}); {spec.Name} does not");
            var tc = o.Trainer(r, r.GetValue(steps), startSteps: r.GetValue(startSteps) ?? 5000);
            o.CheckPaths(r);
            var overrides = o.Overrides(r, spec);
            string dsName, envName;
            (Agent Agent, TrainResult Result) run;
            if (spec.Mode == LearningMode.Online)
            {
                envName = r.GetValue(env) ?? throw new ArgumentException($"--env: {spec.Name} learns online in an environment");
                run = Training.Online(spec.Name, envName, tc, overrides);
                dsName = "(online)";
            }
            else
            {
                dsName = r.GetValue(o.Dataset) ?? throw new ArgumentException($"--dataset: {spec.Name} learns {(spec.Mode == LearningMode.Hybrid ? "online with" : "offline from")} a dataset");
                if (spec.Mode == LearningMode.Hybrid && r.GetValue(env) is null) throw new ArgumentException($"--env: {spec.Name} learns online in an environment, with the dataset in every batch");
                (var data, envName, var provenance) = o.OpenDataset(r, dsName, r.GetValue(env));
                tc = tc with { Provenance = provenance };
                run = spec.Mode == LearningMode.Hybrid ? Training.Hybrid(spec.Name, data, envName, tc, overrides, r.GetValue(simEnv)) : Training.Offline(spec.Name, data, envName, tc, overrides);
            }
            o.Report(r, run, dsName, envName, tc);
        });
        return cmd;
    }

    /// <summary>`offrl finetune`: offline on a dataset, then online in an environment, one run (issue 38).</summary>
    private static Command Finetune()
    {
        var o = new RunOptions($"An offline algorithm that goes on online: {AlgorithmRegistry.Names(LearningMode.Offline)}");
        var env = new Option<string>("--env") { Description = "Environment to act in during the online phase (and to evaluate in)", Required = true };
        var offlineSteps = new Option<long?>("--offline-steps") { Description = "Gradient updates on the dataset before the agent acts (default 100000; a method whose stages fix it, Uni-O4: theirs)" }.InRange("[0, 1000000000000]");
        var onlineSteps = new Option<long>("--online-steps") { Description = "Environment steps of the online phase (each followed by --utd updates)", DefaultValueFactory = _ => 100_000 }.InRange("[1, 1000000000000]");
        var ratio = new Option<double>("--ratio")
        {
            Description = "Fraction of each online-phase batch drawn from the dataset, the rest from the agent's own transitions (RLPD's symmetric sampling: 0.5), "
                + "in [0, 1]; proportional: as one buffer holding both (CORL's IQL/AWAC/CQL fine-tuning, FamO2O)",
            DefaultValueFactory = _ => 0.5,
            CustomParser = a =>
            {
                var text = a.Tokens.Count == 1 ? a.Tokens[0].Value : "";
                if (text.Equals("proportional", StringComparison.OrdinalIgnoreCase)) return double.NaN;   // the schedule's null (the parser takes no null)
                if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var x) && x is >= 0 and <= 1) return x;
                a.AddError($"--ratio must be a number in [0, 1] or proportional, got '{text}'");
                return 0.5;
            },
        };
        var utd = new Option<int>("--utd") { Description = "Updates per environment step in the online phase (update-to-data ratio)", DefaultValueFactory = _ => 1 }.InRange("[1, 10000]");
        var cmd = new Command("finetune", "Train offline on a dataset, then go on online in an environment with the dataset mixed into each batch") { env, offlineSteps, onlineSteps, ratio, utd };
        foreach (var option in o.All) cmd.Options.Add(option);
        cmd.SetAction(r =>
        {
            var spec = AlgorithmRegistry.Find(r.GetValue(o.Algo)!);
            if (spec.Mode != LearningMode.Offline)
                throw new ArgumentException($"--algo {spec.Name}: learns online only (offrl train --env); finetune starts from a dataset: {AlgorithmRegistry.Names(LearningMode.Offline)}");
            var overrides = o.Overrides(r, spec);
            long offline = r.GetValue(offlineSteps) ?? AlgorithmRegistry.Config(spec, overrides).OfflinePhaseUpdates() ?? 100_000;
            var schedule = new FineTuning(offline, r.GetValue(ratio) is var mixing && double.IsNaN(mixing) ? null : mixing);
            var tc = o.Trainer(r, checked(offline + r.GetValue(onlineSteps)), r.GetValue(utd));
            o.CheckPaths(r);
            var dsName = r.GetValue(o.Dataset) ?? throw new ArgumentException($"--dataset: finetune starts offline from a dataset");
            var (data, envName, provenance) = o.OpenDataset(r, dsName, r.GetValue(env));
            tc = tc with { Provenance = provenance };
            var run = Training.FineTune(spec.Name, data, envName, tc, schedule, overrides);
            var atSwitch = run.Result.Evaluations.LastOrDefault(e => e.Phase == "offline");
            if (atSwitch is not null) Console.WriteLine($"at the switch (step {atSwitch.Step}): return {atSwitch.ReturnMean:F1} ± {atSwitch.ReturnStd:F1}");
            o.Report(r, run, dsName, envName, tc, new()
            {
                ["offline_steps"] = schedule.OfflineSteps, ["online_steps"] = r.GetValue(onlineSteps), ["ratio"] = schedule.Ratio is { } mix ? mix : "proportional", ["utd"] = tc.UpdatesPerStep,
                ["return_at_switch"] = atSwitch?.ReturnMean,
            });
        });
        return cmd;
    }

    private static Command Eval()
    {
        var ckpt = new Option<string>("--checkpoint") { Description = "Folder written by offrl train --out", Required = true };
        var episodes = new Option<int>("--episodes") { Description = "Episodes", DefaultValueFactory = _ => 10 }.InRange("[1, 100000]");
        var env = new Option<string?>("--env") { Description = "Environment (default: the one it was trained for)" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the first episode", DefaultValueFactory = _ => 1_000_000 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line" };
        var cmd = new Command("eval", "Evaluate a trained agent") { ckpt, episodes, env, seed, json };
        cmd.SetAction(r =>
        {
            var dir = r.GetValue(ckpt)!;
            var agent = AlgorithmRegistry.Load(dir);
            string algo = agent.Name;
            var envName = r.GetValue(env) ?? Trainer.RunEnvironment(dir)
                ?? throw new ArgumentException($"--env: {dir} records no environment (no run.json beside the agent); name the environment to evaluate in");
            var (mean, std) = Trainer.Evaluate(agent, envName, r.GetValue(episodes), r.GetValue(seed));
            double? score = NormalizedScore.ScoreOrNull(envName, mean);
            Console.WriteLine($"{algo} from {dir} in {envName}: return {mean:F1} ± {std:F1}{(score is { } s ? $", normalized score {s:F1}" : "")}");
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["algo"] = algo, ["env"] = envName, ["return_mean"] = mean, ["return_std"] = std, ["normalized_score"] = score }));
        });
        return cmd;
    }

    private static Command Collect()
    {
        var env = new Option<string>("--env") { Description = "Environment", Required = true };
        var policy = new Option<string>("--policy") { Description = "random, expert (the environment's scripted expert: gridworld), or a checkpoint folder", DefaultValueFactory = _ => "random" };
        var steps = new Option<int>("--steps") { Description = "Transitions to collect", DefaultValueFactory = _ => 100_000 }.InRange("[1, 1000000000]");
        var noise = new Option<float>("--noise") { Description = "Std of Gaussian noise added to the policy's actions (0: none); with --policy expert, the probability of a uniformly random action", DefaultValueFactory = _ => 0f }.InRange("[0, 1000]");
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Output dataset (.parquet or .hdf5)", Required = true };
        var cmd = new Command("collect", "Roll out a policy and write the transitions as a dataset") { env, policy, steps, noise, seed, output };
        cmd.SetAction(r =>
        {
            IPolicy? pol = null;
            var p = r.GetValue(policy)!;
            var envName = r.GetValue(env)!;
            new IO.PathGuard().Input("--policy", p is "random" or "expert" ? null : p).Output("--out", r.GetValue(output)).Check();
            if (p == "expert")
            {
                if (r.GetValue(noise) > 1) throw new ArgumentException($"--noise: with --policy expert it is a probability in [0, 1], got {r.GetValue(noise)}");
                var expert = Recipes.CollectWith(e => new OffRL.Envs.ScriptedExpertPolicy(e, r.GetValue(noise), r.GetValue(seed)), envName, r.GetValue(steps), r.GetValue(seed),
                    $"scripted expert{(r.GetValue(noise) > 0 ? $", random actions with probability {r.GetValue(noise)}" : "")}");
                DatasetFile.Write(expert, r.GetValue(output)!);
                Console.WriteLine($"wrote {r.GetValue(output)}: {expert.Count} transitions, {expert.EpisodeCount} episodes, mean return {expert.EpisodeReturns().Average():F1}");
                return;
            }
            if (p != "random")
            {
                var agent = AlgorithmRegistry.Load(p, r.GetValue(seed));
                pol = r.GetValue(noise) > 0 ? new OffRL.Evaluation.GaussianPolicy(agent, r.GetValue(noise), r.GetValue(seed)) : agent;
            }
            var d = Recipes.Collect(pol, envName, r.GetValue(steps), r.GetValue(seed));
            DatasetFile.Write(d, r.GetValue(output)!);
            Console.WriteLine($"wrote {r.GetValue(output)}: {d.Count} transitions, {d.EpisodeCount} episodes, mean return {d.EpisodeReturns().Average():F1}");
        });
        return cmd;
    }


    /// <summary>The file a --dataset reads: the file given, or a built-in name's cache file (also an input: no --out may hold it).</summary>
    private static Command List()
    {
        var markdown = new Option<bool>("--markdown") { Description = "Print the algorithms as the Markdown table in ARCHITECTURE.md" };
        var fields = new Option<string?>("--fields") { Description = "Print one algorithm's config fields with their defaults (as --config and --set take them)" };
        var presets = new Option<string?>("--presets") { Description = "Print one algorithm's presets: per dataset, the fields each sets and the file its values come from" };
        var cmd = new Command("list", "Algorithms, built-in datasets and environments") { markdown, fields, presets };
        cmd.SetAction(r =>
        {
            if (r.GetValue(markdown)) { Console.Write(AlgorithmRegistry.MarkdownTable()); return 0; }
            if (r.GetValue(presets) is { } algoName)
            {
                var spec = AlgorithmRegistry.Find(algoName);
                if (spec.Presets.Count == 0) Console.WriteLine($"{spec.Name} has no presets");
                foreach (var p in spec.Presets)
                {
                    Console.WriteLine($"{spec.Name} --preset {p.Name}: {p.Reference}");
                    foreach (var e in p.Entries) Console.WriteLine($"  {string.Join(", ", e.Datasets)}:\n    {e.Values}\n    from {e.Source}");
                }
                return 0;
            }
            if (r.GetValue(fields) is { } name)
            {
                var spec = AlgorithmRegistry.Find(name);
                Console.WriteLine($"{spec.Name} ({spec.ConfigType.Name}):");
                foreach (var (field, value, range) in AlgorithmRegistry.Fields(spec)) Console.WriteLine($"  {field}: {value}{(range is null ? "" : $"   in {range}")}");
                return 0;
            }
            foreach (var s in AlgorithmRegistry.All) Console.WriteLine($"{s.Name,-14} {s.Mode.ToString().ToLowerInvariant(),-8} {s.Actions.ToString().ToLowerInvariant(),-11} {s.Summary}");
            Console.WriteLine("built-in datasets (generated with OffRL's SAC on first use, cached in " + Recipes.CacheDir + "):");
            foreach (var env in Recipes.Envs.Keys) Console.WriteLine($"  {string.Join(", ", Recipes.Kinds.Select(k => $"{env}-{k}"))}");
            Console.WriteLine($"environments: {string.Join(", ", EnvRegistry.All.Select(e => e.Name))}");
            return 0;
        });
        return cmd;
    }
}
