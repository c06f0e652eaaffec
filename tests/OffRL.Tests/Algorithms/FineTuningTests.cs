using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.Runs;
using OffRL.Tests.Cli;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>Offline, then online, as one run (issue 38, item 1): <see cref="Trainer.FitFineTune"/> and `offrl finetune`.</summary>
[Collection("pendulum datasets")]
public class FineTuningTests(PendulumDatasets data)
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    /// <summary>
    /// IQL trained 2 000 updates on pendulum-medium-replay, then 4 000 environment steps with half of each batch from the
    /// data: its online evaluations are above its score at the switch. By hand (64-unit networks, 20 episodes an
    /// evaluation; at the switch, then every 1 000 online steps): seed 1 -1351 then -800, -982, -1359, -1069; seed 2
    /// -1350 then -638, -1198, -1213, -736; seed 3 -1443 then -681, -1037, -1404, -1282 (2026-12-07).
    /// </summary>
    [Fact]
    public void IqlOfflineThenOnlineEndsAboveItsOfflineScore()
    {
        var dir = Path.Combine(data.Dir, "finetune-iql");
        var (_, res) = Training.FineTune("iql", data.MediumReplay, "pendulum",
            new TrainerConfig(Steps: 6_000, EvalEvery: 1_000, EvalEpisodes: 20, Seed: 2, Progress: false, OutDir: dir), new FineTuning(2_000), Json("""{"hidden": [64, 64]}"""));
        Assert.Equal(["offline", "offline", "online", "online", "online", "online"], res.Evaluations.Select(e => e.Phase));
        double atSwitch = res.Evaluations[1].ReturnMean;
        double online = res.Evaluations.Skip(2).Average(e => e.ReturnMean);
        Assert.True(online > atSwitch + 100, $"online evaluations {online:F1} on average, at the switch {atSwitch:F1}: {string.Join(", ", res.Evaluations.Select(e => e.ReturnMean.ToString("F0")))}");
        // one curve across both phases, the phase beside each step
        var csv = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        int phase = Array.IndexOf(csv[0].Split(','), "phase");
        Assert.True(phase >= 0, csv[0]);
        Assert.Equal(["offline", "offline", "online", "online", "online", "online"], csv.Skip(1).Select(l => l.Split(',')[phase]));
    }

    /// <summary>A run stopped in either phase goes on from its checkpoint to what a run in one go gives.</summary>
    [Theory]
    [InlineData(300)]    // in the offline phase
    [InlineData(900)]    // in the online phase
    public void AStoppedFineTuneGoesOnToTheSameResult(long stopAt)
    {
        var small = Json("""{"hidden": [32, 32], "batch_size": 64}""");
        var schedule = new FineTuning(600, Ratio: 0.25);
        string a = Path.Combine(data.Dir, $"ft-whole-{stopAt}"), b = Path.Combine(data.Dir, $"ft-split-{stopAt}");
        TrainerConfig Cfg(long steps, string dir, string? resume = null) =>
            new(Steps: steps, EvalEvery: 300, EvalEpisodes: 2, Seed: 4, Progress: false, OutDir: dir, CheckpointEvery: 300, ResumeFrom: resume, UpdatesPerStep: 2);
        var (whole, ra) = Training.FineTune("td3bc", data.MediumReplay, "pendulum", Cfg(1_200, a), schedule, small);
        Training.FineTune("td3bc", data.MediumReplay, "pendulum", Cfg(stopAt, b), schedule with { OfflineSteps = Math.Min(600, stopAt) }, small);
        var (resumed, rb) = Training.FineTune("td3bc", data.MediumReplay, "pendulum", Cfg(1_200, b, b), schedule, small);
        // the resumed run evaluates from the step after its checkpoint on: the same returns as the run in one go there
        Assert.Equal(ra.Evaluations.Skip((int)(stopAt / 300)).Select(e => (e.Step, e.ReturnMean, e.Phase)), rb.Evaluations.Select(e => (e.Step, e.ReturnMean, e.Phase)));
        var o = new float[] { -0.4f, 0.9f, -2.1f };
        float[] x = new float[1], y = new float[1];
        whole.Act(o, x, true); resumed.Act(o, y, true);
        Assert.Equal(x, y);
        Assert.Equal(File.ReadAllLines(Path.Combine(a, "metrics.csv")).Length, File.ReadAllLines(Path.Combine(b, "metrics.csv")).Length);
    }

    /// <summary>The offline methods the issue names go on online through the same loop (a few steps of each phase).</summary>
    [Theory]
    [InlineData("iql")]
    [InlineData("cql")]
    [InlineData("td3bc")]
    [InlineData("awac")]
    [InlineData("sac-n")]
    [InlineData("edac")]
    [InlineData("cal-ql")]
    [InlineData("rebrac")]
    [InlineData("famo2o")]
    [InlineData("ro2o")]
    public void EachOfflineMethodWithAnOnlineFormGoesOnOnline(string algo)
    {
        var (agent, res) = Training.FineTune(algo, data.MediumReplay, "pendulum",
            new TrainerConfig(Steps: 40, EvalEvery: 20, EvalEpisodes: 1, Seed: 5, Progress: false), new FineTuning(20),
            Json("""{"hidden": [16, 16], "batch_size": 32}"""));
        Assert.Equal(["offline", "online"], res.Evaluations.Select(e => e.Phase));
        Assert.Equal(40, agent.Updates);
    }

    [Fact]
    public void WhatCannotGoOnlineIsRefusedByName()
    {
        var schedule = new FineTuning(10);
        var tc = new TrainerConfig(Steps: 20, EvalEvery: 20, EvalEpisodes: 1, Progress: false);
        // the environment's spaces against the dataset's, both named
        var e1 = Assert.Throws<DataException>(() => Training.FineTune("td3bc", data.MediumReplay, "cartpole", tc, schedule));
        Assert.Contains("observations have 3 values, cartpole gives 4", e1.Message);
        // methods whose updates read what online transitions do not have
        Assert.Contains("model", Assert.Throws<ArgumentException>(() => Training.FineTune("mopo", data.MediumReplay, "pendulum", tc, schedule)).Message);
        Assert.Contains("sampler: uniform", Assert.Throws<ArgumentException>(() => Training.FineTune("td3bc", data.MediumReplay, "pendulum", tc, schedule, Json("""{"sampler": "n_step"}"""))).Message);
        // the schedule and the update-to-data ratio
        Assert.Contains("ratio", Assert.Throws<ArgumentException>(() => new FineTuning(10, 1.5).Validate()).Message);
        Assert.Contains("offline-steps 30", Assert.Throws<ArgumentException>(() => Training.FineTune("td3bc", data.MediumReplay, "pendulum", tc, new FineTuning(30))).Message);
        Assert.Contains("updates_per_step", Assert.Throws<ArgumentException>(() => Training.FineTune("td3bc", data.MediumReplay, "pendulum", tc with { UpdatesPerStep = 0 }, schedule)).Message);
    }

    [Fact]
    public void TheCommandRunsBothPhasesAndRefusesBadInputInOneLine()
    {
        var dir = Path.Combine(data.Dir, "ft-cli");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "data.parquet");
        DatasetFile.Write(Recipes.Collect(null, "pendulum", 400, 1), file);
        string[] Args(params string[] more) => ["finetune", "--algo", "td3bc", "--dataset", file, "--set", "hidden=[16,16]", "--set", "batch_size=32", .. more];

        var run = CliProcess.Run(Args("--env", "pendulum", "--offline-steps", "40", "--online-steps", "60", "--eval-every", "20", "--eval-episodes", "1",
            "--ratio", "0.3", "--utd", "2", "--out", Path.Combine(dir, "run"), "--json"));
        Assert.True(run.Code == 0, run.Err + run.Out);
        var last = JsonDocument.Parse(run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        Assert.Equal(100, last.GetProperty("steps").GetInt64());
        Assert.Equal(0.3, last.GetProperty("ratio").GetDouble());
        Assert.Equal(2, last.GetProperty("utd").GetInt32());
        Assert.Equal(JsonValueKind.Number, last.GetProperty("return_at_switch").ValueKind);
        var runJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run", "run.json"))).RootElement;
        Assert.Equal(16, runJson.GetProperty("config").GetProperty("Hidden")[0].GetInt32());

        // one buffer holding the dataset and the online rows (CORL's IQL fine-tuning, FamO2O's authors)
        var proportional = CliProcess.Run(Args("--env", "pendulum", "--offline-steps", "20", "--online-steps", "20", "--eval-every", "20", "--eval-episodes", "1",
            "--ratio", "proportional", "--out", Path.Combine(dir, "run-proportional"), "--json"));
        Assert.True(proportional.Code == 0, proportional.Err + proportional.Out);
        Assert.Equal("proportional", JsonDocument.Parse(proportional.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement.GetProperty("ratio").GetString());

        CliProcess.Run(Args("--offline-steps", "10")).RefusedNaming("--env");
        CliProcess.Run(Args("--env", "pendulum", "--ratio", "1.5")).RefusedNaming("--ratio");
        CliProcess.Run(Args("--env", "pendulum", "--ratio", "lots")).RefusedNaming("--ratio", "proportional");
        CliProcess.Run(Args("--env", "pendulum", "--utd", "0")).RefusedNaming("--utd");
        CliProcess.Run(Args("--env", "cartpole")).RefusedNaming("observations have 3 values, cartpole gives 4");
        CliProcess.Run(["finetune", "--algo", "sac", "--dataset", file, "--env", "pendulum"]).RefusedNaming("--algo sac", "learns online only");
    }
}
