namespace OffRL.Evaluation;

/// <summary>
/// How good an estimator is at choosing among candidate policies whose values are known (or measured separately),
/// as in SCOPE-RL (Kiyohara et al. 2023). Ties in estimated values are broken by candidate order.
/// </summary>
public sealed record OpeQuality(double Mse, double RelativeError, double NormalizedMse, double RankCorrelation,
    double[] RegretAtK, double?[] SharpeRatioAtK)
{
    /// <param name="truth">True value of each candidate.</param>
    /// <param name="estimate">Estimated value of each candidate.</param>
    /// <param name="behaviorValue">Value of the behavior (logging) policy: the baseline of SharpeRatio@k.</param>
    public static OpeQuality Compute(IReadOnlyList<double> truth, IReadOnlyList<double> estimate, double behaviorValue)
    {
        int n = truth.Count;
        if (n == 0 || estimate.Count != n) throw new ArgumentException($"need one estimate per candidate: {n} true values, {estimate.Count} estimates");
        double mse = 0, rel = 0, lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        for (int j = 0; j < n; j++)
        {
            double e = estimate[j] - truth[j];
            mse += e * e / n;
            rel += Math.Abs(e) / Math.Max(1e-12, Math.Abs(truth[j])) / n;
            lo = Math.Min(lo, truth[j]); hi = Math.Max(hi, truth[j]);
        }
        // nMSE: squared errors in units of the spread of the candidates' true values.
        double spread = hi - lo, nmse = spread > 0 ? mse / (spread * spread) : double.NaN;
        var order = Enumerable.Range(0, n).OrderByDescending(j => estimate[j]).ThenBy(j => j).ToArray();
        double best = truth.Max();
        var regret = new double[n]; var sharpe = new double?[n];
        for (int k = 1; k <= n; k++)
        {
            var top = Top(truth, order, k, behaviorValue);
            regret[k - 1] = best - top.Best;
            sharpe[k - 1] = top.SharpeRatio;
        }
        return new OpeQuality(mse, rel, nmse, Spearman(truth, estimate), regret, sharpe);
    }

    /// <summary>
    /// SCOPE-RL's risk-return measures of deploying the first k candidates of <paramref name="order"/>: best, worst, mean
    /// and std of their values, and SharpeRatio@k = (best@k - behavior value) / std@k (undefined, null, when std = 0).
    /// </summary>
    public static TopK Top(IReadOnlyList<double> values, int[] order, int k, double behaviorValue)
    {
        double best = double.NegativeInfinity, worst = double.PositiveInfinity, mean = 0;
        for (int j = 0; j < k; j++) { double v = values[order[j]]; best = Math.Max(best, v); worst = Math.Min(worst, v); mean += v / k; }
        double var = 0;
        for (int j = 0; j < k; j++) var += (values[order[j]] - mean) * (values[order[j]] - mean) / k;
        double std = Math.Sqrt(var);
        return new TopK(k, best, worst, mean, std, std > 0 ? (best - behaviorValue) / std : null);
    }

    /// <summary>Spearman's rank correlation (average ranks for ties).</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        var rx = Ranks(x); var ry = Ranks(y);
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++) { sxy += (rx[i] - mx) * (ry[i] - my); sxx += (rx[i] - mx) * (rx[i] - mx); syy += (ry[i] - my) * (ry[i] - my); }
        return sxx > 0 && syy > 0 ? sxy / Math.Sqrt(sxx * syy) : double.NaN;
    }

    private static double[] Ranks(IReadOnlyList<double> v)
    {
        var idx = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
        var r = new double[v.Count];
        for (int i = 0; i < idx.Length;)
        {
            int j = i;
            while (j + 1 < idx.Length && v[idx[j + 1]] == v[idx[i]]) j++;
            for (int k = i; k <= j; k++) r[idx[k]] = (i + j) / 2.0 + 1;
            i = j + 1;
        }
        return r;
    }
}

/// <summary>The top-k measures of <see cref="OpeQuality.Top"/>.</summary>
public sealed record TopK(int K, double Best, double Worst, double Mean, double Std, double? SharpeRatio);
