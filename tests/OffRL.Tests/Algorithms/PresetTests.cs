using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.IO;
using OffRL.Tests.Cli;
using Xunit;
using OffRL.Runs;

namespace OffRL.Tests.Algorithms;

/// <summary>
/// Published per-dataset presets (issue 34): every value of every preset reaches the trained agent's saved config,
/// segments and %BC ranking follow the reference's rule, run.json records the provenance, bad preset names are one line.
/// </summary>
public sealed class PresetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("offrl-presets-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    // 2200 rows of pendulum (11 episodes of 200): two complete 1000-row CORL segments with different returns.
    private static readonly Dataset Data = Recipes.Collect(null, "pendulum", 2200, 5);

    public static TheoryData<string, string, string> EveryPresetEntry()
    {
        var rows = new TheoryData<string, string, string>();
        foreach (var spec in AlgorithmRegistry.All)
            foreach (var p in spec.Presets)
                foreach (var e in p.Entries) rows.Add(spec.Name, p.Name, e.Datasets[0]);
        return rows;
    }

    [Theory]
    [MemberData(nameof(EveryPresetEntry))]
    public void Every_preset_value_reaches_the_saved_config(string algo, string preset, string dataset)
    {
        var spec = AlgorithmRegistry.Find(algo);
        var (values, _) = Preset.Resolve(spec, preset, dataset);
        var outDir = Path.Combine(_dir, $"{algo}-{preset}-{dataset}");
        // SAC-N's and EDAC's hopper presets hold 50 to 500 critics of 3 x 256 (a gigabyte with Adam's moments): those
        // train with narrow layers, and their `hidden` is checked on the config the preset resolves to (the same
        // `hidden` reaches the saved config end to end in their 10-critic entries).
        var trainedValues = values;
        bool narrowed = values.TryGetProperty("num_critics", out var n) && n.GetInt32() > 20;
        if (narrowed)
        {
            Assert.Equal([256, 256, 256], AlgorithmRegistry.Config(spec, values).Hidden);
            trainedValues = With(values, "hidden", "[8, 8, 8]");
        }
        // The model-based methods fit a small ensemble in a few steps and roll out from a few states (their presets set
        // the horizon and the penalty, which reach the run as they are).
        if (AlgorithmRegistry.Config(spec) is ModelBasedSacConfig)
            foreach (var (field, json) in new[] { ("dynamics_hidden", "[8]"), ("dynamics_weight_decays", "[0, 0]"), ("dynamics_max_steps", "4"), ("rollout_starts", "16") })
                trainedValues = With(trainedValues, field, json);
        // Uni-O4 fits its dynamics at the start (for AM-Q) and holds IQL's 1024-wide critics: a few model steps and narrow values.
        if (AlgorithmRegistry.Config(spec) is UniO4Config)
            foreach (var (field, json) in new[] { ("dynamics_max_steps", "4"), ("q_hidden", "[8]"), ("v_hidden", "[8]") })
                trainedValues = With(trainedValues, field, json);
        var (trained, _) = Training.Offline(algo, Data, "pendulum", new TrainerConfig(Steps: 2, EvalEvery: 2, EvalEpisodes: 1, Progress: false, OutDir: outDir,
            Provenance: new Provenance(dataset, null, preset)), trainedValues);
        // The saved agent (with whatever modules the preset adds) loads back and acts as the trained one.
        var loaded = AlgorithmRegistry.Load(outDir);
        float[] obs = [0.3f, -0.2f, 0.5f], a1 = new float[1], a2 = new float[1];
        trained.Act(obs, a1, deterministic: true);
        loaded.Act(obs, a2, deterministic: true);
        Assert.Equal(a1[0], a2[0]);
        var saved = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "agent.json"))).RootElement.GetProperty("config");
        foreach (var field in values.EnumerateObject())
        {
            if (narrowed && field.Name == "hidden") continue;
            var key = saved.EnumerateObject().Single(p => Norm(p.Name) == Norm(field.Name));
            Assert.True(SameValue(field.Value, key.Value), $"{algo} --preset {preset} on {dataset}: {field.Name} is {field.Value} in the preset, {key.Value} in the saved config");
        }
        var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "run.json"))).RootElement;
        Assert.Equal(preset, run.GetProperty("preset").GetString());
        Assert.Equal(Provenance.Commit, run.GetProperty("commit").GetString());
        Assert.Equal(saved.GetRawText(), run.GetProperty("config").GetRawText());
    }

    /// <summary><paramref name="values"/> with one field's value replaced by <paramref name="json"/>.</summary>
    private static JsonElement With(JsonElement values, string field, string json)
    {
        var o = System.Text.Json.Nodes.JsonNode.Parse(values.GetRawText())!.AsObject();
        o[field] = System.Text.Json.Nodes.JsonNode.Parse(json);
        return JsonDocument.Parse(o.ToJsonString()).RootElement;
    }

    private static string Norm(string n) => n.Replace("_", "").ToLowerInvariant();

    /// <summary>Numbers by value (3e-4 = 0.0003), enum names as config files write them (return_range = ReturnRange), lists element by element.</summary>
    private static bool SameValue(JsonElement a, JsonElement b) => (a.ValueKind, b.ValueKind) switch
    {
        (JsonValueKind.Number, JsonValueKind.Number) => Math.Abs(a.GetDouble() - b.GetDouble()) <= 1e-6 * Math.Max(1, Math.Abs(a.GetDouble())),
        (JsonValueKind.String, JsonValueKind.String) => Norm(a.GetString()!) == Norm(b.GetString()!),
        (JsonValueKind.Array, JsonValueKind.Array) => a.GetArrayLength() == b.GetArrayLength() && a.EnumerateArray().Zip(b.EnumerateArray()).All(p => SameValue(p.First, p.Second)),
        _ => a.ValueKind == b.ValueKind && a.GetRawText() == b.GetRawText(),
    };

    [Theory]
    [InlineData("hopper-medium", "hopper-medium")]
    [InlineData("/data/hopper_medium_replay-v2.hdf5", "hopper-medium-replay")]
    [InlineData("walker2d-medium-expert-v2", "walker2d-medium-expert")]
    [InlineData("cache/halfcheetah-medium-seed0-v2.parquet", "halfcheetah-medium")]
    public void Dataset_files_map_to_the_datasets_presets_name(string given, string key) => Assert.Equal(key, Preset.DatasetKey(given));

    [Fact]
    public void Corl_segments_skip_timeout_rows_cut_every_1000_rows_and_drop_the_tail()
    {
        // 2500 rows of reward 1: timeouts at rows 499 and 1499, a terminal at 1999, the last episode cut off by the data.
        int n = 2500;
        var term = new bool[n]; var tout = new bool[n];
        tout[499] = tout[1499] = true; term[1999] = true;
        var d = new Dataset(new DatasetColumns
        {
            Observations = Enumerable.Range(0, n).Select(i => (float)i).ToArray(), Actions = new float[n], Rewards = Enumerable.Repeat(1f, n).ToArray(), Terminals = term, Timeouts = tout,
        }, Box.Unbounded(1), Box.Uniform(1, -1, 1), options: new Dataset.ValidationOptions(TruncateTail: true));
        // qlearning_dataset's rows: all but 499, 1499 and 2499; 1000 of them end at row 1000, then 998 end at the terminal; 499 left open.
        var corl = d.Segments(ReturnSegments.Corl);
        Assert.Equal([1000.0, 998.0], d.SegmentReturns(corl));
        Assert.Equal(1000, corl[0][^1]);
        Assert.DoesNotContain(499, corl[0]);
        Assert.Equal([500.0, 1000.0, 500.0, 500.0], d.SegmentReturns(d.Segments(ReturnSegments.Episodes)));   // the cut-off last episode counts
        // D4RL's qlearning_dataset rows: 2497 transitions, s' the next row's observation; CORL's segments over them are the same.
        var q = d.QlearningRows();
        Assert.Equal(2497, q.Count);
        Assert.True(q.Info.QlearningRows);
        Assert.Equal([1000.0, 998.0], q.SegmentReturns(q.Segments(ReturnSegments.Corl)));
        Assert.Equal(499f, q.NextObservation(498)[0]);   // row 498's s' is the timeout row's observation; row 499 itself is left out
        Assert.Equal(500f, q.Observation(499)[0]);
        Assert.True(q.Timeouts[498]);                      // the sequence breaks there: an episode end (bootstrapped)
        // return_range over CORL's segments: 1000 / (1000 - 998); over episodes: 1000 / (1000 - 500).
        Assert.Equal(500f, Preprocessing.Fit(d, new PreprocessingConfig(Rewards: RewardNormalization.ReturnRange, ReturnSegments: ReturnSegments.Corl)).RewardScale, 3);
        Assert.Equal(2f, Preprocessing.Fit(d, new PreprocessingConfig(Rewards: RewardNormalization.ReturnRange)).RewardScale, 5);
    }

    [Fact]
    public void Percent_bc_ranks_by_the_undiscounted_return_by_default()
    {
        // Two episodes of 3 steps: A = (0, 0, 10), B = (5, 0, 0). Undiscounted A wins (10 > 5); with gamma 0.5, B wins (5 > 2.5).
        var d = new Dataset(new DatasetColumns
        {
            Observations = [0, 1, 2, 3, 4, 5], Actions = new float[6], Rewards = [0, 0, 10, 5, 0, 0],
            Terminals = [false, false, true, false, false, true], Timeouts = new bool[6],
        }, Box.Unbounded(1), Box.Uniform(1, -1, 1));
        var pbc = AlgorithmRegistry.Find("pbc");
        Assert.Equal(1.0, ((BcConfig)pbc.Defaults).RankDiscount);
        var kept = pbc.PrepareData!(d, AlgorithmRegistry.Config(pbc, ConfigFile.Overrides(null, ["top_fraction=0.5"])));
        Assert.Equal([0f, 1f, 2f], kept.Observations.ToArray());
        var discounted = pbc.PrepareData!(d, AlgorithmRegistry.Config(pbc, ConfigFile.Overrides(null, ["top_fraction=0.5", "rank_discount=0.5"])));
        Assert.Equal([3f, 4f, 5f], discounted.Observations.ToArray());
    }

    [Fact]
    public void Action_clip_bounds_the_training_actions_and_nothing_else()
    {
        // Pendulum's random actions fill [-2, 2], i.e. [-1, 1] once rescaled: clipped at 0.5, a share of them moves.
        var (_, plain) = Training.Prepare("iql", Data);
        var (agent, clipped) = Training.Prepare("iql", Data, overrides: ConfigFile.Overrides(null, ["action_clip=0.5"]));
        float max = 0; int moved = 0;
        var before = plain.Actions; var after = clipped.Actions;
        for (int i = 0; i < after.Length; i++)
        {
            max = Math.Max(max, Math.Abs(after[i]));
            if (after[i] != before[i]) { moved++; Assert.Equal(Math.Clamp(before[i], -0.5f, 0.5f), after[i]); }
        }
        Assert.Equal(0.5f, max);
        Assert.InRange(moved, after.Length / 4, after.Length * 3 / 4);
        Assert.Contains(clipped.Info.Processing, p => p.StartsWith("actions clipped to [-0.5, 0.5]"));
        Assert.Equal(plain.Observations.ToArray(), clipped.Observations.ToArray());
        // The deployed policy's action mapping is the unclipped one.
        Assert.Equal([-2f], agent.Preprocessing.ActionLow!);
        Assert.Equal(1f, ((IqlConfig)AlgorithmRegistry.Find("iql").Defaults).ActionClip);
        Assert.Throws<ArgumentException>(() => Training.Prepare("iql", Data, overrides: ConfigFile.Overrides(null, ["action_clip=0"])));
    }

    [Fact]
    public void An_unknown_preset_or_dataset_is_one_line_naming_what_there_is()
    {
        var file = Path.Combine(_dir, "pendulum-medium-replay.parquet");
        OffRL.Data.IO.DatasetFile.Write(Data, file);
        CliProcess.Run("train", "--algo", "iql", "--dataset", file, "--env", "pendulum", "--preset", "nope", "--steps", "2")
            .RefusedNaming("--preset nope", "iql", "corl, authors");
        CliProcess.Run("train", "--algo", "iql", "--dataset", file, "--env", "pendulum", "--preset", "corl", "--steps", "2")
            .RefusedNaming("--preset corl", "iql", "pendulum-medium-replay", "hopper-medium");
    }

    [Fact]
    public void A_preset_shows_where_its_values_come_from_and_set_overrides_it()
    {
        // Pendulum data under a D4RL dataset's name: the preset is chosen by the name, the data checked against --env.
        var file = Path.Combine(_dir, "hopper-medium-v2.parquet");
        OffRL.Data.IO.DatasetFile.Write(Data, file);
        var outDir = Path.Combine(_dir, "run");
        var r = CliProcess.Run("train", "--algo", "iql", "--dataset", file, "--env", "pendulum", "--preset", "corl", "--set", "beta=5",
            "--steps", "2", "--eval-every", "2", "--eval-episodes", "1", "--out", outDir, "--json");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("preset corl for hopper-medium", r.Out);
        Assert.Contains("configs/offline/iql/hopper", r.Out);
        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "agent.json"))).RootElement.GetProperty("config");
        Assert.Equal(5f, config.GetProperty("Beta").GetSingle());                 // --set over the preset
        Assert.Equal(0.001f, config.GetProperty("Tau").GetSingle());              // the preset over the default
        Assert.True(config.GetProperty("DeterministicActor").GetBoolean());
        var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "run.json"))).RootElement;
        Assert.Equal(Provenance.FileSha256(file), run.GetProperty("dataset_sha256").GetString());
        var json = JsonDocument.Parse(r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        Assert.Equal(run.GetProperty("dataset_sha256").GetString(), json.GetProperty("dataset_sha256").GetString());
        Assert.Equal("corl", json.GetProperty("preset").GetString());
    }
}
