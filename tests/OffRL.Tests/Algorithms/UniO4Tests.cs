using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Nn;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

public class UniO4Tests
{
    /// <summary>Stages small enough for a test: 200 fitting updates, 100 improvement steps, small networks and a short model fit.</summary>
    private const string Small = """
        "value_steps": 200, "bc_steps": 150, "improvement_steps": 100, "ope_every": 25, "ope_starts": 16, "ope_horizon": 5,
        "dynamics_max_epochs": 2, "q_hidden": [32, 32], "v_hidden": [32, 32], "hidden": [32, 32], "num_steps": 256, "minibatch_size": 64, "update_epochs": 2
        """;

    /// <summary>The small stages, with <paramref name="extra"/>'s fields put over them.</summary>
    private static JsonElement Settings(string extra = "")
    {
        var map = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>("{" + Small + "}")!;
        if (extra.Length > 0)
            foreach (var p in JsonDocument.Parse("{" + extra + "}").RootElement.EnumerateObject()) map[p.Name] = p.Value.Clone();
        return JsonSerializer.SerializeToElement(map);
    }

    private static float[] Member(Module ensemble, int member, int members) =>
        [.. ensemble.NamedParameters().SelectMany(p => p.Value.Data.AsSpan(p.Value.Size / members * member, p.Value.Size / members).ToArray())];

    /// <summary>
    /// AM-Q with a horizon of one step is the mean over the start states of min_j Q_j(s, clip(mu_i(s))): on a dataset
    /// whose observations are all one state, every start is that state, so each member's score is known exactly.
    /// </summary>
    [Fact]
    public void AmQOfOneStepIsTheCriticAtEachPolicysMeanAction()
    {
        var collected = Recipes.Collect(null, "pendulum", 200, seed: 1);
        var c = collected.CopyColumns();
        float[] s0 = [0.6f, -0.8f, 0.3f];
        for (int i = 0; i < c.Observations.Length; i++) c.Observations[i] = s0[i % 3];
        if (c.NextObservations is { } next) for (int i = 0; i < next.Length; i++) next[i] = s0[i % 3];
        var data = new Dataset(c, collected.ObservationSpace, collected.ActionSpace, collected.Info);
        var (agent, prepared) = Training.Prepare("uni-o4", data, seed: 3, Settings("\"normalize_observations\": false, \"ope_horizon\": 1"));
        var uni = (UniO4)agent;
        uni.OfflineBatches(new OfflineRun(prepared, "pendulum", new Rng(1), null));
        for (int u = 0; u < 20; u++) uni.Update(new UniformSampler(new DatasetSource(prepared), 512, new Rng((ulong)u), 0.99f).Sample());
        var scores = uni.AmQ();
        var modules = uni.NamedModules.ToDictionary(m => m.Name, m => m.Module);
        var policies = (EnsembleMlp)modules["policies"];
        var q = (EnsembleMlp)modules["q"];
        var s = Tensor.FromArray((float[])s0.Clone(), 1, 3);
        var head = policies.Forward(s);   // [K, 1, 2]
        Assert.Equal(4, scores.Length);
        for (int i = 0; i < scores.Length; i++)
        {
            float a = Math.Clamp(head.Data[i * 2], -1f, 1f);
            var qs = q.Forward(Tensor.FromArray([s0[0], s0[1], s0[2], a], 1, 4)).Data;
            Assert.Equal(Math.Min(qs[0], qs[1]), scores[i], 4);
        }
    }

    /// <summary>
    /// The acceptance rule: after each AM-Q round a member's best score never falls, is at least its last score, and its
    /// reference equals the member itself exactly when the round accepted it (last = best); otherwise the reference is
    /// an older copy of the member (it has trained on since).
    /// </summary>
    [Fact]
    public void AReferenceIsReplacedExactlyWhenItsMembersAmQBeatsTheBest()
    {
        var data = Recipes.Collect(null, "pendulum", 300, seed: 2);
        var (agent, prepared) = Training.Prepare("uni-o4", data, seed: 4, Settings("\"ope_every\": 1, \"improvement_steps\": 30"));
        var uni = (UniO4)agent;
        uni.OfflineBatches(new OfflineRun(prepared, "pendulum", new Rng(1), null));
        var sampler = new UniformSampler(new DatasetSource(prepared), 512, new Rng(9), 0.99f);
        var modules = uni.NamedModules.ToDictionary(m => m.Name, m => m.Module);
        var ope = modules["ope"].NamedParameters().Single().Value.Data;
        int k = 4, accepted = 0, kept = 0;
        float[] bestBefore = new float[k];
        for (int u = 0; u < 230; u++)
        {
            uni.Update(sampler.Sample());
            if (u < 200) continue;
            for (int i = 0; i < k; i++)
            {
                float best = ope[i], last = ope[k + i];
                Assert.True(best >= last);
                if (u > 200) Assert.True(best >= bestBefore[i]);
                bestBefore[i] = best;
                bool same = Member(modules["reference"], i, k).SequenceEqual(Member(modules["policies"], i, k));
                if (last == best) { Assert.True(same); accepted++; }
                else { Assert.False(same); kept++; }
            }
        }
        Assert.True(accepted > 0 && kept > 0, $"accepted {accepted}, kept {kept}: the test should see both outcomes");
    }

    /// <summary>The online phase starts from the member with the highest last AM-Q: the online policy acts as that member did.</summary>
    [Fact]
    public void TheOnlinePolicyIsTheMemberWithTheHighestLastAmQ()
    {
        var data = Recipes.Collect(null, "pendulum", 300, seed: 2);
        var (agent, prepared) = Training.Prepare("uni-o4", data, seed: 5, Settings());
        var uni = (UniO4)agent;
        uni.OfflineBatches(new OfflineRun(prepared, "pendulum", new Rng(1), null));
        var sampler = new UniformSampler(new DatasetSource(prepared), 512, new Rng(9), 0.99f);
        for (int u = 0; u < 300; u++) uni.Update(sampler.Sample());
        var modules = uni.NamedModules.ToDictionary(m => m.Name, m => m.Module);
        var ope = modules["ope"].NamedParameters().Single().Value.Data;
        int chosen = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(ope.AsSpan(4, 4));
        var policies = (EnsembleMlp)modules["policies"];
        var s = Tensor.FromArray([0.1f, 0.9f, -0.4f], 1, 3);
        float expected = Math.Clamp(policies.Forward(s).Data[chosen * 2], -1f, 1f);
        uni.StartOnline(new OnlinePhase(300, 1000));
        var online = ((EnsembleMlp)modules["actor"]).Forward(s).Data[0];
        Assert.Equal(expected, Math.Clamp(online, -1f, 1f));
        Assert.Equal(chosen, (int)uni.Metrics["selected_policy"]);
    }

    /// <summary>
    /// A fine-tuning run stopped in its offline phase (mid-improvement) or in its online phase (mid-rollout) goes on to
    /// the run never stopped: same final return, updates and online policy.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AResumedFineTuningRunEqualsOneNeverStopped(bool stopOffline)
    {
        var dir = Directory.CreateTempSubdirectory("offrl-unio4-resume").FullName;
        try
        {
            var data = Recipes.Collect(null, "pendulum", 300, seed: 1);
            var schedule = new FineTuning(OfflineSteps: 300);
            TrainerConfig Cfg(long steps, string outDir, int every, string? resume = null) =>
                new(Steps: steps, EvalEvery: 250, EvalEpisodes: 1, Seed: 5, Progress: false, OutDir: outDir, CheckpointEvery: every, ResumeFrom: resume);
            string a = Path.Combine(dir, "whole"), b = Path.Combine(dir, "stopped");
            // A checkpoint ends the episodes in progress, so the runs compared checkpoint alike. Offline: a run that ends
            // at 300 with its checkpoint at 250 (mid-improvement); online: a copy of the whole run's folder, its last
            // checkpoint at 700 (mid-rollout).
            int every = stopOffline ? 250 : 350;
            var (whole, ra) = Training.FineTune("uni-o4", data, "pendulum", Cfg(812, a, every), schedule, Settings());
            if (stopOffline) Training.FineTune("uni-o4", data, "pendulum", Cfg(300, b, every), schedule, Settings());
            else CopyFolder(a, b);
            var (resumed, rb) = Training.FineTune("uni-o4", data, "pendulum", Cfg(812, b, every, Path.Combine(b, "checkpoint")), schedule, Settings());
            Assert.Equal(ra.Final.ReturnMean, rb.Final.ReturnMean);
            Assert.Equal(whole.Updates, resumed.Updates);
            Assert.Equal(300 + 2 * 2 * 4, whole.Updates);   // 300 offline updates, then 2 rollouts x 2 epochs x 4 minibatches
            Assert.Equal("offline", ra.Evaluations[0].Phase);
            Assert.Equal("online", ra.Final.Phase);
            var o = new float[] { 0.3f, -0.95f, 1.7f };
            float[] x = new float[1], y = new float[1];
            whole.Act(o, x, true); resumed.Act(o, y, true);
            Assert.Equal(x, y);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target);
        }
    }

    [Fact]
    public void TheOfflinePhaseIsTheMethodsOwnAndTheOnlinePhaseTakesNoUpdateRatio()
    {
        var data = Recipes.Collect(null, "pendulum", 300, seed: 1);
        var e = Assert.Throws<ArgumentException>(() => Training.FineTune("uni-o4", data, "pendulum",
            new TrainerConfig(Steps: 1000, EvalEvery: 500, EvalEpisodes: 1, Progress: false), new FineTuning(OfflineSteps: 100), Settings()));
        Assert.Contains("--offline-steps", e.Message);
        Assert.Contains("300", e.Message);
        e = Assert.Throws<ArgumentException>(() => Training.FineTune("uni-o4", data, "pendulum",
            new TrainerConfig(Steps: 1000, EvalEvery: 500, EvalEpisodes: 1, Progress: false, UpdatesPerStep: 2), new FineTuning(OfflineSteps: 300), Settings()));
        Assert.Contains("--utd", e.Message);
    }

    [Theory]
    [InlineData("\"normalize_rewards\": true", "normalize_rewards")]
    [InlineData("\"log_std_min\": 0", "log_std_min")]
    [InlineData("\"minibatch_size\": 4096", "minibatch_size")]
    [InlineData("\"return_value_steps\": 10", "return_value_steps")]
    public void BadSettingsAreRefusedByName(string set, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => AlgorithmRegistry.Create("uni-o4", 3, Box.Uniform(1, -1f, 1f), 0, JsonDocument.Parse("{" + set + "}").RootElement));
        Assert.Contains(named, e.Message);
    }
}
