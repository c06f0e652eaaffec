using System.CommandLine;
using System.Text.Json;
using OffRL.Algorithms;
using OffRL.IO;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.Envs;
using OffRL.Runs;

namespace OffRL.Cli;

/// <summary>`offrl train | eval | collect | list`.</summary>
internal static class TrainCommand
{
    public static IEnumerable<Command> Create() => [Train(), Eval(), Collect(), List()];

    private static Command Train()
    {
        var algo = new Option<string>("--algo")
        {
            Description = $"Offline (with --dataset): {AlgorithmRegistry.Names(LearningMode.Offline)}; online (with --env): {AlgorithmRegistry.Names(LearningMode.Online)}",
            Required = true,
        };
        var dataset = new Option<string?>("--dataset") { Description = "Built-in name (pendulum-medium-replay, ...) or a dataset file" };
        var env = new Option<string?>("--env") { Description = "Environment for evaluation (online: to train in)" };
        var steps = new Option<long>("--steps") { Description = "Gradient updates (offline) or environment steps (online)", DefaultValueFactory = _ => 100_000 }.InRange("[1, 1000000000000]");
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var datasetSeed = new Option<ulong>("--dataset-seed") { Description = "Seed of a built-in dataset (its own SAC run; independent of --seed, as D4RL's fixed datasets)", DefaultValueFactory = _ => 0 };
        var config = new Option<string?>("--config") { Description = "YAML or JSON file of config fields overriding the paper defaults (offrl list --fields ALGO names them)" };
        var set = new Option<string[]>("--set") { Description = "KEY=VALUE overriding one config field after --config (repeatable), e.g. --set batch_size=512 --set hidden=[64,64]" };
        var preset = new Option<string?>("--preset") { Description = "A published configuration for the dataset, applied before --config and --set: corl (CORL's configs), authors (the authors' code); offrl list --presets ALGO shows them" };
        var evalEvery = new Option<int>("--eval-every") { Description = "Evaluate every N steps", DefaultValueFactory = _ => 5000 }.InRange("[1, inf)");
        var evalEpisodes = new Option<int>("--eval-episodes") { Description = "Episodes per evaluation", DefaultValueFactory = _ => 10 }.InRange("[1, 100000]");
        var outDir = new Option<string?>("--out") { Description = "Folder for metrics (CSV, JSON Lines) and the trained agent" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line" };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Write OUT/checkpoint every N steps (optimizer and RNG state; online runs also the replay buffer)", DefaultValueFactory = _ => 0 }.InRange("[0, inf)");
        var resume = new Option<string?>("--resume") { Description = "Continue from a checkpoint folder (an earlier run's OUT or OUT/checkpoint, offline or online); its metrics after the checkpoint's step are dropped" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Remove an earlier run's own files from --out first (agent, metrics, checkpoints; never other files). A folder holding an earlier run needs --resume or --overwrite" };
        var history = new Option<int?>("--history") { Description = "Observation history K: the agent sees the last K observations (the config field history; as --set history=K)" };
        var cmd = new Command("train", "Train an agent offline on a dataset or online in an environment") { algo, dataset, env, steps, seed, datasetSeed, config, set, preset, history, evalEvery, evalEpisodes, outDir, json, checkpointEvery, resume, overwrite };
        cmd.SetAction(r =>
        {
            var spec = AlgorithmRegistry.Find(r.GetValue(algo)!);
            var tc = new TrainerConfig(Steps: r.GetValue(steps), EvalEvery: r.GetValue(evalEvery), EvalEpisodes: r.GetValue(evalEpisodes), Seed: r.GetValue(seed), OutDir: r.GetValue(outDir),
                CheckpointEvery: r.GetValue(checkpointEvery), ResumeFrom: r.GetValue(resume), Overwrite: r.GetValue(overwrite));
            tc.Validate();   // a bad option fails now, before a dataset is built or read
            var dsOption = r.GetValue(dataset);
            new IO.PathGuard().Input("--dataset", Recipes.FileOf(dsOption, r.GetValue(datasetSeed))).Input("--config", r.GetValue(config))
                .Output("--out", r.GetValue(outDir)).Check();
            JsonElement? presetValues = null;
            if (r.GetValue(preset) is { } presetName)
            {
                if (spec.Mode != LearningMode.Offline || dsOption is null) throw new ArgumentException($"--preset: presets are per dataset; {spec.Name} on no --dataset has none");
                var (values, entry) = Preset.Resolve(spec, presetName, dsOption);
                presetValues = values;
                Console.WriteLine($"preset {presetName} for {Preset.DatasetKey(dsOption)}: {entry.Values} ({entry.Source})");
            }
            var sets = r.GetValue(history) is { } k ? [.. r.GetValue(set) ?? [], $"history={k}"] : r.GetValue(set);
            var overrides = ConfigFile.Overrides(presetValues, r.GetValue(config), sets);
            // A bad field fails now, naming the config file, before a dataset is built or read.
            ConfigFile.Naming(r.GetValue(config), sets, () => AlgorithmRegistry.Config(spec, overrides));
            string dsName, envName;
            (Agent Agent, TrainResult Result) run;
            string? datasetSha = null;
            if (spec.Mode == LearningMode.Online)
            {
                envName = r.GetValue(env) ?? throw new ArgumentException($"--env: {spec.Name} learns online in an environment");
                run = Training.Online(spec.Name, envName, tc, overrides);
                dsName = "(online)";
            }
            else
            {
                dsName = r.GetValue(dataset) ?? throw new ArgumentException($"--dataset: {spec.Name} learns offline from a dataset");
                (var data, envName) = Recipes.Open(dsName, r.GetValue(env), r.GetValue(datasetSeed));
                datasetSha = Provenance.FileSha256(Recipes.FileOf(dsName, r.GetValue(datasetSeed)));
                tc = tc with { Provenance = new Provenance(dsName, datasetSha, r.GetValue(preset)) };
                run = Training.Offline(spec.Name, data, envName, tc, overrides);
            }
            var (res, agentName) = (run.Result, run.Agent.Name);
            var f = res.Final;
            Console.WriteLine($"{agentName} on {dsName}: return {f.ReturnMean:F1} ± {f.ReturnStd:F1}{(f.NormalizedScore is { } s ? $", normalized score {s:F1}" : "")}, {res.UpdatesPerSecond:F0} updates/s over the run ({res.LearningUpdatesPerSecond:F0} in learning alone)");
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["algo"] = agentName, ["dataset"] = dsName, ["steps"] = tc.Steps, ["return_mean"] = f.ReturnMean, ["return_std"] = f.ReturnStd,
                    ["normalized_score"] = f.NormalizedScore, ["updates_per_s"] = res.UpdatesPerSecond, ["learning_updates_per_s"] = res.LearningUpdatesPerSecond,
                    ["env"] = envName, ["seed"] = tc.Seed, ["dataset_seed"] = r.GetValue(datasetSeed), ["seconds"] = res.Seconds,
                    ["commit"] = Provenance.Commit, ["dataset_sha256"] = datasetSha, ["preset"] = r.GetValue(preset),
                    ["config"] = JsonSerializer.SerializeToElement(run.Agent.Config, run.Agent.Config.GetType(), ConfigFile.JsonOptions),
                }));
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
        var policy = new Option<string>("--policy") { Description = "random, or a checkpoint folder", DefaultValueFactory = _ => "random" };
        var steps = new Option<int>("--steps") { Description = "Transitions to collect", DefaultValueFactory = _ => 100_000 }.InRange("[1, 1000000000]");
        var noise = new Option<float>("--noise") { Description = "Std of Gaussian noise added to the policy's actions (0: none)", DefaultValueFactory = _ => 0f }.InRange("[0, 1000]");
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Output dataset (.parquet or .hdf5)", Required = true };
        var cmd = new Command("collect", "Roll out a policy and write the transitions as a dataset") { env, policy, steps, noise, seed, output };
        cmd.SetAction(r =>
        {
            IPolicy? pol = null;
            var p = r.GetValue(policy)!;
            var envName = r.GetValue(env)!;
            new IO.PathGuard().Input("--policy", p == "random" ? null : p).Output("--out", r.GetValue(output)).Check();
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
