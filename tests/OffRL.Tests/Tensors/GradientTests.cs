using OffRL.Nn;
using OffRL.Tensors;
using Xunit;
using static OffRL.Tests.GradCheck;

namespace OffRL.Tests.Tensors;

/// <summary>A finite-difference gradient check for every op.</summary>
public class GradientTests
{
    private readonly Rng _rng = new(7);

    public static IEnumerable<object[]> BroadcastShapes() =>
    [
        [new[] { 3, 4 }, new[] { 3, 4 }],      // same
        [new[] { 3, 4 }, new[] { 1 }],         // scalar b
        [new[] { 1 }, new[] { 3, 4 }],         // scalar a
        [new[] { 3, 4 }, new[] { 4 }],         // trailing b
        [new[] { 4 }, new[] { 3, 4 }],         // trailing a
        [new[] { 3, 4 }, new[] { 3, 1 }],      // column b
        [new[] { 3, 1 }, new[] { 3, 4 }],      // column a
        [new[] { 2, 1, 4 }, new[] { 2, 3, 1 }],// general, both broadcast
        [new[] { 2, 3, 4 }, new[] { 2, 1, 4 }],// general, middle axis
    ];

    [Theory]
    [MemberData(nameof(BroadcastShapes))]
    public void BinaryOpsBroadcast(int[] sa, int[] sb)
    {
        var a = Input(_rng, Shape.Of(sa), awayFromZero: 0.3f);
        var b = Input(_rng, Shape.Of(sb), awayFromZero: 0.3f);
        Check(() => a + b, a, b);
        Check(() => a - b, a, b);
        Check(() => a * b, a, b);
        Check(() => a / b, a, b);
        Check(() => Tensor.Minimum(a, b), a, b);
        Check(() => Tensor.Maximum(a, b), a, b);
    }

    [Fact]
    public void BroadcastShapeErrorNamesTheShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros(3, 4) + Tensor.Zeros(5));
        Assert.Contains("add", ex.Message);
        Assert.Contains("[3, 4]", ex.Message);
        Assert.Contains("[5]", ex.Message);
    }

    [Fact]
    public void UnaryOps()
    {
        var x = Input(_rng, Shape.Of(4, 5), awayFromZero: 0.15f);
        var pos = Input(_rng, Shape.Of(4, 5), 0.5f, 2f);
        Check(() => x.Neg(), x);
        Check(() => x.Exp(), x);
        Check(() => pos.Log(), pos);
        Check(() => pos.Log1p(), pos);
        Check(() => pos.Sqrt(), pos);
        Check(() => pos.Pow(1.7f), pos);
        Check(() => x.Pow(3f), x);
        Check(() => x.Square(), x);
        Check(() => x.Abs(), x);
        Check(() => x.Tanh(), x);
        Check(() => x.Sigmoid(), x);
        Check(() => x.Relu(), x);
        Check(() => x.LeakyRelu(0.1f), x);
        Check(() => x.Elu(), x);
        Check(() => x.Gelu(), x);
        Check(() => x.Mish(), x);
        Check(() => x.Softplus(), x);
        Check(() => (x * 3f).Sin(), x);
        Check(() => x.Affine(-1.5f, 0.25f), x);
        Check(() => 1f - x * 2f + 3f, x);
        Check(() => x / 4f, x);
    }

    [Fact]
    public void Clamp()
    {
        var x = Tensor.Parameter(new Shape(6));
        x.CopyFrom(new float[] { -2f, -0.7f, -0.3f, 0.2f, 0.6f, 1.9f });
        Check(() => x.Clamp(-0.5f, 0.5f), x);
        Assert.Throws<ArgumentException>(() => x.Clamp(1f, 0f));
    }

    [Fact]
    public void ActivationValuesMatchDefinitions()
    {
        var x = Tensor.FromArray(new float[] { -3f, -0.5f, 0f, 0.5f, 3f, 25f }, 6);
        using var _ = Tensor.NoGrad();
        var gelu = x.Gelu(); var sp = x.Softplus(); var mish = x.Mish();
        // reference values from the closed forms in double precision
        double[] xs = [-3, -0.5, 0, 0.5, 3, 25];
        for (int i = 0; i < xs.Length; i++)
        {
            double v = xs[i];
            double erf = ErfRef(v / Math.Sqrt(2));
            Assert.Equal(0.5 * v * (1 + erf), gelu.Data[i], 5);
            double softplus = v > 20 ? v : Math.Log(1 + Math.Exp(v));
            Assert.Equal(softplus, sp.Data[i], 5);
            Assert.Equal(v * Math.Tanh(Math.Log(1 + Math.Exp(v))), mish.Data[i], 4);
        }
    }

    private static double ErfRef(double x)
    {
        // Taylor series to high accuracy for |x| <= 5; erf is 1 to double precision beyond 6.
        if (Math.Abs(x) > 6) return Math.Sign(x);
        double sum = 0, term = x; int n = 0;
        while (Math.Abs(term) > 1e-17 && n < 200) { sum += term / (2 * n + 1); n++; term *= -x * x / n; }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(-1, true)]
    public void Reductions(int axis, bool keep)
    {
        var x = Input(_rng, 3, 4, 5);
        Check(() => x.Sum(axis, keep), x);
        Check(() => x.Mean(axis, keep), x);
        Check(() => x.Max(axis, keep), x);
        Check(() => x.LogSumExp(axis, keep), x);
        Check(() => x.Softmax(axis), x);
        Check(() => x.LogSoftmax(axis), x);
    }

    [Fact]
    public void FullReductions()
    {
        var x = Input(_rng, 4, 6);
        Check(() => x.Sum(), x);
        Check(() => x.Mean(), x);
        Assert.Equal(Shape.Scalar, x.Sum().Shape);
    }

    [Fact]
    public void ShapeOps()
    {
        var x = Input(_rng, 2, 3, 4);
        var y = Input(_rng, 2, 2, 4);
        Check(() => x.Reshape(6, 4) * 2f, x);
        Check(() => x.Reshape(-1) * 2f, x);
        Check(() => x.Transpose(0, 2), x);
        Check(() => x.Permute([1, 2, 0]), x);
        Check(() => x.Reshape(2, 3, 2, 2).Permute([3, 1, 0, 2]), x);
        Check(() => x.Reshape(2, 3, 1, 4).Transpose(1, 2) * 1.5f, x);   // moves a size-1 axis: a view
        Assert.Equal(new Shape(2, 1, 3, 4), x.Reshape(2, 3, 1, 4).Transpose(1, 2).Shape);
        Check(() => Tensor.Concat(1, x, y), x, y);
        Check(() => Tensor.Concat(x, x * 2f, -1), x);
        Check(() => x.Slice(1, 1, 2), x);
        Check(() => x.Slice(2, 0, 3), x);
        var idx = new[] { 0, 2, 2, 1, 1, 0, 0, 0, 2, 1, 1, 1 };   // [2, 2, 3]? no: gather along axis 1 -> index [2, k, 4]
        var gi = new int[2 * 3 * 4];
        for (int i = 0; i < gi.Length; i++) gi[i] = idx[i % idx.Length] % 3;
        Check(() => x.Gather(1, gi, new Shape(2, 3, 4)), x);
        var m = Input(_rng, 4, 5);
        Check(() => m.GatherRows([4, 0, 2, 2]), m);
        var mask = new[] { true, false, false, true, false };
        Check(() => m.MaskedFill(mask, -3f), m);
        var m2 = Input(_rng, 4, 5);
        var cond = Enumerable.Range(0, 20).Select(i => i % 3 == 0).ToArray();
        Check(() => Tensor.Where(cond, m, m2), m, m2);
    }

    [Fact]
    public void ShapeErrorsAreClear()
    {
        var x = Tensor.Zeros(2, 3);
        Assert.Contains("reshape", Assert.Throws<ArgumentException>(() => x.Reshape(4, 2)).Message);
        Assert.Contains("slice", Assert.Throws<ArgumentException>(() => x.Slice(1, 2, 2)).Message);
        Assert.Contains("concat", Assert.Throws<ArgumentException>(() => Tensor.Concat(0, x, Tensor.Zeros(2, 4))).Message);
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Matmul(x, Tensor.Zeros(2, 3)));
        Assert.Contains("matmul", ex.Message);
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("linear", Assert.Throws<ArgumentException>(() => Tensor.Linear(x, Tensor.Zeros(4, 5), null)).Message);
        Assert.Contains("axis", Assert.Throws<ArgumentException>(() => x.Sum(2)).Message);
        Assert.Throws<IndexOutOfRangeException>(() => x.GatherRows([0, 3]));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Matmul(bool ta, bool tb)
    {
        var a = Input(_rng, ta ? Shape.Of(5, 3) : Shape.Of(3, 5));
        var b = Input(_rng, tb ? Shape.Of(4, 5) : Shape.Of(5, 4));
        Check(() => Tensor.Matmul(a, b, ta, tb), a, b);
        var big = Input(_rng, ta ? Shape.Of(40, 33) : Shape.Of(33, 40));
        var big2 = Input(_rng, tb ? Shape.Of(35, 40) : Shape.Of(40, 35));
        Check(() => Tensor.Matmul(big, big2, ta, tb), big, big2);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void BatchedMatmul(bool ta, bool tb)
    {
        var a = Input(_rng, ta ? Shape.Of(3, 5, 4) : Shape.Of(3, 4, 5));
        var b = Input(_rng, tb ? Shape.Of(3, 6, 5) : Shape.Of(3, 5, 6));
        var shared = Input(_rng, tb ? Shape.Of(6, 5) : Shape.Of(5, 6));
        Check(() => Tensor.BatchedMatmul(a, b, ta, tb), a, b);
        Check(() => Tensor.BatchedMatmul(a, shared, ta, tb), a, shared);
        var a4 = Input(_rng, 2, 2, 3, 4);
        var b4 = Input(_rng, 2, 2, 4, 3);
        Check(() => Tensor.BatchedMatmul(a4, b4), a4, b4);
    }

    [Theory]
    [InlineData(Activation.None)]
    [InlineData(Activation.Relu)]
    [InlineData(Activation.LeakyRelu)]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Sigmoid)]
    [InlineData(Activation.Elu)]
    [InlineData(Activation.Gelu)]
    [InlineData(Activation.Mish)]
    [InlineData(Activation.Softplus)]
    public void LinearFused(Activation act)
    {
        var x = Input(_rng, 6, 5);
        var w = Input(_rng, 4, 5);
        var b = Input(_rng, 4);
        Check(() => Tensor.Linear(x, w, b, act), x, w, b);
        var x3 = Input(_rng, 2, 3, 5);
        Check(() => Tensor.Linear(x3, w, null, act), x3, w);
    }

    [Theory]
    [InlineData(false, Activation.Relu)]
    [InlineData(true, Activation.Tanh)]
    [InlineData(false, Activation.Gelu)]
    public void EnsembleLinear(bool shared, Activation act)
    {
        var x = shared ? Input(_rng, 6, 5) : Input(_rng, 3, 6, 5);
        var w = Input(_rng, 3, 5, 4);
        var b = Input(_rng, 3, 4);
        Check(() => Tensor.EnsembleLinear(x, w, b, act), x, w, b);
    }

    /// <summary>Without a gradient recorded, SiLU is applied inside the product's member loop: the same values as the taped op.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EnsembleLinearSiluWithoutATapeEqualsTheTapedOne(bool shared)
    {
        var x = shared ? Input(_rng, 70, 5) : Input(_rng, 3, 70, 5);
        var w = Input(_rng, 3, 5, 90);
        var b = Input(_rng, 3, 90);
        using var scope = TensorScope.Begin();
        var taped = Tensor.EnsembleLinear(x, w, b, Activation.Silu).Data.Take(3 * 70 * 90).ToArray();
        float[] untaped;
        using (Tensor.NoGrad()) untaped = Tensor.EnsembleLinear(x, w, b, Activation.Silu).Data.Take(3 * 70 * 90).ToArray();
        Assert.Equal(taped, untaped);
    }

    [Fact]
    public void LayerNormDropoutEmbedding()
    {
        var x = Input(_rng, 4, 6);
        var g = Input(_rng, 6);
        var b = Input(_rng, 6);
        Check(() => Tensor.LayerNorm(x, g, b), x, g, b);
        Check(() => Tensor.LayerNorm(x, null, null), x);
        Check(() => x.Dropout(0.3f, new Rng(5)), x);   // same seed each call: same mask
        var table = Input(_rng, 7, 3);
        Check(() => Tensor.Embedding(table, [1, 6, 1, 0, 3, 1], new Shape(2, 3)), table);
    }

    /// <summary>
    /// The layer norm's per-member scales and shifts against finite differences, and its fused ReLU against the norm
    /// followed by a ReLU (values and gradients: finite differences across the ReLU's kink are not a fair judge), at
    /// widths on and off the SIMD width (the vector loops and their tails), shared and per-member affine.
    /// </summary>
    [Theory]
    [InlineData(6)]
    [InlineData(16)]
    [InlineData(19)]
    public void LayerNormWithFusedReluAndPerMemberAffine(int n)
    {
        var x = Input(_rng, 3, 5, n);
        var g = Input(_rng, 3, 1, n);
        var b = Input(_rng, 3, 1, n);
        var shared = Input(_rng, n);
        Check(() => Tensor.LayerNorm(x, g, b), x, g, b);
        foreach (var (gamma, beta) in new[] { (g, b), (shared, (Tensor?)null) })
        {
            Tensor[] ps = beta is null ? [x, gamma] : [x, gamma, beta];
            float[][] Run(bool fused)
            {
                using var scope = TensorScope.Begin();
                foreach (var p in ps) p.ZeroGrad();
                var y = fused ? Tensor.LayerNorm(x, gamma, beta, activation: Activation.Relu) : Tensor.LayerNorm(x, gamma, beta).Relu();
                var w = new float[y.Size];
                new Rng(3).FillUniform(w, -1f, 1f);
                y.Backward(w);
                return [y.Data.Take(y.Size).ToArray(), .. ps.Select(p => p.Grad!.ToArray())];
            }
            var (a, c) = (Run(fused: false), Run(fused: true));
            for (int k = 0; k < a.Length; k++)
                for (int i = 0; i < a[k].Length; i++)
                    Assert.True(Math.Abs(a[k][i] - c[k][i]) <= 1e-5f * (1 + Math.Abs(a[k][i])), $"n {n}, {(beta is null ? "shared" : "per member")}, array {k} element {i}: {a[k][i]} vs fused {c[k][i]}");
        }
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndScalesInTraining()
    {
        var x = Tensor.Full(new Shape(10000), 1f);
        Assert.Same(x, x.Dropout(0.5f, new Rng(1), training: false));
        var y = x.Dropout(0.25f, new Rng(1));
        int zeros = y.Data.Count(v => v == 0f);
        Assert.InRange(zeros, 2300, 2700);
        Assert.All(y.Data.Where(v => v != 0f), v => Assert.Equal(1f / 0.75f, v, 5));
    }

    [Fact]
    public void DetachAndNoGradStopGradients()
    {
        var x = Input(_rng, 3);
        var y = (x * x.Detach()).Sum();
        y.Backward();
        for (int i = 0; i < 3; i++) Assert.Equal(x.Data[i], x.Grad![i], 5);   // d(x * c)/dx = c
        using (Tensor.NoGrad()) Assert.False((x * 2f).RequiresGrad);
        Assert.True((x * 2f).RequiresGrad);
    }

    [Fact]
    public void GradientsAccumulateAcrossUsesAndScopesReuseBuffers()
    {
        var x = Input(_rng, 4);
        using (TensorScope.Begin())
        {
            var y = (x * 2f + x.Square()).Sum();   // dy/dx = 2 + 2x
            y.Backward();
        }
        for (int i = 0; i < 4; i++) Assert.Equal(2 + 2 * x.Data[i], x.Grad![i], 4);
    }
}
