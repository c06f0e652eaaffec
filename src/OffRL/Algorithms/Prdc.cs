using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// PRDC hyperparameters (Ran et al. 2023, "Policy Regularization with Dataset Constraint for Offline Reinforcement
/// Learning"), as the authors' code runs locomotion (github.com/LAMDA-RL/PRDC: TD3+BC's networks and schedule, states
/// standardized with std + 1e-3): beta 2 (every README command), alpha 2.5 (hopper, walker2d; halfcheetah 40, the
/// preset). The rest is TD3+BC's (<see cref="Td3BcConfig"/>).
/// </summary>
public sealed record PrdcConfig : Td3BcConfig
{
    /// <summary>Weight of the state in the search key [beta s, a] (section 4.1; the authors' README: 2).</summary>
    [FieldRange("(0, 1000]")]
    public float Beta { get; init; } = 2f;
}

/// <summary>
/// PRDC: TD3+BC whose actor is pulled towards the action of the dataset's point nearest [beta s, pi(s)] among all
/// [beta s_i, a_i] (the dataset constraint, eq. 6; exact search with <see cref="KdTree"/> over the prepared dataset),
/// not towards the batch's own action: pi = argmax lambda Q(s, pi(s)) - (pi(s) - a_nn)^2, a_nn held fixed.
/// </summary>
public sealed class Prdc(int obs, Space actionSpace, PrdcConfig? config = null, ulong seed = 0)
    : Td3<PrdcConfig>(obs, actionSpace, config ?? new PrdcConfig(), seed), IAlgorithmFamily
{
    private const string Common = "beta: 2, batch_size: 256, gamma: 0.99, tau: 0.005, policy_noise: 0.2, noise_clip: 0.5, policy_freq: 2, " +
        "actor_lr: 3e-4, critic_lr: 3e-4, hidden: [256, 256], normalize_observations: true, qlearning_rows: true, reward_normalization: none, ";

    private static readonly Preset[] Presets =
    [
        new("authors", "Ran et al. (github.com/LAMDA-RL/PRDC)",
        [
            new(["halfcheetah-medium", "halfcheetah-medium-replay", "halfcheetah-medium-expert"], Common + "alpha: 40",
                "README.md L37-41 (halfcheetah: --alpha 40 --beta 2); utils/config.py L25-57"),
            new(["hopper-medium", "hopper-medium-replay", "hopper-medium-expert", "walker2d-medium", "walker2d-medium-replay", "walker2d-medium-expert"],
                Common + "alpha: 2.5", "README.md L43-47 (hopper and walker2d: --alpha 2.5 --beta 2); utils/config.py L25-57"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("prdc", LearningMode.Offline, ActionKind.Continuous, "TD3+BC towards the dataset's nearest action (Ran et al. 2023)",
            new PrdcConfig(), (o, space, c, s) => new Prdc(o, space, c, s)) with { Presets = Presets },
    ];

    private KdTree? _tree;
    private float[] _datasetActions = [];
    private float[] _query = [];
    private int[] _nearest = [];
    private Tensor? _target;

    /// <summary>The search index over the dataset's keys [beta s, a] (s and a as the updates see them).</summary>
    public override void UseDataset(Dataset prepared)
    {
        int n = prepared.Count, od = prepared.ObservationDim, ad = prepared.ActionDim, dim = od + ad;
        var keys = new float[n * dim];
        var obs = prepared.Observations;
        var act = prepared.Actions;
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < od; k++) keys[i * dim + k] = Config.Beta * obs[i * od + k];
            act.Slice(i * ad, ad).CopyTo(keys.AsSpan(i * dim + od, ad));
        }
        _tree = new KdTree(keys, n, dim);
        _datasetActions = act.ToArray();
    }

    /// <summary>The dataset constraint (eq. 6): the action of the dataset's point nearest [beta s, pi(s)], for every state of the batch.</summary>
    protected override Tensor BcTarget(TransitionBatch b, Tensor pi)
    {
        var tree = _tree ?? throw new InvalidOperationException("prdc: no dataset to search (an offline run gives it through Agent.UseDataset)");
        int rows = b.Size, od = b.ObservationDim, ad = ActionDim, dim = od + ad;
        if (_nearest.Length != rows) (_query, _nearest, _target) = (new float[rows * dim], new int[rows], Tensor.Zeros(rows, ad));
        for (int i = 0; i < rows; i++)
        {
            for (int k = 0; k < od; k++) _query[i * dim + k] = Config.Beta * b.Obs[i * od + k];
            pi.Data.AsSpan(i * ad, ad).CopyTo(_query.AsSpan(i * dim + od, ad));
        }
        tree.Nearest(_query, rows, _nearest);
        for (int i = 0; i < rows; i++) _datasetActions.AsSpan(_nearest[i] * ad, ad).CopyTo(_target!.Data.AsSpan(i * ad, ad));
        return _target!;
    }
}
