using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OffRL.Tensors;

/// <summary>Fused SIMD kernels for activations and their derivatives (Vector256 with a scalar tail).</summary>
internal static class Simd
{
    // erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7): erf(a) = 1 - poly(t) e^{-a^2}, t = 1 / (1 + p a).
    private const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
    private const float InvSqrt2 = 0.70710678118654752f, InvSqrt2Pi = 0.39894228040143268f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Erf(float x)
    {
        float a = MathF.Abs(x), t = 1f / (1f + P * a);
        float y = 1f - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * MathF.Exp(-a * a);
        return x < 0 ? -y : y;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Erf(Vector256<float> x)
    {
        var one = Vector256.Create(1f);
        var a = Vector256.Abs(x);
        var t = one / (one + Vector256.Create(P) * a);
        var poly = ((((Vector256.Create(A5) * t + Vector256.Create(A4)) * t + Vector256.Create(A3)) * t + Vector256.Create(A2)) * t + Vector256.Create(A1)) * t;
        var y = one - poly * Vector256.Exp(-(a * a));
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), -y, y);
    }

    /// <summary>y = 0.5 x (1 + erf(x / sqrt 2)).</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var half = Vector256.Create(0.5f); var one = Vector256.Create(1f); var s = Vector256.Create(InvSqrt2);
            for (; i <= x.Length - 8; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                (half * v * (one + Erf(v * s))).CopyTo(y.Slice(i, 8));
            }
        }
        for (; i < x.Length; i++) y[i] = 0.5f * x[i] * (1f + Erf(x[i] * InvSqrt2));
    }

    /// <summary>dx += g (Phi(x) + x phi(x)).</summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> g, Span<float> dx)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var half = Vector256.Create(0.5f); var one = Vector256.Create(1f); var s = Vector256.Create(InvSqrt2); var c = Vector256.Create(InvSqrt2Pi);
            for (; i <= x.Length - 8; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                var cdf = half * (one + Erf(v * s));
                var pdf = c * Vector256.Exp(-half * v * v);
                (Vector256.Create(dx.Slice(i, 8)) + Vector256.Create(g.Slice(i, 8)) * (cdf + v * pdf)).CopyTo(dx.Slice(i, 8));
            }
        }
        for (; i < x.Length; i++)
        {
            float cdf = 0.5f * (1f + Erf(x[i] * InvSqrt2));
            float pdf = InvSqrt2Pi * MathF.Exp(-0.5f * x[i] * x[i]);
            dx[i] += g[i] * (cdf + x[i] * pdf);
        }
    }

    /// <summary>t = g * act'(y) for activations whose derivative is a function of the output y.</summary>
    public static void ActGradFromOutput(Activation act, ReadOnlySpan<float> g, ReadOnlySpan<float> y, Span<float> t)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var zero = Vector256<float>.Zero; var one = Vector256.Create(1f); var slope = Vector256.Create(0.01f);
            for (; i <= g.Length - 8; i += 8)
            {
                var gv = Vector256.Create(g.Slice(i, 8));
                var yv = Vector256.Create(y.Slice(i, 8));
                var pos = Vector256.GreaterThan(yv, zero);
                var r = act switch
                {
                    Activation.Relu => Vector256.ConditionalSelect(pos, gv, zero),
                    Activation.LeakyRelu => Vector256.ConditionalSelect(pos, gv, gv * slope),
                    Activation.Tanh => gv * (one - yv * yv),
                    Activation.Sigmoid => gv * yv * (one - yv),
                    _ => Vector256.ConditionalSelect(pos, gv, gv * (yv + one)),   // Elu (alpha 1)
                };
                r.CopyTo(t.Slice(i, 8));
            }
        }
        for (; i < g.Length; i++)
            t[i] = act switch
            {
                Activation.Relu => y[i] > 0 ? g[i] : 0f,
                Activation.LeakyRelu => y[i] > 0 ? g[i] : 0.01f * g[i],
                Activation.Tanh => g[i] * (1f - y[i] * y[i]),
                Activation.Sigmoid => g[i] * y[i] * (1f - y[i]),
                _ => y[i] > 0 ? g[i] : g[i] * (y[i] + 1f),
            };
    }
}
