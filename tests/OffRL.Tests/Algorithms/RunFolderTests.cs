using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Envs;
using OffRL.IO;
using Xunit;
using OffRL.Runs;

namespace OffRL.Tests.Algorithms;

/// <summary>A run's output folder: held by one run, never silently reused, resumable from any checkpoint without repeated rows.</summary>
public sealed class RunFolderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "offrl-runs-" + Guid.NewGuid().ToString("N"));
    private static readonly Dataset Data = Recipes.Collect(null, "pendulum", 400, 1);
    private static readonly JsonElement Small = JsonDocument.Parse("""{"hidden": [16, 16], "batch_size": 32}""").RootElement;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    private TrainerConfig Cfg(string name, long steps, int evalEvery = 100, int checkpointEvery = 0, string? resume = null, bool overwrite = false) =>
        new(Steps: steps, EvalEvery: evalEvery, EvalEpisodes: 1, Seed: 1, Progress: false, OutDir: Path.Combine(_dir, name),
            CheckpointEvery: checkpointEvery, ResumeFrom: resume, Overwrite: overwrite);

    private static long[] Steps(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Skip(1).Select(l => long.Parse(l.Split(',')[0])).ToArray();

    [Fact]
    public void ASecondRunOnAHeldFolderFailsAtOnceNamingTheHolder()
    {
        var out1 = Path.Combine(_dir, "held");
        using (OutputFolder.Claim(out1, resume: false, overwrite: false))
        {
            var e = Assert.Throws<IOException>(() => Training.Offline("td3bc", Data, "pendulum", Cfg("held", 10), Small));
            Assert.Contains("in use by another process", e.Message);
            Assert.Contains($"pid {Environment.ProcessId}", e.Message);
        }
        Training.Offline("td3bc", Data, "pendulum", Cfg("held", 10, overwrite: true), Small);   // released: usable again
        Assert.False(File.Exists(Path.Combine(out1, OutputFolder.LockName)));
    }

    [Fact]
    public void ANonEmptyFolderNeedsResumeOrOverwrite()
    {
        Training.Offline("td3bc", Data, "pendulum", Cfg("reuse", 100), Small);
        var e = Assert.Throws<IOException>(() => Training.Offline("td3bc", Data, "pendulum", Cfg("reuse", 100), Small));
        Assert.Contains("--overwrite", e.Message);
        Assert.Equal([100L], Steps(Path.Combine(_dir, "reuse")));   // the earlier run's metrics are untouched
        File.WriteAllText(Path.Combine(_dir, "reuse", "stray.txt"), "x");
        Training.Offline("td3bc", Data, "pendulum", Cfg("reuse", 200, overwrite: true), Small);
        Assert.Equal([100L, 200L], Steps(Path.Combine(_dir, "reuse")));
        // --overwrite removes only what a run writes: a file the user put there stays as it was.
        Assert.Equal("x", File.ReadAllText(Path.Combine(_dir, "reuse", "stray.txt")));
    }

    [Fact]
    public void ResumeKeepsRowsUpToTheCheckpointAndNeverRepeatsAStep()
    {
        var dir = Path.Combine(_dir, "resume");
        Training.Offline("td3bc", Data, "pendulum", Cfg("resume", 200, checkpointEvery: 200), Small);
        var ckpt = Path.Combine(dir, "checkpoint");
        // Continue to 300: the checkpoint stays at 200 (the next is due at 400), as if the run were killed after evaluating 300.
        Training.Offline("td3bc", Data, "pendulum", Cfg("resume", 300, checkpointEvery: 200, resume: ckpt), Small);
        Assert.Equal([100L, 200L, 300L], Steps(dir));
        var (_, res) = Training.Offline("td3bc", Data, "pendulum", Cfg("resume", 400, checkpointEvery: 200, resume: dir), Small);
        Assert.Equal([100L, 200L, 300L, 400L], Steps(dir));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Length);
        Assert.True(res.UpdatesPerSecond > 0);
    }

    [Fact]
    public void ResumeWorksBeforeTheFirstEvaluationAndBetweenCheckpointRenames()
    {
        var dir = Path.Combine(_dir, "early");
        Training.Offline("td3bc", Data, "pendulum", Cfg("early", 100, evalEvery: 1000, checkpointEvery: 100), Small);
        // Killed before its first evaluation: the metrics hold no row yet (as the run wrote them at its start).
        File.WriteAllText(Path.Combine(dir, "metrics.jsonl"), "");
        File.WriteAllText(Path.Combine(dir, "metrics.csv"), "");
        // ... and between the two renames of a checkpoint rotation: only checkpoint.old is there.
        Directory.Move(Path.Combine(dir, "checkpoint"), Path.Combine(dir, "checkpoint.old"));
        Directory.CreateDirectory(Path.Combine(dir, "checkpoint.tmp"));   // half-written, must be ignored and removed
        Training.Offline("td3bc", Data, "pendulum", Cfg("early", 200, evalEvery: 1000, checkpointEvery: 100, resume: Path.Combine(dir, "checkpoint")), Small);
        Assert.Equal([200L], Steps(dir));
        Assert.False(Directory.Exists(Path.Combine(dir, "checkpoint.tmp")));
        // No checkpoint at all: one clear error.
        var none = Path.Combine(_dir, "none");
        Directory.CreateDirectory(none);
        Assert.Throws<DataException>(() => Training.Offline("td3bc", Data, "pendulum", Cfg("none", 100, resume: none), Small));
    }

    [Fact]
    public void OnlineMetricsCarryTheLossesOnceLearningStarts()
    {
        var dir = Path.Combine(_dir, "online");
        var config = JsonDocument.Parse("""{"hidden": [16, 16], "batch_size": 32}""").RootElement;
        Training.Online("sac", "pendulum", new TrainerConfig(Steps: 400, EvalEvery: 100, EvalEpisodes: 1, StartSteps: 150, ReplayCapacity: 1000, Seed: 2,
            Progress: false, OutDir: dir), config);
        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        var header = lines[0].Split(',');
        int critic = Array.FindIndex(header, h => h.Contains("critic"));
        Assert.True(critic > 4, $"no critic loss column in {lines[0]}");
        Assert.Equal("", lines[1].Split(',')[critic]);                 // step 100: learning had not started
        Assert.True(float.IsFinite(float.Parse(lines[4].Split(',')[critic], System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void TempFilesOfADeadWriterAreRemovedAtTheNextStart()
    {
        var dir = Path.Combine(_dir, "stale");
        Directory.CreateDirectory(dir);
        // A dead writer's temp file (pid beyond any running process) and one of this process (kept: it may be in use).
        string dead = Path.Combine(dir, $".data.parquet.{int.MaxValue - 7}.{Guid.NewGuid():N}.tmp");
        string ours = Path.Combine(dir, $".data.parquet.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(dead, "half");
        File.WriteAllText(ours, "half");
        AtomicFile.WriteAllText(Path.Combine(dir, "data.parquet"), "whole");
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(ours));
    }
}
