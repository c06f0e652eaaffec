using System.Text.Json;
using OffRL.Data.IO;
using OffRL.Dynamics;
using OffRL.Runs;
using Xunit;

namespace OffRL.Tests.Cli;

/// <summary>`offrl model fit` end to end: every DynamicsConfig field arrives from a file and --set, the model loads, bad input is one line.</summary>
public sealed class ModelCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "offrl-model-cli-" + Guid.NewGuid().ToString("N"));
    private string P(string name) => Path.Combine(_dir, name);

    public ModelCliTests()
    {
        Directory.CreateDirectory(_dir);
        DatasetFile.Write(Recipes.Collect(null, "pendulum", 600, 1), P("data.parquet"));
    }

    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    [Fact]
    public void EveryFieldArrivesFromTheConfigFileAndSetAndTheSavedModelLoads()
    {
        // every field away from its default: from the YAML file, batch_size and seed from --set and --seed
        File.WriteAllText(P("dyn.yaml"), """
            members: 4
            elites: 2
            hidden: [16, 8]
            weight_decays: [0.001, 0.002, 0.003]
            learning_rate: 0.002
            batch_size: 999
            holdout_ratio: 0.25
            max_holdout: 100
            improvement_threshold: 0.02
            max_epochs_since_update: 3
            max_epochs: 4
            max_steps: 50
            log_var_bound_coef: 0.05
            max_log_var_init: 1.5
            min_log_var_init: -8
            """);
        var res = CliProcess.Run("model", "fit", "--dataset", P("data.parquet"), "--env", "pendulum", "--out", P("m"), "--config", P("dyn.yaml"),
            "--set", "batch_size=32", "--seed", "7", "--json");
        Assert.True(res.Code == 0, res.Err + res.Out);
        var run = JsonDocument.Parse(res.Out.Trim().Split('\n')[^1]).RootElement;
        var expected = new DynamicsConfig
        {
            Members = 4, Elites = 2, Hidden = [16, 8], WeightDecays = [0.001f, 0.002f, 0.003f], LearningRate = 0.002f, BatchSize = 32, HoldoutRatio = 0.25,
            MaxHoldout = 100, ImprovementThreshold = 0.02, MaxEpochsSinceUpdate = 3, MaxEpochs = 4, MaxSteps = 50, LogVarBoundCoef = 0.05f, MaxLogVarInit = 1.5f,
            MinLogVarInit = -8f, Seed = 7,
        };
        var expectedJson = JsonSerializer.SerializeToElement(expected, OffRL.IO.ConfigFile.JsonOptions);
        Assert.True(JsonElement.DeepEquals(expectedJson, run.GetProperty("config")), $"config {run.GetProperty("config")}, expected {expectedJson}");
        Assert.Equal(4, run.GetProperty("holdout_mse").GetArrayLength());
        Assert.Equal(2, run.GetProperty("elites").GetArrayLength());
        Assert.Equal(100, run.GetProperty("holdout_rows").GetInt32());   // min(0.25 n, 100)
        Assert.True(run.GetProperty("epochs").GetInt32() <= 4);
        Assert.True(run.GetProperty("steps").GetInt64() <= 50);
        Assert.Equal(64, run.GetProperty("dataset_sha256").GetString()!.Length);
        Assert.True(File.Exists(P("m/run.json")));
        var model = EnsembleDynamics.Load(P("m"));
        Assert.Equal(expected, model.Config with { Hidden = expected.Hidden, WeightDecays = expected.WeightDecays });
        Assert.Equal([16, 8], model.Config.Hidden);
        Assert.Equal(run.GetProperty("elites").EnumerateArray().Select(e => e.GetInt32()).ToArray(), model.Elites);
        // a second fit into the same folder needs --overwrite
        CliProcess.Run("model", "fit", "--dataset", P("data.parquet"), "--out", P("m"), "--set", "max_epochs=1")
            .RefusedNaming("--overwrite");
    }

    /// <summary>A fitted model serves the mb estimator of `offrl ope rl` (--model); one of other shapes is refused naming --model.</summary>
    [Fact]
    public void OpeRollsPoliciesOutInAFittedModel()
    {
        Assert.Equal(0, CliProcess.Run("model", "fit", "--dataset", P("data.parquet"), "--out", P("m"), "--set", "max_epochs=2", "--set", "hidden=[16]", "--set", "weight_decays=[1e-4,1e-4]").Code);
        Assert.Equal(0, CliProcess.Run("train", "--algo", "bc", "--dataset", P("data.parquet"), "--env", "pendulum", "--steps", "5", "--eval-every", "5", "--eval-episodes", "1", "--out", P("bc")).Code);
        var res = CliProcess.Run("ope", "rl", "--dataset", P("data.parquet"), "--policy", P("bc"), "--estimators", "mb", "--model", P("m"), "--bootstrap", "20", "--json");
        Assert.True(res.Code == 0, res.Err + res.Out);
        var mb = JsonDocument.Parse(res.Out.Trim().Split('\n')[^1]).RootElement;
        Assert.Contains("\"mb\"", mb.GetRawText());
        Assert.DoesNotContain("dynamics epoch", res.Err);   // loaded, not fitted
        DatasetFile.Write(Recipes.Collect(null, "cartpole", 300, 1), P("cartpole.parquet"));
        Assert.Equal(0, CliProcess.Run("model", "fit", "--dataset", P("cartpole.parquet"), "--out", P("cm"), "--set", "max_epochs=1", "--set", "hidden=[8]", "--set", "weight_decays=[1e-4,1e-4]").Code);
        CliProcess.Run("ope", "rl", "--dataset", P("data.parquet"), "--policy", P("bc"), "--estimators", "mb", "--model", P("cm")).RefusedNaming("--model", "the dataset has 3");
    }

    [Fact]
    public void BadSettingsAreOneLineNamingTheField()
    {
        CliProcess.Run("model", "fit", "--dataset", P("data.parquet"), "--out", P("x"), "--set", "elites=9").RefusedNaming("'elites'", "7 members");
        CliProcess.Run("model", "fit", "--dataset", P("data.parquet"), "--out", P("x"), "--set", "hidden=[8]").RefusedNaming("'weight_decays'");
        CliProcess.Run("model", "fit", "--dataset", P("data.parquet"), "--out", P("x"), "--set", "holdout_ratio=0").RefusedNaming("holdout_ratio");
        CliProcess.Run("model", "fit", "--dataset", P("data.parquet"), "--out", P("data.parquet")).RefusedNaming("--out");
        CliProcess.Run("model", "fit", "--dataset", P("data.parquet"), "--out", P("x"), "--seed", "3", "--set", "seed=4").RefusedNaming("seed");
        Assert.False(Directory.Exists(P("x")));
    }

    /// <summary>`offrl dataset augment`: synthetic segments written as a dataset (each an episode of `horizon`), bad settings one line.</summary>
    [Fact]
    public void AugmentWritesSyntheticSegmentsAndRefusesBadSettings()
    {
        var run = CliProcess.Run("dataset", "augment", "--dataset", P("data.parquet"), "--segments", "5", "--set", "train_steps=20", "--set", "hidden=[16]",
            "--set", "horizon=4", "--set", "steps=5", "--out", P("aug.parquet"), "--json");
        Assert.True(run.Code == 0, run.Err);
        var synthetic = DatasetFile.Read(P("aug.parquet"));
        Assert.Equal(20, synthetic.Count);
        Assert.Equal(5, synthetic.EpisodeCount);
        Assert.Equal(5, JsonDocument.Parse(run.Out.Trim().Split((char)10)[^1]).RootElement.GetProperty("segments").GetInt32());
        CliProcess.Run("dataset", "augment", "--dataset", P("data.parquet"), "--method", "gan", "--out", P("y.parquet")).RefusedNaming("--method");
        CliProcess.Run("dataset", "augment", "--dataset", P("data.parquet"), "--set", "horizon=0", "--out", P("y.parquet")).RefusedNaming("horizon");
        CliProcess.Run("dataset", "augment", "--dataset", P("data.parquet"), "--out", P("data.parquet")).RefusedNaming("--out");
        Assert.False(File.Exists(P("y.parquet")));
    }
}
