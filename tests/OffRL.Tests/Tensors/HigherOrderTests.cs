using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Tensors;

/// <summary>
/// Gradients as graph values (<see cref="Tensor.Gradient"/>, torch.autograd.grad with create_graph): the first
/// derivative equals backward's, and the derivative of a loss built from it matches central differences of that loss,
/// with respect to the parameters (what EDAC and gradient penalties train) and to the input (a Hessian-vector product).
/// </summary>
public class HigherOrderTests
{
    /// <summary>
    /// y = d sum(v f(x; p)) / dx for a fixed random v; checks d sum(w y) / d(x, p) from backward through the graph of y
    /// against central differences of sum(w y), and y itself against backward's first derivative.
    /// </summary>
    private static void CheckSecondOrder(Func<Tensor> f, Tensor x, Tensor[] ps, float h = 2e-3f, double tol = 2e-2)
    {
        var rng = new Rng(99);
        Tensor[] all = [x, .. ps];
        float[] v, w;
        float[][] analytic;
        using (TensorScope.Begin())
        {
            // first derivative: the graph value equals backward's, and forming it leaves .Grad alone
            foreach (var t in all) t.ZeroGrad();
            var out0 = f();
            v = new float[out0.Size]; rng.FillUniform(v, -1f, 1f);
            var y0 = Tensor.Gradient(out0, x, Tensor.FromArray(v, out0.Shape));
            foreach (var t in all) Assert.False(t.GradTouched, "gradients wrote a .Grad");
            out0.Backward(v);
            for (int i = 0; i < x.Size; i++) Assert.True(Math.Abs(x.Grad![i] - y0.Data[i]) <= 1e-5f * (1 + Math.Abs(y0.Data[i])), $"first derivative {i}: {y0.Data[i]} vs backward {x.Grad[i]}");
        }
        using (TensorScope.Begin())
        {
            foreach (var t in all) t.ZeroGrad();
            var o1 = f();
            var y = Tensor.Gradient(o1, x, Tensor.FromArray(v, o1.Shape));
            w = new float[y.Size]; rng.FillUniform(w, -1f, 1f);
            Assert.True(y.RequiresGrad, "the gradient is not a graph value");
            y.Backward(w);
            analytic = all.Select(t => t.GradTouched ? (float[])t.Grad!.Clone() : new float[t.Size]).ToArray();
        }
        double Loss()
        {
            using var scope = TensorScope.Begin();
            var o = f();
            var y = Tensor.Gradient(o, x, Tensor.FromArray(v, o.Shape), createGraph: false);
            Assert.False(y.RequiresGrad);
            double s = 0;
            for (int i = 0; i < y.Size; i++) s += (double)y.Data[i] * w[i];
            return s;
        }
        for (int k = 0; k < all.Length; k++)
        {
            var t = all[k];
            int stride = Math.Max(1, t.Size / 20);
            for (int i = 0; i < t.Size; i += stride)
            {
                float orig = t.Data[i];
                t.Data[i] = orig + h; double lp = Loss();
                t.Data[i] = orig - h; double lm = Loss();
                t.Data[i] = orig;
                double num = (lp - lm) / (2 * h), an = analytic[k][i];
                Assert.True(Math.Abs(num - an) <= tol * (1 + Math.Abs(num)), $"tensor {k} element {i}: analytic {an:G6} vs numeric {num:G6}");
            }
        }
    }

    private static Tensor P(int seed, params int[] dims) => GradCheck.Input(new Rng((ulong)seed), Shape.Of(dims), -0.8f, 0.8f);

    [Fact]
    public void LinearLayersWithSmoothActivationsAndLayerNorm()
    {
        var x = P(1, 5, 4);
        var w1 = P(2, 6, 4); var b1 = P(3, 6); var w2 = P(4, 6, 6); var b2 = P(5, 6);
        var gamma = P(6, 6); var beta = P(7, 6); var w3 = P(8, 3, 6); var b3 = P(9, 3);
        Tensor F()
        {
            var h = Tensor.Linear(x, w1, b1, Activation.Tanh);
            h = Tensor.Linear(h, w2, b2, Activation.Elu);
            h = Tensor.LayerNorm(h, gamma, beta).Silu();
            return Tensor.Linear(h, w3, b3, Activation.Sigmoid);
        }
        CheckSecondOrder(F, x, [w1, b1, w2, b2, gamma, beta, w3, b3]);
    }

    /// <summary>An ensemble's layer norm with per-member scale and shift and the ReLU fused into it (RLPD's and ReBRAC's critics).</summary>
    [Fact]
    public void AnEnsembleLayerNormWithItsFusedRelu()
    {
        var x = P(30, 2, 5, 7);
        var gamma = P(31, 2, 1, 7); var beta = P(32, 2, 1, 7); var w = P(33, 2, 7, 3); var b = P(34, 2, 3);
        Tensor F() => Tensor.EnsembleLinear(Tensor.LayerNorm(x, gamma, beta, activation: Activation.Relu), w, b, Activation.Tanh);
        CheckSecondOrder(F, x, [gamma, beta, w, b]);
    }

    [Fact]
    public void AnEnsembleCriticsActionGradientAsEdacUsesIt()
    {
        // Q_e(s, a) for 3 members on tiled states and actions; y = dQ/da, as CORL's EDAC forms its diversity term
        var s = P(10, 4, 3);
        var a = P(11, 3, 4, 2);
        var w1 = P(12, 3, 5, 8); var b1 = P(13, 3, 8); var w2 = P(14, 3, 8, 1); var b2 = P(15, 3, 1);
        Tensor F()
        {
            var sa = Tensor.Concat(-1, s.Reshape(1, 4, 3).Tile(3), a);
            var h = Tensor.EnsembleLinear(sa, w1, b1, Activation.Tanh);
            return Tensor.EnsembleLinear(h, w2, b2);
        }
        CheckSecondOrder(F, a, [w1, b1, w2, b2]);
        // and with ReLU (piecewise linear: d2/da2 is 0, the parameters' derivative is not)
        Tensor G() => Tensor.EnsembleLinear(Tensor.EnsembleLinear(Tensor.Concat(-1, s.Reshape(1, 4, 3).Tile(3), a), w1, b1, Activation.Relu), w2, b2);
        CheckSecondOrder(G, a, [w1, w2], h: 1e-3f);
    }

    [Fact]
    public void ElementwiseArithmeticReductionsAndShapeOps()
    {
        var x = P(20, 3, 4);
        var p = P(21, 3, 4); var q = P(22, 4);
        var m = P(23, 4, 4);
        Tensor F()
        {
            var e = x * p + x / (q.Square() + 1f) - (x * q).Exp() * 0.1f + (x * q).Sin() * 0.3f;
            var lse = e.LogSumExp(1, keepDim: true);
            var sm = (e * 0.5f).Softmax(1);
            var members = Tensor.Concat(0, e.Reshape(1, 3, 4), (e * x).Reshape(1, 3, 4), Tensor.Matmul(e, m).Reshape(1, 3, 4));
            var r = members.Quantile(0.3f, 0) + members.Std(0) + members.Mean(0) + members.Min(0) * 0.5f + members.Max(0) * 0.25f;
            r = Tensor.Maximum(r, x.Tanh()) + Tensor.Minimum(r, sm);
            var copies = r.RepeatInterleave(2, 0).Slice(0, 1, 4) + r.Tile(2, 0).Slice(0, 2, 4);
            return copies.Sum(1, keepDim: true) * lse.Tile(2, 0).Slice(0, 0, 4) + copies.Transpose(0, 1).Sum(0).Reshape(4, 1).Softplus();
        }
        CheckSecondOrder(F, x, [p, q, m]);
    }

    [Fact]
    public void BatchedProductsAndAGradientPenalty()
    {
        // WGAN-GP's penalty (||d D(x) / dx|| - 1)^2 differentiated with respect to D's weights
        var x = P(30, 2, 3, 4);
        var wa = P(31, 2, 4, 5); var ws = P(32, 5, 2);
        Tensor D() => Tensor.BatchedMatmul(Tensor.BatchedMatmul(x, wa).Tanh(), ws);
        CheckSecondOrder(D, x, [wa, ws]);
        using var scope = TensorScope.Begin();
        foreach (var t in new[] { wa, ws }) t.ZeroGrad();
        var d = D();
        var grad = Tensor.Gradient(d, x);
        var penalty = (grad.Square().Reshape(2, 12).Sum(1).Sqrt() - 1f).Square().Mean();
        penalty.Backward();
        Assert.True(wa.GradTouched && ws.GradTouched);
        Assert.Contains(wa.Grad!, v => v != 0f);
    }

    [Fact]
    public void ANormsGradientIsZeroWhereTheVectorIsZeroAsTorchNormsIs()
    {
        // rows of x: a zero row (a critic whose units are all off has a zero action gradient) and two others
        var x = Tensor.FromArray([0f, 0f, 0f, 3f, -4f, 12f, 0.5f, 1f, -2f], 3, 3);
        x.RequiresGrad = true;
        using (TensorScope.Begin())
        {
            var n = x.Norm(-1, keepDim: true);
            Assert.Equal([0f, 13f, MathF.Sqrt(5.25f)], n.Data);
            (x / (n + 1e-10f)).Sum().Backward();   // EDAC's normalization: finite everywhere
            Assert.All(x.Grad!, g => Assert.True(float.IsFinite(g)));
            // on the zero row only the direct term d(x / (|x| + eps)) / dx = 1 / eps is left, as torch gives it
            Assert.All(x.Grad![..3], g => Assert.Equal(1e10f, g, 1e4f));
        }
        // the derivative of a loss built from a gradient through it, where the vectors are not zero
        var w = P(60, 2, 3);
        var v = P(61, 4, 2);
        CheckSecondOrder(() => Tensor.Matmul(v, w).Norm(-1, keepDim: true) * 2f, v, [w]);
    }

    [Fact]
    public void AnInputTheOutputDoesNotReachGetsZeros()
    {
        var x = P(40, 2, 2); var unused = P(41, 3);
        using var scope = TensorScope.Begin();
        var y = (x * x).Sum();
        var g = new Tensor[2];
        Tensor.Gradients(y, [x, unused], g);
        Assert.Equal(new Shape(3), g[1].Shape);
        Assert.All(g[1].Data, v => Assert.Equal(0f, v));
        for (int i = 0; i < 4; i++) Assert.Equal(2 * x.Data[i], g[0].Data[i], 5);
    }

    [Fact]
    public void AnOpWithoutASecondDerivativeIsNamed()
    {
        var x = P(50, 2, 3);
        using var scope = TensorScope.Begin();
        var e = Assert.Throws<NotSupportedException>(() => Tensor.Gradient(x.Gelu().Sum(), x));
        Assert.Contains("op 'gelu' has no second derivative", e.Message);
        e = Assert.Throws<NotSupportedException>(() => Tensor.Gradient(x.Gather(1, [0, 2], new Shape(2, 1)).Sum(), x));
        Assert.Contains("op 'gather' has no second derivative", e.Message);
        // ops off the path to the input do not matter
        var y = P(51, 2, 3);
        var g = Tensor.Gradient((x * y.Gelu()).Sum(), x);
        Assert.Equal(y.Gelu().Data, g.Data);
    }
}
