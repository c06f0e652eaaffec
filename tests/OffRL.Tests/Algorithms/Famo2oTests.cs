using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>FamO2O on IQL (issue 38, item 4): the embedding, the family the universal policy learns, the balance model.</summary>
public class Famo2oTests
{
    private static Famo2oConfig Small => new() { Hidden = [32, 32], BatchSize = 128 };

    [Fact]
    public void TheEmbeddingIsTheInterleavedSinesAndCosinesOfItsDefinition()
    {
        var agent = new Famo2o(1, Box.Uniform(1, -1f, 1f), Small, 0);
        float[] betas = [0f, 1.3f, 4.7f, 13f];
        var emb = agent.Embed(Tensor.FromArray(betas, 4, 1));
        Assert.Equal((4, 6), (emb.Shape[0], emb.Shape[1]));
        for (int r = 0; r < betas.Length; r++)
            for (int i = 0; i < 3; i++)
            {
                double inner = betas[r] / Math.Pow(10_000, 2.0 * i / 6);
                Assert.Equal(Math.Sin(inner), emb.Data[r * 6 + 2 * i], 5);
                Assert.Equal(Math.Cos(inner), emb.Data[r * 6 + 2 * i + 1], 5);
            }
    }

    /// <summary>
    /// A one-step bandit with reward = action, actions uniform in [-1, 1]: IQL's advantage-weighted regression at
    /// inverse temperature beta fits a mean of E[a exp(beta a)] / E[exp(beta a)] = coth(beta) - 1/beta (0.31 at beta 1,
    /// 0.80 at beta 5), so the family must be ordered by beta, and since Q(s, a) = a, the balance model must move its
    /// beta toward the range's top (from the middle, 3, where it starts). By hand (2026-12-07): 0.31-0.35, 0.66-0.69 and
    /// 0.78-0.80 at beta 1, 3, 5 from 1 000 updates on (0.31, 0.67, 0.80 in theory).
    /// </summary>
    [Fact]
    public void TheFamilyIsOrderedByBetaAndTheBalanceModelMovesTowardTheBetterEnd()
    {
        // the balance model's entropy temperature from 0.05, not 1: at 1 its entropy bonus holds beta near the middle
        // until alpha_b has decayed (by hand: 3.36-3.41 after 3 000 updates, 4.0 after 8 000; from 0.05: 3.34 to 4.59)
        var agent = new Famo2o(1, Box.Uniform(1, -1f, 1f), Small with { BalanceInitialTemperature = 0.05f }, 1);
        var s0 = Tensor.FromArray([0.5f], 1, 1);
        float startBeta = agent.Balance(s0).Data[0];
        var batch = new TransitionBatch(128, 1, 1);
        var rng = new Rng(2);
        for (int step = 0; step < 3000; step++)
        {
            rng.FillUniform(batch.Obs, 0f, 1f);
            rng.FillUniform(batch.Act, -1f, 1f);
            for (int i = 0; i < batch.Size; i++) (batch.Rew[i], batch.Discount[i], batch.Next[i]) = (batch.Act[i], 0f, batch.Obs[i]);
            agent.Update(batch);
        }
        float Mean(float beta) => agent.PolicyAt(s0, Tensor.FromArray([beta], 1, 1)).Data[0];
        float low = Mean(1f), high = Mean(5f), beta = agent.Balance(s0).Data[0];
        Assert.InRange(startBeta, 2.5f, 3.5f);
        Assert.True(high > low + 0.25f, $"pi_u(s, 5) = {high:F3}, pi_u(s, 1) = {low:F3}: not ordered by beta (expected about 0.80 and 0.31)");
        Assert.True(Math.Abs(low - 0.31f) < 0.1f && Math.Abs(high - 0.80f) < 0.1f, $"pi_u(s, 1) = {low:F3}, pi_u(s, 5) = {high:F3} (coth(beta) - 1/beta: 0.31, 0.80)");
        Assert.True(beta > startBeta + 0.5f, $"the balance model's beta {beta:F3} (from {startBeta:F3}) did not move toward 5");
        // acting is the universal policy at the balance model's beta
        var acted = new float[1];
        agent.Act([0.5f], acted, deterministic: true);
        Assert.Equal(Mean(beta), acted[0], 5);
    }

    [Fact]
    public void SettingsNoRunCouldUseAreRefusedByName()
    {
        void Refused(Famo2oConfig c, string field) => Assert.Contains($"'{field}'", Assert.Throws<ArgumentException>(c.Validate).Message);
        Refused(Small with { Beta = 10f }, "beta");
        Refused(Small with { BetaMin = 5f, BetaMax = 5f }, "beta_max");
        Refused(Small with { EmbeddingDim = 5 }, "embedding_dim");
        var gru = Assert.Throws<ArgumentException>(() => new Famo2o(2, Box.Uniform(1, -1f, 1f), Small with { HistoryEncoder = HistoryEncoder.Gru, History = 2 }, 0));
        Assert.Contains("history_encoder", gru.Message);
    }
}

/// <summary>FamO2O's two phases on pendulum: the balance model's beta replaces the uniform one at the switch, and a stopped run goes on to the same result.</summary>
[Collection("pendulum datasets")]
public class Famo2oRunTests(PendulumDatasets data)
{
    [Fact]
    public void AFineTuneStoppedOnlineGoesOnToTheSameResultWithOneBuffer()
    {
        var small = JsonDocument.Parse("""{"hidden": [16, 16], "batch_size": 32}""").RootElement;
        var schedule = new FineTuning(200, Ratio: null);   // the authors' one buffer: the dataset and the online rows drawn alike
        string a = Path.Combine(data.Dir, "famo2o-whole"), b = Path.Combine(data.Dir, "famo2o-split");
        TrainerConfig Cfg(long steps, string dir, string? resume = null) =>
            new(Steps: steps, EvalEvery: 100, EvalEpisodes: 1, Seed: 6, Progress: false, OutDir: dir, CheckpointEvery: 100, ResumeFrom: resume);
        var (whole, ra) = Training.FineTune("famo2o", data.MediumReplay, "pendulum", Cfg(400, a), schedule, small);
        Training.FineTune("famo2o", data.MediumReplay, "pendulum", Cfg(300, b), schedule, small);
        var (resumed, rb) = Training.FineTune("famo2o", data.MediumReplay, "pendulum", Cfg(400, b, b), schedule, small);
        Assert.Equal(["offline", "offline", "online", "online"], ra.Evaluations.Select(e => e.Phase));
        Assert.Equal(ra.Evaluations.Skip(3).Select(e => (e.Step, e.ReturnMean)), rb.Evaluations.Select(e => (e.Step, e.ReturnMean)));
        float[] o = [-0.4f, 0.9f, -2.1f], x = new float[1], y = new float[1];
        whole.Act(o, x, true); resumed.Act(o, y, true);
        Assert.Equal(x, y);
    }
}
