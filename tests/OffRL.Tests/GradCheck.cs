using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests;

/// <summary>Finite-difference gradient checks: analytic gradients of sum(f(x) * w) against central differences.</summary>
public static class GradCheck
{
    public static Tensor Input(Rng rng, Shape shape, float lo = -2f, float hi = 2f, float awayFromZero = 0f)
    {
        var t = Tensor.Parameter(shape);
        rng.FillUniform(t.Data, lo, hi);
        if (awayFromZero > 0)
            for (int i = 0; i < t.Size; i++) t.Data[i] = MathF.Sign(t.Data[i] == 0 ? 1 : t.Data[i]) * (MathF.Abs(t.Data[i]) + awayFromZero);
        return t;
    }

    public static Tensor Input(Rng rng, params int[] dims) => Input(rng, Shape.Of(dims));

    public static void Check(Func<Tensor> f, params Tensor[] inputs) => Check(f, 5e-3f, 1e-2, inputs);

    public static void Check(Func<Tensor> f, float h, double tol, params Tensor[] inputs)
    {
        var rng = new Rng(12345);
        float[] w;
        float[][] analytic;
        using (TensorScope.Begin())
        {
            foreach (var x in inputs) x.ZeroGrad();
            var y = f();
            w = new float[y.Size];
            rng.FillUniform(w, -1f, 1f);
            y.Backward(w);
            analytic = inputs.Select(x => x.GradTouched && x.Grad is not null ? (float[])x.Grad.Clone() : new float[x.Size]).ToArray();
        }
        double Loss()
        {
            using (TensorScope.Begin())
            using (Tensor.NoGrad())
            {
                var y = f();
                double s = 0;
                for (int i = 0; i < y.Size; i++) s += (double)y.Data[i] * w[i];
                return s;
            }
        }
        for (int k = 0; k < inputs.Length; k++)
        {
            var x = inputs[k];
            int n = x.Size;
            int stride = Math.Max(1, n / 25);   // at most ~25 probes per input
            for (int i = 0; i < n; i += stride)
            {
                float orig = x.Data[i];
                x.Data[i] = orig + h; double lp = Loss();
                x.Data[i] = orig - h; double lm = Loss();
                x.Data[i] = orig;
                double num = (lp - lm) / (2 * h);
                double an = analytic[k][i];
                Assert.True(Math.Abs(num - an) <= tol * (1 + Math.Abs(num)),
                    $"input {k} element {i}: analytic {an:G6} vs numeric {num:G6}");
            }
        }
    }
}
