namespace OffRL;

/// <summary>
/// Running mean and variance per column, merged batch by batch (Chan et al.'s parallel update, as Gymnasium's
/// RunningMeanStd: mean 0, variance 1 and a count of 1e-4 before the first batch, population variance per batch).
/// The observation and return normalizers of on-policy learners (PPO's NormalizeObservation and NormalizeReward).
/// </summary>
public sealed class RunningMeanStd
{
    public double[] Mean { get; }
    public double[] Var { get; }
    public double Count { get; private set; } = 1e-4;
    public int Width => Mean.Length;

    public RunningMeanStd(int width)
    {
        Mean = new double[width];
        Var = new double[width];
        Array.Fill(Var, 1.0);
    }

    /// <summary>Merges <paramref name="rows"/> rows of <see cref="Width"/> values each (row-major).</summary>
    public void Update(ReadOnlySpan<float> batch, int rows)
    {
        int w = Width;
        if (batch.Length != rows * w) throw new ArgumentException($"running stats: {batch.Length} values for {rows} rows of width {w}");
        double total = Count + rows;
        for (int j = 0; j < w; j++)
        {
            double m = 0;
            for (int i = 0; i < rows; i++) m += batch[i * w + j];
            m /= rows;
            double v = 0;
            for (int i = 0; i < rows; i++) { double d = batch[i * w + j] - m; v += d * d; }
            v /= rows;
            double delta = m - Mean[j];
            Mean[j] += delta * rows / total;
            Var[j] = (Var[j] * Count + v * rows + delta * delta * Count * rows / total) / total;
        }
        Count = total;
    }

    /// <summary>Writes the means and sqrt(var + eps) per column (Gymnasium's normalizers: eps 1e-8).</summary>
    public void CopyTo(Span<float> mean, Span<float> std, double eps = 1e-8)
    {
        for (int j = 0; j < Width; j++)
        {
            mean[j] = (float)Mean[j];
            std[j] = (float)Math.Sqrt(Var[j] + eps);
        }
    }

    /// <summary>The state a checkpoint keeps: count, then the means, then the variances.</summary>
    public double[] State() => [Count, .. Mean, .. Var];

    public void SetState(double[] s, string source)
    {
        if (s.Length != 1 + 2 * Width) throw new DataException($"running statistics of {s.Length} values, expected {1 + 2 * Width}", source);
        if (Array.FindIndex(s, x => !double.IsFinite(x)) is var bad and >= 0) throw new DataException($"running statistic {bad} is {s[bad]}", source);
        Count = s[0];
        s.AsSpan(1, Width).CopyTo(Mean);
        s.AsSpan(1 + Width, Width).CopyTo(Var);
    }
}
