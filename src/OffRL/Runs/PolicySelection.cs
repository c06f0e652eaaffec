using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Evaluation;

namespace OffRL.Runs;

/// <summary>
/// Settings of offline policy selection. The target of each candidate is its policy made stochastic as `offrl ope rl`
/// does (Gaussian with std <see cref="Sigma"/> around the action, or epsilon-greedy), so importance weights exist.
/// </summary>
public sealed record SelectionOptions
{
    public string[] Estimators { get; init; } = ["fqe", "dr", "mis", "mb"];
    /// <summary>The k of the top-k measures (how many candidates would go to an A/B test).</summary>
    public int[] K { get; init; } = [1, 3, 5];
    public double Sigma { get; init; } = 0.1;
    public double Epsilon { get; init; } = 0.05;
    public double Gamma { get; init; } = 0.99;
    public int FqeSteps { get; init; } = 20_000;
    /// <summary>The model-based estimator's settings (its environment is <see cref="Env"/> when that is set); one model serves every candidate.</summary>
    public ModelBasedConfig ModelBased { get; init; } = new();
    public CiMethod Ci { get; init; } = CiMethod.Bootstrap;
    public double Alpha { get; init; } = 0.05;
    public int BootstrapSamples { get; init; } = 1000;
    public ulong Seed { get; init; }
    /// <summary>With an environment each candidate is also rolled out, and the selection itself is judged.</summary>
    public string? Env { get; init; }
    public int Episodes { get; init; } = 10;
}

/// <summary>One candidate: its folder, what it is, each estimator's estimate and, with an environment, its measured values.</summary>
public sealed record SelectionCandidate(string Folder, string Algorithm, long Updates, IReadOnlyDictionary<string, OpeEstimate> Estimates)
{
    /// <summary>On-policy discounted value of the stochastic target (what the estimators estimate), from rollouts.</summary>
    public double? TrueValue { get; init; }
    /// <summary>Undiscounted return of the deterministic policy (what would be deployed), from rollouts.</summary>
    public double? TrueReturn { get; init; }
}

/// <summary>Per estimator: the ranking, the top-k measures on the estimates, and with an environment on the measured values.</summary>
public sealed record EstimatorSelection(string Estimator, int[] Ranking, TopK[] Estimated, TopK[]? Measured, OpeQuality? Quality);

public sealed record SelectionResult(IReadOnlyList<SelectionCandidate> Candidates, IReadOnlyList<(string Folder, string Reason)> Skipped,
    double BehaviorValue, IReadOnlyList<EstimatorSelection> ByEstimator);

/// <summary>
/// Offline policy selection (issue 24): every candidate checkpoint evaluated from the logged data alone by each OPE
/// estimator, ranked, with SCOPE-RL's risk-return measures for choosing the top k to test online (Kiyohara et al.
/// 2023, "Towards Assessing and Benchmarking Risk-Return Tradeoff of Off-Policy Evaluation"); with an environment the
/// candidates are also rolled out and the selection is judged (Regret@k, rank correlation, nMSE).
/// </summary>
public static class PolicySelection
{
    public static SelectionResult Run(Dataset data, IReadOnlyList<string> folders, SelectionOptions o, IProgress<string>? progress = null)
    {
        if (folders.Count == 0) throw new ArgumentException("--candidates: no candidate folders given");
        o = o with { Estimators = RlOpe.ParseEstimators(o.Estimators) };   // MB = mb; each once
        foreach (var k in o.K) if (k < 1) throw new ArgumentException($"--k: must be positive, got {k}");
        var candidates = new List<SelectionCandidate>();
        var skipped = new List<(string, string)>();
        var behavior = new List<double>();
        OpeData? first = null;
        foreach (var folder in folders)
        {
            var agent = AlgorithmRegistry.Load(folder, o.Seed);   // a folder without a checkpoint is an error, not a skip
            string? why = agent.ObservationDim != data.ObservationDim
                ? $"observations have {agent.ObservationDim} values, the dataset's {data.ObservationDim}"
                : !SameActions(agent.ActionSpace, data.ActionSpace) ? $"actions {agent.ActionSpace}, the dataset's {data.ActionSpace}" : null;
            if (why is not null) { skipped.Add((folder, why)); progress?.Report($"skipped {folder}: {why}"); continue; }
            IProbabilisticPolicy target = data.DiscreteActions
                ? new EpsilonGreedyPolicy(agent, o.Epsilon, o.Seed) : new GaussianPolicy(agent, o.Sigma, o.Seed);
            progress?.Report($"evaluating {folder} ({agent.Name}, {agent.Updates} updates)");
            var d = new OpeData(data, target, o.Gamma, seed: o.Seed);
            first ??= d;
            var estimates = RlOpe.Run(d, o.Estimators, new RlOpe.Options(o.Ci, o.Alpha, o.BootstrapSamples, o.Seed, Fqe: new FqeConfig(Steps: o.FqeSteps), ModelBased: o.ModelBased with { Env = o.ModelBased.Env ?? o.Env }))
                .ToDictionary(e => e.Estimator);
            var c = new SelectionCandidate(folder, agent.Name, agent.Updates, estimates);
            if (o.Env is { } env)
            {
                var stochastic = Rollout.Episodes(env, target, o.Episodes, o.Seed, deterministic: false, gamma: o.Gamma);
                var deterministic = Rollout.Episodes(env, agent, o.Episodes, o.Seed);
                c = c with { TrueValue = stochastic.DiscountedReturns!.Average(), TrueReturn = deterministic.Mean };
            }
            candidates.Add(c);
        }
        if (candidates.Count == 0) throw new ArgumentException("--candidates: none is comparable with the dataset (see the skipped list)");
        for (int e = 0; e < first!.EpisodeCount; e++) behavior.Add(TrajectoryIs.DiscountedReturn(first, e));
        double behaviorValue = behavior.Average();

        var byEstimator = new List<EstimatorSelection>();
        foreach (var name in o.Estimators)
        {
            var est = candidates.Select(c => c.Estimates[name].Estimate).ToArray();
            var ranking = Enumerable.Range(0, est.Length).OrderByDescending(i => double.IsFinite(est[i]) ? est[i] : double.NegativeInfinity).ThenBy(i => i).ToArray();
            var ks = o.K.Where(k => k <= candidates.Count).ToArray();
            TopK[] Measures(double[] values) => ks.Select(k => OpeQuality.Top(values, ranking, k, behaviorValue)).ToArray();
            TopK[]? measured = null;
            OpeQuality? quality = null;
            if (o.Env is not null)
            {
                var truth = candidates.Select(c => c.TrueValue!.Value).ToArray();
                measured = Measures(truth);
                quality = OpeQuality.Compute(truth, est, behaviorValue);
            }
            byEstimator.Add(new EstimatorSelection(name, ranking, Measures(est), measured, quality));
        }
        return new SelectionResult(candidates, skipped, behaviorValue, byEstimator);
    }

    private static bool SameActions(Space a, Space b) => (a, b) switch
    {
        (Discrete x, Discrete y) => x.N == y.N,
        (Box x, Box y) => x.Width == y.Width,
        _ => false,
    };
}
