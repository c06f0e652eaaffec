using OffRL.Data;
using OffRL.Evaluation;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Bandits;

/// <summary>A fixed linear scorer theta' phi(x, a): the oracle of a learned (not learning) policy.</summary>
public sealed class LinearScorer(int contextDim, int actionDim, float[] theta) : IRewardOracle
{
    private readonly float[] _phi = new float[JointFeatures.Dim(contextDim, actionDim)];
    public float[] Theta { get; } = theta;

    public void Predict(BanditContext c, Span<double> yhat)
    {
        for (int k = 0; k < c.Count; k++)
        {
            JointFeatures.Fill(c.Context, c.Actions[k].Features, _phi);
            double s = 0;
            for (int i = 0; i < _phi.Length; i++) s += Theta[i] * _phi[i];
            yhat[k] = s;
        }
    }

    public void Update(ReadOnlySpan<Feedback> batch) { }
    public Dictionary<string, float[]> State() => new() { ["theta"] = Theta };
    public void Restore(Dictionary<string, float[]> state) => RidgeOracle.Need(state, "theta", Theta.Length).CopyTo(Theta, 0);
}

/// <summary>The policy learned offline: p(a|x) proportional to exp(theta' phi(x, a)), served as a non-learning softmax.</summary>
public static class FixedSoftmax
{
    public const string Algo = "fixed-softmax";

    public static BanditLearner Create(BanditLearnerConfig config, int contextDim, int actionDim, Dictionary<string, float[]>? state)
    {
        var theta = state is null ? new float[JointFeatures.Dim(contextDim, actionDim)] : RidgeOracle.Need(state, "theta", JointFeatures.Dim(contextDim, actionDim));
        return new SoftmaxExplorer(config with { Algo = Algo, Temperature = 1 }, contextDim, actionDim, new LinearScorer(contextDim, actionDim, (float[])theta.Clone()));
    }
}

/// <summary>
/// Settings of counterfactual risk minimization. Defaults: clip M = 100, variance penalty lambda picked from
/// {0, 0.01, 0.1, 1} on a validation fifth by the self-normalized IPS estimate (Swaminathan &amp; Joachims 2015,
/// "Batch learning from logged bandit feedback through counterfactual risk minimization", section 5), Adam full-batch.
/// </summary>
public sealed record PoemConfig
{
    /// <summary>ips | dr</summary>
    public string Weighting { get; init; } = "ips";
    /// <summary>Divide by the mean weight (Norm-POEM, Swaminathan &amp; Joachims 2015b) against propensity overfitting.</summary>
    public bool SelfNormalize { get; init; } = false;
    [FieldRange("(0, inf)")]
    public double Clip { get; init; } = 100;
    /// <summary>Variance penalty; null picks it from <see cref="LambdaGrid"/> on a validation split.</summary>
    [FieldRange("[0, inf)")]
    public double? Lambda { get; init; }
    [FieldRange("[0, inf)")]
    public double[] LambdaGrid { get; init; } = [0, 0.01, 0.1, 1];
    [FieldRange("[0, inf)")]
    public double L2 { get; init; } = 1e-4;
    [FieldRange("[1, 1000000]")]
    public int Iterations { get; init; } = 400;
    [FieldRange("(0, 10]")]
    public float LearningRate { get; init; } = 0.05f;
    public string RewardModel { get; init; } = "ridge";
    public ulong Seed { get; init; } = 0;
}

/// <summary>
/// POEM: learn a softmax policy pi_theta from logged bandit feedback by minimizing the empirical risk plus a variance
/// penalty, R(theta) = mean(u) + lambda sqrt(Var(u) / n) (eq. 9 of Swaminathan &amp; Joachims 2015), where the loss of row i is
/// u_i = -r_i min(w_i, M) (IPS) or u_i = -(qhat(x_i, pi) + min(w_i, M) (r_i - qhat(x_i, a_i))) (DR), w_i = pi(a_i|x_i) / p_i.
/// </summary>
public static class Poem
{
    public static BanditPolicy Fit(BanditFeedback logs, PoemConfig config, string[]? arms = null)
    {
        FieldRange.Check(config);
        if (logs.Positions != 1) throw new ArgumentException("POEM learns single-choice policies; the logs have slates (positions > 1)");
        if (config.Weighting is not ("ips" or "dr")) throw new ArgumentException($"weighting '{config.Weighting}': expected ips or dr");
        float[]? qhat = config.Weighting == "dr" ? RewardModel.FitPredict(logs, Evaluation.RewardModel.ByName(config.RewardModel, config.Seed), 3, config.Seed) : null;
        double lambda = config.Lambda ?? SelectLambda(logs, qhat, config);
        var theta = Train(logs, Enumerable.Range(0, logs.Count).ToArray(), qhat, config, lambda);
        return Policy(logs, theta, arms, config.Seed);
    }

    /// <summary>The action features the policy uses: the logs' action context, or one-hot ids when there is none.</summary>
    public static float[] ActionFeatures(BanditFeedback logs) => logs.ActionContext ?? OneHots(logs.Actions);

    private static float[] OneHots(int k)
    {
        var f = new float[k * k];
        for (int i = 0; i < k; i++) f[i * k + i] = 1;
        return f;
    }

    private static BanditPolicy Policy(BanditFeedback logs, float[] theta, string[]? arms, ulong seed)
    {
        int k = logs.ActionContext is null ? logs.Actions : logs.ActionContextDim;
        var learner = FixedSoftmax.Create(new BanditLearnerConfig { Algo = FixedSoftmax.Algo, Floor = 0, Seed = seed }, logs.ContextDim, k, new() { ["theta"] = theta });
        return new BanditPolicy(learner, logs.ActionContext is null ? arms ?? Enumerable.Range(0, logs.Actions).Select(i => i.ToString()).ToArray() : null);
    }

    private static double SelectLambda(BanditFeedback logs, float[]? qhat, PoemConfig config)
    {
        var perm = new Rng(config.Seed + 17).Permutation(logs.Count);
        int nVal = logs.Count / 5;
        var val = perm[..nVal]; var train = perm[nVal..];
        double best = double.NegativeInfinity, bestLambda = config.LambdaGrid[0];
        foreach (double lambda in config.LambdaGrid)
        {
            var theta = Train(logs, train, qhat, config, lambda);
            var policy = Policy(logs, theta, null, config.Seed);
            double value = 0, wsum = 0;
            var probs = new float[logs.Actions];
            foreach (int i in val)
            {
                Probabilities(policy, logs, i, probs);
                double w = probs[logs.Action[i]] / logs.Propensity[i];
                value += w * logs.Reward[i]; wsum += w;
            }
            value /= Math.Max(wsum, 1e-12);
            if (value > best) { best = value; bestLambda = lambda; }
        }
        return bestLambda;
    }

    /// <summary>The policy's distribution over all actions of the logs at row <paramref name="row"/>.</summary>
    public static void Probabilities(BanditPolicy policy, BanditFeedback logs, int row, Span<float> probs)
    {
        var af = ActionFeatures(logs);
        int k = af.Length / logs.Actions;
        var cands = new CandidateAction[logs.Actions];
        for (int a = 0; a < logs.Actions; a++) cands[a] = new CandidateAction(a.ToString(), af.AsSpan(a * k, k).ToArray());
        policy.Learner.Probabilities(new BanditContext(logs.ContextOf(row).ToArray(), cands), probs, new Rng(0));
    }

    /// <summary>The policy as an action distribution over the logs' rows (for OPE).</summary>
    public static ActionDistribution Distribution(BanditPolicy policy, BanditFeedback logs)
    {
        var p = new float[logs.Count * logs.Actions];
        for (int i = 0; i < logs.Count; i++) Probabilities(policy, logs, i, p.AsSpan(i * logs.Actions, logs.Actions));
        return new ActionDistribution(p, logs.Count, logs.Actions, 1);
    }

    private static float[] Train(BanditFeedback logs, int[] rows, float[]? qhat, PoemConfig cfg, double lambda)
    {
        int n = rows.Length, d = logs.ContextDim + 1, K = logs.Actions;
        var af = ActionFeatures(logs);
        int k = af.Length / K + 1;
        // Scores S = X~ W A~' with X~ = [1, x] (n x d) and A~ = [1, a] (K x k): theta = vec(W), the JointFeatures layout.
        var x = new float[n * d]; var at = new float[k * K];
        var r = new float[n]; var p0 = new float[n]; var act = new int[n];
        var qf = new float[n]; var qall = new float[n * K];
        for (int j = 0; j < n; j++)
        {
            int i = rows[j];
            x[j * d] = 1;
            logs.ContextOf(i).CopyTo(x.AsSpan(j * d + 1, d - 1));
            r[j] = logs.Reward[i]; p0[j] = logs.Propensity[i]; act[j] = logs.Action[i];
            if (qhat is null) continue;
            for (int a = 0; a < K; a++) qall[j * K + a] = qhat[i * K + a];
            qf[j] = qhat[i * K + act[j]];
        }
        for (int a = 0; a < K; a++)
        {
            at[a] = 1;
            for (int c = 1; c < k; c++) at[c * K + a] = af[a * (k - 1) + c - 1];
        }
        var W = Tensor.Parameter(new Shape(d, k), "W");
        var opt = new Adam([W], cfg.LearningRate);
        var X = Tensor.FromArray(x, n, d); var At = Tensor.FromArray(at, k, K);
        var R = Tensor.FromArray(r, n, 1); var P0 = Tensor.FromArray(p0, n, 1);
        var Qf = Tensor.FromArray(qf, n, 1); var Q = Tensor.FromArray(qall, n, K);
        for (int it = 0; it < cfg.Iterations; it++)
        {
            using var scope = TensorScope.Begin();
            var S = Tensor.Matmul(Tensor.Matmul(X, W), At);                        // [n, K]
            var logPi = S.LogSoftmax(1);
            var w = Tensor.Minimum(logPi.GatherRows(act).Exp() / P0, Tensor.Scalar((float)cfg.Clip)); // min(pi/p0, M)
            var u = qhat is null
                ? -(R * w)                                                         // IPS loss
                : -((logPi.Exp() * Q).Sum(1, keepDim: true) + w * (R - Qf));        // DR loss
            var mean = cfg.SelfNormalize ? u.Sum() / w.Sum() : u.Mean();
            var variance = (u.Square().Mean() - u.Mean().Square()).Clamp(1e-12f, float.MaxValue);
            var objective = mean + (float)lambda * (variance / n).Sqrt() + (float)cfg.L2 * W.Square().Sum(); // POEM eq. 9
            opt.ZeroGrad();
            objective.Backward();
            opt.Step();
            if (!float.IsFinite(objective.Item())) throw new InvalidOperationException($"POEM objective is {objective.Item()} at iteration {it}");
        }
        return (float[])W.Data.Clone();
    }
}

/// <summary>Off-policy estimates of the logging policy and a learned policy on held-out logs: "evaluate before switching".</summary>
public sealed record PolicyComparison(double LoggingValue, double LoggingCiLow, double LoggingCiHigh, IReadOnlyList<OpeEstimate> Learned, int TestRows)
{
    /// <summary>The learned policy's doubly robust estimate on the held-out logs.</summary>
    public OpeEstimate LearnedDr => Learned.First(e => e.Estimator == "dr");

    /// <summary>Switch or not: the learned policy's DR interval against the logging policy's on-policy interval.</summary>
    public string Verdict => LearnedDr.CiLow > LoggingCiHigh ? "the learned policy is better (intervals do not overlap)"
        : LearnedDr.CiHigh < LoggingCiLow ? "the learned policy is worse; keep the logging policy" : "no clear difference at this sample size";
}

public static class PolicyLearning
{
    /// <summary>
    /// Split the logs (train 70%, test 30%), learn with POEM on train, and estimate on test the logging policy's value
    /// (the on-policy mean with a bootstrap interval) and the learned policy's (IPS, SNIPS, DR with intervals).
    /// </summary>
    public static (BanditPolicy Policy, PolicyComparison Report) LearnAndEvaluate(BanditFeedback logs, PoemConfig config, string[]? arms = null, double testShare = 0.3)
    {
        var perm = new Rng(config.Seed + 101).Permutation(logs.Count);
        int nTest = (int)(logs.Count * testShare);
        if (nTest < 10 || logs.Count - nTest < 10) throw new ArgumentException($"too few rows ({logs.Count}) to split into train and test");
        var test = logs.Subset(perm[..nTest]);
        var train = logs.Subset(perm[nTest..]);
        var policy = Poem.Fit(train, config, arms);
        var qhat = RewardModel.FitPredict(test, Evaluation.RewardModel.ByName(config.RewardModel, config.Seed), 3, config.Seed);
        var inputs = BanditOpeInputs.From(test, Poem.Distribution(policy, test), qhat);
        var opts = new BanditOpe.Options(Seed: config.Seed);
        var learned = BanditOpe.Run(inputs, [new Ips(), new SnIps(), new DoublyRobust()], opts);
        // The logging policy on its own logs: weights 1, so IPS is the on-policy mean (with the same kind of interval).
        var r = new double[test.Count];
        for (int i = 0; i < r.Length; i++) r[i] = test.Reward[i];
        var onPolicy = BanditOpe.Run(new BanditOpeInputs(r, Enumerable.Repeat(1.0, r.Length).ToArray()), [new Ips()], opts)[0];
        return (policy, new PolicyComparison(onPolicy.Estimate, onPolicy.CiLow, onPolicy.CiHigh, learned, nTest));
    }
}
