using System.CommandLine;
using System.Text.Json;
using OffRL.Dynamics;
using OffRL.IO;
using OffRL.Runs;

namespace OffRL.Cli;

/// <summary>`offrl model fit`: a dynamics ensemble fitted to a dataset, saved in a folder, its hold-out error per member printed.</summary>
internal static class ModelCommand
{
    public static Command Create()
    {
        var cmd = new Command("model", "Learned models of the world (dynamics ensembles for model-based OPE and training)");
        cmd.Subcommands.Add(Fit());
        return cmd;
    }

    private static Command Fit()
    {
        var dataset = new Option<string>("--dataset") { Description = "Dataset name or file", Required = true };
        var env = new Option<string?>("--env") { Description = "The environment the data is from (default: the one the dataset names)" };
        var outDir = new Option<string>("--out") { Description = "Folder for the model (dynamics.safetensors, its JSON, run.json)", Required = true };
        var config = new Option<string?>("--config") { Description = "YAML or JSON file of DynamicsConfig fields (members, elites, hidden, weight_decays, ...)" };
        var set = new Option<string[]>("--set") { Description = "KEY=VALUE overriding one field after --config (repeatable), e.g. --set max_epochs=30" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed (the config field seed; default: the config's, 0)" };
        var datasetSeed = new Option<ulong>("--dataset-seed") { Description = "Seed of a recipe dataset", DefaultValueFactory = _ => 0 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a model fitted earlier in --out" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line" };
        var cmd = new Command("fit", "Fit a dynamics ensemble (OfflineRL-Kit's procedure) and report each member's hold-out error and the elites")
            { dataset, env, outDir, config, set, seed, datasetSeed, overwrite, json };
        cmd.SetAction(r =>
        {
            var dsName = r.GetValue(dataset)!;
            var dir = r.GetValue(outDir)!;
            new PathGuard().Input("--dataset", Recipes.FileOf(dsName, r.GetValue(datasetSeed))).Input("--config", r.GetValue(config)).Output("--out", dir).Check();
            // --seed, when given, is the field seed (given with --set seed=N as well, the two are refused as one field set twice)
            string[] sets = r.GetResult(seed) is { Implicit: false } ? [$"seed={r.GetValue(seed)}", .. r.GetValue(set) ?? []] : r.GetValue(set) ?? [];
            var overrides = ConfigFile.Overrides(r.GetValue(config), sets);
            var c = ConfigFile.Naming(r.GetValue(config), sets, () =>
            {
                var built = ConfigFile.Apply(new DynamicsConfig(), overrides);
                built.Validate();
                return built;
            });
            OutputFolder.CheckClaimable(dir, resume: false, r.GetValue(overwrite));
            var (data, envName) = Recipes.Open(dsName, r.GetValue(env), r.GetValue(datasetSeed), needEnv: false);
            var model = EnsembleDynamics.For(data, c);
            var progress = new LineProgress(Console.Error);
            var started = DateTime.UtcNow;
            var report = model.Fit(data, progress);
            using (var folder = OutputFolder.Claim(dir, resume: false, r.GetValue(overwrite)))
            {
                model.Save(dir);
                var run = new Dictionary<string, object?>
                {
                    ["kind"] = "dynamics", ["dataset"] = dsName, ["env"] = envName, ["commit"] = Provenance.Commit,
                    ["dataset_sha256"] = Provenance.FileSha256(Recipes.FileOf(dsName, r.GetValue(datasetSeed))),
                    ["config"] = JsonSerializer.SerializeToElement(c, ConfigFile.JsonOptions),
                    ["holdout_mse"] = report.HoldoutMse, ["constant_mse"] = report.ConstantMse, ["elites"] = report.Elites,
                    ["elite_holdout_mse"] = report.EliteHoldoutMse, ["epochs"] = report.Epochs, ["train_rows"] = report.TrainRows,
                    ["holdout_rows"] = report.HoldoutRows, ["steps"] = report.Steps, ["seconds"] = (DateTime.UtcNow - started).TotalSeconds,
                };
                AtomicFile.WriteAllText(Path.Combine(dir, "run.json"), JsonSerializer.Serialize(run, new JsonSerializerOptions { WriteIndented = true }));
                Console.WriteLine($"dynamics ensemble on {dsName}: {report.Epochs} epochs, {report.TrainRows} rows to train, {report.HoldoutRows} held out");
                for (int e = 0; e < report.HoldoutMse.Length; e++)
                    Console.WriteLine($"  member {e}: hold-out MSE {report.HoldoutMse[e]:G5}{(Array.IndexOf(report.Elites, e) >= 0 ? " (elite)" : "")}");
                Console.WriteLine($"elites {string.Join(", ", report.Elites)}: hold-out MSE {report.EliteHoldoutMse:G5} (a constant prediction: {report.ConstantMse:G5}); saved in {dir}");
                if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(run));
            }
        });
        return cmd;
    }
}
