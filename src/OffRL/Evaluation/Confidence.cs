using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>How an interval around an estimate is built.</summary>
public enum CiMethod { Bootstrap, Normal, StudentT, Hoeffding, Bernstein }

/// <summary>An interval at level 1 - alpha.</summary>
public readonly record struct Interval(double Low, double High);

/// <summary>
/// Confidence intervals. The bootstrap works for any estimator (it re-evaluates the estimator on resampled rows or
/// episodes). The closed forms are for estimators that are a mean of per-row (per-episode) terms; Hoeffding and
/// empirical Bernstein take the range b of the terms from the sample (max - min), as SCOPE-RL does, since the a-priori
/// range of importance-weighted terms is rarely known.
/// </summary>
public static class Confidence
{
    /// <summary>Percentile bootstrap over <paramref name="n"/> units: the estimator is called with resampled indices.</summary>
    public static Interval Bootstrap(Func<int[], double> estimator, int n, int resamples, double alpha, Rng rng)
    {
        if (n == 0) return new(double.NaN, double.NaN);
        var stats = new double[resamples];
        var idx = new int[n];
        for (int b = 0; b < resamples; b++)
        {
            for (int i = 0; i < n; i++) idx[i] = rng.NextInt(n);
            stats[b] = estimator(idx);
        }
        Array.Sort(stats);
        return new(Quantile(stats, alpha / 2), Quantile(stats, 1 - alpha / 2));
    }

    /// <summary>Closed-form interval for the mean of <paramref name="terms"/>.</summary>
    public static Interval ForMean(ReadOnlySpan<double> terms, CiMethod method, double alpha)
    {
        int n = terms.Length;
        if (n < 2) return new(double.NaN, double.NaN);
        double mean = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var t in terms) { mean += t; min = Math.Min(min, t); max = Math.Max(max, t); }
        mean /= n;
        double ss = 0;
        foreach (var t in terms) ss += (t - mean) * (t - mean);
        double var = ss / (n - 1), b = max - min, logTerm = Math.Log(2 / alpha);
        double half = method switch
        {
            CiMethod.Normal => NormalQuantile(1 - alpha / 2) * Math.Sqrt(var / n),
            CiMethod.StudentT => StudentTQuantile(1 - alpha / 2, n - 1) * Math.Sqrt(var / n),
            CiMethod.Hoeffding => b * Math.Sqrt(logTerm / (2.0 * n)),
            // Empirical Bernstein (Maurer & Pontil 2009, Thm 4): sqrt(2 V ln(2/delta) / n) + 7 b ln(2/delta) / (3 (n - 1)).
            CiMethod.Bernstein => Math.Sqrt(2 * var * logTerm / n) + 7 * b * logTerm / (3.0 * (n - 1)),
            _ => throw new ArgumentException($"{method} is not a closed-form interval"),
        };
        return new(mean - half, mean + half);
    }

    /// <summary>Kish's effective sample size of importance weights: (sum w)^2 / sum w^2.</summary>
    public static double EffectiveSampleSize(ReadOnlySpan<double> w)
    {
        double s = 0, s2 = 0;
        foreach (var x in w) { s += x; s2 += x * x; }
        return s2 > 0 ? s * s / s2 : 0;
    }

    public static double Quantile(double[] sorted, double q)
    {
        if (sorted.Length == 0) return double.NaN;
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(sorted.Length - 1, lo + 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>Inverse standard normal CDF (Acklam's rational approximation, relative error below 1.2e-9 after one refinement).</summary>
    public static double NormalQuantile(double p)
    {
        if (p <= 0) return double.NegativeInfinity;
        if (p >= 1) return double.PositiveInfinity;
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        double x;
        if (p < 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        else if (p <= 1 - 0.02425)
        {
            double q = p - 0.5, r = q * q;
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
        }
        else
        {
            double q = Math.Sqrt(-2 * Math.Log(1 - p));
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        // One Halley step on the exact CDF.
        double e = 1 - GaussianPolicy.NormalTail(x) - p;
        double u = e * Math.Sqrt(2 * Math.PI) * Math.Exp(x * x / 2);
        return x - u / (1 + x * u / 2);
    }

    /// <summary>Student-t quantile by the Cornish-Fisher expansion around the normal quantile (accurate to ~1e-4 for df >= 5).</summary>
    public static double StudentTQuantile(double p, double df)
    {
        double z = NormalQuantile(p), z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
        return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df * df) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df * df * df);
    }
}
