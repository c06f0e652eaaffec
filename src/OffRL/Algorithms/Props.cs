using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// PROPS hyperparameters (Corrado and Hanna 2024, "On-Policy Policy Gradient Reinforcement Learning Without On-Policy
/// Sampling"), as the authors' code runs them (github.com/NicholasCorrado/PPOROS @a0c8708, PROPS/ppo_props_continuous.py
/// and ppo_props_discrete.py, with the config.yml files of the paper's runs). The defaults of <c>props</c> are the
/// Hopper-v4 run's: one env, observations and rewards normalized; the target policy learns by PPO every n = 2048 steps
/// from the last b = 2 rollouts (learning rate 1e-3 annealed, 10 epochs of 32 minibatches, entropy 0.01, target KL
/// 0.03, the rest as CleanRL's); the behaviour policy takes a PROPS update every m = 256 steps (Adam 1e-3 eps 1e-5, 16
/// epochs of 16 minibatches, clip 0.3, KL weight 0.3, target KL 0.05, gradient norm 0.5). <c>props-discrete</c>:
/// ppo_props_discrete.py's CartPole defaults (n 1024, b 1, m 128, 8 PROPS minibatches, PROPS target KL 0.03, KL weight
/// 0.1, no normalization); PPO's target KL checked before each minibatch step, the update ending there, as theirs.
/// Where OffRL differs from that code: the Gaussian's mean is not squashed by a tanh; the PROPS update
/// measures its ratio and KL against the target as it is after the PPO update that precedes it (the authors' code
/// reuses the log-probabilities computed before that update); the discrete KL term is the closed form over all actions.
/// </summary>
public sealed record PropsConfig : PpoConfig
{
    public PropsConfig()
    {
        NumEnvs = 1;
        NumSteps = 2048;
        Lr = 1e-3;
        NumMinibatches = 32;
        UpdateEpochs = 10;
        TargetKl = 0.03f;
        KlStopBeforeStep = true;
        NormalizeObservations = true;
        NormalizeRewards = true;
    }

    /// <summary>ppo_props_discrete.py's CartPole defaults (where they differ from the continuous file's Hopper run).</summary>
    public static PropsConfig Discrete => new()
    {
        NumSteps = 1024, BufferBatches = 1, PropsNumSteps = 128, PropsNumMinibatches = 8, PropsTargetKl = 0.03f, PropsKlCoef = 0.1f,
        NormalizeObservations = false, NormalizeRewards = false,
    };

    /// <summary>Steps per env between behaviour updates, m in the paper (props_num_steps); divides num_steps.</summary>
    [FieldRange("[1, 1000000]")]
    public int PropsNumSteps { get; init; } = 256;
    /// <summary>Rollouts of num_steps kept for each target update, b in the paper (buffer_batches).</summary>
    [FieldRange("[1, 1000]")]
    public int BufferBatches { get; init; } = 2;
    /// <summary>The behaviour policy's Adam rate (props_learning_rate); 0: no behaviour update, on-policy sampling into the same buffer (the paper's PPO-Buffer).</summary>
    [FieldRange("[0, 1]")]
    public double PropsLr { get; init; } = 1e-3;
    /// <summary>The PROPS objective's clip, epsilon_PROPS (props_clip_coef).</summary>
    [FieldRange("(0, 1)")]
    public float PropsClip { get; init; } = 0.3f;
    /// <summary>Weight of KL(pi_phi || pi_theta) in the PROPS loss, lambda (props_lambda).</summary>
    [FieldRange("[0, inf)")]
    public float PropsKlCoef { get; init; } = 0.3f;
    /// <summary>A behaviour update stops before a minibatch whose approximate KL to the target exceeds this (props_target_kl); null: never.</summary>
    [FieldRange("(0, inf)")]
    public float? PropsTargetKl { get; init; } = 0.05f;
    /// <summary>Passes over the buffer per behaviour update (props_update_epochs).</summary>
    [FieldRange("[1, 1000]")]
    public int PropsEpochs { get; init; } = 16;
    /// <summary>Minibatches per pass: the full buffer less m steps split in this many (props_num_minibatches).</summary>
    [FieldRange("[1, inf)")]
    public int PropsNumMinibatches { get; init; } = 16;
    /// <summary>Global gradient-norm clip of the behaviour steps (props_max_grad_norm).</summary>
    [FieldRange("(0, inf)")]
    public float PropsMaxGradNorm { get; init; } = 0.5f;
    /// <summary>Measure the sampling error every this many target updates (se_freq; the metric <c>sampling_error</c>); 0: never.</summary>
    [FieldRange("[0, inf)")]
    public int SamplingErrorEvery { get; init; }
    /// <summary>Passes of the maximum-likelihood fit behind the sampling error (se_epochs; its minibatch 512 per rollout of num_steps).</summary>
    [FieldRange("[1, 100000]")]
    public int SamplingErrorEpochs { get; init; } = 250;
    /// <summary>That fit's Adam rate (se_lr).</summary>
    [FieldRange("(0, 1]")]
    public double SamplingErrorLr { get; init; } = 1e-3;

    public override void Validate()
    {
        base.Validate();
        if (NumSteps % PropsNumSteps != 0)
            throw new ArgumentException($"config: field 'props_num_steps' of {nameof(PropsConfig)} is {PropsNumSteps}, not a divisor of num_steps ({NumSteps}): the target updates after whole behaviour batches");
        if (PropsLr > 0 && PropsNumSteps == NumSteps * BufferBatches)
            throw new ArgumentException($"config: field 'props_num_steps' of {nameof(PropsConfig)} is {PropsNumSteps}, the whole buffer (num_steps {NumSteps} x buffer_batches {BufferBatches}): a behaviour update would have no data left once the buffer is full");
        if (PropsLr > 0 && PropsNumMinibatches > (long)(NumSteps * BufferBatches - PropsNumSteps) * NumEnvs)
            throw new ArgumentException($"config: field 'props_num_minibatches' of {nameof(PropsConfig)} is {PropsNumMinibatches}, more than the {(NumSteps * BufferBatches - PropsNumSteps) * NumEnvs} rows a behaviour update reads");
    }
}

/// <summary>
/// Proximal Robust On-Policy Sampling (Corrado and Hanna 2024, Algorithms 1 and 2): PPO whose data come from a
/// behaviour policy pi_phi adapted to the target pi_theta's sampling error. Every m steps pi_phi restarts from pi_theta
/// and takes the PROPS update on the buffer (eq. 6): minimize E[max(r_phi, clip(r_phi, 1 - eps, 1 + eps))] +
/// lambda E[KL(pi_phi || pi_theta)], r_phi = pi_phi(a|s) / pi_theta(a|s), the clipped surrogate with every advantage
/// -1, which lowers the probability of the actions already over-sampled relative to pi_theta, so the next ones fill
/// what is under-sampled. Every n steps pi_theta learns by PPO from the last b rollouts together, their log-probabilities,
/// values and advantages recomputed under the current policy and critic, as if they were on-policy. The sampling error
/// (sec. 6): the mean over the buffer of log pi_D(a|s) - log pi_theta(a|s), pi_D the maximum-likelihood fit of the
/// buffer's actions from pi_theta with its hidden weights held (a KL-style gap between the empirical and the target
/// policy; 0 for data exactly as likely under pi_theta as under any fit).
/// </summary>
public sealed class Props : Ppo
{
    public static new IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("props", LearningMode.Online, ActionKind.Continuous, "PPO with Proximal Robust On-Policy Sampling (Corrado and Hanna 2024)",
            new PropsConfig(), (obs, space, c, seed) => new Props(obs, space, c, seed)),
        AlgorithmSpec.Of("props-discrete", LearningMode.Online, ActionKind.Discrete, "PPO with Proximal Robust On-Policy Sampling, categorical policy (Corrado and Hanna 2024)",
            PropsConfig.Discrete, (obs, space, c, seed) => new Props(obs, space, c, seed)),
    ];

    private readonly PropsConfig _c;
    private readonly Mlp _behaviour;
    private readonly ParameterModule? _behaviourLogStd;
    private readonly List<Tensor> _behaviourParams;
    private readonly Adam _behaviourOpt;
    private int[] _order = [];
    private float[] _targetLogProb = [], _targetHead = [];
    private int _measured;

    public Props(int obs, Space actionSpace, PropsConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new PropsConfig(), seed)
    {
        _c = (PropsConfig)Config;
        _behaviour = new Mlp(Actor.Config, new Rng(seed));   // overwritten by the target's weights; the agent's generator untouched
        _behaviourParams = [.. _behaviour.Parameters()];
        if (LogStd is not null)
        {
            _behaviourLogStd = new ParameterModule("log_std", LogStd.Value.Shape);
            _behaviourParams.Add(_behaviourLogStd.Value);
        }
        RestartBehaviour();
        _behaviourOpt = Optim("behaviour", new Adam(_behaviourParams, _c.PropsLr, eps: _c.AdamEps));
    }

    /// <summary>Rollouts of m steps, the last b n / m of them kept: the behaviour updates after each, the target after every n / m.</summary>
    public override RolloutSettings Rollouts => base.Rollouts with { Steps = _c.PropsNumSteps, Window = _c.NumSteps * _c.BufferBatches / _c.PropsNumSteps };

    protected override (Mlp Actor, ParameterModule? LogStd) Behaviour => (_behaviour, _behaviourLogStd);

    public override void Learn(RolloutBuffer r, int iteration, int iterations, Rng shuffle)
    {
        int perTarget = _c.NumSteps / _c.PropsNumSteps;
        if (iteration % perTarget == 0)
        {   // Algorithm 1, line 9: the target's PPO update on the whole buffer, as if it were on-policy
            int update = iteration / perTarget;
            Relabel(r);
            if (_c.SamplingErrorEvery > 0 && update % _c.SamplingErrorEvery == 0) Record("sampling_error", SamplingError(r));
            LearnEpochs(r, update, iterations / perTarget, shuffle);
        }
        RestartBehaviour();   // Algorithm 1, line 12: pi_phi <- pi_theta, then one PROPS update
        if (_c.PropsLr > 0) LearnBehaviour(r, shuffle);
    }

    /// <summary>The buffer's log-probabilities and values under the current target and critic, then GAE over all of it.</summary>
    private void Relabel(RolloutBuffer r)
    {
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
        {
            var b = r.Gather(AllRows(r.Rows));
            var (logp, _) = LogProbAndEntropy(Head(b.Observations), b);
            logp.Data.AsSpan(0, r.Rows).CopyTo(r.LogProbs);
            Critic.Forward(b.Observations).Data.AsSpan(0, r.Rows).CopyTo(r.Values);
        }
        r.ComputeAdvantages(Config.Gamma, Config.GaeLambda);
    }

    private int[] AllRows(int rows)
    {
        if (_order.Length != rows) _order = new int[rows];
        for (int i = 0; i < rows; i++) _order[i] = i;
        return _order;
    }

    private void RestartBehaviour()
    {
        _behaviour.CopyParametersFrom(Actor);
        _behaviourLogStd?.CopyParametersFrom(LogStd!);
    }

    /// <summary>
    /// Algorithm 2: epochs of shuffled minibatches on eq. 6 over the buffer, less the oldest m steps once it is full
    /// (the next rollout replaces them), stopping before a minibatch whose approximate KL to pi_theta exceeds the target.
    /// </summary>
    private void LearnBehaviour(RolloutBuffer r, Rng shuffle)
    {
        int envs = r.Envs, skip = r.Full ? _c.PropsNumSteps * envs : 0, rows = r.Rows - skip;
        int minibatch = Math.Min(rows, (r.Size - _c.PropsNumSteps * envs) / _c.PropsNumMinibatches);
        var order = AllRows(rows);
        for (int i = 0; i < rows; i++) order[i] += skip;
        TargetOutputs(r, order);
        int steps = 0;
        float approxKl = 0f;
        for (int epoch = 0; epoch < _c.PropsEpochs; epoch++)
        {
            shuffle.Shuffle(order.AsSpan());
            bool stop = false;
            for (int start = 0; start < rows && !stop; start += minibatch)
                using (TensorScope.Begin())
                {
                    float? kl = BehaviourMinibatch(r, order.AsSpan(start, Math.Min(minibatch, rows - start)), skip);
                    if (kl is null) stop = true; else { approxKl = kl.Value; steps++; }
                }
            if (stop) break;
        }
        Record("props_steps", steps);
        Record("props_approx_kl", approxKl);
    }

    /// <summary>log pi_theta(a|s) and pi_theta's head at the rows a behaviour update reads (held, no gradient).</summary>
    private void TargetOutputs(RolloutBuffer r, int[] rows)
    {
        int n = rows.Length;
        if (_targetLogProb.Length < r.Size) { _targetLogProb = new float[r.Size]; _targetHead = new float[r.Size * Outputs]; }
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
        {
            var b = r.Gather(rows);
            var head = Head(b.Observations);
            var (logp, _) = LogProbAndEntropy(head, b);
            for (int j = 0; j < n; j++)
            {
                _targetLogProb[rows[j]] = logp.Data[j];
                head.Data.AsSpan(j * Outputs, Outputs).CopyTo(_targetHead.AsSpan(rows[j] * Outputs, Outputs));
            }
        }
    }

    /// <summary>One step of eq. 6 on <paramref name="rows"/>; null (and no step) where the approximate KL is past the target.</summary>
    private float? BehaviourMinibatch(RolloutBuffer r, ReadOnlySpan<int> rows, int skip)
    {
        var b = r.Gather(rows);
        int m = rows.Length;
        var targetLogp = Tensor.Temp(new Shape(m, 1));
        var targetHead = Tensor.Temp(new Shape(m, Outputs));
        for (int j = 0; j < m; j++)
        {
            targetLogp.Data[j] = _targetLogProb[rows[j]];
            _targetHead.AsSpan(rows[j] * Outputs, Outputs).CopyTo(targetHead.Data.AsSpan(j * Outputs, Outputs));
        }
        _behaviourOpt.ZeroGrad();
        var head = _behaviour.Forward(b.Observations);
        var (logp, _) = LogProbAndEntropy(head, _behaviourLogStd?.Value, b);
        var logRatio = logp - targetLogp;
        var ratio = logRatio.Exp();   // r_phi = pi_phi(a|s) / pi_theta(a|s)
        double approx = 0;
        for (int j = 0; j < m; j++) approx += (ratio.Data[j] - 1f) - logRatio.Data[j];
        float approxKl = (float)(approx / m);
        if (_c.PropsTargetKl is { } target && approxKl > target) return null;
        // eq. 6: the clipped surrogate with A = -1, max(r, clip(r, 1 - eps, 1 + eps)), plus lambda KL(pi_phi || pi_theta)
        var surrogate = Tensor.Maximum(ratio, ratio.Clamp(1f - _c.PropsClip, 1f + _c.PropsClip)).Mean();
        var kl = KlToOld(head, _behaviourLogStd?.Value, targetHead, LogStd?.Value);
        if (!IsDiscrete) kl = kl * (1f / Outputs);   // the authors average the Gaussians' KL over dimensions
        var loss = surrogate + kl * _c.PropsKlCoef;
        Record("props_loss", surrogate);
        Record("props_kl", kl);
        loss.Backward();
        Grad.ClipNorm(_behaviourParams, _c.PropsMaxGradNorm);
        _behaviourOpt.Step();
        return approxKl;
    }

    /// <summary>
    /// The sampling error of the buffer: pi_D starts as pi_theta and is fitted to the buffer's actions by maximum
    /// likelihood (Adam at se_lr, se_epochs passes of minibatch 512 per num_steps rows, gradient norm 1), its hidden
    /// layers' weights held (the ROS paper's choice the authors keep); the error is the mean of log pi_D(a|s) -
    /// log pi_theta(a|s) over the buffer. Its own generator (seeded by the measurement's index) shuffles, so measuring
    /// leaves training as it was.
    /// </summary>
    private float SamplingError(RolloutBuffer r)
    {
        var fit = new Mlp(Actor.Config, new Rng(0));
        fit.CopyParametersFrom(Actor);
        ParameterModule? fitLogStd = null;
        List<Tensor> trainable = [.. fit.Layers[^1].Parameters()];
        for (int i = 0; i < fit.Layers.Count - 1; i++) trainable.Add(fit.Layers[i].Bias!);
        if (LogStd is not null)
        {
            fitLogStd = new ParameterModule("log_std", LogStd.Value.Shape);
            fitLogStd.CopyParametersFrom(LogStd);
            trainable.Add(fitLogStd.Value);
        }
        var opt = new Adam(trainable, _c.SamplingErrorLr);
        var rng = new Rng(0x5E5E ^ (ulong)++_measured);
        int rows = r.Rows, minibatch = Math.Max(1, 512 * rows / Config.RolloutSize);
        var order = (int[])AllRows(rows).Clone();
        for (int epoch = 0; epoch < _c.SamplingErrorEpochs; epoch++)
        {
            rng.Shuffle(order.AsSpan());
            for (int start = 0; start < rows; start += minibatch)
                using (TensorScope.Begin())
                {
                    var b = r.Gather(order.AsSpan(start, Math.Min(minibatch, rows - start)));
                    opt.ZeroGrad();
                    var (logp, _) = LogProbAndEntropy(fit.Forward(b.Observations), fitLogStd?.Value, b);
                    (-logp.Mean()).Backward();
                    Grad.ClipNorm(trainable, 1f);
                    opt.Step();
                }
        }
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
        {
            var b = r.Gather(AllRows(rows));
            var (logD, _) = LogProbAndEntropy(fit.Forward(b.Observations), fitLogStd?.Value, b);
            var (logT, _) = LogProbAndEntropy(Head(b.Observations), b);
            double sum = 0;
            for (int j = 0; j < rows; j++) sum += logD.Data[j] - logT.Data[j];
            return (float)(sum / rows);
        }
    }

    protected override IEnumerable<(string, Module)> Modules()
    {
        foreach (var m in base.Modules()) yield return m;
        yield return ("behaviour_actor", _behaviour);
        if (_behaviourLogStd is not null) yield return ("behaviour_log_std", _behaviourLogStd);
    }

    protected override IEnumerable<(string Name, Func<long> Get, Action<long> Set)> CheckpointCounters =>
        [("sampling_error_fits", () => _measured, v => _measured = (int)v)];
}
