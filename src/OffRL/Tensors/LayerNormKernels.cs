using System.Numerics;

namespace OffRL.Tensors;

/// <summary>
/// The per-row loops of <see cref="Tensor.LayerNorm"/>: each row's centring, scaling, shift and ReLU, and its gradient,
/// in as few passes over the row as the arithmetic allows (a network's rows are short, 64 to 1024 values, so the cost
/// is the number of passes and calls, not the arithmetic). SIMD of the machine's vector width; a span that is empty
/// stands for "none" (no scale: 1, no shift: 0, no gradient wanted).
/// </summary>
internal static class LayerNormKernels
{
    private static readonly int W = Vector<float>.Count;

    /// <summary>y = x - mean; returns the sum of y^2.</summary>
    public static float CenterAndSquares(ReadOnlySpan<float> x, float mean, Span<float> y)
    {
        int n = x.Length, i = 0;
        var m = new Vector<float>(mean);
        var acc = Vector<float>.Zero;
        for (; i <= n - W; i += W)
        {
            var d = new Vector<float>(x[i..]) - m;
            d.CopyTo(y[i..]);
            acc += d * d;
        }
        float s = Vector.Sum(acc);
        for (; i < n; i++) { float d = x[i] - mean; y[i] = d; s += d * d; }
        return s;
    }

    /// <summary>y = y rstd gamma + beta, then max(y, 0) when <paramref name="relu"/>.</summary>
    public static void ScaleShift(Span<float> y, float rstd, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, bool relu)
    {
        int n = y.Length, i = 0;
        bool hasG = !gamma.IsEmpty, hasB = !beta.IsEmpty;
        var r = new Vector<float>(rstd);
        for (; i <= n - W; i += W)
        {
            var v = new Vector<float>(y[i..]) * r;
            if (hasG) v *= new Vector<float>(gamma[i..]);
            if (hasB) v += new Vector<float>(beta[i..]);
            if (relu) v = Vector.Max(v, Vector<float>.Zero);
            v.CopyTo(y[i..]);
        }
        for (; i < n; i++)
        {
            float v = y[i] * rstd;
            if (hasG) v *= gamma[i];
            if (hasB) v += beta[i];
            y[i] = relu ? MathF.Max(v, 0f) : v;
        }
    }

    /// <summary>
    /// One row's gradient: g = dL/dy masked where the ReLU's output <paramref name="output"/> is 0 (empty: no ReLU),
    /// x^ = (x - mean) rstd, dx^ = g gamma; dx += rstd (dx^ - mean(dx^) - x^ mean(dx^ x^)); dgamma += g x^, dbeta += g.
    /// <paramref name="xhat"/> and <paramref name="dxhat"/> are scratch rows.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> gOut, ReadOnlySpan<float> output, float mean, float rstd,
        ReadOnlySpan<float> gamma, Span<float> dx, Span<float> dgamma, Span<float> dbeta, Span<float> xhat, Span<float> dxhat)
    {
        int n = x.Length, i = 0;
        bool relu = !output.IsEmpty, hasG = !gamma.IsEmpty, wantDg = !dgamma.IsEmpty, wantDb = !dbeta.IsEmpty;
        var m = new Vector<float>(mean);
        var r = new Vector<float>(rstd);
        Vector<float> s1 = Vector<float>.Zero, s2 = Vector<float>.Zero;
        for (; i <= n - W; i += W)
        {
            var xh = (new Vector<float>(x[i..]) - m) * r;
            var g = new Vector<float>(gOut[i..]);
            if (relu) g = Vector.ConditionalSelect(Vector.GreaterThan(new Vector<float>(output[i..]), Vector<float>.Zero), g, Vector<float>.Zero);
            if (wantDg) (new Vector<float>(dgamma[i..]) + g * xh).CopyTo(dgamma[i..]);
            if (wantDb) (new Vector<float>(dbeta[i..]) + g).CopyTo(dbeta[i..]);
            var d = hasG ? g * new Vector<float>(gamma[i..]) : g;
            s1 += d;
            s2 += d * xh;
            xh.CopyTo(xhat[i..]);
            d.CopyTo(dxhat[i..]);
        }
        float m1 = Vector.Sum(s1), m2 = Vector.Sum(s2);
        for (; i < n; i++)
        {
            float xh = (x[i] - mean) * rstd;
            float g = relu && !(output[i] > 0f) ? 0f : gOut[i];
            if (wantDg) dgamma[i] += g * xh;
            if (wantDb) dbeta[i] += g;
            float d = hasG ? g * gamma[i] : g;
            m1 += d; m2 += d * xh;
            xhat[i] = xh; dxhat[i] = d;
        }
        if (dx.IsEmpty) return;
        m1 /= n; m2 /= n;
        var v1 = new Vector<float>(m1);
        var v2 = new Vector<float>(m2);
        for (i = 0; i <= n - W; i += W)
            (new Vector<float>(dx[i..]) + r * (new Vector<float>(dxhat[i..]) - v1 - new Vector<float>(xhat[i..]) * v2)).CopyTo(dx[i..]);
        for (; i < n; i++) dx[i] += rstd * (dxhat[i] - m1 - xhat[i] * m2);
    }

    /// <summary>The shared scale's and shift's gradients over all rows, in row order (one gamma and beta for every row).</summary>
    public static void ParamRows(float[] x, float[] gOut, float[]? output, float[] stats, int n, int rows, float[]? dgamma, float[]? dbeta)
    {
        var xhat = n <= 1024 ? stackalloc float[n] : new float[n];
        var scratch = n <= 1024 ? stackalloc float[n] : new float[n];
        for (int r = 0; r < rows; r++)
            Backward(x.AsSpan(r * n, n), gOut.AsSpan(r * n, n), output is null ? default : output.AsSpan(r * n, n), stats[2 * r], stats[2 * r + 1],
                default, default, dgamma ?? default, dbeta ?? default, xhat, scratch);
    }
}
