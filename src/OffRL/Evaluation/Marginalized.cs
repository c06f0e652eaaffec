using OffRL.Data;

namespace OffRL.Evaluation;

/// <summary>
/// Marginalized importance sampling with state-action density ratios w(s,a) = d_pi(s,a) / d_D(s,a), learned by the
/// DualDICE saddle point (Nachum et al. 2019, eq. 9: min_nu max_zeta E_D[(nu - gamma nu') zeta - zeta^2/2] - (1-gamma) E_0[nu])
/// over linear nu = theta'phi and zeta = psi'phi. Its stationarity conditions give zeta = w directly:
/// E_D[(phi - gamma (1-done) phi'_pi) phi'] psi = (1 - gamma) E_0[phi_pi], solved here by least squares.
/// The estimate is V = E_D[w r] / (1 - gamma). With one-hot (tabular) features this is the value of the empirical MDP.
/// </summary>
public static class Marginalized
{
    public sealed record Result(double Value, double[] Weights, bool[] Used);

    public static Result Fit(OpeData d, double ridge = 1e-8, ulong seed = 0)
    {
        if (d.Gamma >= 1) throw new ArgumentException("marginalized importance sampling needs gamma < 1");
        var data = d.Data;
        var feats = LinearFeatures.For(d, seed);
        int n = data.Count, p = feats.Dim;
        var m = new double[p, p];
        var phi = new double[p]; var phiN = new double[p]; var b = new double[p];
        var used = new bool[n];
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            bool terminal = data.Terminals[i];
            if (!terminal && !d.HasNext[i]) continue;   // cut without a next state: no flow constraint to use
            used[i] = true; count++;
            feats.Compute(data.Observation(i), data.Action(i), phi);
            if (terminal) Array.Clear(phiN); else feats.Expected(d, i, next: true, phiN);
            for (int a = 0; a < p; a++)
            {
                double da = phi[a] - d.Gamma * phiN[a];
                if (da == 0) continue;
                for (int c = 0; c < p; c++) m[a, c] += da * phi[c];   // G = E_D[(phi - gamma phi'_pi) phi^T]
            }
        }
        var init = d.InitialRows();
        foreach (var i in init)
        {
            feats.Expected(d, i, next: false, phi);
            for (int a = 0; a < p; a++) b[a] += (1 - d.Gamma) * phi[a] / init.Length;
        }
        for (int a = 0; a < p; a++) for (int c = 0; c < p; c++) m[a, c] /= count;
        // Least squares for G psi = (1 - gamma) b: (G^T G + ridge I) psi = G^T b.
        var ne = new NormalEquations(p);
        var gk = new double[p];
        for (int k = 0; k < p; k++)
        {
            for (int c = 0; c < p; c++) gk[c] = m[k, c];
            ne.Add(gk, b[k]);   // row k of G with target b_k
        }
        ne.AddRidge(ridge);
        var psi = ne.Solve();
        var w = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (!used[i]) continue;
            feats.Compute(data.Observation(i), data.Action(i), phi);
            double s = 0;
            for (int a = 0; a < p; a++) s += phi[a] * psi[a];
            w[i] = s;
        }
        return new Result(Estimate(d, w, used, null), w, used);
    }

    /// <summary>E_D[w r] / (1 - gamma) over the used rows (or a multiset of them).</summary>
    public static double Estimate(OpeData d, double[] w, bool[] used, int[]? rows)
    {
        double s = 0; int c = 0;
        int n = rows?.Length ?? w.Length;
        for (int j = 0; j < n; j++)
        {
            int i = rows is null ? j : rows[j];
            if (!used[i]) continue;
            s += w[i] * d.Data.Rewards[i]; c++;
        }
        return c == 0 ? double.NaN : s / c / (1 - d.Gamma);
    }
}
