using OffRL.Evaluation;
using OffRL.Tensors;

namespace OffRL.Bandits;

/// <summary>
/// The adaptive half of <see cref="MultiTargetIs"/>: while data can still be collected from a bandit, sample in stages
/// from the proposal that minimizes the targets' summed relative variances, and pool all stages with control variates.
/// </summary>
public static class AdaptiveMultiTargetIs
{
    /// <summary>
    /// Adaptive IS with control variates: <paramref name="stages"/> stages of <paramref name="perStage"/> draws each.
    /// Targets give pi_j(.|x) into a span with one entry per action of the simulator. Returns the pooled control-variate estimate per target.
    /// </summary>
    public static double[] Run(IBanditEnvironment sim, IReadOnlyList<Action<float[], float[]>> targets, int stages, int perStage, Rng rng, double defensive = 0.1)
    {
        int J = targets.Count, A = sim.ActionIds.Count, n = stages * perStage;
        var r = new double[n];
        var w = new double[J][];
        for (int j = 0; j < J; j++) w[j] = new double[n];
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
                var c = sim.Next(rng);
                if (c.Count != A) throw new ArgumentException($"{sim.Name}: adaptive sampling needs every action offered at each step ({c.Count} of {A} were)");
                var x = c.Context;
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
                r[i] = sim.Pull(c, act, rng);
                for (int j = 0; j < J; j++) w[j][i] = pi[j][act] / q[act];
                m2[act] += r[i] * r[i] / q[act]; cnt[act] += 1 / q[act];   // importance-weighted per-action second moment
            }
            // Update the target values used in the next proposal (control-variate estimate on everything so far).
            var (_, cvSoFar) = MultiTargetIs.Estimate(r[..i], Array.ConvertAll(w, a => a[..i]));
            for (int j = 0; j < J; j++) v[j] = Math.Max(Math.Abs(cvSoFar[j]), 1e-3);
        }
        return MultiTargetIs.Estimate(r, w).ControlVariates;
    }
}
