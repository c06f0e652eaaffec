using OffRL.Data;
using OffRL.Dynamics;
using OffRL.Tensors;
using OffRL.Tests.Algorithms;
using Xunit;

namespace OffRL.Tests.Dynamics;

public class EnsembleDynamicsTests
{
    /// <summary>
    /// Synthetic transitions with a known, state-dependent noise: s in U(-1, 1), a in U(-1, 1),
    /// s' - s = 0.5 a + (0.05 + 0.2 |s|) eps, r = s + 0.1 eps'.
    /// </summary>
    private static Dataset Heteroscedastic(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var obs = new float[n]; var next = new float[n]; var act = new float[n]; var rew = new float[n];
        for (int i = 0; i < n; i++)
        {
            obs[i] = rng.Uniform(-1f, 1f); act[i] = rng.Uniform(-1f, 1f);
            next[i] = obs[i] + 0.5f * act[i] + (0.05f + 0.2f * MathF.Abs(obs[i])) * rng.Normal();
            rew[i] = obs[i] + 0.1f * rng.Normal();
        }
        var tout = Enumerable.Range(0, n).Select(i => i % 100 == 99 || i == n - 1).ToArray();
        return new Dataset(new DatasetColumns { Observations = obs, NextObservations = next, Actions = act, Rewards = rew, Terminals = new bool[n], Timeouts = tout },
            Box.Unbounded(1), Box.Uniform(1, -1f, 1f));
    }

    // small networks, and batches of 32 so that an epoch of these few rows is many steps (D4RL's are thousands)
    private static readonly DynamicsConfig Small = new() { Members = 5, Elites = 3, Hidden = [64, 64], WeightDecays = [2.5e-5f, 5e-5f, 1e-4f], BatchSize = 32, MaxEpochs = 60 };

    /// <summary>The elites' mean predicted standard deviation of output <paramref name="j"/> at (s, a).</summary>
    private static (double Aleatoric, double Disagreement) Std(EnsembleDynamics m, float s, float a, int j)
    {
        var x = new float[2];
        m.Input([s], [a], x);
        using var scope = TensorScope.Begin();
        var (mean, logVar) = m.Predict(Tensor.FromArray(x, 1, 2));
        double alea = 0, mu = 0, sq = 0;
        foreach (var e in m.Elites)
        {
            alea += Math.Sqrt(Math.Exp(logVar.Data[e * 2 + j])) / m.Elites.Length;
            mu += mean.Data[e * 2 + j] / m.Elites.Length;
        }
        foreach (var e in m.Elites) sq += Math.Pow(mean.Data[e * 2 + j] - mu, 2) / m.Elites.Length;
        return (alea, Math.Sqrt(sq));
    }

    /// <summary>
    /// Trained by its Gaussian likelihood, each member recovers the noise the data was made with (0.05 + 0.2 |s| for
    /// s' - s, 0.1 for r) and the mean (0.5 a); off the data (s = 6) the members disagree far more than on it.
    /// </summary>
    [Fact]
    public void TheLikelihoodRecoversTheTrueNoiseAndTheMembersDisagreeOffTheData()
    {
        // 12 000 rows: an epoch is 340 steps, so the variance heads settle before the members stop improving their means
        var data = Heteroscedastic(12_000, 1);
        var model = EnsembleDynamics.For(data, Small with { MaxEpochs = 30, Seed = 2 });
        var report = model.Fit(data);
        Assert.Equal(1000, report.HoldoutRows);
        Assert.Equal(3, report.Elites.Length);
        foreach (var s in new[] { 0.25f, 0.5f, -0.9f })
        {
            double truth = 0.05 + 0.2 * Math.Abs(s);
            var (alea, _) = Std(model, s, 0.3f, 0);
            Assert.True(Math.Abs(alea - truth) < 0.25 * truth, $"s = {s}: predicted std {alea:F4}, true {truth:F4}");
        }
        Assert.InRange(Std(model, 0.2f, -0.4f, 1).Aleatoric, 0.08, 0.12);
        var x = new float[2];
        model.Input([0.4f], [0.6f], x);
        using (TensorScope.Begin())
        {
            var (mean, _) = model.Predict(Tensor.FromArray(x, 1, 2));
            Assert.InRange(mean.Data[model.Elites[0] * 2], 0.3 - 0.03, 0.3 + 0.03);   // 0.5 a
            Assert.InRange(mean.Data[model.Elites[0] * 2 + 1], 0.4 - 0.03, 0.4 + 0.03); // r = s
        }
        double near = Std(model, 0.5f, 0f, 0).Disagreement, far = Std(model, 6f, 0f, 0).Disagreement;
        Assert.True(far > 5 * near, $"disagreement {far:G3} off the data, {near:G3} on it");
    }

    /// <summary>
    /// The elites are the members with the lowest hold-out MSE; the members' kept weights are those of their best epoch
    /// (so refitting the hold-out reproduces the report); the early stop ends the fit before the cap when nothing improves.
    /// </summary>
    [Fact]
    public void TheElitesAreTheBestMembersOnTheHoldout()
    {
        var data = Heteroscedastic(3000, 3);
        var model = EnsembleDynamics.For(data, Small with { MaxEpochs = 400, Seed = 4 });
        var r = model.Fit(data);
        Assert.True(r.Epochs < 400, $"{r.Epochs} epochs: the early stop never came");
        var sorted = Enumerable.Range(0, 5).OrderBy(e => r.HoldoutMse[e]).Take(3).ToArray();
        Assert.Equal(sorted, r.Elites);
        Assert.True(r.Elites.All(e => r.HoldoutMse[e] <= r.HoldoutMse.Max()));
        Assert.True(r.EliteHoldoutMse < 0.05, $"elite hold-out MSE {r.EliteHoldoutMse}");
        // a step budget cuts the epoch it ends in: 2 970 transitions (timeout rows left out) - 594 held out = 75 steps of 32 an epoch
        var capped = EnsembleDynamics.For(data, Small with { MaxSteps = 120, Seed = 4 }).Fit(data);
        Assert.Equal((120L, 2, 2376), (capped.Steps, capped.Epochs, capped.TrainRows));
    }

    [Fact]
    public void BadSettingsAndTooLittleDataAreRefusedByName()
    {
        var e1 = Assert.Throws<ArgumentException>(() => new EnsembleDynamics(3, 2, 0, new DynamicsConfig { Members = 3, Elites = 5 }));
        Assert.Contains("'elites'", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => new EnsembleDynamics(3, 2, 0, new DynamicsConfig { Hidden = [8, 8] }));
        Assert.Contains("'weight_decays'", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => new EnsembleDynamics(3, 2, 0, new DynamicsConfig { HoldoutRatio = 1.5 }));
        Assert.Contains("holdout_ratio", e3.Message);
        var tiny = Heteroscedastic(4, 1);   // 20% of 4 rows is no row
        var e4 = Assert.Throws<DataException>(() => EnsembleDynamics.For(tiny, Small).Fit(tiny));
        Assert.Contains("hold-out", e4.Message);
        var e5 = Assert.Throws<ArgumentException>(() => Termination.For("gridworld"));
        Assert.Contains("--env", e5.Message);
    }

    /// <summary>The three uncertainty measures against hand computations on two members, two rows, one state output and the reward.</summary>
    [Fact]
    public void TheUncertaintyMeasuresAreOfflineRlKits()
    {
        // [E = 2, B = 2, outputs = 2 (s' - s, r)]
        float[] mean = [1f, 5f, 2f, 5f, /* member 1 */ 3f, 7f, 2f, 9f];
        float[] logVar = [0f, 0f, MathF.Log(4f), 0f, /* member 1 */ MathF.Log(9f), MathF.Log(16f), 0f, 0f];
        var p = new float[2];
        EnsembleDynamics.Measure(Uncertainty.Aleatoric, mean, logVar, 2, 2, 2, p);
        Assert.Equal(5f, p[0], 5);                   // member 1: sqrt(9 + 16)
        Assert.Equal(MathF.Sqrt(5f), p[1], 5);       // member 0: sqrt(4 + 1)
        EnsembleDynamics.Measure(Uncertainty.PairwiseDiff, mean, logVar, 2, 2, 2, p);
        Assert.Equal(1f, p[0], 5);                   // states 1 and 3 about their mean 2 (the reward left out)
        Assert.Equal(0f, p[1], 5);
        EnsembleDynamics.Measure(Uncertainty.EnsembleStd, mean, logVar, 2, 2, 2, p);
        Assert.Equal(1f, p[0], 5);                   // sqrt of the variance ((1 - 2)^2 + (3 - 2)^2) / 2
        Assert.Equal(0f, p[1], 5);
        EnsembleDynamics.Measure(Uncertainty.MaxPairwise, mean, logVar, 2, 2, 2, p);
        Assert.Equal(2f, p[0], 5);                   // Lu et al.'s (MOReL's): |1 - 3| between the two members
        Assert.Equal(0f, p[1], 5);
        // LLV: row 0 drew s' - s = 1 (member 0's mean): log N(1; 1, 1) and log N(1; 3, 9) differ by
        // (-0.5 log 1) - (-0.5 (4/9 + log 9)) = 0.5 (4/9 + log 9); the variance of two values is (their difference / 2)^2
        float diff = 0.5f * (4f / 9f + MathF.Log(9f));
        Assert.Equal(diff * diff / 4f, EnsembleDynamics.LikelihoodVariance(mean, logVar, 2, 2, 2, 0, [0f], [1f]), 4);
        // row 1: both means at the drawn 2, the variances 4 and 1: the log-likelihoods differ by 0.5 log 4
        Assert.Equal(MathF.Pow(0.25f * MathF.Log(4f), 2), EnsembleDynamics.LikelihoodVariance(mean, logVar, 2, 2, 2, 1, [0f], [2f]), 4);
    }

    /// <summary>
    /// A round of rollouts: every start steps until the rule ends it or the horizon, rollouts that ended go no further;
    /// the penalty takes lambda times the aleatoric uncertainty off each reward and nothing else (the same draws with and
    /// without it); the buffer keeps the newest rounds; the sampler draws floor(256 x 0.05) rows from the data.
    /// </summary>
    [Fact]
    public void RolloutsBranchFromTheDataEndByTheRuleAndPenalizeTheReward()
    {
        var data = Heteroscedastic(2000, 6);
        var model = EnsembleDynamics.For(data, Small with { MaxEpochs = 5 });
        model.Fit(data);
        ModelRollouts.BatchPolicy push = (obs, actions, rng) => actions.Fill(0.8f);   // s' - s about 0.4 a step
        Termination.Rule ends = s => s[0] > 1f;
        ModelRollouts Round(float coef, out RolloutRound round)
        {
            var r = new ModelRollouts(new RolloutConfig { Starts = 300, Horizon = 4, RetainRounds = 2, PenaltyCoef = coef }, 1, 1);
            round = r.Run(data, model, ends, push, new Rng(9));
            return r;
        }
        var plain = Round(0f, out var r0);
        var penalized = Round(2f, out var r2);
        Assert.Equal(r0.Transitions, r2.Transitions);
        Assert.True(r0.Transitions > 300 && r0.Transitions < 300 * 4, $"{r0.Transitions} transitions: some rollouts should end early, none before one step");
        Assert.Equal(r0.Transitions, plain.Buffer.Count);
        var o = new float[1]; var a = new float[1]; var o2 = new float[1]; var q = new float[1]; var a2 = new float[1]; var q2 = new float[1];
        int ended = 0;
        for (int i = 0; i < plain.Buffer.Count; i++)
        {
            plain.Buffer.CopyTransition(i, o, a, out float rew, o2, out bool term);
            penalized.Buffer.CopyTransition(i, q, a2, out float rewPenalized, q2, out bool term2);
            Assert.Equal((o[0], o2[0], term), (q[0], q2[0], term2));   // the same draws
            Assert.Equal(term, o2[0] > 1f);
            ended += term ? 1 : 0;
            var x = new float[2];
            model.Input(o, a, x);
            using var scope = TensorScope.Begin();
            var (mean, logVar) = model.Predict(Tensor.FromArray(x, 1, 2));
            var u = new float[1];
            EnsembleDynamics.Measure(Uncertainty.Aleatoric, mean.Data, logVar.Data, 5, 1, 2, u);
            Assert.Equal(rew - 2f * u[0], rewPenalized, 4);
        }
        Assert.True(ended > 0);
        Assert.True(r2.PenaltyMean > 0 && r2.RewardMean < r0.RewardMean);
        // FIFO: capacity 300 x 4 x 2; a third round pushes the first one's out
        for (int round = 0; round < 2; round++) plain.Run(data, model, ends, push, new Rng((ulong)round));
        Assert.Equal(300 * 4 * 2, plain.Buffer.Capacity);
        Assert.Equal(Math.Min(plain.Buffer.Capacity, (int)plain.Buffer.Added), plain.Buffer.Count);
        Assert.True(plain.Buffer.Added > plain.Buffer.Capacity);
        var batch = plain.Sampler(data, 256, new Rng(3), 0.99f).Sample();
        Assert.Equal(256, batch.Size);
        // rows 0..11 come from the dataset (its actions are anything in [-1, 1]); the model's are all 0.8
        Assert.Equal(256 - 12, batch.Act.Count(v => v == 0.8f));
    }

    [Fact]
    public void TheTerminationRulesAreGymnasiums()
    {
        var hopper = Termination.For("hopper-medium-replay");
        Assert.False(hopper([1.2f, 0.1f, 0f, 5f]));
        Assert.True(hopper([0.6f, 0.1f, 0f, 5f]));    // fallen
        Assert.True(hopper([1.2f, 0.3f, 0f, 5f]));    // tilted
        Assert.True(hopper([1.2f, 0.1f, 0f, 150f]));  // a state out of range
        var walker = Termination.For("walker2d");
        Assert.False(walker([1.2f, 0.5f]));
        Assert.True(walker([2.1f, 0.5f]));
        Assert.True(walker([1.2f, -1.1f]));
        Assert.False(Termination.For("halfcheetah")([99f, -20f]));   // never in the simulator ...
        Assert.True(Termination.For("halfcheetah")([1e6f, 0f]));     // ... but a model's runaway state ends its rollout (OfflineRL-Kit)
        Assert.True(Termination.For("halfcheetah")([0f, float.NaN]));
        Assert.True(Termination.For("ant")([0.1f, 0f]));
        Assert.False(Termination.For("ant")([0.5f, 0f]));
        Assert.False(Termination.For("pendulum-masked")([1f, 0f, 0f]));
        Assert.False(Termination.For("pointmaze-umaze")([1f, 1f, 0f, 0f, 1f, 1f]));
        Assert.True(Termination.For("cartpole")([0f, 0f, 0.25f, 0f]));
        Assert.True(Termination.For("acrobot")([-1f, 0f, 1f, 0f, 0f, 0f]));   // t1 = pi, t2 = 0: the tip 2 above the pivot
    }

    [Fact]
    public void ASavedEnsemblePredictsAsTheOneItWasSavedFrom()
    {
        var data = Heteroscedastic(800, 5);
        var model = EnsembleDynamics.For(data, Small with { MaxEpochs = 3 });
        model.Fit(data);
        var dir = Path.Combine(Path.GetTempPath(), "offrl-dynamics-" + Guid.NewGuid().ToString("N"));
        try
        {
            model.Save(dir);
            var back = EnsembleDynamics.Load(dir);
            Assert.Equal(model.Elites, back.Elites);
            Assert.Equal(model.InputMean, back.InputMean);
            var x = new float[2];
            model.Input([0.3f], [-0.2f], x);
            using var scope = TensorScope.Begin();
            Assert.Equal(model.Predict(Tensor.FromArray(x, 1, 2)).Mean.Data, back.Predict(Tensor.FromArray(x, 1, 2)).Mean.Data);
        }
        finally { try { Directory.Delete(dir, true); } catch { } }
    }
}

/// <summary>On the pendulum recipe data (the fixture's).</summary>
[Collection("pendulum datasets")]
public class PendulumDynamicsTests(PendulumDatasets data)
{
    /// <summary>Fitted on pendulum-medium-replay, the elites' hold-out MSE is a small share of a constant predictor's.</summary>
    [Fact]
    public void TheHoldoutErrorBeatsAConstantPredictorByALargeFactor()
    {
        var train = data.MediumReplay;
        var model = EnsembleDynamics.For(train, new DynamicsConfig { Members = 5, Elites = 3, Hidden = [64, 64], WeightDecays = [2.5e-5f, 5e-5f, 1e-4f], BatchSize = 32, MaxEpochs = 60, Seed = 1 });
        var r = model.Fit(train);
        Assert.Equal(Math.Min(1000, (int)((r.TrainRows + r.HoldoutRows) * 0.2)), r.HoldoutRows);
        Assert.True(r.EliteHoldoutMse * 50 < r.ConstantMse, $"elites' hold-out MSE {r.EliteHoldoutMse:G4}, constant {r.ConstantMse:G4} ({r.Epochs} epochs, {r.TrainRows} rows)");
    }
}
