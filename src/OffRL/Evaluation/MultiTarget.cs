using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>
/// Estimating the values of several target policies from one sample, after Demange-Chryst, Bachoc &amp; Morio,
/// "Efficient estimation of multiple expectations with the same sample by adaptive importance sampling and control
/// variates". Two parts:
/// (1) control variates: under the sampling policy q every h_k = pi_k / q - 1 has mean zero, so for target j
///     V_j = mean(w_j r) - beta_j' mean(h), with beta_j the least-squares coefficients of w_j r on h (the intercept of that
///     regression); this applies to fixed logs too (q = the logging policy);
/// (2) adaptive importance sampling (<c>Bandits.AdaptiveMultiTargetIs</c>, which samples a simulator): when the data can still be collected, sample in stages from
///     q_t(a|x) proportional to sqrt(sum_j pi_j(a|x)^2 m(x,a) / V_j^2), the proposal that minimizes the sum of the targets'
///     relative variances, with m(a) = E[r^2 | a] and V_j estimated from earlier stages, mixed with a defensive uniform
///     share; all stages are pooled with their own weights and the control variates.
/// </summary>
public static class MultiTargetIs
{
    /// <summary>Per target: plain IS and the control-variate estimate, given rewards and each target's weights w[j][i].</summary>
    public static (double[] Plain, double[] ControlVariates) Estimate(double[] r, double[][] w)
    {
        int J = w.Length, n = r.Length;
        var plain = new double[J]; var cv = new double[J];
        // Regressors: 1 and h_k = w_k - 1 for k = 1..J (one dropped when they are collinear: sum of ratios of a mixture).
        int p = J + 1;
        var ne = new NormalEquations(p);
        var row = new double[p];
        for (int i = 0; i < n; i++)
        {
            row[0] = 1;
            for (int k = 0; k < J; k++) row[k + 1] = w[k][i] - 1;
            ne.Add(row);
        }
        ne.AddRidge(1e-8 * n, from: 1);   // keeps the system solvable when some h_k are collinear
        ne.AddRidge(1e-12, from: 0, to: 1);
        for (int j = 0; j < J; j++)
        {
            var xty = new double[p];
            double s = 0;
            for (int i = 0; i < n; i++)
            {
                double y = w[j][i] * r[i];
                s += y;
                xty[0] += y;
                for (int k = 0; k < J; k++) xty[k + 1] += (w[k][i] - 1) * y;
            }
            plain[j] = s / n;
            cv[j] = ne.Solve(xty)[0];   // intercept = mean(y) - beta' mean(h)
        }
        return (plain, cv);
    }
}
