using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// RAVL hyperparameters (Sims, Lu and Teh 2024, "The Edge-of-Reach Problem in Offline Model-Based Reinforcement
/// Learning"), as the authors' train_ravl_agent.py runs it (github.com/anyasims/edge-of-reach @18b5085, TrainConfig):
/// EDAC (<see cref="EdacConfig"/>'s networks, init and update order; N 10 critics, eta 1, learning rates 3e-4, no
/// schedule, temperature tuned and unclamped) on MBPO-style rollouts of h 5 from 50 000 dataset states every 1 000
/// updates, kept 5 rounds, 5% real rows per batch, and no dynamics penalty. The authors' per-dataset table is in the
/// paper's appendix, not their repository; their README's example (halfcheetah-medium) is these defaults. The ensemble
/// is fitted as OfflineRL-Kit fits it (the authors' fit also lowers the rate once when it stalls before epoch 350).
/// </summary>
public sealed record RavlConfig : ModelBasedSacConfig
{
    public RavlConfig() : base(new EdacConfig())
    {
        CosineActorLr = false;
        RolloutHorizon = 5;
    }

    /// <summary>Weight of the critics' gradient diversity, EDAC's eta (TrainConfig: 1).</summary>
    [FieldRange("[0, 1000]")]
    public float Eta { get; init; } = 1f;

    public override void Validate()
    {
        base.Validate();
        if (Eta > 0 && NumCritics < 2) throw new ArgumentException($"config: field 'eta' of {GetType().Name} weighs the diversity of two or more critics; 'num_critics' is {NumCritics}");
    }
}

/// <summary>
/// RAVL: EDAC on a model's rollouts mixed with the data. Its point (section 4): the value of states at the edge of what
/// h-step rollouts reach is never corrected by a rollout from them, so Q there overestimates without bound, model
/// error or not; the ensemble's pessimism (min over N critics, diversified by eta) bounds it where a dynamics penalty
/// cannot.
/// </summary>
public sealed class Ravl(int obs, Space actionSpace, RavlConfig? config = null, ulong seed = 0)
    : ModelBasedSac<RavlConfig>(obs, actionSpace, config ?? new RavlConfig(), seed), IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("ravl", LearningMode.Offline, ActionKind.Continuous, "EDAC on model rollouts without a dynamics penalty (Sims et al. 2024)",
            new RavlConfig(), (obs, space, c, seed) => new Ravl(obs, space, c, seed)),
    ];

    /// <summary>EDAC's term, eta times <see cref="Edac.Diversity"/> at the batch's state-action pairs.</summary>
    protected override Tensor? CriticRegularizer(TransitionBatch b, Tensor qData)
    {
        if (Config.Eta == 0f) return null;
        var diversity = Edac.Diversity(Critic, b.ObsT, b.ActT);
        Record("diversity", diversity);
        return diversity * Config.Eta;
    }
}
