using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.IO;
using OffRL.Nn;
using OffRL.Runs;
using OffRL.Tensors;
using OffRL.Tests.Cli;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>RLPD (issue 38, item 3): SAC with its three changes, each one a config field that reaches the update.</summary>
public class RlpdTests
{
    private static JsonElement? Set(params string[] pairs) => ConfigFile.Overrides(null, pairs);

    /// <summary>RLPD's changes undone: SAC's two critics over all of which the target takes its minimum, no layer norm, the actor on the minimum, default init, eq. 18's temperature loss, an actor step every update.</summary>
    private static string[] AsSac(int critics = 2) =>
    [
        $"num_critics={critics}", $"target_members={critics}", "critic_layer_norm=false", "actor_mean_q=false", "xavier_init=false",
        "temperature_loss_on_alpha=false", "log_std_min=-5", "update_to_data_ratio=1", "target_entropy=-1", "hidden=[16,16]", "batch_size=16",
    ];

    private static float[][] Parameters(Agent agent) =>
        agent.NamedModules.SelectMany(m => m.Module.Parameters()).Select(p => p.Data.ToArray()).ToArray();

    private static float[][] Train(Agent agent, int updates)
    {
        for (int i = 0; i < updates; i++) agent.Update(RandomBatches.Of((ulong)i));
        return Parameters(agent);
    }

    [Fact]
    public void RlpdWithItsChangesUndoneIsSacUpdateForUpdate()
    {
        var sac = AlgorithmRegistry.Create("sac", 3, Box.Uniform(1, -1f, 1f), 7, Set("hidden=[16,16]", "batch_size=16", "target_entropy=-1"));
        var rlpd = AlgorithmRegistry.Create("rlpd", 3, Box.Uniform(1, -1f, 1f), 7, Set(AsSac()));
        var a = Train(sac, 6);
        var b = Train(rlpd, 6);
        Assert.Equal(a.Length, b.Length);
        for (int p = 0; p < a.Length; p++) Assert.Equal(a[p], b[p]);
    }

    /// <summary>Each of RLPD's settings, changed alone from the SAC-equal config (three critics there, so that a subset is smaller than all), changes what the updates give.</summary>
    [Theory]
    [InlineData("target_members=2")]
    [InlineData("critic_layer_norm=true")]
    [InlineData("actor_mean_q=true")]
    [InlineData("xavier_init=true")]
    [InlineData("temperature_loss_on_alpha=true")]
    [InlineData("update_to_data_ratio=3")]
    public void EachOfRlpdsSettingsReachesTheUpdate(string change)
    {
        string[] base3 = [.. AsSac(3), "initial_alpha=0.3"];
        string key = change[..change.IndexOf('=')];
        var plain = AlgorithmRegistry.Create("rlpd", 3, Box.Uniform(1, -1f, 1f), 7, Set(base3));
        var changed = AlgorithmRegistry.Create("rlpd", 3, Box.Uniform(1, -1f, 1f), 7, Set([.. base3.Where(p => !p.StartsWith(key + "=")), change]));
        var a = Train(plain, 6);
        var b = Train(changed, 6);
        Assert.Contains(Enumerable.Range(0, a.Length), p => !a[p].AsSpan().SequenceEqual(b[p]));
    }

    [Fact]
    public void TheDefaultsAreTheAuthorsLocomotionConfig()
    {
        var c = (RlpdConfig)AlgorithmRegistry.Find("rlpd").Defaults;
        Assert.Equal((10, 2, true, true, 20, 0.5), (c.NumCritics, c.TargetMembers, c.CriticLayerNorm, c.ActorMeanQ, c.UpdateToDataRatio, c.OfflineRatio));
        Assert.Equal(-1.5f, c.DefaultTargetEntropy(3));   // -|A|/2
        Assert.Equal(-3f, new SacConfig().DefaultTargetEntropy(3));
        var agent = AlgorithmRegistry.Create("rlpd", 3, Box.Uniform(1, -1f, 1f), 0);
        var critic = agent.NamedModules.Single(m => m.Name == "critic").Module;
        Assert.Contains(critic.NamedParameters(), p => p.Name == "norms.1.weight");          // every hidden layer normalized
        Assert.DoesNotContain(agent.NamedModules.Single(m => m.Name == "actor").Module.NamedParameters(), p => p.Name.StartsWith("norms"));
        Assert.Contains("target_members", Assert.Throws<ArgumentException>(() => AlgorithmRegistry.Create("rlpd", 3, Box.Uniform(1, -1f, 1f), 0, Set("target_members=11"))).Message);
        Assert.Contains("xavier_init", Assert.Throws<ArgumentException>(() => AlgorithmRegistry.Create("rlpd", 3, Box.Uniform(1, -1f, 1f), 0, Set("hidden_bias=0.1"))).Message);
    }

    /// <summary>At update-to-data ratio 3 the critics step on every update, the actor and the temperature on every third (one per environment step, after its block of critic steps).</summary>
    [Fact]
    public void TheActorAndTemperatureStepOncePerBlockOfCriticSteps()
    {
        var agent = AlgorithmRegistry.Create("rlpd", 3, Box.Uniform(1, -1f, 1f), 1, Set("hidden=[16,16]", "batch_size=16", "update_to_data_ratio=3"));
        float[] Of(string module) => agent.NamedModules.Single(m => m.Name == module).Module.Parameters()[0].Data.ToArray();
        for (int i = 0; i < 6; i++)
        {
            var (actor, temperature, critic) = (Of("actor"), Of("temperature"), Of("critic"));
            agent.Update(RandomBatches.Of((ulong)i));
            bool due = i % 3 == 2;
            Assert.Equal(due, !actor.AsSpan().SequenceEqual(Of("actor")));
            Assert.Equal(due, !temperature.AsSpan().SequenceEqual(Of("temperature")));
            Assert.False(critic.AsSpan().SequenceEqual(Of("critic")), $"update {i}: the critics did not step");
        }
    }

    /// <summary>A smaller ensemble set to members of a larger one computes exactly what those members do (the target's random subset).</summary>
    [Fact]
    public void ASubsetOfAnEnsembleComputesWhatItsMembersDo()
    {
        var config = new MlpConfig(4, [8, 8], 1, LayerNorm: true, NormEps: 1e-6f);
        var all = new EnsembleMlp(5, config, new Rng(3));
        foreach (var p in all.Parameters()) new Rng(4).FillNormal(p.Data);   // scales and shifts away from 1 and 0 too
        var pair = new EnsembleMlp(2, config, new Rng(9));
        pair.CopyMembersFrom(all, [3, 1]);
        var x = Tensor.Randn(new Shape(6, 4), new Rng(5));
        var q5 = all.Forward(x).Data;
        var q2 = pair.Forward(x).Data;
        Assert.Equal(q5.AsSpan(3 * 6, 6).ToArray(), q2.AsSpan(0, 6).ToArray());
        Assert.Equal(q5.AsSpan(1 * 6, 6).ToArray(), q2.AsSpan(6, 6).ToArray());
        Assert.Throws<ArgumentException>(() => pair.CopyMembersFrom(all, [0, 1, 2]));
    }
}

/// <summary>RLPD in its runs: learning on pendulum beside SAC from scratch, and the command.</summary>
[Collection("pendulum datasets")]
public class RlpdRunTests(PendulumDatasets data)
{
    /// <summary>
    /// RLPD with pendulum-medium-replay in every batch crosses -250 in fewer environment steps than SAC from scratch
    /// (both 64-unit networks, 200 random steps first; RLPD at update-to-data ratio 5, not the authors' 20, to keep the
    /// test short). By hand, evaluations every 200 steps over 5 episodes (2026-12-07): RLPD seed 1 reaches -256 at step
    /// 1 200, seed 2 -126 at 1 200; SAC from scratch is still below -900 at step 3 000 for seeds 1 and 2.
    /// </summary>
    [Fact]
    public void RlpdReachesMinus250InFewerEnvironmentStepsThanSacFromScratch()
    {
        const long steps = 1_600;
        var tc = new TrainerConfig(Steps: steps, EvalEvery: 200, EvalEpisodes: 5, Seed: 2, Progress: false, StartSteps: 200);
        var (_, rlpd) = Training.Hybrid("rlpd", data.MediumReplay, "pendulum", tc, JsonDocument.Parse("""{"hidden": [64, 64], "update_to_data_ratio": 5, "random_steps": 200}""").RootElement);
        var (_, sac) = Training.Online("sac", "pendulum", tc, JsonDocument.Parse("""{"hidden": [64, 64]}""").RootElement);
        static long? Reached(TrainResult r) => r.Evaluations.FirstOrDefault(e => e.ReturnMean >= -250)?.Step;
        string Curves() => $"RLPD {string.Join(", ", rlpd.Evaluations.Select(e => e.ReturnMean.ToString("F0")))}; SAC {string.Join(", ", sac.Evaluations.Select(e => e.ReturnMean.ToString("F0")))}";
        Assert.True(Reached(rlpd) is { } r && (Reached(sac) ?? long.MaxValue) > r, Curves());
        Assert.All(rlpd.Evaluations, e => Assert.Equal("online", e.Phase));
    }

    [Fact]
    public void TheCommandTrainsWithDatasetAndEnvironmentAndRefusesEitherMissing()
    {
        var dir = Path.Combine(data.Dir, "rlpd-cli");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "data.parquet");
        DatasetFile.Write(Recipes.Collect(null, "pendulum", 400, 1), file);
        string[] Args(params string[] more) => ["train", "--algo", "rlpd", "--dataset", file, "--set", "hidden=[16,16]", "--set", "batch_size=32", "--set", "update_to_data_ratio=2", .. more];
        var run = CliProcess.Run(Args("--env", "pendulum", "--steps", "40", "--set", "random_steps=20", "--eval-every", "20", "--eval-episodes", "1",
            "--out", Path.Combine(dir, "run"), "--json"));
        Assert.True(run.Code == 0, run.Err + run.Out);
        var last = JsonDocument.Parse(run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        Assert.Equal(40, last.GetProperty("steps").GetInt64());
        var saved = AlgorithmRegistry.Load(Path.Combine(dir, "run"));
        Assert.Equal(40, saved.Updates);   // 20 learning steps x 2 updates
        Assert.Equal(2, ((RlpdConfig)saved.Config).UpdateToDataRatio);

        CliProcess.Run(Args("--steps", "10")).RefusedNaming("--env");
        CliProcess.Run(["train", "--algo", "rlpd", "--env", "pendulum"]).RefusedNaming("--dataset");
        CliProcess.Run(Args("--env", "cartpole")).RefusedNaming("observations have 3 values, cartpole gives 4");
        CliProcess.Run(Args("--env", "pendulum", "--set", "offline_ratio=1.5")).RefusedNaming("offline_ratio");
        CliProcess.Run(Args("--env", "pendulum", "--set", "update_to_data_ratio=0")).RefusedNaming("update_to_data_ratio");
        CliProcess.Run(Args("--env", "pendulum", "--start-steps", "10")).RefusedNaming("--start-steps", "random_steps");
        CliProcess.Run(Args("--env", "pendulum", "--sim-env", "pendulum:g=0")).RefusedNaming("pendulum:g=0", "non-zero");
        CliProcess.Run(["train", "--algo", "sac", "--env", "pendulum", "--sim-env", "pendulum:g=2"]).RefusedNaming("--sim-env", "hybrid");
    }
}
