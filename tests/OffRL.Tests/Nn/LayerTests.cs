using OffRL.Nn;
using OffRL.Tensors;
using Xunit;
using static OffRL.Tests.GradCheck;

namespace OffRL.Tests.Nn;

public class LayerTests
{
    private static void CheckModule(Module m, Func<Tensor> f, params Tensor[] extra)
    {
        var inputs = m.Parameters().Concat(extra).ToArray();
        Check(f, inputs);
    }

    [Fact]
    public void MlpWithLayerNormAndDropoutInputGradients()
    {
        var rng = new Rng(1);
        var cfg = new MlpConfig(5, [8, 7], 3, Activation.Mish, Activation.Tanh, LayerNorm: true, Dropout: 0.2f);
        var x = Input(rng, 4, 5);
        // A network rebuilt from one seed on every call draws the same dropout masks, as finite differences need.
        Check(() => new Mlp(cfg, new Rng(3)).Forward(x), x);
    }

    [Fact]
    public void MlpParameterGradients()
    {
        var rng = new Rng(2);
        var net = new Mlp(new MlpConfig(5, [8, 6], 2, Activation.Elu, LayerNorm: true), rng);
        var x = Input(rng, 7, 5);
        CheckModule(net, () => net.Forward(x), x);
        Assert.Equal(5 * 8 + 8 + 8 + 8 + 8 * 6 + 6 + 6 + 6 + 6 * 2 + 2, net.ParameterCount);
    }

    [Fact]
    public void EnsembleMlpGradientsAndMembersAreIndependent()
    {
        var rng = new Rng(3);
        var ens = new EnsembleMlp(3, new MlpConfig(4, [6], 2), rng);
        var x = Input(rng, 5, 4);
        CheckModule(ens, () => ens.Forward(x), x);
        // Member 1's output does not depend on member 0's weights.
        using (TensorScope.Begin())
        {
            ens.ZeroGrad();
            var y = ens.Forward(x);
            y.Slice(0, 1, 1).Sum().Backward();
            var w0 = ens.Parameters()[0];   // layers.0.weight [3, 4, 6]
            Assert.All(w0.Grad!.AsSpan(0, 24).ToArray(), g => Assert.Equal(0f, g));
            Assert.Contains(w0.Grad!.AsSpan(24, 24).ToArray(), g => g != 0f);
        }
    }

    [Fact]
    public void TransformerGradients()
    {
        var rng = new Rng(4);
        var blk = new TransformerBlock(8, 2, rng);
        var x = Input(rng, 2, 3, 8);
        CheckModule(blk, () => blk.Forward(x), x);
        var tr = new CausalTransformer(new TransformerConfig(3, 8, 2, 2, 5, 2, Dropout: 0f), rng);
        var s = Input(rng, 2, 4, 3);
        CheckModule(tr, () => tr.Forward(s), s);
    }

    [Fact]
    public void AttentionIsCausal()
    {
        var rng = new Rng(5);
        var attn = new CausalSelfAttention(8, 2, rng);
        var x = Tensor.Randn(new Shape(1, 4, 8), rng);
        using var _ = Tensor.NoGrad();
        var y1 = attn.Forward(x).ToArray();
        for (int j = 0; j < 8; j++) x.Data[3 * 8 + j] += 1f;   // change the last step only
        var y2 = attn.Forward(x).ToArray();
        for (int i = 0; i < 3 * 8; i++) Assert.Equal(y1[i], y2[i], 6);   // earlier outputs unchanged
        Assert.Contains(Enumerable.Range(24, 8), i => MathF.Abs(y1[i] - y2[i]) > 1e-4f);
    }

    [Fact]
    public void LinearInitMatchesPyTorchBounds()
    {
        var l = new Linear(100, 50, new Rng(6));
        float bound = 1f / MathF.Sqrt(100);
        Assert.All(l.Weight.Data, w => Assert.InRange(w, -bound, bound));
        Assert.All(l.Bias!.Data, w => Assert.InRange(w, -bound, bound));
        // uniform on [-b, b] has variance b^2 / 3
        double var = l.Weight.Data.Select(w => (double)w * w).Average();
        Assert.InRange(var, bound * bound / 3 * 0.9, bound * bound / 3 * 1.1);
    }

    [Fact]
    public void OrthogonalAndXavierInit()
    {
        var rng = new Rng(7);
        foreach (var (r, c) in new[] { (6, 4), (4, 6), (5, 5) })
        {
            var t = Tensor.Zeros(r, c);
            Init.Orthogonal(t, r, c, rng, gain: 2f);
            // rows orthogonal when r <= c, columns when r >= c (scaled by gain^2)
            int n = Math.Min(r, c);
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++)
                {
                    double dot = 0;
                    if (r >= c) for (int i = 0; i < r; i++) dot += t[i, a] * t[i, b];
                    else for (int j = 0; j < c; j++) dot += t[a, j] * t[b, j];
                    Assert.Equal(a == b ? 4.0 : 0.0, dot, 4);
                }
        }
        var x = Tensor.Zeros(200, 300);
        Init.XavierUniform(x, 300, 200, rng);
        float bound = MathF.Sqrt(6f / 500f);
        Assert.All(x.Data, v => Assert.InRange(v, -bound, bound));
    }

    [Fact]
    public void GaussianLogProbAndEntropyMatchClosedForm()
    {
        var mean = Tensor.FromArray(new float[] { 0.5f, -1f }, 1, 2);
        var logStd = Tensor.FromArray(new float[] { 0f, MathF.Log(2f) }, 1, 2);
        var d = new Gaussian(mean, logStd);
        var x = Tensor.FromArray(new float[] { 1f, 1f }, 1, 2);
        double expected = -0.5 * 0.25 - 0.5 * Math.Log(2 * Math.PI) + (-0.5 * 1.0 - Math.Log(2) - 0.5 * Math.Log(2 * Math.PI));
        Assert.Equal(expected, d.LogProb(x).Item(), 5);
        double ent = 2 * (0.5 + 0.5 * Math.Log(2 * Math.PI)) + Math.Log(2);
        Assert.Equal(ent, d.Entropy().Item(), 5);
    }

    [Fact]
    public void DistributionGradients()
    {
        var rng = new Rng(8);
        var mean = Input(rng, 3, 2);
        var logStd = Input(rng, new Shape(3, 2), -1f, 0.5f);
        var act = Tensor.Rand(new Shape(3, 2), rng, -0.9f, 0.9f);
        Check(() => new Gaussian(mean, logStd).LogProb(act), mean, logStd);
        Check(() => new Gaussian(mean, logStd).Entropy(), logStd);
        Check(() => new Gaussian(mean, logStd).RSample(new Rng(1)), mean, logStd);
        Check(() => new TanhGaussian(mean, logStd).RSample(new Rng(1)).LogProb, mean, logStd);
        Check(() => new TanhGaussian(mean, logStd).RSample(new Rng(1)).Action, mean, logStd);
        Check(() => new TanhGaussian(mean, logStd).LogProb(act), mean, logStd);
        var logits = Input(rng, 4, 5);
        Check(() => new Categorical(logits).LogProb([0, 4, 2, 2]), logits);
        Check(() => new Categorical(logits).Entropy(), logits);
    }

    [Fact]
    public void TanhGaussianLogProbIsADensity()
    {
        // 1-d: integrate exp(log pi(a)) over (-1, 1) numerically; it must be 1.
        var d = new TanhGaussian(Tensor.FromArray([0.3f], 1, 1), Tensor.FromArray([MathF.Log(0.8f)], 1, 1));
        int n = 20000; double sum = 0;
        var a = Tensor.Zeros(n, 1);
        for (int i = 0; i < n; i++) a.Data[i] = -1f + (i + 0.5f) * 2f / n;
        var d2 = new TanhGaussian(Tensor.Full(new Shape(n, 1), 0.3f), Tensor.Full(new Shape(n, 1), MathF.Log(0.8f)));
        var lp = d2.LogProb(a);
        for (int i = 0; i < n; i++) sum += Math.Exp(lp.Data[i]) * 2.0 / n;
        Assert.Equal(1.0, sum, 2);
        // Sampled log-probs agree with LogProb of the sampled action.
        var (act, logp) = d.RSample(new Rng(3));
        Assert.Equal(logp.Item(), d.LogProb(act).Item(), 3);
    }

    [Fact]
    public void CategoricalSamplingFollowsProbabilities()
    {
        var logits = Tensor.FromArray(new float[] { 0f, MathF.Log(3f) }, 1, 2);
        var d = new Categorical(logits);
        var rng = new Rng(9);
        int ones = 0, n = 20000;
        for (int i = 0; i < n; i++) ones += d.Sample(rng)[0];
        Assert.InRange(ones / (double)n, 0.74, 0.76);
        Assert.Equal(1, d.Mode()[0]);
    }
}
