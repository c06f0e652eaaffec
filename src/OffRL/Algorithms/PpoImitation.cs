using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// PPO with imitation of offline trajectories (Andres, Schäfer, Albrecht and Del Ser 2024, "Using Offline Data to
/// Speed Up Reinforcement Learning in Procedurally Generated Environments", Neurocomputing; arXiv 2304.09825), as the
/// authors' code runs it on MiniGrid (github.com/uoe-agents/imitation-learning-pcg @05e8b00, pytorch_pcg_il/): the
/// policy pre-trained by behaviour cloning, -log pi(a|s) on batches of 256 demonstration rows with the actor's Adam at
/// 1e-4 (train.py:388-392, --pre_train_epochs: gradient steps, 3000 or 10 000 in the README; the offline phase of
/// <c>offrl finetune</c>), then PPO online with, after each PPO update, 5 more cloning steps of 256 rows (their
/// concurrent IL, train.py:512-534, --sl_num 5; 0: pre-training alone). Their PPO for MiniGrid (train.py:43-63): one
/// env, 2048-step rollouts, 4 epochs of 4 minibatches, Adam 1e-4 without annealing, clip 0.2, entropy 0.01, separate
/// 64-64 tanh actor and critic. Where OffRL differs: the demonstrations stay as given (their RAPID ranking buffer
/// also takes the best online episodes and keeps the top 10 000 rows by return and novelty); the cloning steps have an
/// Adam of their own (theirs share the actor's); PPO's actor and critic share one Adam (CleanRL's), as in <c>ppo</c>.
/// </summary>
public sealed record PpoImitationConfig : PpoConfig
{
    public PpoImitationConfig()
    {
        NumEnvs = 1;
        NumSteps = 2048;
        NumMinibatches = 4;
        UpdateEpochs = 4;
        Lr = 1e-4;
        AnnealLr = false;
    }

    /// <summary>Behaviour-cloning updates before the first rollout, each on batch_size rows (--pre_train_epochs; 3000 in their README).</summary>
    [FieldRange("[0, 1000000000000]")]
    public long BcSteps { get; init; } = 3_000;
    /// <summary>The cloning steps' Adam rate (the actor's 1e-4).</summary>
    [FieldRange("(0, 1]")]
    public double BcLr { get; init; } = 1e-4;
    /// <summary>Cloning steps after each PPO update (concurrent IL, --sl_num 5); 0: none.</summary>
    [FieldRange("[0, 100000]")]
    public int ImitationSteps { get; init; } = 5;
    /// <summary>Demonstration rows in each concurrent cloning step (--sl_batch_size 256; the pre-training's are batch_size).</summary>
    [FieldRange("[1, 1000000]")]
    public int ImitationBatchSize { get; init; } = 256;

    public override long? OfflinePhaseUpdates() => BcSteps;

    /// <summary>The dataset's reward fields hold for the rollouts too.</summary>
    protected override bool LearnsFromDataset => true;
}

/// <summary>
/// PPO whose policy first imitates the dataset (max E_D log pi(a|s)) and keeps imitating it during online learning:
/// after each PPO update, imitation_steps cloning steps on the demonstrations.
/// </summary>
public sealed class PpoImitation : Ppo
{
    public static new IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("ppo-il", LearningMode.Offline, ActionKind.Discrete, "PPO pre-trained by behaviour cloning, with concurrent imitation online (Andres et al. 2024)",
            new PpoImitationConfig(), (obs, space, c, seed) => new PpoImitation(obs, space, c, seed)),
        AlgorithmSpec.Of("ppo-il-continuous", LearningMode.Offline, ActionKind.Continuous, "PPO pre-trained by behaviour cloning, with concurrent imitation online, Gaussian policy (Andres et al. 2024)",
            new PpoImitationConfig { Lr = 3e-4, AnnealLr = true, NumMinibatches = 32, UpdateEpochs = 10, EntCoef = 0f }, (obs, space, c, seed) => new PpoImitation(obs, space, c, seed)),
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

    /// <summary>One cloning step: -E_D log pi(a|s) on a batch of the demonstrations.</summary>
    private float CloningStep(TransitionBatch b)
    {
        _bcOpt.ZeroGrad();
        var loss = -LogProbAndEntropy(Head(b.ObsT), LogStd?.Value, b.ActT, b.ActionIndex).LogProb.Mean();
        loss.Backward();
        _bcOpt.Step();
        return loss.Item();
    }

    /// <summary>Pre-training: one cloning step on the trainer's batch of the dataset.</summary>
    protected override void UpdateCore(TransitionBatch batch) => Record("bc_loss", CloningStep(batch));

    /// <summary>PPO's update, then imitation_steps cloning steps (concurrent IL).</summary>
    public override void Learn(RolloutBuffer rollout, int iteration, int iterations, Rng shuffle)
    {
        base.Learn(rollout, iteration, iterations, shuffle);
        if (_c.ImitationSteps == 0) return;
        var demonstrations = _demonstrations ?? throw new InvalidOperationException($"{Name}: no dataset to imitate (offrl finetune gives it through Agent.UseDataset)");
        float loss = 0;
        for (int k = 0; k < _c.ImitationSteps; k++)
            using (TensorScope.Begin()) loss = CloningStep(demonstrations.Sample());
        Record("imitation_loss", loss);
    }
}
