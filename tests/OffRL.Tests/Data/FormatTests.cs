using OffRL.Data;
using OffRL.Data.IO;
using PureHDF;
using Xunit;

namespace OffRL.Tests.Data;

public class FormatTests : IDisposable
{
    private readonly string _dir = Fixtures.TempDir();
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    private static void AssertSame(Dataset a, Dataset b)
    {
        Assert.Equal(a.Count, b.Count);
        Assert.Equal(a.ObservationDim, b.ObservationDim);
        Assert.Equal(a.Observations.ToArray(), b.Observations.ToArray());
        Assert.Equal(a.Actions.ToArray(), b.Actions.ToArray());
        Assert.Equal(a.Rewards.ToArray(), b.Rewards.ToArray());
        Assert.Equal(a.Terminals.ToArray(), b.Terminals.ToArray());
        Assert.Equal(a.Timeouts.ToArray(), b.Timeouts.ToArray());
        Assert.Equal(a.HasNextObservations, b.HasNextObservations);
        if (a.HasNextObservations) Assert.Equal(a.NextObservations.ToArray(), b.NextObservations.ToArray());
    }

    private static Dataset Rich()
    {
        var d = Fixtures.Small(nextObs: true);
        var c = d.CopyColumns();
        int n = d.Count;
        var full = new DatasetColumns
        {
            Observations = c.Observations, Actions = c.Actions, Rewards = c.Rewards, Terminals = c.Terminals, Timeouts = c.Timeouts,
            NextObservations = c.NextObservations,
            Costs = Enumerable.Range(0, n).Select(i => i % 2 * 1f).ToArray(),
            BehaviorLogProbs = Enumerable.Range(0, n).Select(i => -0.1f * i).ToArray(),
            Extras = new() { ["infos/qpos"] = Enumerable.Range(0, n * 3).Select(i => (float)i).ToArray() },
        };
        return new Dataset(full, d.ObservationSpace, d.ActionSpace, new DatasetInfo("rich", "hopper"));
    }

    [Fact]
    public void D4rlRoundTrip()
    {
        var d = Rich();
        var path = Path.Combine(_dir, "hopper-test.hdf5");
        D4rl.Write(d, path);
        var back = D4rl.Read(path);
        AssertSame(d, back);
        Assert.Equal(d.BehaviorLogProbs.ToArray(), back.BehaviorLogProbs.ToArray());
        Assert.Equal(3, back.ExtraWidth("infos/qpos"));
        Assert.Equal(d.Extra("infos/qpos").ToArray(), back.Extra("infos/qpos").ToArray());
        Assert.Equal("hopper", back.Info.Env);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        // the generic reader dispatches on the extension
        AssertSame(d, DatasetFile.Read(path));
    }

    [Fact]
    public void ReadsAFileWrittenByH5pyInD4rlLayout()
    {
        // Fixtures/d4rl-layout.hdf5 comes from Fixtures/make_d4rl_fixture.py (h5py: bool flags as HDF5 enums, gzip, float64 infos).
        var d = D4rl.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", "d4rl-layout.hdf5"));
        Assert.Equal(25, d.Count);
        Assert.Equal((3, 2), (d.ObservationDim, d.ActionDim));
        Assert.Equal(3, d.EpisodeCount);
        Assert.True(d.Terminals[9]);
        Assert.True(d.Timeouts[19] && d.Timeouts[24]);
        Assert.Equal(12f, d.Rewards[24]);
        Assert.Equal(-12f, d.BehaviorLogProbs[24]);
        Assert.Equal(2, d.ExtraWidth("infos/qpos"));
        Assert.Equal(d.Observation(7)[1], d.Extra("infos/qpos")[7 * 2 + 1], 6);
        Assert.Equal("fixture-v0", d.Info.Env);
        Assert.IsType<Box>(d.ActionSpace);
    }

    /// <summary>../shared/data/d4rl/ (beside the checkout): each file reads with consistent shapes; skipped (with the reason) when there are none.</summary>
    [SkippableFact]
    public void SharedD4rlFilesReadWithConsistentShapes()
    {
        string? dir = null;
        for (var at = new DirectoryInfo(AppContext.BaseDirectory); at is not null && dir is null; at = at.Parent)
            if (Directory.Exists(Path.Combine(at.FullName, "shared", "data", "d4rl"))) dir = Path.Combine(at.FullName, "shared", "data", "d4rl");
        var files = dir is null ? [] : Directory.GetFiles(dir, "*.hdf5").Concat(Directory.GetFiles(dir, "*.h5")).ToArray();
        Skip.If(files.Length == 0, dir is null ? "no shared/data/d4rl folder beside the checkout" : $"{dir} holds no .hdf5 files");
        foreach (var file in files)
        {
            var d = D4rl.Read(file, truncateTail: true);
            Assert.True(d.Count > 0, file);
            Assert.Equal(d.Count * d.ObservationDim, d.Observations.Length);
            Assert.Equal(d.Count * d.ActionDim, d.Actions.Length);
            Assert.Equal(d.Count, d.EpisodeStart(d.EpisodeCount - 1) + d.EpisodeLength(d.EpisodeCount - 1));
        }
    }

    [Fact]
    public void D4rlWithDoublesAndMissingKeys()
    {
        var path = Path.Combine(_dir, "doubles.hdf5");
        new H5File
        {
            ["observations"] = new double[3, 2] { { 1, 2 }, { 3, 4 }, { 5, 6 } },
            ["actions"] = new double[3, 1] { { 0.5 }, { -0.5 }, { 0 } },
            ["rewards"] = new double[] { 1, 2, 3 },
            ["terminals"] = new bool[] { false, false, true },
            ["timeouts"] = new bool[] { false, false, false },
        }.Write(path);
        var d = D4rl.Read(path);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], d.Observations.ToArray());
        Assert.Equal(1, d.EpisodeCount);
        var missing = Path.Combine(_dir, "missing.hdf5");
        new H5File { ["observations"] = new float[2, 2], ["actions"] = new float[2, 1], ["rewards"] = new float[2], ["terminals"] = new bool[2] }.Write(missing);
        var ex = Assert.Throws<DataException>(() => D4rl.Read(missing));
        Assert.Equal("timeouts", ex.Field);
        Assert.Contains("missing.hdf5", ex.Message);
        var ragged = Path.Combine(_dir, "ragged.hdf5");
        new H5File { ["observations"] = new float[3, 2], ["actions"] = new float[2, 1], ["rewards"] = new float[3], ["terminals"] = new bool[] { false, false, true }, ["timeouts"] = new bool[3] }.Write(ragged);
        Assert.Equal("actions", Assert.Throws<DataException>(() => D4rl.Read(ragged)).Field);
        var notFlag = Path.Combine(_dir, "flag.hdf5");
        new H5File { ["observations"] = new float[2, 2], ["actions"] = new float[2, 1], ["rewards"] = new float[2], ["terminals"] = new float[] { 0, 2 }, ["timeouts"] = new float[2] }.Write(notFlag);
        var fe = Assert.Throws<DataException>(() => D4rl.Read(notFlag));
        Assert.Equal(("terminals", 2L), (fe.Field, fe.Row));
        File.WriteAllText(Path.Combine(_dir, "junk.hdf5"), "not hdf5");
        Assert.Throws<DataException>(() => D4rl.Read(Path.Combine(_dir, "junk.hdf5")));
    }

    [Fact]
    public void MinariEpisodesBecomeTransitionsWithNextObservations()
    {
        var folder = Path.Combine(_dir, "pointmaze-test");
        Directory.CreateDirectory(Path.Combine(folder, "data"));
        new H5File
        {
            ["episode_0"] = new H5Group
            {
                ["observations"] = new float[3, 2] { { 0, 0 }, { 1, 1 }, { 2, 2 } },
                ["actions"] = new float[2, 1] { { 0.1f }, { 0.2f } },
                ["rewards"] = new float[] { 1, 2 },
                ["terminations"] = new bool[] { false, true },
                ["truncations"] = new bool[] { false, false },
            },
            ["episode_1"] = new H5Group
            {
                ["observations"] = new float[2, 2] { { 5, 5 }, { 6, 6 } },
                ["actions"] = new float[1, 1] { { 0.3f } },
                ["rewards"] = new float[] { 3 },
                ["terminations"] = new bool[] { false },
                ["truncations"] = new bool[] { true },
            },
        }.Write(Path.Combine(folder, "data", "main_data.hdf5"));
        var d = DatasetFile.Read(folder);
        Assert.Equal(3, d.Count);
        Assert.Equal(2, d.EpisodeCount);
        Assert.Equal([0f, 0f, 1f, 1f, 5f, 5f], d.Observations.ToArray());
        Assert.Equal([1f, 1f, 2f, 2f, 6f, 6f], d.NextObservations.ToArray());
        Assert.True(d.Terminals[1]);
        Assert.True(d.Timeouts[2]);
        Assert.True(d.HasNext(2));
    }

    [Fact]
    public async Task ParquetRoundTripKeepsEverything()
    {
        var d = Rich();
        var path = Path.Combine(_dir, "rich.parquet");
        ParquetFormat.Write(d, path);
        var back = ParquetFormat.Read(path);
        AssertSame(d, back);
        Assert.Equal(d.Costs.ToArray(), back.Costs.ToArray());
        Assert.Equal(d.BehaviorLogProbs.ToArray(), back.BehaviorLogProbs.ToArray());
        Assert.Equal(d.Extra("infos/qpos").ToArray(), back.Extra("infos/qpos").ToArray());
        Assert.Equal(d.ActionSpace, back.ActionSpace);
        Assert.Equal("hopper", back.Info.Env);
        var plain = Path.Combine(_dir, "plain.parquet");
        await Parquet.Serialization.ParquetSerializer.SerializeAsync(new[] { new { a = 1 } }, plain);
        Assert.Contains("offrl", Assert.Throws<DataException>(() => ParquetFormat.Read(plain)).Message);
    }

    [Fact]
    public void CsvImportWithMappingAndClearErrors()
    {
        var path = Path.Combine(_dir, "log.csv");
        File.WriteAllText(path, "episode,x,y,action,reward,done\n7,0,0,1,1.5,0\n7,1,0,0,2,1\n8,\"2\",1,1,-1,0\n8,3,1,0,0.5,0\n");
        var map = new CsvMapping { Observation = ["x", "y"], Action = ["action"], Terminal = "done", Timeout = null, Episode = "episode", DiscreteActions = 2 };
        var d = CsvImport.Read(path, map);
        Assert.Equal(4, d.Count);
        Assert.Equal(2, d.EpisodeCount);
        Assert.True(d.Terminals[1]);
        Assert.True(d.Timeouts[3]);     // the file ends episode 8
        Assert.Equal([3.5, -0.5], d.EpisodeReturns());
        Assert.IsType<Discrete>(d.ActionSpace);

        File.WriteAllText(path, "obs_0,obs_1,act_0,reward,terminal\n0,1,0.5,1,0\n0,abc,0.5,1,1\n");
        var ex = Assert.Throws<DataException>(() => CsvImport.Read(path, new CsvMapping()));
        Assert.Equal(("obs_1", 3L), (ex.Field, ex.Row));
        Assert.Contains("abc", ex.Message);
        File.WriteAllText(path, "obs_0,act_0,reward\n0,1,1\n");
        Assert.Equal("terminal", Assert.Throws<DataException>(() => CsvImport.Read(path, new CsvMapping())).Field);
        File.WriteAllText(path, "obs_0,act_0,reward,terminal\n0,1,1\n");
        Assert.Equal(2, Assert.Throws<DataException>(() => CsvImport.Read(path, new CsvMapping())).Row);
    }
}
