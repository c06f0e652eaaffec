namespace OffRL;

/// <summary>Small dense linear algebra in double precision.</summary>
public static class Linalg
{
    /// <summary>
    /// Lower Cholesky factor L (row-major n x n) of a symmetric positive definite A (row-major); A = L L'. A pivot that is
    /// not positive throws, or with <paramref name="clampPivots"/> is raised to 1e-12 (for matrices that are positive
    /// definite up to rounding, such as an inverse kept by rank-one updates).
    /// </summary>
    public static double[] Cholesky(ReadOnlySpan<double> a, int n, bool clampPivots = false)
    {
        if (a.Length != n * n) throw new ArgumentException($"cholesky: matrix has {a.Length} entries, expected {n}x{n}");
        var l = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
                if (i == j)
                {
                    if (s <= 0 && !clampPivots) throw new InvalidOperationException($"matrix is not positive definite (pivot {i} = {s})");
                    l[i * n + i] = Math.Sqrt(Math.Max(s, 1e-12));
                }
                else l[i * n + j] = s / l[j * n + j];
            }
        return l;
    }

    /// <summary>Solve L L' x = b given the lower Cholesky factor L (row-major n x n).</summary>
    public static double[] CholeskySolve(ReadOnlySpan<double> l, int n, ReadOnlySpan<double> b)
    {
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = b[i];
            for (int k = 0; k < i; k++) s -= l[i * n + k] * y[k];
            y[i] = s / l[i * n + i];
        }
        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double s = y[i];
            for (int k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
            x[i] = s / l[i * n + i];
        }
        return x;
    }
}

/// <summary>
/// Least squares by the normal equations: accumulate X'X and X'y one (optionally weighted) row at a time, add a ridge,
/// solve by Cholesky. The factor is kept, so several right-hand sides (FQE's iterations, one per target) cost one
/// factorization. Every ridge, linear-FQE and control-variate regression in OffRL goes through it.
/// </summary>
public sealed class NormalEquations
{
    private readonly double[] _xtx;
    private double[]? _chol;
    public int Width { get; }
    /// <summary>X'y of the rows added so far.</summary>
    public double[] Xty { get; }

    public NormalEquations(int width)
    {
        Width = width;
        _xtx = new double[width * width];
        Xty = new double[width];
    }

    /// <summary>Add a row x with target y and weight w: X'X += w x x', X'y += w x y.</summary>
    public void Add(ReadOnlySpan<double> x, double y = 0, double weight = 1)
    {
        int p = Width;
        _chol = null;
        for (int a = 0; a < p; a++)
        {
            double wa = weight * x[a];
            if (wa == 0) continue;
            Xty[a] += wa * y;
            for (int b = 0; b < p; b++) _xtx[a * p + b] += wa * x[b];
        }
    }

    /// <summary>Add lambda to the diagonal entries from..to-1 (from 1 leaves an intercept unpenalized; default: all).</summary>
    public void AddRidge(double lambda, int from = 0, int to = -1)
    {
        _chol = null;
        for (int a = from; a < (to < 0 ? Width : to); a++) _xtx[a * Width + a] += lambda;
    }

    /// <summary>Forget the rows (a new Newton step on the same shape).</summary>
    public void Clear()
    {
        _chol = null;
        Array.Clear(_xtx);
        Array.Clear(Xty);
    }

    /// <summary>The coefficients for the accumulated X'y.</summary>
    public double[] Solve() => Solve(Xty);

    /// <summary>The coefficients for another right-hand side with the same X'X.</summary>
    public double[] Solve(ReadOnlySpan<double> rhs)
    {
        int n = Width;
        if (n == 0) return [];
        var l = _chol ??= Linalg.Cholesky(_xtx, n);
        return Linalg.CholeskySolve(l, n, rhs);
    }
}
