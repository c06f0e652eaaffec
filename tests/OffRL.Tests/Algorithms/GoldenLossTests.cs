using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>
/// The losses the agents train with, pinned to values PyTorch computed once from the reference implementations'
/// definitions (Fixtures/golden-losses.json, written by bench/reference/golden_losses.py in float64): each loss
/// function the update calls, on the same inputs, gives the same value and the same gradients within float32 rounding.
/// </summary>
public class GoldenLossTests
{
    private static readonly JsonElement Golden =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "golden-losses.json"))).RootElement;

    private static float[] F(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
    private static float S(JsonElement e, string name) => (float)e.GetProperty(name).GetDouble();

    private static Tensor Input(JsonElement e, string name, params int[] dims)
    {
        var t = Tensor.FromArray(F(e, name), dims);
        t.RequiresGrad = true;
        return t;
    }

    private static void Near(float expected, float actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 2e-5f * (1 + Math.Abs(expected)), $"{what}: OffRL {actual:G9}, PyTorch {expected:G9}");

    private static void Near(float[] expected, float[]? actual, string what)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Length, actual!.Length);
        for (int i = 0; i < expected.Length; i++) Near(expected[i], actual[i], $"{what}[{i}]");
    }

    [Fact]
    public void IqlExpectileLoss()
    {
        var g = Golden.GetProperty("iql_expectile");
        var u = Input(g, "u", 16, 1);
        var loss = Iql.ExpectileLoss(u, S(g, "tau"));
        loss.Backward();
        Near(S(g, "loss"), loss.Item(), "loss");
        Near(F(g, "grad_u"), u.Grad, "d loss / du");
    }

    [Fact]
    public void IqlAdvantageWeightedRegressionClipsItsWeights()
    {
        var g = Golden.GetProperty("iql_awr");
        var adv = Input(g, "advantage", 16, 1);
        var behavior = Input(g, "behavior", 16, 1);
        var loss = Iql.AwrLoss(adv, behavior, S(g, "beta"), S(g, "max_weight"));
        loss.Backward();
        Near(S(g, "loss"), loss.Item(), "loss");
        Near(F(g, "grad_behavior"), behavior.Grad, "d loss / d behavior");
        Assert.False(adv.GradTouched);   // the weights are not differentiated
    }

    [Fact]
    public void Td3BcActorLossAndLambda()
    {
        var g = Golden.GetProperty("td3bc_actor");
        int b = g.GetProperty("batch").GetInt32(), a = g.GetProperty("action_dim").GetInt32();
        var q = Input(g, "q", b, 1);
        var pi = Input(g, "pi", b, a);
        var (loss, bc) = Td3Bc.ActorLoss(q, pi, Tensor.FromArray(F(g, "action"), b, a), S(g, "alpha"));
        loss.Backward();
        Near(S(g, "loss"), loss.Item(), "loss");
        Near(S(g, "bc"), bc.Item(), "bc");
        Near(F(g, "grad_q"), q.Grad, "d loss / dq");   // lambda enters as a number
        Near(F(g, "grad_pi"), pi.Grad, "d loss / d pi");
    }

    [Fact]
    public void SacTemperatureLoss()
    {
        var g = Golden.GetProperty("sac_temperature");
        var logAlpha = Tensor.FromArray([S(g, "log_alpha")], 1);
        logAlpha.RequiresGrad = true;
        var logp = Input(g, "log_pi", 16, 1);
        var loss = Sac<SacConfig>.TemperatureLoss(logAlpha, logp, S(g, "target_entropy"));
        loss.Backward();
        Near(S(g, "loss"), loss.Item(), "loss");
        Near(S(g, "grad_log_alpha"), logAlpha.Grad![0], "d loss / d log alpha");
        Assert.False(logp.GradTouched);
    }

    [Fact]
    public void CqlLogSumExpGapAtTwoTemperatures()
    {
        foreach (var g in Golden.GetProperty("cql_gap").EnumerateArray())
        {
            int b = g.GetProperty("batch").GetInt32(), n = g.GetProperty("samples").GetInt32(), act = g.GetProperty("action_dim").GetInt32();
            var qRand = Input(g, "q_random", b, n);
            var qPi = Input(g, "q_policy", b, n);
            var qNext = Input(g, "q_next_policy", b, n);
            var qData = Input(g, "q_data", b, 1);
            float t = S(g, "temperature");
            var gap = Cql.ConservativeGap(qRand, qPi, qNext, act * MathF.Log(0.5f), Tensor.FromArray(F(g, "log_pi"), b, n),
                Tensor.FromArray(F(g, "log_pi_next"), b, n), qData, t);
            gap.Backward();
            Near(S(g, "gap"), gap.Item(), $"gap (T = {t})");
            Near(F(g, "grad_q_random"), qRand.Grad, "d gap / dQ(uniform actions)");
            Near(F(g, "grad_q_policy"), qPi.Grad, "d gap / dQ(pi(s))");
            Near(F(g, "grad_q_next_policy"), qNext.Grad, "d gap / dQ(pi(s'))");
            Near(F(g, "grad_q_data"), qData.Grad, "d gap / dQ(data)");
        }
    }
}
