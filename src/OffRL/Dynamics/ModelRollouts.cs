using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Dynamics;

/// <summary>
/// Branched model rollouts (MBPO, Janner et al. 2019) as OfflineRL-Kit's MOPO and MOBILE make them
/// (yihaosun1124/OfflineRL-Kit @e3ce697: run_example/run_mopo.py arguments --rollout-freq 1000, --rollout-batch-size
/// 50000, --rollout-length, --model-retain-epochs 5, --real-ratio 0.05; policy/model_based/mopo.py rollout();
/// policy_trainer/mb_policy_trainer.py), with MOPO's reward penalty (Yu et al. 2020, eq. 8: r - lambda u(s, a)).
/// </summary>
public sealed record RolloutConfig
{
    /// <summary>Updates between two rounds of rollouts (--rollout-freq 1000).</summary>
    [FieldRange("[1, 100000000]")] public int Every { get; init; } = 1000;
    /// <summary>Rollouts per round, each from a dataset state drawn uniformly (--rollout-batch-size 50000).</summary>
    [FieldRange("[1, 100000000]")] public int Starts { get; init; } = 50_000;
    /// <summary>Model steps per rollout, h (--rollout-length; per dataset in the presets).</summary>
    [FieldRange("[1, 10000]")] public int Horizon { get; init; } = 5;
    /// <summary>Rounds the model buffer holds: its capacity is starts x horizon x this (--model-retain-epochs 5), oldest out first.</summary>
    [FieldRange("[1, 10000]")] public int RetainRounds { get; init; } = 5;
    /// <summary>Share of each batch drawn from the dataset, the rest from the model buffer (--real-ratio 0.05; rounded down).</summary>
    [FieldRange("[0, 1]")] public double RealRatio { get; init; } = 0.05;
    /// <summary>lambda of the reward penalty r - lambda u(s, a) (--penalty-coef; 0: no penalty).</summary>
    [FieldRange("[0, 1000000]")] public float PenaltyCoef { get; init; }
    /// <summary>u(s, a): which uncertainty the penalty measures (OfflineRL-Kit's uncertainty_mode; MOPO: aleatoric).</summary>
    public Uncertainty Penalty { get; init; } = Uncertainty.Aleatoric;

    /// <summary>The model buffer's capacity.</summary>
    public int Capacity => checked(Starts * Horizon * RetainRounds);
}

/// <summary>What one round of rollouts added: transitions, their mean reward (after the penalty) and mean penalty.</summary>
public sealed record RolloutRound(int Transitions, double RewardMean, double PenaltyMean);

/// <summary>
/// A FIFO buffer of model transitions, filled by rounds of branched rollouts: from dataset states the policy acts, the
/// ensemble steps (a random elite per row), the reward is penalized, the environment's rule ends rollouts; the
/// rollouts that have not ended go on to the horizon. <see cref="Sampler"/> mixes the buffer with the dataset.
/// </summary>
public sealed class ModelRollouts
{
    /// <summary>Actions for a batch of observations [B, obs] into [B, act] (the current policy, sampling as it does in training).</summary>
    public delegate void BatchPolicy(Tensor observations, Span<float> actions, Rng rng);

    public RolloutConfig Config { get; }
    public ReplayBuffer Buffer { get; }

    public ModelRollouts(RolloutConfig config, int observationDim, int actionDim)
    {
        FieldRange.Check(config);
        Config = config;
        Buffer = new ReplayBuffer(config.Capacity, observationDim, actionDim);
    }

    /// <summary>One round: <see cref="RolloutConfig.Starts"/> rollouts of up to <see cref="RolloutConfig.Horizon"/> steps into the buffer.</summary>
    public RolloutRound Run(Dataset data, IWorldModel model, Termination.Rule ends, BatchPolicy policy, Rng rng)
    {
        var c = Config;
        int od = model.ObservationDim, ad = data.ActionDim;
        var source = new DatasetSource(data);
        if (source.SampleableCount == 0) throw new DataException("model rollouts: the dataset has no transition to start from", data.Where, "observations");
        int alive = c.Starts;
        var s = new float[alive * od];
        for (int k = 0; k < alive; k++) data.Observation(source.SampleableRow(rng.NextInt(source.SampleableCount))).CopyTo(s.AsSpan(k * od, od));
        var a = new float[alive * ad]; var next = new float[alive * od]; var reward = new float[alive]; var penalty = new float[alive];
        int transitions = 0;
        double rewardSum = 0, penaltySum = 0;
        for (int t = 0; t < c.Horizon && alive > 0; t++)
        {
            if (s.Length != alive * od) s = s.AsSpan(0, alive * od).ToArray();   // the rollouts still going, once per step
            using (TensorScope.Begin()) policy(Tensor.FromArray(s, alive, od), a.AsSpan(0, alive * ad), rng);
            try { model.Step(s, a.AsSpan(0, alive * ad), alive, rng, next, reward, c.PenaltyCoef > 0 ? c.Penalty : null, penalty); }
            catch (InvalidOperationException e) { throw new DataException($"model rollouts, step {t} of {c.Horizon}: {e.Message} (the ensemble fitted to this data diverges here; a shorter rollout_horizon or a refitted model)", data.Where, "dynamics"); }
            int kept = 0;
            for (int k = 0; k < alive; k++)
            {
                float r = c.PenaltyCoef > 0 ? reward[k] - c.PenaltyCoef * penalty[k] : reward[k];
                var sNext = next.AsSpan(k * od, od);
                bool terminal = ends(sNext);
                Buffer.Add(s.AsSpan(k * od, od), a.AsSpan(k * ad, ad), r, sNext, terminal, truncated: false);
                rewardSum += r; penaltySum += c.PenaltyCoef > 0 ? penalty[k] : 0;
                transitions++;
                if (terminal) continue;
                sNext.CopyTo(s.AsSpan(kept * od, od));   // rollouts that go on move to the front
                kept++;
            }
            alive = kept;
        }
        return new RolloutRound(transitions, rewardSum / Math.Max(1, transitions), penaltySum / Math.Max(1, transitions));
    }

    /// <summary>Rows of a batch of <paramref name="batchSize"/> drawn from the dataset: floor(batch x real ratio) (mb_policy_trainer.py).</summary>
    public int RealRows(int batchSize) => (int)Math.Floor(batchSize * Config.RealRatio);

    /// <summary>Batches of <paramref name="batchSize"/>: <see cref="RealRows"/> from the dataset first, the rest from the buffer (mb_policy_trainer.py).</summary>
    public MixedSampler Sampler(Dataset data, int batchSize, Rng rng, float gamma) =>
        new(new DatasetSource(data), Buffer, batchSize, (double)RealRows(batchSize) / batchSize, rng, gamma);
}

/// <summary>
/// The batches a model-based method learns from, as mb_policy_trainer.py draws them: before the batch of every update
/// whose count is a multiple of <see cref="RolloutConfig.Every"/> a round of rollouts with the current policy (and
/// before any batch while the model buffer is empty: a run's first, or a resumed run's first, whose earlier rounds the
/// checkpoint does not hold); then <see cref="ModelRollouts.RealRows"/> dataset rows first, model rows after them. A
/// batch all of dataset rows (real ratio 1) needs no rollouts, and none are made.
/// </summary>
public sealed class RolloutSampler : ITransitionSampler
{
    private readonly ModelRollouts _rollouts;
    private readonly Dataset _data;
    private readonly IWorldModel _model;
    private readonly Termination.Rule _ends;
    private readonly ModelRollouts.BatchPolicy _policy;
    private readonly Func<long> _updates;
    private readonly Rng _rng;
    private readonly MixedSampler _mixed;

    /// <param name="updates">The learner's update count: a round comes before updates 0, Every, 2 Every, ...</param>
    public RolloutSampler(ModelRollouts rollouts, Dataset data, IWorldModel model, Termination.Rule ends, ModelRollouts.BatchPolicy policy,
        Func<long> updates, int batchSize, Rng rng, float gamma)
    {
        if (model.ObservationDim != data.ObservationDim || model.ActionDim != data.ActionDim)
            throw new DataException($"the model of the world takes {model.ObservationDim} observations and {model.ActionDim} actions, the dataset has {data.ObservationDim} and {data.ActionDim}", data.Where, "dynamics");
        _rollouts = rollouts; _data = data; _model = model; _ends = ends; _policy = policy; _updates = updates; _rng = rng;
        _mixed = rollouts.Sampler(data, batchSize, rng, gamma);
        RealRows = rollouts.RealRows(batchSize);
    }

    /// <summary>Rows of each batch from the dataset (the first ones); the rest are model rows.</summary>
    public int RealRows { get; }

    /// <summary>The latest round of rollouts (null before the first).</summary>
    public RolloutRound? LastRound { get; private set; }

    public TransitionBatch Sample()
    {
        if (RealRows < _mixed.Batch.Size && (_updates() % _rollouts.Config.Every == 0 || _rollouts.Buffer.Count == 0))
            LastRound = _rollouts.Run(_data, _model, _ends, _policy, _rng);
        return _mixed.Sample();
    }
}
