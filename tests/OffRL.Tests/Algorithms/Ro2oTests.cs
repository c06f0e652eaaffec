using OffRL.Algorithms;
using OffRL.Data;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>RO2O (issue 38, item 5): SAC-N with RORL's terms on perturbed states.</summary>
public class Ro2oTests
{
    private static readonly int[] Small = [16, 16];

    /// <summary>With its three terms weighed 0 RO2O draws no perturbations and is SAC-N, update for update.</summary>
    [Fact]
    public void WithItsTermsWeighedZeroRo2oIsSacN()
    {
        var sacN = new Edac(3, Box.Uniform(1, -1f, 1f), new EdacConfig { Eta = 0f, Hidden = Small }, 3);
        var ro2o = new Ro2o(3, Box.Uniform(1, -1f, 1f), new Ro2oConfig { Hidden = Small, QSmoothCoef = 0f, OodCoef = 0f, PolicySmoothCoef = 0f }, 3);
        for (ulong k = 0; k < 6; k++)
        {
            var a = sacN.Update(RandomBatches.Of(k))["critic_loss"];
            var b = ro2o.Update(RandomBatches.Of(k))["critic_loss"];
            Assert.Equal(a, b);
        }
        float[] o = [0.3f, -1.2f, 0.7f], x = new float[1], y = new float[1];
        sacN.Act(o, x, true); ro2o.Act(o, y, true);
        Assert.Equal(x, y);
    }

    /// <summary>
    /// Radius 0 makes every perturbed state the state itself: both smoothness terms are 0 (to rounding); with a radius they are
    /// positive, and they and the OOD penalty change the update (SAC-N's critic loss differs from RO2O's thereafter).
    /// </summary>
    [Fact]
    public void TheSmoothnessTermsVanishAtRadiusZeroAndActOtherwise()
    {
        var flat = new Ro2o(3, Box.Uniform(1, -1f, 1f), new Ro2oConfig { Hidden = Small, QSmoothEps = 0f, PolicySmoothEps = 0f, QSmoothCoef = 1f }, 3);
        var m = flat.Update(RandomBatches.Of(1));
        Assert.InRange(m["q_smooth_loss"], 0f, 1e-12f);        // 0 but for the products' rounding over other batch sizes
        Assert.InRange(m["policy_smooth_loss"], 0f, 1e-12f);
        Assert.True(m["ood_loss"] > 0f, $"ood_loss {m["ood_loss"]}");   // the critics disagree at the policy's actions

        var wide = new Ro2o(3, Box.Uniform(1, -1f, 1f), new Ro2oConfig { Hidden = Small, QSmoothEps = 0.5f, PolicySmoothEps = 0.5f, QSmoothCoef = 1f }, 3);
        m = wide.Update(RandomBatches.Of(1));
        Assert.True(m["q_smooth_loss"] > 0f && m["policy_smooth_loss"] > 0f, $"q_smooth {m["q_smooth_loss"]}, policy_smooth {m["policy_smooth_loss"]}");
    }

    /// <summary>lambda decays linearly per update to its floor, and sits at the floor online (the README's online setting).</summary>
    [Fact]
    public void TheOodWeightDecaysToItsFloorAndStaysThereOnline()
    {
        var agent = new Ro2o(3, Box.Uniform(1, -1f, 1f), new Ro2oConfig { Hidden = Small, OodLambda = 2f, OodLambdaMin = 0.1f, OodLambdaDecay = 1e-6f }, 3);
        Assert.Equal(2f, agent.OodLambdaAt(0));
        Assert.Equal(1.5f, agent.OodLambdaAt(500_000), 5);
        Assert.Equal(0.1f, agent.OodLambdaAt(5_000_000));
        agent.StartOnline(new OnlinePhase(10, 100));
        Assert.Equal(0.1f, agent.OodLambdaAt(10));
        Assert.Contains("'ood_coef'", Assert.Throws<ArgumentException>(() => new Ro2oConfig { NumCritics = 1 }.Validate()).Message);
    }
}
