using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// What the on-policy learners share (PPO, MDPO and the family on <see cref="PolicyGradient{TConfig}"/>): how their
/// rollouts are collected and normalized, and their networks' widths (64-64 tanh, the MuJoCo and classic-control
/// policies of CleanRL and stable-baselines). Defaults are ppo.py's; each method's record sets its own.
/// </summary>
public abstract record OnPolicyConfig : AgentConfig
{
    protected OnPolicyConfig()
    {
        Hidden = [64, 64];
        NormalizeObservations = false;
    }

    /// <summary>Environments stepped together (CleanRL's num_envs).</summary>
    [FieldRange("[1, 4096]")]
    public int NumEnvs { get; init; } = 4;
    /// <summary>Steps per environment in each rollout (num_steps; stable-baselines' timesteps_per_batch for one env).</summary>
    [FieldRange("[1, 1000000]")]
    public int NumSteps { get; init; } = 128;
    /// <summary>GAE's lambda (Schulman et al. 2016, eq. 16; gae_lambda).</summary>
    [FieldRange("[0, 1]")]
    public float GaeLambda { get; init; } = 0.95f;
    /// <summary>Normalized observations clipped to +-this (with normalize_observations; CleanRL's and VecNormalize's 10).</summary>
    [FieldRange("(0, inf)")]
    public float ObservationClip { get; init; } = 10f;
    /// <summary>Rewards divided by the running std of the discounted return (Gymnasium's NormalizeReward, VecNormalize's norm_reward).</summary>
    public bool NormalizeRewards { get; init; }
    /// <summary>Normalized rewards clipped to +-this (with normalize_rewards).</summary>
    [FieldRange("(0, inf)")]
    public float RewardClip { get; init; } = 10f;

    public int RolloutSize => NumEnvs * NumSteps;

    /// <summary>
    /// The method learns from a dataset beside its rollouts (HNPG): the dataset's reward fields then set one transform
    /// for both sources (the trainer applies the agent's reward preprocessing to the rollouts' rewards too).
    /// </summary>
    protected virtual bool LearnsFromDataset => false;

    public override void Validate()
    {
        base.Validate();
        if (!LearnsFromDataset && (RewardNormalization != RewardNormalization.None || RewardScale != 1f || RewardBias != 0f))
            throw new ArgumentException($"config: {GetType().Name} learns from its own rollouts; the dataset reward fields (reward_normalization, reward_scale, reward_bias) do not apply: normalize_rewards is its running normalization");
    }
}

/// <summary>
/// The body of the on-policy learners (<see cref="IOnPolicy"/>): a policy network (logits of a categorical for discrete
/// actions; the mean of a Gaussian with a learned state-independent log std, not squashed, for continuous ones) and a
/// separate value network, both initialized as CleanRL's and stable-baselines' layer_init (orthogonal, sqrt 2 hidden,
/// 0.01 on the policy's output, 1 on the value's); batched sampling for the trainer; the log-probabilities, entropy and
/// KL divergences a method's loss reads; minibatches gathered from a rollout. Each method is one file with its
/// <see cref="IOnPolicy.Learn"/>.
/// </summary>
public abstract class PolicyGradient<TConfig> : Agent<TConfig>, IOnPolicy where TConfig : OnPolicyConfig
{
    private const float HalfLog2Pi = 0.918938533f;
    protected Mlp Actor { get; }
    protected Mlp Critic { get; }
    /// <summary>Continuous: one log std per action dimension, from 0.</summary>
    protected internal ParameterModule? LogStd { get; }
    /// <summary>The policy's parameters (the actor and the log std).</summary>
    protected IReadOnlyList<Tensor> PolicyParameters { get; }
    protected bool IsDiscrete { get; }
    /// <summary>Action dimensions, or the number of discrete actions.</summary>
    protected int Outputs { get; }
    private float[] _probs = [];

    protected PolicyGradient(int obs, Space actionSpace, TConfig config, ulong seed) : base(obs, actionSpace, config, seed)
    {
        IsDiscrete = actionSpace is Discrete;
        Outputs = actionSpace is Discrete d ? d.N : actionSpace.Width;
        Actor = new Mlp(new MlpConfig(obs, Config.Hidden, Outputs, Activation.Tanh), Rng);
        Critic = new Mlp(new MlpConfig(obs, Config.Hidden, 1, Activation.Tanh), Rng);
        Networks.OrthogonalInit(Actor, MathF.Sqrt(2f), 0.01f, Rng);    // layer_init(std=0.01) on the policy's output
        Networks.OrthogonalInit(Critic, MathF.Sqrt(2f), 1f, Rng);      // layer_init(std=1.0) on the value's
        List<Tensor> policy = [.. Actor.Parameters()];
        if (!IsDiscrete)
        {
            LogStd = new ParameterModule("log_std", new Shape(1, Outputs));
            policy.Add(LogStd.Value);
        }
        PolicyParameters = policy;
    }

    public virtual RolloutSettings Rollouts => new(Config.NumEnvs, Config.NumSteps, Config.NormalizeObservations, Config.ObservationClip,
        Config.NormalizeRewards, Config.RewardClip, Config.Gamma, Config.GaeLambda);

    public abstract void Learn(RolloutBuffer rollout, int iteration, int iterations, Rng shuffle);

    /// <summary>The policy's head at <paramref name="s"/>: logits [B, n] or the Gaussian's mean [B, act].</summary>
    protected Tensor Head(Tensor s) => Actor.Forward(s);

    /// <summary>log pi(a|s) per row [B, 1] and the mean entropy (a scalar) of the policy whose head is <paramref name="head"/>.</summary>
    protected (Tensor LogProb, Tensor Entropy) LogProbAndEntropy(Tensor head, RolloutMinibatch b) => LogProbAndEntropy(head, LogStd?.Value, b);

    /// <summary>The same for a policy of this shape with its own log std (another copy of the policy: PROPS's behaviour).</summary>
    protected (Tensor LogProb, Tensor Entropy) LogProbAndEntropy(Tensor head, Tensor? logStd, RolloutMinibatch b) =>
        LogProbAndEntropy(head, logStd, b.Actions, b.ActionIndex);

    /// <summary>The same for <paramref name="actions"/> (discrete: <paramref name="actionIndex"/>) of any batch (a dataset's).</summary>
    protected (Tensor LogProb, Tensor Entropy) LogProbAndEntropy(Tensor head, Tensor? logStd, Tensor actions, int[] actionIndex)
    {
        if (IsDiscrete)
        {
            var logp = head.LogSoftmax(1);
            return (logp.GatherRows(actionIndex), -(logp.Exp() * logp).Sum(1).Mean());
        }
        return (GaussianLogProb(head, logStd!, actions), (logStd! + (0.5f + HalfLog2Pi)).Sum());
    }

    /// <summary>log N(a; head, exp(logStd)^2) per row [B, 1], summed over the action's dimensions.</summary>
    protected static Tensor GaussianLogProb(Tensor head, Tensor logStd, Tensor actions)
    {
        var z = (actions - head) / logStd.Exp();
        return (z.Square() * -0.5f - logStd - HalfLog2Pi).Sum(1, keepDim: true);
    }

    /// <summary>
    /// KL(pi || pi_old) per state, averaged [scalar], in closed form: for the Gaussians, sum over dimensions of
    /// log(s_old / s) + (s^2 + (mu - mu_old)^2) / (2 s_old^2) - 1/2; for the categoricals, sum p (log p - log p_old).
    /// <paramref name="oldHead"/> and <paramref name="oldLogStd"/> are held (no gradient).
    /// </summary>
    protected internal Tensor KlToOld(Tensor head, Tensor oldHead, Tensor? oldLogStd) => KlToOld(head, LogStd?.Value, oldHead, oldLogStd);

    /// <summary>The same for a policy of this shape with its own log std <paramref name="logStd"/>.</summary>
    protected Tensor KlToOld(Tensor head, Tensor? logStd, Tensor oldHead, Tensor? oldLogStd)
    {
        if (IsDiscrete)
        {
            var logp = head.LogSoftmax(1);
            return (logp.Exp() * (logp - oldHead.LogSoftmax(1))).Sum(1).Mean();
        }
        var oldVar = (oldLogStd! * 2f).Exp();
        var perDim = oldLogStd! - logStd! + ((logStd! * 2f).Exp() + (head - oldHead).Square()) / (oldVar * 2f) - 0.5f;
        return perDim.Sum(1).Mean();
    }

    /// <summary>The policy that collects the rollouts (<see cref="Sample"/>): the learned one, unless a method keeps a behaviour policy of its own.</summary>
    protected virtual (Mlp Actor, ParameterModule? LogStd) Behaviour => (Actor, LogStd);

    public void Sample(ReadOnlySpan<float> observations, int n, Span<float> actions, Span<float> logProbs, Span<float> values)
    {
        var (actor, logStd) = Behaviour;
        Draw(actor, logStd, observations, n, actions, logProbs, values);
    }

    /// <summary>Actions drawn from the policy (<paramref name="actor"/>, <paramref name="policyLogStd"/>), their log-probabilities, the values.</summary>
    private void Draw(Mlp actor, ParameterModule? policyLogStd, ReadOnlySpan<float> observations, int n, Span<float> actions, Span<float> logProbs, Span<float> values)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tensor.NoGrad();
        var s = Tensor.Temp(new Shape(n, ObservationDim));
        observations.CopyTo(s.Data);
        var head = actor.Forward(s).Data;
        var v = Critic.Forward(s).Data;
        for (int i = 0; i < n; i++)
        {
            values[i] = v[i];
            var row = head.AsSpan(i * Outputs, Outputs);
            if (IsDiscrete)
            {
                actions[i] = SampleCategorical(row, out float logp);
                logProbs[i] = logp;
                continue;
            }
            double lp = 0;
            for (int j = 0; j < Outputs; j++)
            {
                float logStd = policyLogStd!.Value.Data[j], eps = Rng.Normal();
                actions[i * Outputs + j] = row[j] + MathF.Exp(logStd) * eps;
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

    public virtual void Value(ReadOnlySpan<float> observations, int n, Span<float> values)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tensor.NoGrad();
        var s = Tensor.Temp(new Shape(n, ObservationDim));
        observations.CopyTo(s.Data);
        Critic.Forward(s).Data.AsSpan(0, n).CopyTo(values);
    }

    protected override void UpdateCore(TransitionBatch batch) =>
        throw new InvalidOperationException($"{Name} learns from its own rollouts (Trainer.FitOnPolicy), not from batches of stored transitions");

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        if (deterministic)
        {
            var y = PolicyOutput(s).Data;
            if (IsDiscrete) action[0] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(y.AsSpan(0, Outputs));
            else y.AsSpan(0, Outputs).CopyTo(action);
            return;
        }
        Span<float> logp = stackalloc float[1], v = stackalloc float[1];
        Draw(Actor, LogStd, s.Data.AsSpan(0, ObservationDim), 1, action, logp, v);
        if (!IsDiscrete) System.Numerics.Tensors.TensorPrimitives.Clamp(action, -1f, 1f, action);
    }

    /// <summary>Logits (discrete), or the Gaussian's mean clipped to [-1, 1], the env's bounds (continuous).</summary>
    protected internal override Tensor PolicyOutput(Tensor s) => IsDiscrete ? Actor.Forward(s) : Actor.Forward(s).Clamp(-1f, 1f);

    protected override IEnumerable<(string, Module)> Modules() =>
        LogStd is null ? [("actor", Actor), ("critic", Critic)] : [("actor", Actor), ("critic", Critic), ("log_std", LogStd)];
}
