using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>
/// What every bandit estimator reads, per logged row i: reward r_i, importance weight w_i = pi(a_i|x_i,k_i) / pi_0(a_i|x_i,k_i),
/// the reward model at the logged action qhat(x_i,a_i,k_i), and its expectation under the target, sum_a pi(a|x_i,k_i) qhat(x_i,a,k_i).
/// Slates are handled as in the Open Bandit Pipeline: the position k_i is part of the action, so the weight uses the
/// target's probability of the logged item at the logged position.
/// </summary>
public sealed class BanditOpeInputs
{
    public double[] R { get; }
    public double[] W { get; }
    public double[] QFactual { get; }
    public double[] QPi { get; }
    public int Count => R.Length;
    public bool HasRewardModel { get; }

    public BanditOpeInputs(double[] r, double[] w, double[]? qFactual = null, double[]? qPi = null)
    {
        if (w.Length != r.Length) throw new ArgumentException($"weights ({w.Length}) and rewards ({r.Length}) differ in length");
        R = r; W = w;
        HasRewardModel = qFactual is not null && qPi is not null;
        QFactual = qFactual ?? new double[r.Length];
        QPi = qPi ?? new double[r.Length];
    }

    /// <summary>Inputs from logs, the target's action distribution and (optionally) predicted rewards [rows, actions, positions].</summary>
    public static BanditOpeInputs From(BanditFeedback logs, ActionDistribution target, float[]? qhat = null)
    {
        if (target.Rows != logs.Count || target.Actions != logs.Actions || target.Positions != logs.Positions)
            throw new ArgumentException($"target action distribution is {target.Rows}x{target.Actions}x{target.Positions}, the logs need {logs.Count}x{logs.Actions}x{logs.Positions}");
        int n = logs.Count, A = logs.Actions, P = logs.Positions;
        var r = new double[n]; var w = new double[n];
        var qf = qhat is null ? null : new double[n];
        var qpi = qhat is null ? null : new double[n];
        for (int i = 0; i < n; i++)
        {
            int a = logs.Action[i], k = logs.Position[i];
            r[i] = logs.Reward[i];
            w[i] = target[i, a, k] / (double)logs.Propensity[i];
            if (qhat is null) continue;
            qf![i] = qhat[(i * A + a) * P + k];
            double s = 0;
            for (int b = 0; b < A; b++) s += target[i, b, k] * (double)qhat[(i * A + b) * P + k];
            qpi![i] = s;
        }
        return new BanditOpeInputs(r, w, qf, qpi);
    }
}

/// <summary>One estimate with its uncertainty and importance-weight diagnostics.</summary>
public sealed record OpeEstimate(string Estimator, double Estimate, double CiLow, double CiHigh, string CiMethod,
    double EffectiveSampleSize, double MaxWeight, int N, double? Hyperparameter = null, string? Warning = null)
{
    public bool Covers(double truth) => CiLow <= truth && truth <= CiHigh;
}

/// <summary>A bandit off-policy estimator. Mean-type estimators are the average of per-row terms.</summary>
public abstract class BanditEstimator
{
    public abstract string Name { get; }
    public virtual bool NeedsRewardModel => false;
    public virtual bool UsesWeights => true;

    /// <summary>The estimate on a subset (with repetition) of rows; all rows when <paramref name="rows"/> is null.</summary>
    public abstract double Estimate(BanditOpeInputs x, int[]? rows = null);

    /// <summary>Per-row terms whose mean is the estimate, or null for ratio (self-normalized) estimators.</summary>
    public virtual double[]? Terms(BanditOpeInputs x) => null;

    /// <summary>Tuned hyperparameter, if the estimator has one.</summary>
    public virtual double? Hyperparameter => null;

    /// <summary>Called once on the full data before estimating (data-driven hyperparameters).</summary>
    public virtual void Prepare(BanditOpeInputs x) { }

    protected static int Len(BanditOpeInputs x, int[]? rows) => rows?.Length ?? x.Count;
    protected static int Row(int[]? rows, int j) => rows is null ? j : rows[j];

    public static BanditEstimator ByName(string name) => name.ToLowerInvariant() switch
    {
        "dm" => new DirectMethod(),
        "ips" => new Ips(),
        "snips" => new SnIps(),
        "dr" => new DoublyRobust(),
        "sndr" => new SnDr(),
        "switch-dr" or "switchdr" or "switch" => new SwitchDr(),
        "dr-os" or "dros" => new DrOs(),
        "clipped-ips" or "cips" or "clippedips" => new ClippedIps(),
        _ => throw new ArgumentException($"estimator '{name}': expected one of dm, ips, snips, dr, sndr, switch-dr, dr-os, clipped-ips"),
    };

    public static readonly string[] All = ["dm", "ips", "snips", "dr", "sndr", "switch-dr", "dr-os", "clipped-ips"];
}

/// <summary>Estimators that average per-row terms.</summary>
public abstract class MeanEstimator : BanditEstimator
{
    protected abstract double Term(BanditOpeInputs x, int i);

    public override double Estimate(BanditOpeInputs x, int[]? rows = null)
    {
        int n = Len(x, rows);
        double s = 0;
        for (int j = 0; j < n; j++) s += Term(x, Row(rows, j));
        return s / n;
    }

    public override double[] Terms(BanditOpeInputs x)
    {
        var t = new double[x.Count];
        for (int i = 0; i < t.Length; i++) t[i] = Term(x, i);
        return t;
    }
}

/// <summary>Direct method: V = mean_i sum_a pi(a|x_i) qhat(x_i, a).</summary>
public sealed class DirectMethod : MeanEstimator
{
    public override string Name => "dm";
    public override bool NeedsRewardModel => true;
    public override bool UsesWeights => false;
    protected override double Term(BanditOpeInputs x, int i) => x.QPi[i];
}

/// <summary>Inverse propensity scoring: V = mean_i w_i r_i (Horvitz-Thompson; unbiased when pi_0 > 0 wherever pi > 0).</summary>
public sealed class Ips : MeanEstimator
{
    public override string Name => "ips";
    protected override double Term(BanditOpeInputs x, int i) => x.W[i] * x.R[i];
}

/// <summary>Clipped IPS: V = mean_i min(w_i, lambda) r_i (Ionides 2008; Bottou et al. 2013). lambda tuned when not given.</summary>
public sealed class ClippedIps(double? lambda = null) : TunedEstimator(lambda)
{
    public override string Name => "clipped-ips";
    protected override double Term(BanditOpeInputs x, int i, double lam) => Math.Min(x.W[i], lam) * x.R[i];
}

/// <summary>Self-normalized IPS: V = sum_i w_i r_i / sum_i w_i (Swaminathan & Joachims 2015).</summary>
public sealed class SnIps : BanditEstimator
{
    public override string Name => "snips";

    public override double Estimate(BanditOpeInputs x, int[]? rows = null)
    {
        int n = Len(x, rows);
        double num = 0, den = 0;
        for (int j = 0; j < n; j++) { int i = Row(rows, j); num += x.W[i] * x.R[i]; den += x.W[i]; }
        return den > 0 ? num / den : 0;
    }
}

/// <summary>Doubly robust: V = mean_i [ qhat_pi(x_i) + w_i (r_i - qhat(x_i, a_i)) ] (Dudik, Langford & Li 2011).</summary>
public sealed class DoublyRobust : MeanEstimator
{
    public override string Name => "dr";
    public override bool NeedsRewardModel => true;
    protected override double Term(BanditOpeInputs x, int i) => x.QPi[i] + x.W[i] * (x.R[i] - x.QFactual[i]);
}

/// <summary>Self-normalized DR: V = mean_i qhat_pi(x_i) + sum_i w_i (r_i - qhat(x_i, a_i)) / sum_i w_i.</summary>
public sealed class SnDr : BanditEstimator
{
    public override string Name => "sndr";
    public override bool NeedsRewardModel => true;

    public override double Estimate(BanditOpeInputs x, int[]? rows = null)
    {
        int n = Len(x, rows);
        double dm = 0, num = 0, den = 0;
        for (int j = 0; j < n; j++)
        {
            int i = Row(rows, j);
            dm += x.QPi[i]; num += x.W[i] * (x.R[i] - x.QFactual[i]); den += x.W[i];
        }
        return dm / n + (den > 0 ? num / den : 0);
    }
}

/// <summary>Switch-DR: the DR term where w_i &lt;= tau, the DM term alone where the weight is larger (Wang, Agarwal & Dudik 2017).</summary>
public sealed class SwitchDr(double? tau = null) : TunedEstimator(tau)
{
    public override string Name => "switch-dr";
    public override bool NeedsRewardModel => true;
    protected override double Term(BanditOpeInputs x, int i, double tau) => x.QPi[i] + (x.W[i] <= tau ? x.W[i] * (x.R[i] - x.QFactual[i]) : 0);
}

/// <summary>DR with optimistic shrinkage: weight w -> lambda w / (w^2 + lambda) in the DR correction (Su et al. 2020, eq. 11).</summary>
public sealed class DrOs(double? lambda = null) : TunedEstimator(lambda)
{
    public override string Name => "dr-os";
    public override bool NeedsRewardModel => true;
    protected override double Term(BanditOpeInputs x, int i, double lam) =>
        x.QPi[i] + (double.IsPositiveInfinity(lam) ? x.W[i] : lam * x.W[i] / (x.W[i] * x.W[i] + lam)) * (x.R[i] - x.QFactual[i]);
}

/// <summary>
/// An estimator with one bias-variance hyperparameter. When none is given it is chosen from a grid by the
/// Open Bandit Pipeline's rule: minimize the estimated MSE = sample variance / n + (estimate - DR or IPS estimate)^2,
/// the unbiased estimator standing in for the truth (Su et al. 2020, Sec. 5). The choice uses the logs only.
/// </summary>
public abstract class TunedEstimator(double? fixedValue) : MeanEstimator
{
    public static readonly double[] Grid = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000, double.PositiveInfinity];
    private double _value = fixedValue ?? double.PositiveInfinity;
    public override double? Hyperparameter => _value;

    protected abstract double Term(BanditOpeInputs x, int i, double value);
    protected sealed override double Term(BanditOpeInputs x, int i) => Term(x, i, _value);

    public override void Prepare(BanditOpeInputs x)
    {
        if (fixedValue is not null) return;
        int n = x.Count;
        double reference = NeedsRewardModel ? new DoublyRobust().Estimate(x) : new Ips().Estimate(x);
        double best = double.PositiveInfinity;
        foreach (var v in Grid)
        {
            double s = 0, s2 = 0;
            for (int i = 0; i < n; i++) { double t = Term(x, i, v); s += t; s2 += t * t; }
            double mean = s / n, var = Math.Max(0, s2 / n - mean * mean);
            double mse = var / n + (mean - reference) * (mean - reference);
            if (mse < best) { best = mse; _value = v; }
        }
    }
}

/// <summary>Runs a set of estimators with intervals and weight diagnostics.</summary>
public static class BanditOpe
{
    public sealed record Options(CiMethod Ci = CiMethod.Bootstrap, double Alpha = 0.05, int BootstrapSamples = 1000, ulong Seed = 0);

    public static List<OpeEstimate> Run(BanditOpeInputs x, IEnumerable<BanditEstimator> estimators, Options? options = null)
    {
        var o = options ?? new Options();
        double ess = Confidence.EffectiveSampleSize(x.W), maxW = 0;
        foreach (var w in x.W) maxW = Math.Max(maxW, w);
        var results = new List<OpeEstimate>();
        foreach (var e in estimators)
        {
            if (e.NeedsRewardModel && !x.HasRewardModel) throw new ArgumentException($"estimator {e.Name} needs a reward model (qhat)");
            e.Prepare(x);
            double est = e.Estimate(x);
            Interval ci;
            string method;
            var terms = e.Terms(x);
            if (o.Ci != CiMethod.Bootstrap && terms is not null) { ci = Confidence.ForMean(terms, o.Ci, o.Alpha); method = o.Ci.ToString().ToLowerInvariant(); }
            else
            {
                var rng = new Rng(o.Seed);
                ci = Confidence.Bootstrap(idx => e.Estimate(x, idx), x.Count, o.BootstrapSamples, o.Alpha, rng);
                method = "bootstrap";
            }
            string? warning = null;
            if (e.UsesWeights && (ess < 0.01 * x.Count || maxW > 0.1 * x.Count))
                warning = $"heavy importance weights: effective sample size {ess:F0} of {x.Count}, max weight {maxW:G4}; the interval may not cover the truth";
            results.Add(new OpeEstimate(e.Name, est, ci.Low, ci.High, method, e.UsesWeights ? ess : x.Count, e.UsesWeights ? maxW : 1, x.Count, e.Hyperparameter, warning));
        }
        return results;
    }
}
