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
/// Where OffRL's runs differ from CleanRL's: continuous actions live in [-1, 1], rescaled to the environment's bounds
/// (Gymnasium's RescaleAction before ClipAction; the same on hopper's [-1, 1], a Gaussian twice as wide in the env's
/// units on pendulum's [-2, 2]); with several envs, one set of running statistics pools their observations (SB3's
/// VecNormalize), where CleanRL keeps one per copy, so that one policy acts everywhere, in evaluation and when saved.
/// </summary>
public record PpoConfig : OnPolicyConfig
{
    /// <summary>ppo_continuous_action.py's defaults (where they differ from ppo.py's).</summary>
    public static PpoConfig Continuous => new()
    {
        Lr = 3e-4, NumEnvs = 1, NumSteps = 2048, NumMinibatches = 32, UpdateEpochs = 10, EntCoef = 0f,
        NormalizeObservations = true, NormalizeRewards = true,
    };

    /// <summary>Adam's learning rate (ppo.py 2.5e-4, ppo_continuous_action.py 3e-4); 0 holds the policy fixed (PROPS's sampling-error runs).</summary>
    [FieldRange("[0, 1]")]
    public double Lr { get; init; } = 2.5e-4;
    /// <summary>Anneal the learning rate linearly to lr / iterations at the last iteration (CleanRL's anneal_lr).</summary>
    public bool AnnealLr { get; init; } = true;
    /// <summary>Adam's epsilon (1e-5, implementation detail 3).</summary>
    [FieldRange("(0, 1]")]
    public float AdamEps { get; init; } = 1e-5f;
    /// <summary>Minibatches per epoch: the rollout's num_envs x num_steps rows split in this many (num_minibatches).</summary>
    [FieldRange("[1, inf)")]
    public int NumMinibatches { get; init; } = 4;
    /// <summary>Passes over each rollout (update_epochs).</summary>
    [FieldRange("[1, 1000]")]
    public int UpdateEpochs { get; init; } = 4;
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
    /// <summary>
    /// Check target_kl on each minibatch before its step and end the whole update there (stable-baselines3's PPO, the
    /// PROPS authors' code); false: after each epoch, on its last minibatch (CleanRL).
    /// </summary>
    public bool KlStopBeforeStep { get; init; }

    public override void Validate()
    {
        base.Validate();
        if (NumMinibatches > (long)RolloutSize)
            throw new ArgumentException($"config: field 'num_minibatches' of {GetType().Name} is {NumMinibatches}, more than the rollout's {RolloutSize} rows (num_envs {NumEnvs} x num_steps {NumSteps}): a minibatch would be empty");
    }
}

/// <summary>
/// Proximal Policy Optimization (clipped surrogate, eq. 7 and 9 of Schulman et al. 2017) on rollouts of its own:
/// a categorical policy over logits for discrete actions, a Gaussian with a learned state-independent log std (not
/// squashed) for continuous ones, and a separate value network.
/// </summary>
public class Ppo : PolicyGradient<PpoConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("ppo", LearningMode.Online, ActionKind.Discrete, "Proximal Policy Optimization, CleanRL's ppo.py (Schulman et al. 2017)",
            new PpoConfig(), (obs, space, c, seed) => new Ppo(obs, space, c, seed)),
        AlgorithmSpec.Of("ppo-continuous", LearningMode.Online, ActionKind.Continuous, "Proximal Policy Optimization, CleanRL's ppo_continuous_action.py (Schulman et al. 2017)",
            PpoConfig.Continuous, (obs, space, c, seed) => new Ppo(obs, space, c, seed)),
    ];

    private readonly Adam _opt;
    private readonly List<Tensor> _params;
    private int[] _order = [];

    public Ppo(int obs, Space actionSpace, PpoConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new PpoConfig(), seed)
    {
        _params = [.. PolicyParameters, .. Critic.Parameters()];
        _opt = Optim("policy_value", new Adam(_params, Config.Lr, eps: Config.AdamEps));
    }

    public override void Learn(RolloutBuffer r, int iteration, int iterations, Rng shuffle) => LearnEpochs(r, iteration, iterations, shuffle);

    /// <summary>
    /// update_epochs passes of shuffled minibatches (eq. 9) over the rollout's filled rows, num_minibatches of them per
    /// pass, the learning rate annealed for <paramref name="iteration"/> of <paramref name="iterations"/>.
    /// </summary>
    protected void LearnEpochs(RolloutBuffer r, int iteration, int iterations, Rng shuffle)
    {
        int size = r.Rows, minibatch = Math.Max(1, size / Config.NumMinibatches);
        if (_order.Length != size) _order = new int[size];
        for (int i = 0; i < size; i++) _order[i] = i;   // b_inds = arange(batch_size) each iteration
        if (Config.AnnealLr) _opt.BaseLr = (1.0 - (iteration - 1.0) / iterations) * Config.Lr;
        float approxKl = 0f;
        bool stopped = false;
        for (int epoch = 0; epoch < Config.UpdateEpochs && !stopped; epoch++)
        {
            shuffle.Shuffle(_order.AsSpan());   // CleanRL shuffles b_inds in place each epoch
            for (int start = 0; start < size && !stopped; start += minibatch)
                (approxKl, stopped) = Minibatch(r, _order.AsSpan(start, Math.Min(minibatch, size - start)));
            stopped |= !Config.KlStopBeforeStep && Config.TargetKl is { } target && approxKl > target;
        }
        Record("approx_kl", approxKl);
        Record("lr", (float)_opt.BaseLr);
        Record("explained_variance", r.ExplainedVariance());
    }

    /// <summary>One minibatch step of eq. 9 on the rollout's <paramref name="rows"/>; returns the approximate KL.</summary>
    internal float LearnMinibatch(RolloutBuffer r, ReadOnlySpan<int> rows) => Minibatch(r, rows).Kl;

    /// <summary>The minibatch's step, unless kl_stop_before_step finds its approximate KL past the target (Stop: none taken).</summary>
    private (float Kl, bool Stop) Minibatch(RolloutBuffer r, ReadOnlySpan<int> rows)
    {
        (float Kl, bool Stop) result;
        using (TensorScope.Begin()) result = MinibatchStep(r, rows);
        if (!result.Stop) Updates++;
        return result;
    }

    /// <summary>Clipped surrogate, clipped value loss, entropy bonus, one Adam step after the global norm clip.</summary>
    private (float Kl, bool Stop) MinibatchStep(RolloutBuffer r, ReadOnlySpan<int> rows)
    {
        var b = r.Gather(rows);
        int m = rows.Length;
        if (Config.NormAdv) RolloutBuffer.Standardize(b.Advantages.Data.AsSpan(0, m), bessel: true, eps: 1e-8);
        var adv = b.Advantages;

        _opt.ZeroGrad();
        var (logp, entropy) = LogProbAndEntropy(Head(b.Observations), b);
        var logRatio = logp - b.LogProbs;
        var ratio = logRatio.Exp();
        double kl = 0, clip = 0;   // (ratio - 1) - log ratio, the k3 estimator of KL(old || new), before the step
        for (int j = 0; j < m; j++)
        {
            float lr = logRatio.Data[j], rt = ratio.Data[j];
            kl += (rt - 1f) - lr;
            if (MathF.Abs(rt - 1f) > Config.ClipCoef) clip++;
        }
        float approxKl = (float)(kl / m);
        if (Config.KlStopBeforeStep && Config.TargetKl is { } target && approxKl > target) return (approxKl, true);
        // eq. 7: L^CLIP = E[min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)], as a loss max(-ratio A, -clip(...) A)
        var policyLoss = Tensor.Maximum(-adv * ratio, -adv * ratio.Clamp(1f - Config.ClipCoef, 1f + Config.ClipCoef)).Mean();
        var v = Critic.Forward(b.Observations);
        var valueLoss = Config.ClipVloss
            ? Tensor.Maximum((v - b.Returns).Square(), (b.Values + (v - b.Values).Clamp(-Config.ClipCoef, Config.ClipCoef) - b.Returns).Square()).Mean() * 0.5f
            : (v - b.Returns).Square().Mean() * 0.5f;
        // eq. 9: L = L^CLIP - c1 L^VF + c2 S, minimized as its negative
        var loss = policyLoss - entropy * Config.EntCoef + valueLoss * Config.VfCoef;
        Record("policy_loss", policyLoss);
        Record("value_loss", valueLoss);
        Record("entropy", entropy);
        loss.Backward();
        Record("grad_norm", Grad.ClipNorm(_params, Config.MaxGradNorm));
        _opt.Step();
        Record("clip_fraction", (float)(clip / m));
        return (approxKl, false);
    }
}
