using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// PPO hyperparameters (Schulman et al. 2017, "Proximal Policy Optimization Algorithms", with the implementation
/// details Huang et al. 2022 list in "The 37 Implementation Details of PPO") as CleanRL runs them
/// (github.com/vwxyzjn/cleanrl @fe8d8a0). The defaults are ppo.py's, the discrete file (<c>ppo</c>): 4 envs x 128
/// steps, 4 minibatches, 4 epochs, learning rate 2.5e-4 annealed linearly, entropy 0.01, no normalization;
/// <c>ppo-continuous</c> takes ppo_continuous_action.py's: 1 env x 2048 steps, 32 minibatches, 10 epochs, 3e-4,
/// entropy 0, observations and rewards normalized with running statistics and clipped to +-10. Both: gamma 0.99, GAE
/// lambda 0.95, clip 0.2 for the ratio and the value, value weight 0.5, gradient norm 0.5, Adam eps 1e-5, separate
/// 64-64 tanh actor and critic with orthogonal init (gain sqrt 2, the actor's output 0.01, the critic's 1).
/// </summary>
public sealed record PpoConfig : AgentConfig
{
    public PpoConfig()
    {
        Hidden = [64, 64];
        NormalizeObservations = false;
    }

    /// <summary>ppo_continuous_action.py's defaults (where they differ from ppo.py's).</summary>
    public static PpoConfig Continuous => new()
    {
        Lr = 3e-4, NumEnvs = 1, NumSteps = 2048, NumMinibatches = 32, UpdateEpochs = 10, EntCoef = 0f,
        NormalizeObservations = true, NormalizeRewards = true,
    };

    /// <summary>Adam's learning rate (ppo.py 2.5e-4, ppo_continuous_action.py 3e-4).</summary>
    [FieldRange("(0, 1]")]
    public double Lr { get; init; } = 2.5e-4;
    /// <summary>Anneal the learning rate linearly to lr / iterations at the last iteration (CleanRL's anneal_lr).</summary>
    public bool AnnealLr { get; init; } = true;
    /// <summary>Adam's epsilon (1e-5, implementation detail 3).</summary>
    [FieldRange("(0, 1]")]
    public float AdamEps { get; init; } = 1e-5f;
    /// <summary>Environments stepped together (CleanRL's num_envs).</summary>
    [FieldRange("[1, 4096]")]
    public int NumEnvs { get; init; } = 4;
    /// <summary>Steps per environment in each rollout (num_steps).</summary>
    [FieldRange("[1, 1000000]")]
    public int NumSteps { get; init; } = 128;
    /// <summary>Minibatches per epoch: the rollout's num_envs x num_steps rows split in this many (num_minibatches).</summary>
    [FieldRange("[1, inf)")]
    public int NumMinibatches { get; init; } = 4;
    /// <summary>Passes over each rollout (update_epochs).</summary>
    [FieldRange("[1, 1000]")]
    public int UpdateEpochs { get; init; } = 4;
    /// <summary>GAE's lambda (eq. 11 of Schulman et al. 2016; gae_lambda).</summary>
    [FieldRange("[0, 1]")]
    public float GaeLambda { get; init; } = 0.95f;
    /// <summary>Advantages normalized per minibatch (norm_adv).</summary>
    public bool NormAdv { get; init; } = true;
    /// <summary>The surrogate's clip epsilon (eq. 7; clip_coef), also the value clip's range.</summary>
    [FieldRange("(0, inf)")]
    public float ClipCoef { get; init; } = 0.2f;
    /// <summary>Clip the value loss around the rollout's values (clip_vloss).</summary>
    public bool ClipVloss { get; init; } = true;
    /// <summary>Weight of the entropy bonus (eq. 9's c2; ent_coef).</summary>
    [FieldRange("[0, inf)")]
    public float EntCoef { get; init; } = 0.01f;
    /// <summary>Weight of the value loss (eq. 9's c1; vf_coef).</summary>
    [FieldRange("[0, inf)")]
    public float VfCoef { get; init; } = 0.5f;
    /// <summary>Global gradient-norm clip (max_grad_norm).</summary>
    [FieldRange("(0, inf)")]
    public float MaxGradNorm { get; init; } = 0.5f;
    /// <summary>Stop an iteration's epochs once the last minibatch's approximate KL exceeds this (target_kl); null: never.</summary>
    [FieldRange("(0, inf)")]
    public float? TargetKl { get; init; }
    /// <summary>Normalized observations clipped to +-this (TransformObservation's clip; with normalize_observations).</summary>
    [FieldRange("(0, inf)")]
    public float ObservationClip { get; init; } = 10f;
    /// <summary>Rewards divided by the running std of the discounted return (Gymnasium's NormalizeReward).</summary>
    public bool NormalizeRewards { get; init; }
    /// <summary>Normalized rewards clipped to +-this (TransformReward's clip; with normalize_rewards).</summary>
    [FieldRange("(0, inf)")]
    public float RewardClip { get; init; } = 10f;

    public override void Validate()
    {
        base.Validate();
        if (NumMinibatches > (long)NumEnvs * NumSteps)
            throw new ArgumentException($"config: field 'num_minibatches' of {GetType().Name} is {NumMinibatches}, more than the rollout's {NumEnvs * NumSteps} rows (num_envs {NumEnvs} x num_steps {NumSteps}): a minibatch would be empty");
        if (RewardNormalization != RewardNormalization.None || RewardScale != 1f || RewardBias != 0f)
            throw new ArgumentException($"config: {GetType().Name} learns from its own rollouts; the dataset reward fields (reward_normalization, reward_scale, reward_bias) do not apply: normalize_rewards is its running normalization");
    }
}

/// <summary>
/// Proximal Policy Optimization (clipped surrogate, eq. 7 and 9 of Schulman et al. 2017) on rollouts of its own:
/// a categorical policy over logits for discrete actions, a Gaussian with a learned state-independent log std (not
/// squashed) for continuous ones, and a separate value network.
/// </summary>
public sealed class Ppo : Agent<PpoConfig>, IOnPolicy, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("ppo", LearningMode.Online, ActionKind.Discrete, "Proximal Policy Optimization, CleanRL's ppo.py (Schulman et al. 2017)",
            new PpoConfig(), (obs, space, c, seed) => new Ppo(obs, space, c, seed)),
        AlgorithmSpec.Of("ppo-continuous", LearningMode.Online, ActionKind.Continuous, "Proximal Policy Optimization, CleanRL's ppo_continuous_action.py (Schulman et al. 2017)",
            PpoConfig.Continuous, (obs, space, c, seed) => new Ppo(obs, space, c, seed)),
    ];

    private const float HalfLog2Pi = 0.918938533f;
    private readonly Mlp _actor, _critic;
    private readonly ParameterModule? _logStd;   // continuous: one log std per action dimension, from 0
    private readonly Adam _opt;
    private readonly List<Tensor> _params;
    private readonly int _outputs;               // action dimensions, or the number of discrete actions
    private readonly bool _discrete;
    private int[] _order = [], _actionIndex = [];
    private float[] _probs = [];

    public Ppo(int obs, Space actionSpace, PpoConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new PpoConfig(), seed)
    {
        _discrete = actionSpace is Discrete;
        _outputs = actionSpace is Discrete d ? d.N : actionSpace.Width;
        _actor = new Mlp(new MlpConfig(obs, Config.Hidden, _outputs, Activation.Tanh), Rng);
        _critic = new Mlp(new MlpConfig(obs, Config.Hidden, 1, Activation.Tanh), Rng);
        Networks.OrthogonalInit(_actor, MathF.Sqrt(2f), 0.01f, Rng);    // layer_init(std=0.01) on the policy's output
        Networks.OrthogonalInit(_critic, MathF.Sqrt(2f), 1f, Rng);      // layer_init(std=1.0) on the value's
        _params = [.. _actor.Parameters(), .. _critic.Parameters()];
        if (!_discrete)
        {
            _logStd = new ParameterModule("log_std", new Shape(1, _outputs));
            _params.Add(_logStd.Value);
        }
        _opt = Optim("policy_value", new Adam(_params, Config.Lr, eps: Config.AdamEps));
    }

    public RolloutSettings Rollouts => new(Config.NumEnvs, Config.NumSteps, Config.NormalizeObservations, Config.ObservationClip,
        Config.NormalizeRewards, Config.RewardClip, Config.Gamma, Config.GaeLambda);

    /// <summary>log pi(a|s) per row [B, 1] and the mean entropy (a scalar) of the policy at <paramref name="s"/>.</summary>
    private (Tensor LogProb, Tensor Entropy) Evaluate(Tensor s, Tensor actions, int[] actionIndex)
    {
        var head = _actor.Forward(s);
        if (_discrete)
        {
            var logp = head.LogSoftmax(1);
            return (logp.GatherRows(actionIndex), -(logp.Exp() * logp).Sum(1).Mean());
        }
        var logStd = _logStd!.Value;
        var z = (actions - head) / logStd.Exp();
        return ((z.Square() * -0.5f - logStd - HalfLog2Pi).Sum(1, keepDim: true), (logStd + (0.5f + HalfLog2Pi)).Sum());
    }

    public void Learn(RolloutBuffer r, int iteration, int iterations, Rng shuffle)
    {
        int size = r.Size, minibatch = size / Config.NumMinibatches;
        if (_order.Length != size) _order = new int[size];
        for (int i = 0; i < size; i++) _order[i] = i;   // b_inds = arange(batch_size) each iteration
        if (Config.AnnealLr) _opt.BaseLr = (1.0 - (iteration - 1.0) / iterations) * Config.Lr;
        float approxKl = 0f;
        for (int epoch = 0; epoch < Config.UpdateEpochs; epoch++)
        {
            shuffle.Shuffle(_order.AsSpan());   // CleanRL shuffles b_inds in place each epoch
            for (int start = 0; start < size; start += minibatch)
                approxKl = LearnMinibatch(r, _order.AsSpan(start, Math.Min(minibatch, size - start)));
            if (Config.TargetKl is { } target && approxKl > target) break;
        }
        Record("approx_kl", approxKl);
        Record("lr", (float)_opt.BaseLr);
        Record("explained_variance", ExplainedVariance(r));
    }

    /// <summary>One minibatch step of eq. 9 on the rollout's <paramref name="rows"/>; returns the approximate KL.</summary>
    internal float LearnMinibatch(RolloutBuffer r, ReadOnlySpan<int> rows)
    {
        float kl;
        using (TensorScope.Begin()) kl = Minibatch(r, rows);
        Updates++;
        return kl;
    }

    /// <summary>Clipped surrogate, clipped value loss, entropy bonus, one Adam step after the global norm clip.</summary>
    private float Minibatch(RolloutBuffer r, ReadOnlySpan<int> rows)
    {
        int m = rows.Length, od = r.ObservationDim, aw = r.ActionDim;
        var s = Tensor.Temp(new Shape(m, od));
        var a = Tensor.Temp(new Shape(m, aw));
        var oldLogp = Tensor.Temp(new Shape(m, 1));
        var adv = Tensor.Temp(new Shape(m, 1));
        var ret = Tensor.Temp(new Shape(m, 1));
        var oldV = Tensor.Temp(new Shape(m, 1));
        if (_actionIndex.Length != m) _actionIndex = new int[m];
        for (int j = 0; j < m; j++)
        {
            int k = rows[j];
            r.Observations.AsSpan(k * od, od).CopyTo(s.Data.AsSpan(j * od, od));
            r.Actions.AsSpan(k * aw, aw).CopyTo(a.Data.AsSpan(j * aw, aw));
            _actionIndex[j] = (int)r.Actions[k * aw];
            oldLogp.Data[j] = r.LogProbs[k]; adv.Data[j] = r.Advantages[k]; ret.Data[j] = r.Returns[k]; oldV.Data[j] = r.Values[k];
        }
        if (Config.NormAdv) NormalizeAdvantages(adv.Data.AsSpan(0, m));

        _opt.ZeroGrad();
        var (logp, entropy) = Evaluate(s, a, _actionIndex);
        var logRatio = logp - oldLogp;
        var ratio = logRatio.Exp();
        // eq. 7: L^CLIP = E[min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)], as a loss max(-ratio A, -clip(...) A)
        var policyLoss = Tensor.Maximum(-adv * ratio, -adv * ratio.Clamp(1f - Config.ClipCoef, 1f + Config.ClipCoef)).Mean();
        var v = _critic.Forward(s);
        var valueLoss = Config.ClipVloss
            ? Tensor.Maximum((v - ret).Square(), (oldV + (v - oldV).Clamp(-Config.ClipCoef, Config.ClipCoef) - ret).Square()).Mean() * 0.5f
            : (v - ret).Square().Mean() * 0.5f;
        // eq. 9: L = L^CLIP - c1 L^VF + c2 S, minimized as its negative
        var loss = policyLoss - entropy * Config.EntCoef + valueLoss * Config.VfCoef;
        Record("policy_loss", policyLoss);
        Record("value_loss", valueLoss);
        Record("entropy", entropy);
        loss.Backward();
        Record("grad_norm", Grad.ClipNorm(_params, Config.MaxGradNorm));
        _opt.Step();

        double kl = 0, clip = 0;   // (ratio - 1) - log ratio, the k3 estimator of KL(old || new)
        for (int j = 0; j < m; j++)
        {
            float lr = logRatio.Data[j], rt = ratio.Data[j];
            kl += (rt - 1f) - lr;
            if (MathF.Abs(rt - 1f) > Config.ClipCoef) clip++;
        }
        Record("clip_fraction", (float)(clip / m));
        return (float)(kl / m);
    }

    /// <summary>(A - mean) / (std + 1e-8), std with Bessel's correction (torch's .std()).</summary>
    private static void NormalizeAdvantages(Span<float> a)
    {
        double mean = 0, sq = 0;
        foreach (var x in a) mean += x;
        mean /= a.Length;
        foreach (var x in a) sq += (x - mean) * (x - mean);
        float std = a.Length > 1 ? (float)Math.Sqrt(sq / (a.Length - 1)) : float.NaN;
        for (int i = 0; i < a.Length; i++) a[i] = (float)((a[i] - mean) / (std + 1e-8));
    }

    /// <summary>1 - Var(returns - values) / Var(returns) over the rollout (CleanRL's explained_variance).</summary>
    private static float ExplainedVariance(RolloutBuffer r)
    {
        double Var(Func<int, double> f)
        {
            double m = 0, s = 0;
            for (int i = 0; i < r.Size; i++) m += f(i);
            m /= r.Size;
            for (int i = 0; i < r.Size; i++) s += (f(i) - m) * (f(i) - m);
            return s / r.Size;
        }
        double vy = Var(i => r.Returns[i]);
        return vy == 0 ? float.NaN : (float)(1 - Var(i => r.Returns[i] - r.Values[i]) / vy);
    }

    public void Sample(ReadOnlySpan<float> observations, int n, Span<float> actions, Span<float> logProbs, Span<float> values)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tensor.NoGrad();
        var s = Tensor.Temp(new Shape(n, ObservationDim));
        observations.CopyTo(s.Data);
        var head = _actor.Forward(s).Data;
        var v = _critic.Forward(s).Data;
        for (int i = 0; i < n; i++)
        {
            values[i] = v[i];
            var row = head.AsSpan(i * _outputs, _outputs);
            if (_discrete)
            {
                int a = SampleCategorical(row, out float logp);
                actions[i] = a; logProbs[i] = logp;
                continue;
            }
            double lp = 0;
            for (int j = 0; j < _outputs; j++)
            {
                float logStd = _logStd!.Value.Data[j], eps = Rng.Normal();
                actions[i * _outputs + j] = row[j] + MathF.Exp(logStd) * eps;
                lp += -0.5 * eps * eps - logStd - HalfLog2Pi;
            }
            logProbs[i] = (float)lp;
        }
    }

    /// <summary>A draw from softmax(logits), with its log-probability.</summary>
    private int SampleCategorical(ReadOnlySpan<float> logits, out float logProb)
    {
        if (_probs.Length != logits.Length) _probs = new float[logits.Length];
        float max = System.Numerics.Tensors.TensorPrimitives.Max(logits);
        double sum = 0;
        for (int j = 0; j < logits.Length; j++) { _probs[j] = MathF.Exp(logits[j] - max); sum += _probs[j]; }
        int a = Rng.Categorical(_probs);
        logProb = (float)(logits[a] - max - Math.Log(sum));
        return a;
    }

    public void Value(ReadOnlySpan<float> observations, int n, Span<float> values)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tensor.NoGrad();
        var s = Tensor.Temp(new Shape(n, ObservationDim));
        observations.CopyTo(s.Data);
        _critic.Forward(s).Data.AsSpan(0, n).CopyTo(values);
    }

    protected override void UpdateCore(TransitionBatch batch) =>
        throw new InvalidOperationException($"{Name} learns from its own rollouts (Trainer.FitOnPolicy), not from batches of stored transitions");

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        if (deterministic)
        {
            var y = PolicyOutput(s).Data;
            if (_discrete) action[0] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(y.AsSpan(0, _outputs));
            else y.AsSpan(0, _outputs).CopyTo(action);
            return;
        }
        Span<float> logp = stackalloc float[1], v = stackalloc float[1];
        Sample(s.Data.AsSpan(0, ObservationDim), 1, action, logp, v);
        if (!_discrete) System.Numerics.Tensors.TensorPrimitives.Clamp(action, -1f, 1f, action);
    }

    /// <summary>Logits (discrete), or the Gaussian's mean clipped to [-1, 1], the env's bounds (continuous).</summary>
    protected internal override Tensor PolicyOutput(Tensor s) => _discrete ? _actor.Forward(s) : _actor.Forward(s).Clamp(-1f, 1f);

    protected override IEnumerable<(string, Module)> Modules() =>
        _logStd is null ? [("actor", _actor), ("critic", _critic)] : [("actor", _actor), ("critic", _critic), ("log_std", _logStd)];
}
