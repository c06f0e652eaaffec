using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// On-policy MDPO hyperparameters (Tomar et al. 2020, "Mirror Descent Policy Optimization"), as the authors' code runs
/// MuJoCo (github.com/manantomar/Mirror-Descent-Policy-Optimization @c9bd3ba, mdpo_on/mdpo.py and run_mujoco.py on
/// stable-baselines 2.7.0): one env with VecNormalize (observations and rewards, clip 10), 2048 steps per iteration,
/// gamma 0.99, GAE lambda 0.95; 10 full-batch policy steps per iteration (the README's sgd_steps), Adam 3e-4 (eps
/// 1e-5, constant) with the gradient clipped to norm 0.5; the value network by its own Adam 3e-4, 5 epochs of minibatch
/// 128 on the clipped value loss (clip 0.2); 64-64 tanh networks with a state-independent log std.
/// </summary>
public sealed record MdpoConfig : OnPolicyConfig
{
    public MdpoConfig()
    {
        NumEnvs = 1;
        NumSteps = 2048;
        NormalizeObservations = true;
        NormalizeRewards = true;
    }

    /// <summary>The policy's Adam rate (outer_learning_rate 3e-4, constant).</summary>
    [FieldRange("(0, 1]")]
    public double Lr { get; init; } = 3e-4;
    [FieldRange("(0, 1]")]
    public float AdamEps { get; init; } = 1e-5f;
    /// <summary>Full-batch policy steps per iteration, m in the paper (sgd_steps: 10 in the README's MuJoCo command).</summary>
    [FieldRange("[1, 10000]")]
    public int SgdSteps { get; init; } = 10;
    /// <summary>Global gradient-norm clip of the policy's steps (0.5).</summary>
    [FieldRange("(0, inf)")]
    public float MaxGradNorm { get; init; } = 0.5f;
    /// <summary>The value network's Adam rate (3e-4; its eps MpiAdam's 1e-8).</summary>
    [FieldRange("(0, 1]")]
    public double ValueLr { get; init; } = 3e-4;
    /// <summary>Epochs of the value network's minibatch steps per iteration (vf_iters).</summary>
    [FieldRange("[1, 1000]")]
    public int ValueEpochs { get; init; } = 5;
    /// <summary>Rows per value minibatch; a last partial minibatch is dropped (128).</summary>
    [FieldRange("[1, inf)")]
    public int ValueMinibatch { get; init; } = 128;
    /// <summary>Range of the value clip around the rollout's values (0.2).</summary>
    [FieldRange("(0, inf)")]
    public float ValueClip { get; init; } = 0.2f;

    public override void Validate()
    {
        base.Validate();
        if (ValueMinibatch > RolloutSize)
            throw new ArgumentException($"config: field 'value_minibatch' of {GetType().Name} is {ValueMinibatch}, more than the rollout's {RolloutSize} rows (num_envs {NumEnvs} x num_steps {NumSteps})");
    }
}

/// <summary>
/// On-policy Mirror Descent Policy Optimization (Tomar et al. 2020, Algorithm 1 / eq. 10): each iteration takes m
/// gradient steps on L(theta) = -E[r(theta) A] + (1/t_k) E[KL(pi_theta || pi_k)], with pi_k the policy that collected
/// the rollout, held for all m steps, and t_k = 1 - (k - 1)/K over the K iterations of the run (the authors' code; the
/// paper's 1 - k/K), so the step shrinks as training goes on; no ratio clipping, no entropy bonus.
/// </summary>
public sealed class Mdpo : PolicyGradient<MdpoConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("mdpo", LearningMode.Online, ActionKind.Continuous, "On-policy Mirror Descent Policy Optimization (Tomar et al. 2020)",
            new MdpoConfig(), (obs, space, c, seed) => new Mdpo(obs, space, c, seed)),
        AlgorithmSpec.Of("mdpo-discrete", LearningMode.Online, ActionKind.Discrete, "On-policy Mirror Descent Policy Optimization, categorical policy (Tomar et al. 2020)",
            new MdpoConfig(), (obs, space, c, seed) => new Mdpo(obs, space, c, seed)),
    ];

    private readonly Adam _policyOpt, _valueOpt;
    private int[] _all = [], _order = [];

    public Mdpo(int obs, Space actionSpace, MdpoConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new MdpoConfig(), seed)
    {
        _policyOpt = Optim("policy", new Adam(PolicyParameters, Config.Lr, eps: Config.AdamEps));
        _valueOpt = Optim("value", new Adam(Critic.Parameters(), Config.ValueLr));
    }

    public override void Learn(RolloutBuffer r, int iteration, int iterations, Rng shuffle)
    {
        int size = r.Size;
        if (_all.Length != size) { _all = new int[size]; _order = new int[size]; for (int i = 0; i < size; i++) _all[i] = i; }
        double t = 1.0 - (iteration - 2.0) / iterations;   // t_k = 1 - (k - 1)/K, k = iterations done before this one
        float klWeight = (float)(1.0 / t);
        Record("kl_weight", klWeight);
        using (TensorScope.Begin())
        {
            var b = r.Gather(_all);
            RolloutBuffer.Standardize(b.Advantages.Data.AsSpan(0, size), bessel: false, eps: 0);   // (A - mean) / std over the batch
            Tensor oldHead;
            Tensor? oldLogStd = LogStd?.Value.Clone();   // pi_k, held for the m steps
            using (Tensor.NoGrad()) oldHead = Head(b.Observations).Clone();
            for (int step = 0; step < Config.SgdSteps; step++)
            {
                _policyOpt.ZeroGrad();
                var head = Head(b.Observations);
                var (logp, _) = LogProbAndEntropy(head, b);
                var ratio = (logp - b.LogProbs).Exp();   // pi_theta(a|s) / pi_k(a|s)
                var kl = KlToOld(head, oldHead, oldLogStd);
                var loss = -(ratio * b.Advantages).Mean() + kl * klWeight;   // eq. 10
                Record("policy_loss", loss);
                Record("kl", kl);
                loss.Backward();
                Record("grad_norm", Grad.ClipNorm(PolicyParameters, Config.MaxGradNorm));
                _policyOpt.Step();
                Updates++;
            }
        }
        // the value network: epochs of shuffled minibatches on the clipped value loss (the last partial one dropped)
        _all.CopyTo(_order, 0);
        int mb = Config.ValueMinibatch;
        for (int epoch = 0; epoch < Config.ValueEpochs; epoch++)
        {
            shuffle.Shuffle(_order.AsSpan());
            for (int start = 0; start + mb <= size; start += mb)
                using (TensorScope.Begin())
                {
                    var b = r.Gather(_order.AsSpan(start, mb));
                    _valueOpt.ZeroGrad();
                    var v = Critic.Forward(b.Observations);
                    var clipped = b.Values + (v - b.Values).Clamp(-Config.ValueClip, Config.ValueClip);
                    var loss = Tensor.Maximum((v - b.Returns).Square(), (clipped - b.Returns).Square()).Mean();
                    Record("value_loss", loss);
                    loss.Backward();
                    _valueOpt.Step();
                }
        }
        Record("explained_variance", r.ExplainedVariance());
    }
}
