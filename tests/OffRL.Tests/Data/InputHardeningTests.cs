using OffRL.Algorithms;
using OffRL.Bandits;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.IO;
using PureHDF;
using Xunit;

namespace OffRL.Tests.Data;

/// <summary>
/// Each input the hardening issue found accepted with a wrong result, or crashing, is now one clear error that names
/// the file and the field (and the row, counted from 1: a CSV's line, a table's record).
/// </summary>
public sealed class InputHardeningTests : IDisposable
{
    private readonly string _dir = Fixtures.TempDir();
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }
    private string P(string name) => Path.Combine(_dir, name);

    private static DataException Refused(Func<object?> read, string file, string? field = null, long row = -1)
    {
        var e = Assert.Throws<DataException>(read);
        Assert.Equal(file, e.File);
        if (field is not null) Assert.Equal(field, e.Field);
        if (row >= 0) Assert.Equal(row, e.Row);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void ParquetWithoutItsRewardColumnIsRefusedByName()
    {
        var path = P("no-reward.parquet");
        var rows = new[] { new { episode = 0, step = 0, observation = new[] { 1f }, action = new[] { 0f }, terminal = true, timeout = false } };
        Parquet.Serialization.ParquetSerializer.SerializeAsync(rows, path).GetAwaiter().GetResult();
        Refused(() => ParquetFormat.Read(path), path, "reward");
    }

    [Fact]
    public void ParquetNullInTheFirstRowOfAnOptionalColumnIsAnErrorNotAMissingColumn()
    {
        var d = Fixtures.Small();
        var path = P("logp.parquet");
        ParquetFormat.Write(d, path);
        // Rewrite with behavior_log_prob null in row 1 only, set in the others.
        var rows = Parquet.Serialization.ParquetSerializer.DeserializeAsync<ParquetFormat.Row>(path).GetAwaiter().GetResult();
        for (int i = 0; i < rows.Data.Count; i++) rows.Data[i].behavior_log_prob = i == 0 ? null : -1f;
        Parquet.Serialization.ParquetSerializer.SerializeAsync(rows.Data, path, null, rows.CustomMetadata).GetAwaiter().GetResult();
        Refused(() => ParquetFormat.Read(path), path, "behavior_log_prob", 1);
    }

    [Fact]
    public void ZeroRowFilesAndHeaderOnlyCsvAreRefused()
    {
        var csv = P("header.csv");
        File.WriteAllText(csv, "obs_0,act_0,reward,terminal\n");
        Refused(() => CsvImport.Read(csv, new CsvMapping()), csv, row: 1);
        var empty = P("empty.csv");
        File.WriteAllText(empty, "");
        Refused(() => CsvImport.Read(empty, new CsvMapping()), empty);
    }

    [Fact]
    public void DuplicateCsvHeaderIsRefusedAndRowsAreFileLines()
    {
        var dup = P("dup.csv");
        File.WriteAllText(dup, "obs_0,obs_1,obs_0,act_0,reward,terminal\n1,2,3,0,1,1\n");
        Refused(() => CsvImport.Read(dup, new CsvMapping()), dup, "obs_0", 1);
        // A bad value on the file's 4th line (a blank line before it) is row 4.
        var bad = P("bad.csv");
        File.WriteAllText(bad, "obs_0,act_0,reward,terminal\n1,0,1,0\n\n2,0,x,1\n");
        Refused(() => CsvImport.Read(bad, new CsvMapping()), bad, "reward", 4);
        // Dataset-level checks (an action outside the space) name the same line.
        var range = P("range.csv");
        File.WriteAllText(range, "obs_0,act_0,reward,terminal\n1,0,1,0\n\n2,7,1,1\n");
        Refused(() => CsvImport.Read(range, new CsvMapping { DiscreteActions = 3 }), range, "actions", 4);
    }

    [Fact]
    public void Hdf5IntegersKeepTheirSignAndOversizedOnesAreRefused()
    {
        var path = P("int8.hdf5");
        new H5File
        {
            ["observations"] = new float[,] { { 0 }, { 1 } },
            ["actions"] = new sbyte[] { -1, 1 },
            ["rewards"] = new float[] { 1, 2 },
            ["terminals"] = new byte[] { 0, 1 },
            ["timeouts"] = new byte[] { 0, 0 },
        }.Write(path);
        var d = D4rl.Read(path);
        Assert.Equal(-1f, d.Action(0)[0]);
        var big = P("uint32.hdf5");
        new H5File
        {
            ["observations"] = new float[,] { { 0 }, { 1 } },
            ["actions"] = new float[,] { { 0 }, { 0 } },
            ["rewards"] = new uint[] { 1, 3_000_000_000 },
            ["terminals"] = new byte[] { 0, 1 },
            ["timeouts"] = new byte[] { 0, 0 },
        }.Write(big);
        Refused(() => D4rl.Read(big), big, "rewards", 2);
    }

    [Fact]
    public void ConfigFilesRefuseDuplicateKeysAndAliasBombs()
    {
        var dup = P("dup.yaml");
        File.WriteAllText(dup, "tau: 0.01\nbatch_size: 64\ntau: 0.5\n");
        Refused(() => ConfigFile.Read(dup), dup);
        var bomb = P("bomb.yaml");
        var text = new System.Text.StringBuilder("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n");
        for (char c = 'b'; c <= 'j'; c++) text.Append($"{c}: &{c} [*{(char)(c - 1)}, *{(char)(c - 1)}, *{(char)(c - 1)}, *{(char)(c - 1)}, *{(char)(c - 1)}, *{(char)(c - 1)}, *{(char)(c - 1)}, *{(char)(c - 1)}, *{(char)(c - 1)}, *{(char)(c - 1)}]\n");
        File.WriteAllText(bomb, text.ToString());
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Refused(() => ConfigFile.Read(bomb), bomb);
        Assert.True(sw.Elapsed.TotalSeconds < 2, $"alias bomb took {sw.Elapsed.TotalSeconds:F1} s to refuse");
        // A small alias is fine.
        var ok = P("ok.yaml");
        File.WriteAllText(ok, "hidden: &h [64, 64]\n");
        Assert.Equal(2, ConfigFile.Read(ok).GetProperty("hidden").GetArrayLength());
    }

    [Theory]
    [InlineData("epsilon=NaN", "epsilon")]
    [InlineData("temperature=0", "temperature")]
    [InlineData("floor=2", "floor")]
    [InlineData("batch_size=0", "batch_size")]
    public void BanditConfigsRefuseOutOfRangeValues(string set, string field)
    {
        var config = ConfigFile.Apply(new BanditLearnerConfig { Algo = "softmax" }, ConfigFile.Overrides(null, [set]));
        var e = Assert.Throws<ArgumentException>(() => BanditPolicy.Create(config, 2, ["a", "b"]));
        Assert.Contains($"'{field}'", e.Message);
    }

    [Fact]
    public void BanditPoliciesRefuseDuplicateArmsAndUnusableState()
    {
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => BanditPolicy.Create(new BanditLearnerConfig(), 2, ["a", "b", "a"])).Message);
        Assert.Throws<ArgumentException>(() => BanditPolicy.Create(new BanditLearnerConfig(), 100_000, ["a", "b"]));   // ridge matrix too large
        var path = P("policy.json");
        BanditPolicy.Create(new BanditLearnerConfig(), 2, ["a", "b"]).Save(path);
        var text = File.ReadAllText(path);
        File.WriteAllText(path, text.Replace("\"epsilon\":0.05", "\"epsilon\":\"NaN\""));
        Refused(() => BanditPolicy.Load(path), path, "config");
        File.WriteAllText(path, text.Replace("\"arms\":[\"a\",\"b\"]", "\"arms\":[\"a\",\"a\"]"));
        Refused(() => BanditPolicy.Load(path), path, "arms");
    }

    [Fact]
    public void BanditLogsRefuseHugeActionIds()
    {
        var path = P("log.csv");
        File.WriteAllText(path, "action,reward,propensity,x0\n0,1,0.5,0.1\n2000000000,0,0.5,0.2\n");
        Refused(() => OffRL.Evaluation.BanditFeedback.ReadCsv(path), path, "action", 3);
    }
}
