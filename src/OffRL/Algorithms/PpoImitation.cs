using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// PPO with imitation of offline trajectories (Andres, Schäfer, Albrecht and Del Ser 2024, "Using Offline Data to
/// Speed Up Reinforcement Learning in Procedurally Generated Environments", Neurocomputing; arXiv 2304.09825): the
/// policy pre-trained by behaviour cloning on the trajectories (the offline phase of <c>offrl finetune</c>,
/// bc_steps updates), then PPO online with, in every minibatch, the cloning loss on a batch of the trajectories
/// weighted by imitation_coef (their concurrent IL; 0: pre-training alone; bc_steps 0 with a coefficient: concurrent
/// IL alone). PPO's settings are <see cref="PpoConfig"/>'s (ppo.py's for the discrete form). The cloning settings
/// (10 000 updates, Adam 1e-3, coefficient 1, concurrent batches of 256) are OffRL's own, not the paper's: its tables
/// were not readable from this workplace; set them from it where they differ.
/// </summary>
public sealed record PpoImitationConfig : PpoConfig
{
    /// <summary>Behaviour-cloning updates before the first rollout (the offline phase).</summary>
    [FieldRange("[0, 1000000000000]")]
    public long BcSteps { get; init; } = 10_000;
    /// <summary>Adam's rate for the pre-training.</summary>
    [FieldRange("(0, 1]")]
    public double BcLr { get; init; } = 1e-3;
    /// <summary>Weight of the cloning loss added to each PPO minibatch's loss (concurrent IL); 0: none.</summary>
    [FieldRange("[0, 1000]")]
    public float ImitationCoef { get; init; } = 1f;
    /// <summary>Dataset rows in each concurrent cloning batch (the pre-training's batches are batch_size rows).</summary>
    [FieldRange("[1, 1000000]")]
    public int ImitationBatchSize { get; init; } = 256;

    public override long? OfflinePhaseUpdates() => BcSteps;

    /// <summary>The dataset's reward fields hold for the rollouts too.</summary>
    protected override bool LearnsFromDataset => true;
}

/// <summary>
/// PPO whose policy first imitates the dataset (max E_D log pi(a|s)) and keeps imitating it during online learning:
/// L = L^PPO + c E_D[-log pi(a|s)] per minibatch.
/// </summary>
public sealed class PpoImitation : Ppo
{
    public static new IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("ppo-il", LearningMode.Offline, ActionKind.Discrete, "PPO pre-trained by behaviour cloning, with concurrent imitation online (Andres et al. 2024)",
            new PpoImitationConfig(), (obs, space, c, seed) => new PpoImitation(obs, space, c, seed)),
        AlgorithmSpec.Of("ppo-il-continuous", LearningMode.Offline, ActionKind.Continuous, "PPO pre-trained by behaviour cloning, with concurrent imitation online, Gaussian policy (Andres et al. 2024)",
            new PpoImitationConfig { Lr = 3e-4, NumEnvs = 1, NumSteps = 2048, NumMinibatches = 32, UpdateEpochs = 10, EntCoef = 0f }, (obs, space, c, seed) => new PpoImitation(obs, space, c, seed)),
    ];

    private readonly PpoImitationConfig _c;
    private readonly Adam _bcOpt;
    private UniformSampler? _demonstrations;

    public PpoImitation(int obs, Space actionSpace, PpoImitationConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new PpoImitationConfig(), seed)
    {
        _c = (PpoImitationConfig)Config;
        _bcOpt = Optim("bc", new Adam(PolicyParameters, _c.BcLr));
    }

    public override void UseDataset(Dataset prepared) => _demonstrations = new UniformSampler(new DatasetSource(prepared), _c.ImitationBatchSize, Rng, Config.Gamma);

    /// <summary>-E_D log pi(a|s) on a batch of the trajectories.</summary>
    private Tensor CloningLoss(TransitionBatch b) => -LogProbAndEntropy(Head(b.ObsT), LogStd?.Value, b.ActT, b.ActionIndex).LogProb.Mean();

    /// <summary>Pre-training: one cloning step on the trainer's batch of the dataset.</summary>
    protected override void UpdateCore(TransitionBatch batch)
    {
        _bcOpt.ZeroGrad();
        var loss = CloningLoss(batch);
        loss.Backward();
        _bcOpt.Step();
        Record("bc_loss", loss);
    }

    protected override Tensor? AuxiliaryLoss()
    {
        if (_c.ImitationCoef == 0f) return null;
        var demonstrations = _demonstrations ?? throw new InvalidOperationException($"{Name}: no dataset to imitate (offrl finetune gives it through Agent.UseDataset)");
        var loss = CloningLoss(demonstrations.Sample());
        Record("imitation_loss", loss);
        return loss * _c.ImitationCoef;
    }
}
