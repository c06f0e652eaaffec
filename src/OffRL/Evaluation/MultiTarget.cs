using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>A contextual bandit that can be sampled: contexts, and a reward for any action (synthetic or simulated).</summary>
public interface IBanditSimulator
{
    int ContextDim { get; }
    int Actions { get; }
    void SampleContext(Rng rng, Span<float> context);
    double SampleReward(ReadOnlySpan<float> context, int action, Rng rng);
}

/// <summary>
/// Estimating the values of several target policies from one sample, after Demange-Chryst, Bachoc &amp; Morio,
/// "Efficient estimation of multiple expectations with the same sample by adaptive importance sampling and control
/// variates". Two parts:
/// (1) control variates: under the sampling policy q every h_k = pi_k / q - 1 has mean zero, so for target j
///     V_j = mean(w_j r) - beta_j' mean(h), with beta_j the least-squares coefficients of w_j r on h (the intercept of that
///     regression); this applies to fixed logs too (q = the logging policy);
/// (2) adaptive importance sampling: when the data can still be collected, sample in stages from
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
        var xtx = new double[p, p];
        var row = new double[p];
        for (int i = 0; i < n; i++)
        {
            row[0] = 1;
            for (int k = 0; k < J; k++) row[k + 1] = w[k][i] - 1;
            for (int a = 0; a < p; a++) for (int b = 0; b < p; b++) xtx[a, b] += row[a] * row[b];
        }
        for (int a = 1; a < p; a++) xtx[a, a] += 1e-8 * n;   // keeps the system solvable when some h_k are collinear
        xtx[0, 0] += 1e-12;
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
            cv[j] = Linalg.SolveSpd(xtx, xty)[0];   // intercept = mean(y) - beta' mean(h)
        }
        return (plain, cv);
    }

    /// <summary>
    /// Adaptive IS with control variates: <paramref name="stages"/> stages of <paramref name="perStage"/> draws each.
    /// Targets give pi_j(.|x) into a span of length Actions. Returns the pooled control-variate estimate per target.
    /// </summary>
    public static double[] Adaptive(IBanditSimulator sim, IReadOnlyList<Action<float[], float[]>> targets, int stages, int perStage, Rng rng, double defensive = 0.1)
    {
        int J = targets.Count, A = sim.Actions, n = stages * perStage;
        var r = new double[n];
        var w = new double[J][];
        for (int j = 0; j < J; j++) w[j] = new double[n];
        var x = new float[sim.ContextDim];
        var pi = new float[J][];
        for (int j = 0; j < J; j++) pi[j] = new float[A];
        var q = new float[A];
        var m2 = new double[A]; var cnt = new double[A];   // running E[r^2 | a]
        var v = new double[J];
        Array.Fill(v, 1.0);
        int i = 0;
        for (int t = 0; t < stages; t++)
        {
            for (int s = 0; s < perStage; s++, i++)
            {
                sim.SampleContext(rng, x);
                for (int j = 0; j < J; j++) targets[j](x, pi[j]);
                double z = 0;
                for (int a = 0; a < A; a++)
                {
                    double mom = t == 0 ? 1 : (cnt[a] > 0 ? m2[a] / cnt[a] : 1) + 1e-6;
                    double acc = 0;
                    for (int j = 0; j < J; j++) acc += pi[j][a] * (double)pi[j][a] * mom / (v[j] * v[j]);
                    q[a] = (float)Math.Sqrt(acc);
                    z += q[a];
                }
                for (int a = 0; a < A; a++) q[a] = (float)(defensive / A + (1 - defensive) * (z > 0 ? q[a] / z : 1.0 / A));
                int act = rng.Categorical(q);
                r[i] = sim.SampleReward(x, act, rng);
                for (int j = 0; j < J; j++) w[j][i] = pi[j][act] / q[act];
                m2[act] += r[i] * r[i] / q[act]; cnt[act] += 1 / q[act];   // importance-weighted per-action second moment
            }
            // Update the target values used in the next proposal (control-variate estimate on everything so far).
            var (_, cvSoFar) = Estimate(r[..i], Array.ConvertAll(w, a => a[..i]));
            for (int j = 0; j < J; j++) v[j] = Math.Max(Math.Abs(cvSoFar[j]), 1e-3);
        }
        return Estimate(r, w).ControlVariates;
    }
}
