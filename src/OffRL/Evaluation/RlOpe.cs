using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>
/// A dataset of trajectories seen through a target policy: per row the log importance ratio
/// log pi(a_t|s_t) - log pi_0(a_t|s_t), and the target's action probabilities (discrete) or sampled actions (continuous)
/// at s_t and s_{t+1}, computed once so that estimators and fitted models never call the policy in their loops.
/// </summary>
public sealed class OpeData
{
    public Dataset Data { get; }
    public IProbabilisticPolicy Target { get; }
    public double Gamma { get; }
    /// <summary>log pi(a_i|s_i) - log pi_0(a_i|s_i) per row (NaN when the behavior policy is unknown).</summary>
    public double[] LogRatio { get; }
    /// <summary>
    /// Whether the behavior policy's log-probabilities are known (a behavior_log_probs column or a behavior policy):
    /// the importance-sampling estimators need them; FQE, the model-based estimator and DualDICE-style MIS do not.
    /// </summary>
    public bool HasBehavior { get; }
    /// <summary>Discrete: pi(.|s_i) [rows, actions] and pi(.|s'_i). Continuous: null.</summary>
    public float[]? PiCurrent { get; }
    public float[]? PiNext { get; }
    /// <summary>Continuous: K actions drawn from pi(.|s_i) and pi(.|s'_i), [rows, K, actionDim]. Discrete: null.</summary>
    public float[]? SampledCurrent { get; }
    public float[]? SampledNext { get; }
    public int Samples { get; }
    public int Actions => Data.ActionSpace is Discrete d ? d.N : 0;
    /// <summary>Rows with a usable next observation (TD targets need one).</summary>
    public bool[] HasNext { get; }

    public OpeData(Dataset data, IProbabilisticPolicy target, double gamma = 0.99, IProbabilisticPolicy? behavior = null, int samples = 10, ulong seed = 0)
    {
        if (gamma is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(gamma), $"gamma must be in (0, 1], got {gamma}");
        if (target.ObservationDim != data.ObservationDim)
            throw new ArgumentException($"target policy takes {target.ObservationDim} observation values, the dataset has {data.ObservationDim}");
        if (samples is < 1 or > 100_000) throw new ArgumentOutOfRangeException(nameof(samples), $"samples must be in [1, 100000], got {samples}");
        data.RequireTransitions();
        HasBehavior = data.HasBehaviorLogProbs || behavior is not null;
        Data = data; Target = target; Gamma = gamma; Samples = samples;
        string? file = data.Where;
        double cumulative = 0;   // log of the importance weight W_t within the current episode
        int n = data.Count, od = data.ObservationDim, ad = data.ActionDim;
        LogRatio = new double[n];
        HasNext = new bool[n];
        var rng = new Rng(seed);
        int A = Actions;
        if (A > 0) { PiCurrent = new float[n * A]; PiNext = new float[n * A]; }
        else { SampledCurrent = new float[n * samples * ad]; SampledNext = new float[n * samples * ad]; }
        for (int i = 0; i < n; i++)
        {
            var s = data.Observation(i);
            if (HasBehavior)
            {
                double lb = behavior is not null ? behavior.LogProb(s, data.Action(i)) : data.BehaviorLogProbs[i];
                double lt = target.LogProb(s, data.Action(i));
                if (!double.IsFinite(lb)) throw new DataException($"behavior log-probability {lb} is not finite", file, "behavior_log_probs", data.RowOf(i));
                if (double.IsNaN(lt) || double.IsPositiveInfinity(lt))
                    throw new ArgumentException($"target policy: log-probability {lt} of the logged action at row {data.RowOf(i)} is not a log-probability (finite, or -inf for an impossible action)");
                LogRatio[i] = lt - lb;
                // Importance weights are exp of the summed log-ratios: one that overflows makes every estimate NaN or infinite.
                if (data.EpisodeStart(data.EpisodeOf(i)) == i) cumulative = 0;
                cumulative += LogRatio[i];
                if (cumulative > MaxLogWeight)
                    throw new DataException($"behavior log-probability {lb:G6} makes the importance weight of this step exp({cumulative:G6}) (log-ratio {LogRatio[i]:G6} = target {lt:G6} - behavior {lb:G6}, summed over the episode) " +
                        $"overflow; the logged action must have had a real probability under the behavior policy (a log-weight above {MaxLogWeight} is not a weight)", file, "behavior_log_probs", data.RowOf(i));
            }
            else LogRatio[i] = double.NaN;
            HasNext[i] = data.HasNext(i);
            var s2 = HasNext[i] ? data.NextObservation(i) : s;
            if (A > 0)
            {
                target.Probabilities(s, PiCurrent.AsSpan(i * A, A));
                target.Probabilities(s2, PiNext.AsSpan(i * A, A));
            }
            else
                for (int k = 0; k < samples; k++)
                {
                    target.Sample(s, SampledCurrent.AsSpan((i * samples + k) * ad, ad), rng);
                    target.Sample(s2, SampledNext.AsSpan((i * samples + k) * ad, ad), rng);
                }
        }
    }

    /// <summary>Largest log importance weight whose exp is a finite double with room for sums (e^700 ~ 1e304).</summary>
    public const double MaxLogWeight = 700;

    public int EpisodeCount => Data.EpisodeCount;
    public int[] InitialRows()
    {
        var r = new int[Data.EpisodeCount];
        for (int e = 0; e < r.Length; e++) r[e] = Data.EpisodeStart(e);
        return r;
    }
}

/// <summary>Q-hat(s_i, a_i) and V-hat(s_i) = E_pi Q-hat(s_i, .) for every row, from FQE or any other model.</summary>
public sealed record QEstimates(double[] QLogged, double[] V);

/// <summary>
/// Importance-sampling estimators on trajectories (Precup, Sutton & Singh 2000; Jiang & Li 2016; Thomas & Brunskill 2016).
/// With cumulative weights W_t = prod_{t' &lt;= t} pi/pi_0 and discount gamma:
/// TIS = mean_i W_{T} G_i; PDIS = mean_i sum_t gamma^t W_t r_t; their self-normalized forms divide by the weights' sums
/// (per step for PDIS); DR = mean_i sum_t gamma^t [W_t (r_t - Q(s_t,a_t)) + W_{t-1} V(s_t)]; WDR is DR with W_t
/// self-normalized per step. Episodes that ended keep their last weight and add nothing (absorbing state).
/// </summary>
public static class TrajectoryIs
{
    public static readonly string[] Names = ["tis", "pdis", "sntis", "snpdis", "dr", "wdr"];

    /// <summary>Cumulative weights per row (W_t) and per episode at its end.</summary>
    public static double[] CumulativeWeights(OpeData d)
    {
        var w = new double[d.Data.Count];
        for (int e = 0; e < d.EpisodeCount; e++)
        {
            double lw = 0;
            int s = d.Data.EpisodeStart(e), len = d.Data.EpisodeLength(e);
            for (int t = 0; t < len; t++) { lw += d.LogRatio[s + t]; w[s + t] = Math.Exp(lw); }
        }
        return w;
    }

    /// <summary>Estimate on a multiset of episodes (all when null).</summary>
    public static double Estimate(string name, OpeData d, double[] cumW, QEstimates? q, int[]? episodes = null)
    {
        var data = d.Data;
        int m = episodes?.Length ?? d.EpisodeCount;
        double g = d.Gamma;
        switch (name)
        {
            case "tis" or "pdis" or "dr":
                {
                    double s = 0;
                    for (int j = 0; j < m; j++) s += EpisodeTerm(name, d, cumW, q, episodes is null ? j : episodes[j]);
                    return s / m;
                }
            case "sntis":
                {
                    double num = 0, den = 0;
                    for (int j = 0; j < m; j++)
                    {
                        int e = episodes is null ? j : episodes[j];
                        int last = data.EpisodeStart(e) + data.EpisodeLength(e) - 1;
                        num += cumW[last] * DiscountedReturn(d, e); den += cumW[last];
                    }
                    return den > 0 ? num / den : 0;
                }
            case "snpdis" or "wdr":
                {
                    if (name == "wdr" && q is null) throw new ArgumentException("wdr needs Q estimates (from FQE)");
                    int horizon = 0;
                    for (int j = 0; j < m; j++) horizon = Math.Max(horizon, data.EpisodeLength(episodes is null ? j : episodes[j]));
                    double total = 0, disc = 1;
                    double prevDen = m;   // W_{-1} = 1 for every episode
                    var prevW = new double[m];
                    Array.Fill(prevW, 1.0);
                    for (int t = 0; t < horizon; t++, disc *= g)
                    {
                        double den = 0, num = 0, corr = 0;
                        for (int j = 0; j < m; j++)
                        {
                            int e = episodes is null ? j : episodes[j];
                            int s = data.EpisodeStart(e), len = data.EpisodeLength(e);
                            double wt = cumW[s + Math.Min(t, len - 1)];
                            den += wt;
                            if (t < len)
                            {
                                num += wt * data.Rewards[s + t];
                                if (name == "wdr") corr += wt * q!.QLogged[s + t];
                            }
                        }
                        if (name == "snpdis") { total += den > 0 ? disc * num / den : 0; continue; }
                        // WDR: sum_i [ w_t (r - Q) + w_{t-1} V ], w_t = W_t / sum_j W_t.
                        double vTerm = 0;
                        for (int j = 0; j < m; j++)
                        {
                            int e = episodes is null ? j : episodes[j];
                            int s = data.EpisodeStart(e), len = data.EpisodeLength(e);
                            if (t < len) vTerm += prevW[j] * q!.V[s + t];
                        }
                        total += disc * ((den > 0 ? (num - corr) / den : 0) + (prevDen > 0 ? vTerm / prevDen : 0));
                        prevDen = 0;
                        for (int j = 0; j < m; j++)
                        {
                            int e = episodes is null ? j : episodes[j];
                            int s = data.EpisodeStart(e), len = data.EpisodeLength(e);
                            prevW[j] = cumW[s + Math.Min(t, len - 1)];
                            prevDen += prevW[j];
                        }
                    }
                    return total;
                }
            default: throw new ArgumentException($"estimator '{name}': expected one of {string.Join(", ", Names)}");
        }
    }

    /// <summary>Per-episode term of the mean-type estimators (TIS, PDIS, DR).</summary>
    public static double EpisodeTerm(string name, OpeData d, double[] cumW, QEstimates? q, int e)
    {
        var data = d.Data;
        int s = data.EpisodeStart(e), len = data.EpisodeLength(e);
        double g = d.Gamma, disc = 1, v = 0, prev = 1;
        if (name == "tis") return cumW[s + len - 1] * DiscountedReturn(d, e);
        if (name == "dr" && q is null) throw new ArgumentException("dr needs Q estimates (from FQE)");
        for (int t = 0; t < len; t++, disc *= g)
        {
            double w = cumW[s + t], r = data.Rewards[s + t];
            v += name == "pdis" ? disc * w * r : disc * (w * (r - q!.QLogged[s + t]) + prev * q.V[s + t]);
            prev = w;
        }
        return v;
    }

    public static double DiscountedReturn(OpeData d, int e)
    {
        int s = d.Data.EpisodeStart(e), len = d.Data.EpisodeLength(e);
        double v = 0, disc = 1;
        for (int t = 0; t < len; t++, disc *= d.Gamma) v += disc * d.Data.Rewards[s + t];
        return v;
    }
}

/// <summary>Runs RL estimators on one dataset and target policy, with intervals and weight diagnostics.</summary>
public static class RlOpe
{
    public static readonly string[] All = ["tis", "pdis", "sntis", "snpdis", "dr", "wdr", "fqe", "mb", "mis"];

    /// <summary>
    /// Settings of a run. <paramref name="Alpha"/>: 1 - coverage of the intervals, in (0, 1); <paramref name="BootstrapSamples"/>:
    /// resamples of the bootstrap, at least 2. Refused by <see cref="Validate"/> as the CLI refuses them.
    /// </summary>
    public sealed record Options(CiMethod Ci = CiMethod.Bootstrap,
        [property: FieldRange("(0, 1)")] double Alpha = 0.05,
        [property: FieldRange("[2, 10000000]")] int BootstrapSamples = 1000, ulong Seed = 0,
        FqeConfig? Fqe = null, ModelBasedConfig? ModelBased = null)
    {
        /// <summary>Every field in its range (<see cref="FieldRange"/>), the CI method known, and the FQE settings valid.</summary>
        public void Validate()
        {
            FieldRange.Check(this);
            if (!Enum.IsDefined(Ci)) throw new ArgumentException($"config: field 'ci' of Options must be one of {string.Join(", ", Enum.GetNames<CiMethod>())}, got {Ci}");
            Fqe?.Validate();
        }
    }

    /// <summary>
    /// The one reading of estimator names: trimmed, case-insensitive, each known and given once; returns the canonical
    /// (lowercase) names in the given order. Unknown, repeated or no names: an <see cref="ArgumentException"/> naming --estimators.
    /// </summary>
    public static string[] ParseEstimators(IEnumerable<string> names)
    {
        var result = new List<string>();
        foreach (var raw in names)
        {
            var name = (raw ?? "").Trim().ToLowerInvariant();
            if (name.Length == 0) continue;
            if (Array.IndexOf(All, name) < 0) throw new ArgumentException($"--estimators: '{raw!.Trim()}' is not an estimator; expected names from {string.Join(", ", All)}");
            if (result.Contains(name)) throw new ArgumentException($"--estimators: '{name}' is given twice; name each estimator once");
            result.Add(name);
        }
        if (result.Count == 0) throw new ArgumentException($"--estimators: no estimator given; expected names from {string.Join(", ", All)}");
        return result.ToArray();
    }

    public static List<OpeEstimate> Run(OpeData d, IEnumerable<string> estimators, Options? options = null, IProgress<string>? progress = null)
    {
        var o = options ?? new Options();
        o.Validate();
        var names = ParseEstimators(estimators).ToList();
        var weighted = names.Where(n => n is not ("fqe" or "mb" or "mis")).ToList();
        if (weighted.Count > 0 && !d.HasBehavior)
            throw new DataException($"{string.Join(", ", weighted)}: importance sampling needs the behavior policy's log-probabilities, and the dataset has no " +
                "behavior_log_probs column (collect with a known policy, pass the behavior policy, or use fqe, mb and mis, which do not need them)",
                d.Data.Where, "behavior_log_probs");
        int m = d.EpisodeCount;
        var cumW = d.HasBehavior ? TrajectoryIs.CumulativeWeights(d) : new double[d.Data.Count];
        var finalW = new double[m];
        double maxW = 0;
        for (int e = 0; e < m; e++) { finalW[e] = cumW[d.Data.EpisodeStart(e) + d.Data.EpisodeLength(e) - 1]; maxW = Math.Max(maxW, finalW[e]); }
        double ess = d.HasBehavior ? Confidence.EffectiveSampleSize(finalW) : double.NaN;
        string? Warn(double essV, double maxV, int count) => essV < 0.01 * count || maxV > 0.1 * count
            ? $"heavy importance weights: effective sample size {essV:F1} of {count}, max weight {maxV:G4}; the interval may not cover the truth" : null;

        QEstimates? q = null; double fqeValue = 0;
        if (names.Any(n => n is "dr" or "wdr" or "fqe"))
        {
            progress?.Report("fitting FQE");
            (q, fqeValue) = Fqe.Fit(d, (o.Fqe ?? new FqeConfig()) with { Seed = o.Seed }, progress);
        }
        var results = new List<OpeEstimate>();
        foreach (var name in names)
        {
            var rng = new Rng(o.Seed);
            switch (name)
            {
                case "fqe":
                    {
                        var init = d.InitialRows();
                        var v = init.Select(i => q!.V[i]).ToArray();
                        var ci = Interval(v, o, rng);
                        results.Add(new OpeEstimate(name, fqeValue, ci.Low, ci.High, CiName(o, true), m, 1, m));
                        break;
                    }
                case "mb":
                    {
                        if (o.ModelBased?.Model is null) progress?.Report("fitting the dynamics model");
                        var model = ModelBasedOpe.Fit(d.Data, (o.ModelBased ?? new ModelBasedConfig()) with { Seed = o.Seed }, progress);
                        var g = model.Rollouts(d.Data, d.Target, d.Gamma);
                        var ci = Interval(g, o, rng);
                        results.Add(new OpeEstimate(name, g.Average(), ci.Low, ci.High, CiName(o, true), g.Length, 1, g.Length));
                        break;
                    }
                case "mis":
                    {
                        var r = Marginalized.Fit(d, seed: o.Seed);
                        var used = Enumerable.Range(0, r.Used.Length).Where(i => r.Used[i]).ToArray();
                        var ci = Confidence.Bootstrap(idx =>
                        {
                            var rows = new int[idx.Length];
                            for (int j = 0; j < idx.Length; j++) rows[j] = used[idx[j]];
                            return Marginalized.Estimate(d, r.Weights, r.Used, rows);
                        }, used.Length, o.BootstrapSamples, o.Alpha, rng);
                        var wUsed = used.Select(i => r.Weights[i]).ToArray();
                        double wEss = Confidence.EffectiveSampleSize(wUsed), wMax = wUsed.Length == 0 ? 0 : wUsed.Max();
                        results.Add(new OpeEstimate(name, r.Value, ci.Low, ci.High, "bootstrap", wEss, wMax, used.Length, null, Warn(wEss, wMax, used.Length)));
                        break;
                    }
                default:
                    {
                        double est = TrajectoryIs.Estimate(name, d, cumW, q);
                        Interval ci;
                        bool meanType = name is "tis" or "pdis" or "dr";
                        if (meanType && o.Ci != CiMethod.Bootstrap)
                        {
                            var terms = new double[m];
                            for (int e = 0; e < m; e++) terms[e] = TrajectoryIs.EpisodeTerm(name, d, cumW, q, e);
                            ci = Confidence.ForMean(terms, o.Ci, o.Alpha);
                        }
                        else ci = Confidence.Bootstrap(idx => TrajectoryIs.Estimate(name, d, cumW, q, idx), m, o.BootstrapSamples, o.Alpha, rng);
                        results.Add(new OpeEstimate(name, est, ci.Low, ci.High, CiName(o, meanType), ess, maxW, m, null, Warn(ess, maxW, m)));
                        break;
                    }
            }
        }
        foreach (var r in results)
            // A NaN interval is "no interval" only below 2 samples (Confidence.ForMean); otherwise it, like an infinite one, is overflow.
            if (!double.IsFinite(r.Estimate) || double.IsInfinity(r.CiLow) || double.IsInfinity(r.CiHigh) || (r.N >= 2 && (double.IsNaN(r.CiLow) || double.IsNaN(r.CiHigh))))
                throw new DataException($"estimator {r.Estimator} gave {(double.IsFinite(r.Estimate) ? $"the interval [{r.CiLow}, {r.CiHigh}]" : $"the estimate {r.Estimate}")}, not a finite value " +
                    "(importance weights or a fitted model overflowed on this data); no estimate is reported", d.Data.Where, r.Estimator is "fqe" or "mb" or "mis" ? "rewards" : "behavior_log_probs");
        return results;
    }

    private static string CiName(Options o, bool closedFormAllowed) => closedFormAllowed && o.Ci != CiMethod.Bootstrap ? o.Ci.ToString().ToLowerInvariant() : "bootstrap";

    private static Interval Interval(double[] values, Options o, Rng rng) => o.Ci != CiMethod.Bootstrap
        ? Confidence.ForMean(values, o.Ci, o.Alpha)
        : Confidence.Bootstrap(idx => { double s = 0; foreach (var i in idx) s += values[i]; return s / idx.Length; }, values.Length, o.BootstrapSamples, o.Alpha, rng);
}
