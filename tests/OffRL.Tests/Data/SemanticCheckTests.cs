using System.Text.Json.Nodes;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.Evaluation;
using OffRL.Nn;
using OffRL.Tensors;
using Xunit;
using OffRL.Runs;

namespace OffRL.Tests.Data;

/// <summary>
/// Well-formed but meaningless inputs, one class each: malformed spaces, bounds lost by a format, a dataset that is not
/// the environment's, data with nothing to bootstrap from, sizes the engine cannot index, OPE inputs that overflow.
/// Each must be one clear error naming the file, field and row where there is one.
/// </summary>
public sealed class SemanticCheckTests : IDisposable
{
    private readonly string _dir = Fixtures.TempDir();
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    private static DatasetColumns Columns(Dataset d, float[]? actions = null, float[]? logp = null)
    {
        var c = d.CopyColumns();
        return new DatasetColumns
        {
            Observations = c.Observations, Actions = actions ?? c.Actions, Rewards = c.Rewards, Terminals = c.Terminals, Timeouts = c.Timeouts,
            NextObservations = c.NextObservations, BehaviorLogProbs = logp ?? c.BehaviorLogProbs, Extras = c.Extras,
        };
    }

    // ---- 1. spaces judged where they are built or read ----

    [Theory]
    [InlineData(float.NaN, 1f, "low[0] is NaN")]
    [InlineData(1f, -1f, "low[0] = 1 is above high[0] = -1")]
    [InlineData(-1e30f, 1f, "within ±1e6")]
    [InlineData(float.PositiveInfinity, float.PositiveInfinity, "low may be -inf (unbounded on that side), never inf")]
    public void MalformedBoxIsRefusedByTheDatasetNamingTheField(float low, float high, string what)
    {
        var d = Fixtures.Small();
        var e = Assert.Throws<DataException>(() => new Dataset(Columns(d), d.ObservationSpace, Box.Uniform(1, low, high), null, new Dataset.ValidationOptions(File: "f.parquet")));
        Assert.Equal("f.parquet", e.File);
        Assert.Equal("actions", e.Field);
        Assert.Contains("action space", e.Message);
        Assert.Contains(what, e.Message);
    }

    [Fact]
    public void BoxOfDifferentLengthsAndDiscreteBeyondTheLimitAreRefused()
    {
        Assert.Contains("low has 2 values and high has 1", new Box([-1f, -1f], [1f]).Problem());
        Assert.Contains("a discrete space has 1 to", new Discrete(0).Problem());
        Assert.Contains("a discrete space has 1 to", new Discrete(int.MaxValue).Problem());
        Assert.Null(new Discrete(2).Problem());
        Assert.Null(Box.Unbounded(3).Problem());
        Assert.Null(Box.Uniform(1, -2f, 2f).Problem());
    }

    /// <summary>A valid OffRL Parquet file rewritten with its "offrl" metadata edited.</summary>
    private string CraftParquet(string name, Action<JsonObject> edit, Dataset? data = null)
    {
        var valid = Path.Combine(_dir, "valid-" + name);
        ParquetFormat.Write(data ?? Fixtures.Small(), valid);
        var res = Parquet.Serialization.ParquetSerializer.DeserializeAsync<ParquetFormat.Row>(valid).GetAwaiter().GetResult();
        var meta = JsonNode.Parse(res.CustomMetadata![ParquetFormat.MetadataKey])!.AsObject();
        edit(meta);
        var path = Path.Combine(_dir, name);
        var kv = new Dictionary<string, string>(res.CustomMetadata) { [ParquetFormat.MetadataKey] = meta.ToJsonString() };
        Parquet.Serialization.ParquetSerializer.SerializeAsync(res.Data, path, null, kv).GetAwaiter().GetResult();
        return path;
    }

    private static string Key(JsonObject o, string snake) => o.Select(kv => kv.Key).First(k => string.Equals(k.Replace("_", ""), snake.Replace("_", ""), StringComparison.OrdinalIgnoreCase));

    [Fact]
    public void CraftedParquetMetadataIsOneErrorNamingTheFileAndField()
    {
        var cases = new (string Name, Action<JsonObject> Edit, string What)[]
        {
            ("short-high.parquet", m => m[Key(m, "action_space")]!["High"] = new JsonArray(), "low has 1 values and high has 0"),
            ("discrete-max.parquet", m => m[Key(m, "action_space")] = new JsonObject { ["type"] = "discrete", ["N"] = int.MaxValue }, $"has {int.MaxValue} values"),
            ("no-type.parquet", m => m[Key(m, "action_space")] = new JsonObject { ["N"] = 3 }, "metadata is not valid"),
            ("widths-overflow.parquet", m => { m[Key(m, "extra_names")] = new JsonArray("a", "b"); m[Key(m, "extra_widths")] = new JsonArray(int.MaxValue, 2); }, "extra_widths[0] ('a') is 2147483647"),
            ("widths-sum.parquet", m => { m[Key(m, "extra_names")] = new JsonArray("a", "b"); m[Key(m, "extra_widths")] = new JsonArray(1 << 20, 1 << 20); }, "extra_widths sum to 2097152"),
            ("dup-extras.parquet", m => { m[Key(m, "extra_names")] = new JsonArray("a", "a"); m[Key(m, "extra_widths")] = new JsonArray(1, 1); }, "extra_names has 'a' twice"),
        };
        foreach (var (name, edit, what) in cases)
        {
            var path = CraftParquet(name, edit);
            var e = Assert.Throws<DataException>(() => { var d = ParquetFormat.Read(path); Assert.Fail($"{name}: read {d.ActionSpace}"); });
            Assert.Equal(path, e.File);
            Assert.Equal("offrl", e.Field);
            Assert.Contains(what, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    // ---- 2. action bounds kept through every format ----

    [Fact]
    public void PendulumDataWrittenToHdf5ReadsBackWithItsBounds()
    {
        var d = Recipes.Collect(null, "pendulum", 250, 3);
        Assert.Equal(Box.Uniform(1, -2f, 2f), d.ActionSpace);
        var path = Path.Combine(_dir, "pendulum.hdf5");
        D4rl.Write(d, path);
        var back = D4rl.Read(path);
        Assert.Equal(new Box([-2f], [2f]), back.ActionSpace);
        Assert.Equal(d.ObservationSpace, back.ObservationSpace);
        Assert.False(back.Info.SpacesGuessed);
        // Through Parquet and back to HDF5 too.
        var pq = Path.Combine(_dir, "pendulum.parquet");
        ParquetFormat.Write(back, pq);
        var again = Path.Combine(_dir, "again.hdf5");
        D4rl.Write(ParquetFormat.Read(pq), again);
        Assert.Equal(new Box([-2f], [2f]), DatasetFile.Read(again).ActionSpace);
    }

    [Fact]
    public void Hdf5WithoutDeclaredSpacesIsMarkedAsGuessedAndBadDeclarationsAreRefused()
    {
        var d = Recipes.Collect(null, "pendulum", 50, 3);
        int n = d.Count;
        PureHDF.H5File File(string? actionSpace)
        {
            var f = new PureHDF.H5File
            {
                ["observations"] = ToMatrix(d.Observations, n, 3), ["actions"] = ToMatrix(d.Actions, n, 1), ["rewards"] = d.Rewards.ToArray(),
                ["terminals"] = d.Terminals.ToArray(), ["timeouts"] = d.Timeouts.ToArray(),
            };
            if (actionSpace is not null) { f.Attributes["observation_space"] = "{\"type\":\"box\",\"Low\":[-1,-1,-8],\"High\":[1,1,8]}"; f.Attributes["action_space"] = actionSpace; }
            return f;
        }
        var plain = Path.Combine(_dir, "plain.hdf5");
        File(null).Write(plain);
        var guessed = D4rl.Read(plain);
        Assert.True(guessed.Info.SpacesGuessed);
        Assert.Contains(guessed.Info.Processing, p => p.Contains("guessed"));

        var bad = Path.Combine(_dir, "bad.hdf5");
        File("{\"type\":\"box\",\"Low\":[2],\"High\":[-2]}").Write(bad);
        var e = Assert.Throws<DataException>(() => D4rl.Read(bad));
        Assert.True(e.Field == "action_space", e.Message);
        Assert.Equal(bad, e.File);
        Assert.Contains("low[0] = 2 is above high[0] = -2", e.Message);

        var wide = Path.Combine(_dir, "wide.hdf5");
        File("{\"type\":\"box\",\"Low\":[-2,-2],\"High\":[2,2]}").Write(wide);
        e = Assert.Throws<DataException>(() => D4rl.Read(wide));
        Assert.Equal("action_space", e.Field);
        Assert.Contains("width 2, the 'actions' dataset has width 1", e.Message);
    }

    private static float[,] ToMatrix(ReadOnlySpan<float> v, int rows, int cols)
    {
        var m = new float[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i, j] = v[i * cols + j];
        return m;
    }

    // ---- 3. the dataset against the environment ----

    private string PendulumCsv(string name, float action)
    {
        var d = Recipes.Collect(null, "pendulum", 20, 5);
        var path = Path.Combine(_dir, name);
        var sb = new System.Text.StringBuilder("obs_0,obs_1,obs_2,act_0,reward,terminal,timeout\n");
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        for (int i = 0; i < d.Count; i++)
        {
            var o = d.Observation(i);
            float a = i == 6 ? action : d.Action(i)[0];
            sb.Append(string.Join(",", o[0].ToString("R", inv), o[1].ToString("R", inv), o[2].ToString("R", inv), a.ToString("R", inv), d.Rewards[i].ToString("R", inv),
                d.Terminals[i] ? "1" : "0", d.Timeouts[i] ? "1" : "0")).Append('\n');
        }
        System.IO.File.WriteAllText(path, sb.ToString());
        return path;
    }

    [Fact]
    public void UndeclaredBoundsTakeTheEnvironmentsAndActionsOutsideItAreRefusedByRow()
    {
        var ok = PendulumCsv("ok.csv", 1.5f);
        var raw = DatasetFile.Read(ok);
        Assert.True(raw.Info.SpacesGuessed);
        var (fitted, env) = Recipes.Open(ok, "pendulum", needEnv: false);
        Assert.Equal("pendulum", env);
        Assert.Equal(new Box([-2f], [2f]), fitted.ActionSpace);
        Assert.False(fitted.Info.SpacesGuessed);

        var bad = PendulumCsv("bad.csv", 50f);
        var e = Assert.Throws<DataException>(() => Recipes.Open(bad, "pendulum", needEnv: false));
        Assert.Equal(bad, e.File);
        Assert.Equal("actions", e.Field);
        Assert.Equal(8, e.Row);   // the 7th record is line 8 (the header is line 1)
        Assert.Contains("action 50 is outside pendulum's range [-2, 2]", e.Message);
    }

    [Fact]
    public void DeclaredSpacesOtherThanTheEnvironmentsAreRefusedNamingBoth()
    {
        // Discrete(3) data on cartpole (2 actions).
        var cart = Recipes.Collect(null, "cartpole", 30, 1);
        var three = new Dataset(Columns(cart), cart.ObservationSpace, new Discrete(3), new DatasetInfo("x"));
        var e = Assert.Throws<DataException>(() => Recipes.FitToEnv(three, "cartpole"));
        Assert.Equal("actions", e.Field);
        Assert.Contains("Discrete(3)", e.Message);
        Assert.Contains("cartpole has 2 actions", e.Message);

        // Pendulum data declared in [-1, 1] (written to a file): both bounds named.
        var pend = Recipes.Collect(null, "pendulum", 30, 1);
        var clipped = Array.ConvertAll(pend.Actions.ToArray(), a => Math.Clamp(a, -1f, 1f));
        var narrow = new Dataset(Columns(pend, clipped), pend.ObservationSpace, Box.Uniform(1, -1f, 1f), new DatasetInfo("p", "pendulum"));
        var path = Path.Combine(_dir, "narrow.parquet");
        ParquetFormat.Write(narrow, path);
        e = Assert.Throws<DataException>(() => Recipes.Open(path, needEnv: false));   // the env the dataset names is applied too
        Assert.Equal(path, e.File);
        Assert.Contains("Box([-1], [1])", e.Message);
        Assert.Contains("Box([-2], [2])", e.Message);

        // Observation width.
        e = Assert.Throws<DataException>(() => Recipes.FitToEnv(pend, "cartpole"));
        Assert.Equal("observations", e.Field);
    }

    // ---- 4. nothing to bootstrap from ----

    [Fact]
    public void OnlyATimedOutTransitionIsRefusedInTrainingAndOpe()
    {
        var d = new Dataset(new DatasetColumns
        {
            Observations = [0.1f, 0.2f, 0.3f], Actions = [0.5f], Rewards = [1f], Terminals = [false], Timeouts = [true], BehaviorLogProbs = [-1f],
        }, Box.Unbounded(3), Box.Uniform(1, -2f, 2f), new DatasetInfo("one", "pendulum"));
        var e = Assert.Throws<DataException>(() => Training.Prepare("td3bc", d));
        Assert.StartsWith("field 'next_observations': no transition has a next observation:", e.Message);
        e = Assert.Throws<DataException>(() => new OpeData(d, new UniformPolicy(3, d.ActionSpace)));
        Assert.Contains("no transition has a next observation", e.Message);
    }

    // ---- 5. sizes the engine cannot index ----

    [Fact]
    public void SizesBeyondAnIntIndexAreRefusedNamingTheField()
    {
        var e = Assert.Throws<ArgumentException>(() => new BcConfig { Hidden = [65536, 65536] }.Validate());
        Assert.Contains("field 'hidden'", e.Message);
        Assert.Contains("[1, 16384]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new BcConfig { Hidden = [16384], BatchSize = 1_000_000 }.Validate());
        Assert.Contains("field 'batch_size'", e.Message);
        new BcConfig { Hidden = [16384, 16384] }.Validate();   // the widest allowed is accepted

        e = Assert.Throws<ArgumentException>(() => new Linear(65536, 65536, new Rng(0)));
        Assert.Contains("in_features x out_features = 65536 x 65536", e.Message);
        e = Assert.Throws<ArgumentException>(() => new EnsembleLinear(10, 16384, 16384, new Rng(0)));
        Assert.Contains("members x in_features x out_features", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Embedding(0, 4, new Rng(0)));
        Assert.Contains("count must be at least 1", e.Message);
    }

    // ---- 6. OPE inputs ----

    private static Dataset WithLogp(float[] logp) => new(Columns(Fixtures.Small(), logp: logp), Box.Unbounded(2), Box.Uniform(1, -1f, 1f), new DatasetInfo("fixture"),
        new Dataset.ValidationOptions(File: "logged.parquet"));

    [Fact]
    public void LogProbabilitiesThatOverflowAWeightAreRefusedByRowAndNoEstimateIsNaN()
    {
        var logp = Enumerable.Repeat(-0.7f, 9).ToArray();
        logp[3] = -1e30f;
        var d = WithLogp(logp);
        var e = Assert.Throws<DataException>(() => new OpeData(d, new UniformPolicy(2, d.ActionSpace)));
        Assert.Equal("logged.parquet", e.File);
        Assert.Equal("behavior_log_probs", e.Field);
        Assert.Equal(4, e.Row);
        Assert.Contains("overflow", e.Message);

        // Finite, well-formed data: every estimate is finite.
        var ok = new OpeData(WithLogp(Enumerable.Repeat(-0.7f, 9).ToArray()), new UniformPolicy(2, d.ActionSpace));
        foreach (var r in RlOpe.Run(ok, ["tis", "pdis", "sntis", "snpdis"], new RlOpe.Options(BootstrapSamples: 20)))
            Assert.True(double.IsFinite(r.Estimate), r.Estimator);
    }

    [Fact]
    public void OpeOptionsAndEstimatorNamesAreValidatedByTheLibrary()
    {
        var e = Assert.Throws<ArgumentException>(() => new FqeConfig(Steps: 0).Validate());
        Assert.Contains("field 'steps' of FqeConfig must be in [1, inf), got 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => new RlOpe.Options(Alpha: 1.5).Validate());
        Assert.Contains("field 'alpha' of Options must be in (0, 1)", e.Message);
        e = Assert.Throws<ArgumentException>(() => new RlOpe.Options(BootstrapSamples: 1).Validate());
        Assert.Contains("field 'bootstrap_samples' of Options must be in [2,", e.Message);
        e = Assert.Throws<ArgumentException>(() => new RlOpe.Options(Fqe: new FqeConfig(Steps: 0)).Validate());
        Assert.Contains("steps", e.Message);

        Assert.Equal(["mb", "fqe"], RlOpe.ParseEstimators(["MB", " Fqe "]));
        e = Assert.Throws<ArgumentException>(() => RlOpe.ParseEstimators(["fqe", "FQE"]));
        Assert.Contains("--estimators: 'fqe' is given twice", e.Message);
        e = Assert.Throws<ArgumentException>(() => RlOpe.ParseEstimators(["fqe", "nope"]));
        Assert.Contains("--estimators: 'nope' is not an estimator", e.Message);
        Assert.Throws<ArgumentException>(() => RlOpe.ParseEstimators([]));

        var d = new OpeData(WithLogp(Enumerable.Repeat(-0.7f, 9).ToArray()), new UniformPolicy(2, Box.Uniform(1, -1f, 1f)));
        e = Assert.Throws<ArgumentException>(() => RlOpe.Run(d, ["fqe"], new RlOpe.Options(Fqe: new FqeConfig(Steps: 0))));
        Assert.Contains("steps", e.Message);
        Assert.Equal("pdis", Assert.Single(RlOpe.Run(d, ["PDIS"], new RlOpe.Options(BootstrapSamples: 20))).Estimator);
    }
}
