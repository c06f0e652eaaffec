using OffRL.Nn;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Nn;

public class OptimTests
{
    private static Tensor Scalar(float v)
    {
        var p = Tensor.Parameter(new Shape(1), "p");
        p.Data[0] = v;
        return p;
    }

    private static void Step(Optimizer opt, Tensor p, float grad)
    {
        opt.ZeroGrad();
        (p * grad).Sum().Backward();   // d/dp (grad * p) = grad
        opt.Step();
    }

    [Fact]
    public void AdamMatchesHandComputedSteps()
    {
        // lr 0.1, betas (0.9, 0.999), eps 1e-8; gradients 0.5 then -0.25:
        // t=1: m=0.05, v=2.5e-4, mhat=0.5, vhat=0.25 -> p = 1 - 0.1 * 0.5 / 0.5 = 0.9
        // t=2: m=0.02, v=3.1225e-4, mhat=0.02/0.19=0.1052632, vhat=3.1225e-4/1.999e-3=0.1562031
        //      p = 0.9 - 0.1 * 0.1052632 / 0.3952254 = 0.8733666
        var p = Scalar(1f);
        var opt = new Adam([p], lr: 0.1);
        Step(opt, p, 0.5f);
        Assert.Equal(0.9f, p.Data[0], 6);
        Step(opt, p, -0.25f);
        Assert.Equal(0.8733666f, p.Data[0], 5);
    }

    [Fact]
    public void AdamL2AndAdamWDecoupledDecay()
    {
        // Adam with weight_decay 0.1: g' = g + 0.1 p = 0.5 + 0.1 = 0.6; first step is still lr * sign -> 0.9
        var p = Scalar(1f);
        var adam = new Adam([p], lr: 0.1, weightDecay: 0.1f);
        Step(adam, p, 0.5f);
        Assert.Equal(0.9f, p.Data[0], 6);
        // AdamW with weight_decay 0.1: p *= 1 - 0.1 * 0.1 -> 0.99, then -0.1 -> 0.89
        var q = Scalar(1f);
        var adamw = new AdamW([q], lr: 0.1, weightDecay: 0.1f);
        Step(adamw, q, 0.5f);
        Assert.Equal(0.89f, q.Data[0], 6);
        // second AdamW step with gradient 0.5: p = 0.89 * 0.99 - 0.1 * 1 (mhat/sqrt(vhat) = 1) = 0.7811
        Step(adamw, q, 0.5f);
        Assert.Equal(0.7811f, q.Data[0], 5);
    }

    [Fact]
    public void AdamVectorAndScalarPathsAgree()
    {
        // 37 elements: SIMD body plus a scalar tail must give the same update as element-wise math.
        var rng = new Rng(1);
        var p = Tensor.Parameter(new Shape(37));
        rng.FillNormal(p.Data);
        var start = p.ToArray();
        var g = new float[37];
        rng.FillNormal(g);
        var opt = new Adam([p], lr: 0.01);
        opt.ZeroGrad();
        (p * Tensor.FromArray(g, 37)).Sum().Backward();
        opt.Step();
        for (int i = 0; i < 37; i++)
        {
            double m = 0.1 * g[i], v = 0.001 * g[i] * g[i];
            double expect = start[i] - 0.01 * (m / 0.1) / (Math.Sqrt(v / 0.001) + 1e-8);
            Assert.Equal(expect, p.Data[i], 5);
        }
    }

    [Fact]
    public void SgdMomentumMatchesPyTorch()
    {
        // torch.optim.SGD(lr=0.1, momentum=0.9): buf1 = g1; p -= lr buf; buf2 = 0.9 buf1 + g2
        var p = Scalar(1f);
        var opt = new Sgd([p], 0.1, momentum: 0.9f);
        Step(opt, p, 1f);
        Assert.Equal(0.9f, p.Data[0], 6);
        Step(opt, p, 1f);
        Assert.Equal(0.9f - 0.1f * 1.9f, p.Data[0], 6);
        var q = Scalar(1f);
        var nest = new Sgd([q], 0.1, momentum: 0.9f, nesterov: true);
        Step(nest, q, 1f);   // d = g + 0.9 * buf = 1.9
        Assert.Equal(1f - 0.19f, q.Data[0], 6);
    }

    [Fact]
    public void ParametersWithoutGradientAreSkipped()
    {
        var used = Scalar(1f);
        var unused = Scalar(1f);
        var opt = new Adam([used, unused], lr: 0.1);
        Step(opt, used, 1f);
        Step(opt, used, 1f);
        Assert.Equal(1f, unused.Data[0]);
        Assert.NotEqual(1f, used.Data[0]);
    }

    [Fact]
    public void ClipGradNormScalesToMaxNorm()
    {
        var a = Tensor.Parameter(new Shape(2));
        var b = Tensor.Parameter(new Shape(1));
        (a * Tensor.FromArray([3f, 0f], 2)).Sum().Backward();
        (b * 4f).Sum().Backward();
        float norm = Grad.ClipNorm([a, b], 1f);
        Assert.Equal(5f, norm, 5);
        Assert.Equal(0.6f, a.Grad![0], 4);
        Assert.Equal(0.8f, b.Grad![0], 4);
    }

    [Fact]
    public void Schedules()
    {
        Assert.Equal(1.0, LrSchedule.Constant.Factor(1000));
        var lin = LrSchedule.Linear(100, 0.0);
        Assert.Equal(1.0, lin.Factor(0), 9);
        Assert.Equal(0.5, lin.Factor(50), 9);
        Assert.Equal(0.0, lin.Factor(100), 9);
        var cos = LrSchedule.Cosine(100, 0.1, warmup: 10);
        Assert.Equal(0.1, cos.Factor(0), 9);
        Assert.Equal(1.0, cos.Factor(10), 9);
        Assert.Equal(0.1 + 0.9 * 0.5, cos.Factor(55), 9);
        Assert.Equal(0.1, cos.Factor(100), 9);
        var p = Scalar(0f);
        var opt = new Sgd([p], 1.0) { Schedule = LrSchedule.Linear(10, 0.0) };
        Step(opt, p, -1f);
        Assert.Equal(1f, p.Data[0], 6);      // step 0: lr 1
        Step(opt, p, -1f);
        Assert.Equal(1.9f, p.Data[0], 6);    // step 1: lr 0.9
    }

    [Fact]
    public void PolyakUpdate()
    {
        var rng = new Rng(1);
        var src = new Mlp(new MlpConfig(3, [4], 2), rng);
        var tgt = new Mlp(new MlpConfig(3, [4], 2), rng);
        var before = tgt.Parameters().Select(t => t.ToArray()).ToArray();
        Polyak.Update(tgt, src, 0.005f);
        for (int i = 0; i < before.Length; i++)
            for (int j = 0; j < before[i].Length; j++)
                Assert.Equal(0.995f * before[i][j] + 0.005f * src.Parameters()[i].Data[j], tgt.Parameters()[i].Data[j], 6);
        tgt.CopyParametersFrom(src);
        Assert.Equal(src.Parameters()[0].Data, tgt.Parameters()[0].Data);
    }

    /// <summary>
    /// An ensemble's parameters (over a million elements) are updated in slices spread over the cores: the result must
    /// be the one of a single pass, bit for bit, with one thread or two. The single pass is the same values held as two
    /// parameters under the slicing threshold, each with its own Adam.
    /// </summary>
    [Fact]
    public void AdamAndPolyakOverAnEnsembleSizedParameterAreTheSameInSlicesAcrossCores()
    {
        const int n = 1_200_003, half = n / 2;
        var rng = new Rng(7);
        float[] start = new float[n], grad = new float[n];
        rng.FillNormal(start);
        rng.FillNormal(grad);
        int savedThreads = Gemm.Threads;
        float[] Run(int threads)
        {
            Gemm.Threads = threads;
            var p = Tensor.Parameter(new Shape(n), "p");
            start.CopyTo(p.Data, 0);
            var g = Tensor.FromArray(grad, new Shape(n));
            var adam = new Adam([p], lr: 1e-2);
            for (int t = 0; t < 3; t++) { adam.ZeroGrad(); (p * g).Sum().Backward(); adam.Step(); }
            return p.Data;
        }
        var oneThread = Run(1);
        var twoThreads = Run(2);
        Gemm.Threads = savedThreads;
        var lo = Tensor.Parameter(new Shape(half), "lo");
        var hi = Tensor.Parameter(new Shape(n - half), "hi");
        Array.Copy(start, 0, lo.Data, 0, half);
        Array.Copy(start, half, hi.Data, 0, n - half);
        var glo = Tensor.FromArray(grad[..half], new Shape(half));
        var ghi = Tensor.FromArray(grad[half..], new Shape(n - half));
        var adamLo = new Adam([lo], lr: 1e-2);
        var adamHi = new Adam([hi], lr: 1e-2);
        for (int t = 0; t < 3; t++)
        {
            adamLo.ZeroGrad(); (lo * glo).Sum().Backward(); adamLo.Step();
            adamHi.ZeroGrad(); (hi * ghi).Sum().Backward(); adamHi.Step();
        }
        Assert.Equal([.. lo.Data, .. hi.Data], oneThread);
        Assert.Equal(oneThread, twoThreads);
        Assert.NotEqual(start, oneThread);

        // Polyak over a module of 1.2M weights: each element (1 - tau) target + tau source, in slices over the cores
        var src = new OffRL.Nn.Linear(1100, 1100, new Rng(1));
        var tgt = new OffRL.Nn.Linear(1100, 1100, new Rng(2));
        var before = tgt.Parameters().Select(q => (float[])q.Data.Clone()).ToArray();
        Gemm.Threads = 2;
        Polyak.Update(tgt, src, 0.005f);
        Gemm.Threads = savedThreads;
        for (int i = 0; i < before.Length; i++)
            for (int j = 0; j < before[i].Length; j++)
            {
                float expect = before[i][j] * (1f - 0.005f);
                expect = src.Parameters()[i].Data[j] * 0.005f + expect;
                Assert.Equal(expect, tgt.Parameters()[i].Data[j]);
            }
    }
}
