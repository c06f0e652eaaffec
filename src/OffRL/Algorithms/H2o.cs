using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// H2O hyperparameters (Niu et al. 2022, "When to Trust Your Simulator: Dynamics-Aware Hybrid Offline-and-Online
/// Reinforcement Learning"), as the authors' code runs them (github.com/t6-thu/H2O @bc98dc0: SimpleSAC/sim2real_sac.py's
/// config, sim2real_sac_main.py's flags). A real dataset and a simulator whose dynamics
/// differ (<c>--sim-env halfcheetah:gravity=2</c>): SAC with two critics 2 x 256 (output layers Xavier with gain 0.01, the
/// policy's log std m raw + o with learnable m = 1, o = -1, clamped to [-20, 2]), no entropy term in the target, every
/// batch 128 real + 128 simulated rows, learning rates 3e-4, gamma 0.99, tau 5e-3, the temperature from 1 towards -|A|;
/// the order of CQL's code (losses first, temperature, actor, critics). Two discriminators, D_sa(s, a) and D_sas(s, a, s')
/// (2 x 256 ReLU, two outputs 2 tanh), trained every update on 256 real and 256 simulated rows with N(0, 0.1) noise on
/// their inputs, tell real from simulated; from them the dynamics ratio P_real(s'|s, a) / P_sim(s'|s, a), which weighs
/// the simulated rows' TD errors (clipped to [1e-5, 1]), and the gap u(s, a) (the mean of log P_sim / P_real over 10
/// noisy next states), which points a penalty at the simulated state-actions the simulator gets most wrong. Rollouts:
/// rounds of 1000 simulator steps with the stochastic policy, then 1000 updates; the simulated buffer holds 10 times
/// the real rows. The dataset is used raw: every row, its stored next observation, timeouts bootstrapping.
/// </summary>
public sealed record H2oConfig : SacConfig
{
    public H2oConfig()
    {
        ActorBeforeCritic = true;      // CQL's order (SimpleSAC): temperature, actor, critics
        BackupEntropy = false;         // backup_entropy False
        LogStdMin = -20f;
        LogStdOffset = -1f;            // policy_log_std_offset -1, multiplier 1, both learnable
        ActorOutputGain = 0.01f;       // FullyConnectedNetwork's last layer: Xavier-uniform, gain 1e-2, bias 0
        CriticOutputGain = 0.01f;
        NormalizeObservations = false; // raw states (MixedReplayBuffer scale_state False)
    }

    /// <summary>Share of each batch from the real dataset (1 - batch_ratio: 128 of 256).</summary>
    [FieldRange("(0, 1)")]
    public double RealRatio { get; init; } = 0.5;
    /// <summary>Simulator steps per round, each round followed by rollout_steps x update_to_data_ratio updates (n_rollout_steps_per_epoch 1000).</summary>
    [FieldRange("[1, 1000000]")]
    public int RolloutSteps { get; init; } = 1000;
    /// <summary>Updates per simulator step (n_train_step_per_epoch / n_rollout_steps_per_epoch: 1000 / 1000).</summary>
    [FieldRange("[1, 10000]")]
    public int UpdateToDataRatio { get; init; } = 1;
    /// <summary>The simulated buffer's capacity in real datasets (replaybuffer_ratio 10).</summary>
    [FieldRange("[1, 1000]")]
    public int SimBufferRatio { get; init; } = 10;
    /// <summary>Hidden widths of both discriminators.</summary>
    [FieldRange("[1, 16384]")]
    public int[] DiscriminatorHidden { get; init; } = [256, 256];
    /// <summary>Learning rate of both discriminators (d_sa_lr, d_sas_lr).</summary>
    [FieldRange("(0, 1]")]
    public double DiscriminatorLr { get; init; } = 3e-4;
    /// <summary>Real rows and simulated rows in each discriminator batch (cql.batch_size 256 each).</summary>
    [FieldRange("[1, 1000000]")]
    public int DiscriminatorBatch { get; init; } = 256;
    /// <summary>Std of the Gaussian noise on the discriminators' inputs in training (noise_std_discriminator).</summary>
    [FieldRange("[0, 100]")]
    public float DiscriminatorNoise { get; init; } = 0.1f;
    /// <summary>Clip of the simulated rows' TD weight P_real / P_sim from below (clip_dynamics_ratio_min).</summary>
    [FieldRange("[0, 1]")]
    public float RatioMin { get; init; } = 1e-5f;
    /// <summary>Clip of that weight from above (clip_dynamics_ratio_max: simulated rows never count more than real ones).</summary>
    [FieldRange("(0, 1000]")]
    public float RatioMax { get; init; } = 1f;
    /// <summary>Noisy next states per simulated row in the gap u(s, a) (sampling_n_next_states).</summary>
    [FieldRange("[1, 1000]")]
    public int NextStateSamples { get; init; } = 10;
    /// <summary>Their noise in units of the state std (s_prime_std_ratio).</summary>
    [FieldRange("[0, 100]")]
    public float NextStateNoise { get; init; } = 1f;
    /// <summary>Clip of u(s, a) from below (sim_q_coeff_min).</summary>
    [FieldRange("(0, 1]")]
    public float GapMin { get; init; } = 1e-45f;
    /// <summary>Clip of u(s, a) from above (sim_q_coeff_max).</summary>
    [FieldRange("(0, 1000]")]
    public float GapMax { get; init; } = 10f;
    /// <summary>Weight of the penalty (cql_min_q_weight).</summary>
    [FieldRange("[0, 1000]")]
    public float PenaltyWeight { get; init; } = 0.01f;
    /// <summary>Temperature T of the penalty's log-sum-exp (cql_temp).</summary>
    [FieldRange("(0, 1000]")]
    public float PenaltyTemperature { get; init; } = 1f;
    /// <summary>The penalty's difference clipped to [-x, x] (cql_clip_diff_min/max).</summary>
    [FieldRange("(0, inf)")]
    public float PenaltyClip { get; init; } = 1000f;
}

/// <summary>H2O: SAC on real and simulated data, the simulated rows weighed and penalized by learned dynamics ratios (<see cref="H2oConfig"/>).</summary>
public sealed class H2o : Sac<H2oConfig>, IAlgorithmFamily, IHybridSchedule
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("h2o", LearningMode.Hybrid, ActionKind.Continuous, "Real data plus a simulator with a dynamics gap, simulated rows weighed by learned dynamics ratios (Niu et al. 2022)",
            new H2oConfig(), (obs, space, c, seed) => new H2o(obs, space, c, seed)),
    ];

    private readonly Mlp _dsa, _dsas;                  // D_sa(s, a), D_sas(s, a, s'): two logits each, index 0 real, 1 simulated
    private readonly Adam _dsaOpt, _dsasOpt;
    private Dataset? _real;
    private ITransitionSource? _sim;
    private MixedSampler? _discBatches;
    private Tensor? _nextNoise;                        // [obs]: the next states' noise std in u(s, a), next_state_noise times the state std
    private Tensor _weights = Tensor.Zeros(1, 1);      // [B, 1]: each row's TD weight over its source's size
    private Tensor _logOmega = Tensor.Zeros(1, 1);     // [simulated rows, 1]: log(u / sum u)

    public H2o(int obs, Space actionSpace, H2oConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new H2oConfig(), seed)
    {
        int act = actionSpace.Width;
        _dsa = new Mlp(new MlpConfig(obs + act, Config.DiscriminatorHidden, 2, Activation.Relu, Activation.Tanh), Rng);
        _dsas = new Mlp(new MlpConfig(2 * obs + act, Config.DiscriminatorHidden, 2, Activation.Relu, Activation.Tanh), Rng);
        _dsaOpt = Optim("d_sa", new Adam(_dsa.Parameters(), Config.DiscriminatorLr));
        _dsasOpt = Optim("d_sas", new Adam(_dsas.Parameters(), Config.DiscriminatorLr));
    }

    public double OfflineRatio => Config.RealRatio;
    public int UpdateToDataRatio => Config.UpdateToDataRatio;
    public long RandomSteps => 0;                      // rollouts start from the untrained policy
    public int CollectSteps => Config.RolloutSteps;
    public long? OnlineCapacity(long datasetRows) => datasetRows * Config.SimBufferRatio;

    /// <summary>
    /// The real data, and the std of the noise on next states in u(s, a): as the authors' buffer computes it, over its
    /// whole state array, the real rows and sim_buffer_ratio times as many zero rows (std of those, plus 1e-3).
    /// </summary>
    public override void UseDataset(Dataset prepared)
    {
        _real = prepared;
        int d = prepared.ObservationDim, n = prepared.Count;
        var sum = new double[d];
        var squares = new double[d];
        for (int i = 0; i < n; i++)
        {
            var o = prepared.Observation(i);
            for (int j = 0; j < d; j++) { sum[j] += o[j]; squares[j] += (double)o[j] * o[j]; }
        }
        double rows = (double)n * (1 + Config.SimBufferRatio);
        var std = new float[d];
        for (int j = 0; j < d; j++)
        {
            double mean = sum[j] / rows;
            std[j] = (float)((Math.Sqrt(Math.Max(0, squares[j] / rows - mean * mean)) + 1e-3) * Config.NextStateNoise);
        }
        _nextNoise = Tensor.FromArray(std, d);
        Connect();
    }

    public override void UseOnlineBuffer(ITransitionSource buffer) { _sim = buffer; Connect(); }

    private void Connect()
    {
        if (_real is not null && _sim is not null)
            _discBatches = new MixedSampler(new DatasetSource(_real), _sim, 2 * Config.DiscriminatorBatch, 0.5, Rng, Config.Gamma);
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        int real = b.DatasetRows, sim = b.Size - real;
        if (_discBatches is null || real == 0 || sim == 0)
            throw new InvalidOperationException("h2o: learns from a real dataset and a simulator's transitions together (offrl train --algo h2o --dataset REAL --env REAL --sim-env SIM)");
        TrainDiscriminators(_discBatches.Sample());
        using (Tensor.NoGrad()) WeighSimulatedRows(b, real, sim);
        base.UpdateCore(b);
    }

    /// <summary>
    /// Cross-entropy of both discriminators on real (label 0) and simulated (label 1) rows with noisy inputs; D_sas's
    /// probabilities are softmax(l_sas + l_sa), so D_sa learns from both losses (the authors' coupling).
    /// </summary>
    private void TrainDiscriminators(TransitionBatch d)
    {
        int half = d.DatasetRows, n = d.Size;
        Tensor Noisy(Tensor x) => Config.DiscriminatorNoise > 0 ? x + Tensor.Randn(x.Shape, Rng) * Config.DiscriminatorNoise : x;
        Tensor s = Noisy(d.ObsT), a = Noisy(d.ActT), s2 = Noisy(d.NextT);
        var lsa = _dsa.Forward(Tensor.Concat(s, a, -1)) * 2f;
        var lsas = _dsas.Forward(Tensor.Concat(-1, s, a, s2)) * 2f;
        Tensor CrossEntropy(Tensor logits)
        {
            var logp = logits.LogSoftmax(-1);
            return logp.Slice(0, 0, half).Slice(-1, 0, 1).Mean().Neg() - logp.Slice(0, half, n - half).Slice(-1, 1, 1).Mean();
        }
        var loss = CrossEntropy(lsa) + CrossEntropy(lsas + lsa);
        _dsaOpt.ZeroGrad(); _dsasOpt.ZeroGrad();
        loss.Backward();
        _dsaOpt.Step(); _dsasOpt.Step();
        Record("discriminator_loss", loss);
    }

    /// <summary>
    /// For the batch's simulated rows: the TD weight clip(P_real / P_sim, ratio_min, ratio_max) and the gap
    /// u = clip(mean over noisy next states of log P_sim / P_real, gap_min, gap_max), as log(u / sum u). With
    /// p_sas = softmax(l_sas + l_sa), log P_real / P_sim = l_sas[0] - l_sas[1]: D_sa's logits cancel.
    /// </summary>
    private void WeighSimulatedRows(TransitionBatch b, int real, int sim)
    {
        if (_weights.Size != b.Size || _logOmega.Size != sim) (_weights, _logOmega) = (Tensor.Zeros(b.Size, 1), Tensor.Zeros(sim, 1));
        float[] weights = _weights.Data, logOmega = _logOmega.Data;
        var s = b.ObsT.Slice(0, real, sim);
        var a = b.ActT.Slice(0, real, sim);
        var s2 = b.NextT.Slice(0, real, sim);
        var logit = _dsas.Forward(Tensor.Concat(-1, s, a, s2)).Data;
        for (int i = 0; i < real; i++) weights[i] = 1f / real;
        double meanWeight = 0;
        for (int i = 0; i < sim; i++)
        {
            float w = Math.Clamp(MathF.Exp(2f * (logit[2 * i] - logit[2 * i + 1])), Config.RatioMin, Config.RatioMax);
            weights[real + i] = w / sim;
            meanWeight += w / sim;
        }
        // u(s, a): k noisy copies of each simulated s', s' + N(0, 1) std noise_scale
        int k = Config.NextStateSamples, od = b.ObservationDim;
        var noisy = s2.RepeatInterleave(k, 0) + Tensor.Randn(new Shape(sim * k, od), Rng) * _nextNoise!;
        var gap = _dsas.Forward(Tensor.Concat(-1, s.RepeatInterleave(k, 0), a.RepeatInterleave(k, 0), noisy)).Data;
        double total = 0;
        for (int i = 0; i < sim; i++)
        {
            double u = 0;
            for (int j = 0; j < k; j++) u += 2.0 * (gap[2 * (i * k + j) + 1] - gap[2 * (i * k + j)]);
            u = Math.Clamp(u / k, Config.GapMin, Config.GapMax);
            logOmega[i] = (float)u;
            total += u;
        }
        for (int i = 0; i < sim; i++) logOmega[i] = (float)Math.Log(logOmega[i] / total);
        Record("sim_td_weight", (float)meanWeight);
    }

    /// <summary>
    /// The TD loss of each critic: the real rows' mean squared error plus the simulated rows' mean of w (Q - y)^2, w
    /// the clipped dynamics ratio; summed over the critics.
    /// </summary>
    protected override Tensor TdLoss(TransitionBatch b, Tensor q, Tensor y) =>
        ((q - y).Square() * _weights).Sum();

    /// <summary>
    /// The penalty on high-gap simulated pairs: PenaltyWeight clip(T log sum_i omega_i exp(Q(s_i, a_i) / T) - mean over real
    /// rows of Q, +-PenaltyClip) for each critic, omega = u / sum u over the batch's simulated rows at their stored actions.
    /// </summary>
    protected override Tensor? CriticRegularizer(TransitionBatch b, Tensor qData)
    {
        int real = b.DatasetRows, sim = b.Size - real;
        float t = Config.PenaltyTemperature;
        var gap = ((qData.Slice(1, real, sim) + _logOmega) / t).LogSumExp(1) * t;   // [N, 1]
        var diff = (gap - qData.Slice(1, 0, real).Mean(1)).Clamp(-Config.PenaltyClip, Config.PenaltyClip);
        Record("gap_penalty", diff.Detach().Mean());
        return diff.Sum() * Config.PenaltyWeight;
    }

    protected override IEnumerable<(string, Module)> Modules() => [.. base.Modules(), ("d_sa", _dsa), ("d_sas", _dsas)];
}
