namespace OffRL.Data;

/// <summary>Per-column statistics of a row-major [rows, width] array (double accumulation).</summary>
public static class ColumnStats
{
    public static (double[] Mean, double[] Std) MeanStd(ReadOnlySpan<float> v, int width)
    {
        var m = new double[width]; var sq = new double[width];
        int n = width == 0 ? 0 : v.Length / width;
        for (int i = 0; i < v.Length; i++) { m[i % width] += v[i]; sq[i % width] += (double)v[i] * v[i]; }
        var std = new double[width];
        for (int j = 0; j < width; j++)
        {
            m[j] /= Math.Max(1, n);
            std[j] = Math.Sqrt(Math.Max(0, sq[j] / Math.Max(1, n) - m[j] * m[j]));
        }
        return (m, std);
    }
}
