using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>Weight initializers with PyTorch's definitions (torch.nn.init).</summary>
public static class Init
{
    public static void Uniform(Tensor t, float lo, float hi, Rng rng) => rng.FillUniform(t.Data, lo, hi);
    public static void Normal(Tensor t, float mean, float std, Rng rng) => rng.FillNormal(t.Data, mean, std);
    public static void Constant(Tensor t, float v) => Array.Fill(t.Data, v);

    /// <summary>trunc_normal_(t, mean, std, a, b): normal draws, each redrawn until it lies in [a, b] (absolute bounds, as torch's).</summary>
    public static void TruncatedNormal(Tensor t, float mean, float std, float a, float b, Rng rng)
    {
        if (!(a < b) || mean + 2 * std < a || mean - 2 * std > b) throw new ArgumentException($"truncated normal: [{a}, {b}] must be an interval near the mean {mean} (std {std})");
        var d = t.Data;
        for (int i = 0; i < d.Length; i++)
        {
            float v;
            do v = mean + std * (float)rng.NextNormal(); while (v < a || v > b);
            d[i] = v;
        }
    }

    /// <summary>kaiming_uniform_(w, a): bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).
    /// With a = sqrt(5) (nn.Linear's default) the bound is 1 / sqrt(fan_in).</summary>
    public static void KaimingUniform(Tensor t, int fanIn, Rng rng, double a = 2.2360679774997896)
    {
        double gain = Math.Sqrt(2.0 / (1.0 + a * a));
        float bound = (float)(gain * Math.Sqrt(3.0 / fanIn));
        rng.FillUniform(t.Data, -bound, bound);
    }

    /// <summary>xavier_uniform_: bound = gain * sqrt(6 / (fan_in + fan_out)).</summary>
    public static void XavierUniform(Tensor t, int fanIn, int fanOut, Rng rng, float gain = 1f)
    {
        float bound = gain * MathF.Sqrt(6f / (fanIn + fanOut));
        rng.FillUniform(t.Data, -bound, bound);
    }

    /// <summary>xavier_normal_: std = gain * sqrt(2 / (fan_in + fan_out)).</summary>
    public static void XavierNormal(Tensor t, int fanIn, int fanOut, Rng rng, float gain = 1f) =>
        rng.FillNormal(t.Data, 0f, gain * MathF.Sqrt(2f / (fanIn + fanOut)));

    /// <summary>orthogonal_: a (semi-)orthogonal rows x cols matrix scaled by gain, from the QR of a normal matrix with R's diagonal made positive.</summary>
    public static void Orthogonal(Tensor t, int rows, int cols, Rng rng, float gain = 1f)
    {
        if (rows * cols != t.Size) throw new ArgumentException($"orthogonal: {rows}x{cols} does not match tensor {t.Shape}");
        bool transpose = rows < cols;
        int r = transpose ? cols : rows, c = transpose ? rows : cols;   // r >= c: orthonormal columns
        var m = new double[r * c];
        for (int i = 0; i < m.Length; i++) m[i] = rng.NextNormal();
        // Modified Gram-Schmidt on the columns: Q has orthonormal columns, R's diagonal is positive.
        for (int j = 0; j < c; j++)
        {
            for (int k = 0; k < j; k++)
            {
                double dot = 0;
                for (int i = 0; i < r; i++) dot += m[i * c + j] * m[i * c + k];
                for (int i = 0; i < r; i++) m[i * c + j] -= dot * m[i * c + k];
            }
            double norm = 0;
            for (int i = 0; i < r; i++) norm += m[i * c + j] * m[i * c + j];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < r; i++) m[i * c + j] /= norm;
        }
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                t.Data[i * cols + j] = gain * (float)(transpose ? m[j * c + i] : m[i * c + j]);
    }
}
