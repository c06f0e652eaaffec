using OffRL.Data;
using OffRL.Dynamics;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>Which value network starts the online critic of <see cref="UniO4"/>.</summary>
public enum UniO4Value
{
    /// <summary>The offline IQL expectile value V(s) (the authors' walker2d runs: value.pt loaded).</summary>
    Iql,
    /// <summary>A value fitted by regression on the dataset's Monte-Carlo returns, its output through a ReLU (their hopper and halfcheetah runs).</summary>
    Returns,
}

/// <summary>
/// Uni-O4 hyperparameters (Lei, He, Lu, Hu, Gao and Xu 2024, "Uni-O4: Unifying Online and Offline Deep Reinforcement
/// Learning with Multi-Step On-Policy Optimization", ICLR), as the authors' code runs them (github.com/Lei-Kun/Uni-O4
/// @1eecc45; main.py for the offline phase, ppo_finetune/main.py for the online one). Offline: 4 behaviour policies,
/// 3 x 256 ReLU Gaussians whose outputs pass a tanh (the mean in [-1, 1], the log std mapped to [-5, 0]), orthogonal
/// init (gain 1), cloned for 400 000 steps by Adam 1e-4 on batches of 512 with the disagreement weight alpha 0.1
/// (BC_ensemble.py); IQL's Q (two 2 x 1024 ReLU) and V (3 x 512 ReLU) for 2 000 000 steps, Adam 1e-4, batch 512,
/// expectile 0.7, Polyak 0.005 every 2 steps (critic.py); the dynamics ensemble of MOBILE's code
/// (<see cref="DynamicsConfig"/>'s defaults are that config); 10 000 improvement steps of the clipped objective per
/// policy (clip 0.25 decayed over the first 200 steps, Adam 1e-4 decayed linearly to 0, grad norm 0.5) against each
/// policy's own reference, replaced when AM-Q, every 100 steps from 512 dataset states over 1 000 model steps, beats
/// the reference's best score. Online: PPO from the chosen policy with 2048-step rollouts, minibatches of 128,
/// clip 0.05 (ratio and value), entropy 0.01, actor Adam 2e-5 and critic 2e-4 (eps 1e-5) both decayed linearly over
/// 3 000 000 environment steps, GAE 0.99 / 0.95; per dataset the authors' scripts (the <c>authors</c> preset).
/// Observations are standardized with the dataset's statistics in both phases (is_state_norm). Where OffRL differs:
/// the value, cloning and return-value fits run side by side on one batch per update (the authors run them one after
/// the other); timeouts are not terminal (theirs are, for IQL's targets); the online policy is the one with the
/// highest final AM-Q (theirs: of the top three by AM-Q, the best by 10 real episodes); the online log std keeps the
/// offline mapping (their online network applies a second tanh, which changes the std at the switch); GAE does not
/// bootstrap at a timeout.
/// </summary>
public sealed record UniO4Config : OnPolicyConfig
{
    public UniO4Config()
    {
        Hidden = [256, 256, 256];
        NormalizeObservations = true;
        BatchSize = 512;
        NumEnvs = 1;
        NumSteps = 2048;
        GaeLambda = 0.95f;
    }

    /// <summary>Behaviour policies in the ensemble, each improved on its own (num_policies 4).</summary>
    [FieldRange("[1, 64]")]
    public int Policies { get; init; } = 4;
    /// <summary>The policies' hidden activation (relu; tanh in the authors' halfcheetah scripts).</summary>
    public Activation PolicyActivation { get; init; } = Activation.Relu;
    /// <summary>The log std's range: the network's tanh output x maps to min + (max - min) (x + 1) / 2 (-5 and std_upper_bound 0).</summary>
    [FieldRange("[-20, 2]")]
    public float LogStdMin { get; init; } = -5f;
    [FieldRange("[-20, 2]")]
    public float LogStdMax { get; init; }
    /// <summary>Behaviour-cloning steps (bc_steps 4e5).</summary>
    [FieldRange("[1, 1000000000000]")]
    public long BcSteps { get; init; } = 400_000;
    [FieldRange("(0, 1]")]
    public double BcLr { get; init; } = 1e-4;
    /// <summary>alpha of the disagreement term -alpha (log pi_i(a|s) - max_j!=i log pi_j(a|s)) (alpha_bc 0.1).</summary>
    [FieldRange("[0, 100]")]
    public float BcAlpha { get; init; } = 0.1f;

    /// <summary>IQL steps for Q and V (v_steps 2e6).</summary>
    [FieldRange("[1, 1000000000000]")]
    public long ValueSteps { get; init; } = 2_000_000;
    [FieldRange("[1, 16384]")]
    public int[] QHidden { get; init; } = [1024, 1024];
    [FieldRange("[1, 16384]")]
    public int[] VHidden { get; init; } = [512, 512, 512];
    [FieldRange("(0, 1]")]
    public double QLr { get; init; } = 1e-4;
    [FieldRange("(0, 1]")]
    public double VLr { get; init; } = 1e-4;
    /// <summary>The value's expectile tau (omega 0.7).</summary>
    [FieldRange("(0, 1)")]
    public float Expectile { get; init; } = 0.7f;
    /// <summary>Polyak rate of the target critics (0.005).</summary>
    [FieldRange("(0, 1]")]
    public float Tau { get; init; } = 0.005f;
    /// <summary>Value steps between target updates (target_update_freq 2).</summary>
    [FieldRange("[1, 1000000]")]
    public int TargetUpdateEvery { get; init; } = 2;

    /// <summary>Improvement steps of the clipped objective after the fits (bppo_steps 1e4).</summary>
    [FieldRange("[1, 1000000000]")]
    public long ImprovementSteps { get; init; } = 10_000;
    /// <summary>Their Adam rate, decayed linearly to 0 over the improvement steps (bppo_lr 1e-4).</summary>
    [FieldRange("(0, 1]")]
    public double ImprovementLr { get; init; } = 1e-4;
    /// <summary>The clip epsilon of the offline objective (clip_ratio 0.25).</summary>
    [FieldRange("(0, 1]")]
    public float ImprovementClip { get; init; } = 0.25f;
    /// <summary>Steps over which the clip decays as clip (1 - step / improvement_steps), then held (main.py stops the decay at 200).</summary>
    [FieldRange("[0, 1000000000]")]
    public long ClipDecaySteps { get; init; } = 200;
    /// <summary>Improvement steps between AM-Q rounds, each of which may replace the references (eval_step 100).</summary>
    [FieldRange("[1, 1000000000]")]
    public int OpeEvery { get; init; } = 100;
    /// <summary>Dataset states AM-Q starts its model rollouts from (512).</summary>
    [FieldRange("[1, 1000000]")]
    public int OpeStarts { get; init; } = 512;
    /// <summary>Model steps of each AM-Q rollout (rollout_step 1000).</summary>
    [FieldRange("[1, 100000]")]
    public int OpeHorizon { get; init; } = 1000;
    /// <summary>A folder of <c>offrl model fit</c> to use as the dynamics (fitted on this dataset); null: fitted at the run's start.</summary>
    public string? Model { get; init; }
    /// <summary>Cap on the dynamics fit's epochs (null: until 5 epochs without improvement).</summary>
    [FieldRange("[1, 1000000]")]
    public int? DynamicsMaxEpochs { get; init; }
    /// <summary>Cap on the dynamics fit's gradient steps (null: none).</summary>
    [FieldRange("[1, 1000000000]")]
    public int? DynamicsMaxSteps { get; init; }

    /// <summary>The online actor's Adam rate (lr_a; 2e-5 by default, per dataset in the scripts).</summary>
    [FieldRange("(0, 1]")]
    public double ActorLr { get; init; } = 2e-5;
    /// <summary>The online critic's Adam rate (lr_c 2e-4).</summary>
    [FieldRange("(0, 1]")]
    public double CriticLr { get; init; } = 2e-4;
    /// <summary>Environment steps over which both online rates decay linearly to 0 (max_train_steps 3e6).</summary>
    [FieldRange("[1, 1000000000000]")]
    public long LrDecaySteps { get; init; } = 3_000_000;
    [FieldRange("(0, 1]")]
    public float AdamEps { get; init; } = 1e-5f;
    /// <summary>The online clip of the ratio and of the value (epsilon 0.05).</summary>
    [FieldRange("(0, 1]")]
    public float ClipCoef { get; init; } = 0.05f;
    [FieldRange("[0, inf)")]
    public float EntCoef { get; init; } = 0.01f;
    /// <summary>Passes over each rollout (K_epochs; per dataset in the scripts).</summary>
    [FieldRange("[1, 1000]")]
    public int UpdateEpochs { get; init; } = 10;
    /// <summary>Rows per online minibatch (mini_batch_size 128).</summary>
    [FieldRange("[1, 1000000]")]
    public int MinibatchSize { get; init; } = 128;
    [FieldRange("(0, inf)")]
    public float MaxGradNorm { get; init; } = 0.5f;
    /// <summary>The online critic's start (iql: the offline V; returns: a value fitted on the dataset's returns).</summary>
    public UniO4Value OnlineValue { get; init; } = UniO4Value.Iql;
    /// <summary>The return value's hidden widths (v_hidden_width 256, depth 3).</summary>
    [FieldRange("[1, 16384]")]
    public int[] ReturnValueHidden { get; init; } = [256, 256, 256];
    /// <summary>Its regression steps (1e6, Adam 1e-4, batch 512), beside the other fits.</summary>
    [FieldRange("[1, 1000000000000]")]
    public long ReturnValueSteps { get; init; } = DefaultReturnValueSteps;
    private const long DefaultReturnValueSteps = 1_000_000;
    [FieldRange("(0, 1]")]
    public double ReturnValueLr { get; init; } = 1e-4;

    /// <summary>Updates before the improvement starts: the longest of the fits run side by side.</summary>
    public long FitUpdates() => Math.Max(Math.Max(ValueSteps, BcSteps), OnlineValue == UniO4Value.Returns ? ReturnValueSteps : 0);

    public override long? OfflinePhaseUpdates() => FitUpdates() + ImprovementSteps;

    /// <summary>The dataset's reward fields (reward_scale: the scripts' r x 0.1) hold for the rollouts too.</summary>
    protected override bool LearnsFromDataset => true;

    public override void Validate()
    {
        base.Validate();
        string name = GetType().Name;
        if (NormalizeRewards)
            throw new ArgumentException($"config: field 'normalize_rewards' of {name}: the offline values learn the dataset's rewards, so the rollouts' rewards take the same fixed transform (reward_scale), not a running one");
        if (LogStdMin >= LogStdMax)
            throw new ArgumentException($"config: field 'log_std_min' of {name} is {LogStdMin}, not below log_std_max {LogStdMax}");
        if (MinibatchSize > RolloutSize)
            throw new ArgumentException($"config: field 'minibatch_size' of {name} is {MinibatchSize}, more than the rollout's {RolloutSize} rows (num_envs {NumEnvs} x num_steps {NumSteps})");
        if (OnlineValue != UniO4Value.Returns && ReturnValueSteps != DefaultReturnValueSteps)
            throw new ArgumentException($"config: field 'return_value_steps' of {name} is set, but only online_value: returns fits that value");
    }
}

/// <summary>
/// Uni-O4: an ensemble of behaviour policies cloned from the data (eq. 4 with the disagreement term), improved offline
/// for several steps each by the clipped objective against its own reference policy with IQL's advantage (eq. 6:
/// max E_s,a~pi_ref [min(r A, clip(r, 1 - eps, 1 + eps) A)], A = min_j Q_j(s, a) - V(s), normalized per batch), the
/// reference replaced by the policy whenever AM-Q (eq. 8: the mean of Q along the policy's rollouts in the learned
/// model) improves on it; then online, the chosen policy goes on with the same clipped objective on its own rollouts
/// (PPO, eq. 9), its critic started from the offline values.
/// </summary>
public sealed class UniO4 : Agent<UniO4Config>, IOnPolicy, IAlgorithmFamily
{
    private const string Scripts = "scripts/mujoco_loco/*.sh, ppo_finetune/scripts/mujoco_loco/*.sh (where a script sweeps, main.py's default when it is in the sweep, else the sweep's first value)";

    private static readonly Preset[] Presets =
    [
        new("authors", "Lei et al. (github.com/Lei-Kun/Uni-O4 @1eecc45)",
        [
            new(["hopper-medium", "hopper-medium-replay"], "reward_scale: 0.1, online_value: returns, actor_lr: 2e-5, update_epochs: 5", Scripts),
            new(["walker2d-medium", "walker2d-medium-replay"], "online_value: iql, actor_lr: 1e-5, update_epochs: 30", Scripts),
            new(["halfcheetah-medium"], "policy_activation: tanh, online_value: returns, actor_lr: 3e-5, update_epochs: 30", Scripts + "; their dynamic reward scaling is not built: rewards as they are"),
            new(["halfcheetah-medium-replay"], "policy_activation: tanh, normalize_observations: false, reward_scale: 0.1, online_value: returns, actor_lr: 3e-5, update_epochs: 20", Scripts),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("uni-o4", LearningMode.Offline, ActionKind.Continuous, "Ensemble BC improved by a clipped objective accepted by model-based OPE, then PPO online (Lei et al. 2024)",
            new UniO4Config(), (obs, space, c, seed) => new UniO4(obs, space, c, seed)) with { Presets = Presets },
    ];

    private readonly int _k;
    private readonly EnsembleMlp _policies, _reference, _actor;
    private readonly EnsembleMlp _q, _qTarget;
    private readonly Mlp _v;
    private readonly Mlp? _returnValue;
    private readonly Adam _bcOpt, _qOpt, _vOpt, _improveOpt, _actorOpt, _criticOpt;
    private readonly Adam? _returnValueOpt;
    private readonly IReadOnlyList<Tensor> _policyParams, _actorParams, _criticParams;
    /// <summary>Per policy: the best AM-Q accepted so far, then the last AM-Q measured.</summary>
    private readonly ParameterModule _scores;
    public EnsembleDynamics Dynamics { get; }
    private Dataset? _raw;
    private float[]? _returnsToGo;
    private Termination.Rule? _ends;
    private long _online, _selected;
    private int[] _order = [];

    public UniO4(int obs, Space actionSpace, UniO4Config? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new UniO4Config(), seed)
    {
        int act = actionSpace.Width;
        _k = Config.Policies;
        var policy = new MlpConfig(obs, Config.Hidden, 2 * act, Config.PolicyActivation, Activation.Tanh);
        _policies = new EnsembleMlp(_k, policy, Rng);
        Networks.OrthogonalInit(_policies, Rng, hiddenGain: 1f, outputGain: 1f);   // net.py: orthogonal gain 1, bias 0
        _reference = Networks.Target(_policies, () => new EnsembleMlp(_k, policy, new Rng(0)));
        _actor = new EnsembleMlp(1, policy, new Rng(0));
        _policyParams = _policies.Parameters();
        _q = Networks.Critic(obs, act, Config.QHidden, Rng);
        _qTarget = Networks.Target(_q, () => Networks.Critic(obs, act, Config.QHidden, new Rng(0)));
        _v = new Mlp(new MlpConfig(obs, Config.VHidden, 1), Rng);
        if (Config.OnlineValue == UniO4Value.Returns)
        {
            _returnValue = new Mlp(new MlpConfig(obs, Config.ReturnValueHidden, 1, Activation.Relu, Activation.Relu), Rng);   // ValueReluMLP: V >= 0
            _returnValueOpt = Optim("return_value", new Adam(_returnValue.Parameters(), Config.ReturnValueLr));
        }
        _bcOpt = Optim("bc", new Adam(_policyParams, Config.BcLr));
        _qOpt = Optim("q", new Adam(_q.Parameters(), Config.QLr));
        _vOpt = Optim("v", new Adam(_v.Parameters(), Config.VLr));
        _improveOpt = Optim("improvement", new Adam(_policyParams, Config.ImprovementLr));
        _actorParams = _actor.Parameters();
        _criticParams = OnlineCritic.Parameters();
        _actorOpt = Optim("online_actor", new Adam(_actorParams, Config.ActorLr, eps: Config.AdamEps));
        _criticOpt = Optim("online_critic", new Adam(_criticParams, Config.CriticLr, eps: Config.AdamEps));
        _scores = new ParameterModule("ope", new Shape(2, _k));
        Dynamics = new EnsembleDynamics(obs, act, 0, new DynamicsConfig { MaxEpochs = Config.DynamicsMaxEpochs, MaxSteps = Config.DynamicsMaxSteps, Seed = seed });
    }

    private Mlp OnlineCritic => _returnValue ?? _v;
    private Span<float> Best => _scores.Value.Data.AsSpan(0, _k);
    private Span<float> Last => _scores.Value.Data.AsSpan(_k, _k);
    /// <summary>The policy that acts: online the fine-tuned one; offline the member with the best accepted AM-Q (member 0 before any).</summary>
    private int Acting => _online != 0 ? 0 : (int)_selected;

    public override void UseDataset(Dataset prepared)
    {
        if (_returnValue is not null) _returnsToGo = prepared.DiscountedReturnsToGo(Config.Gamma);
        // the model learns and AM-Q starts from the observations as the environment gives them (the authors' eval_buffer)
        var c = prepared.CopyColumns();
        Unnormalize(c.Observations);
        if (c.NextObservations is { } next) Unnormalize(next);
        _raw = new Dataset(c, prepared.ObservationSpace, prepared.ActionSpace, prepared.Info);
    }

    private void Unnormalize(float[] x)
    {
        if (Preprocessing.ObservationMean is not { } mean || Preprocessing.ObservationStd is not { } std) return;
        int od = ObservationDim;
        for (int i = 0; i < x.Length; i++) x[i] = x[i] * std[i % od] + mean[i % od];
    }

    /// <summary>The dynamics (fitted, or loaded from <c>model</c>) and the environment's termination rule, before the first update.</summary>
    public override ITransitionSampler? OfflineBatches(OfflineRun run)
    {
        _ends = Termination.For(run.Env);
        Dynamics.FitOrLoad(_raw ?? throw new InvalidOperationException($"{Name}: no dataset (an offline run gives it through Agent.UseDataset)"), Config.Model, Name, run.Progress);
        return null;
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        long u = Updates, fits = Config.FitUpdates();
        if (u < fits)
        {
            if (u < Config.ValueSteps) ValueStep(b, u);
            if (u < Config.BcSteps) CloneStep(b);
            if (_returnValue is not null && u < Config.ReturnValueSteps) ReturnValueStep(b);
            return;
        }
        long step = u - fits;
        if (step >= Config.ImprovementSteps) return;   // an offline-only run longer than the method's stages: nothing left to learn
        if (step == 0) StartImprovement();
        ImprovementStep(b, step);
        if ((step + 1) % Config.OpeEvery == 0 || step + 1 == Config.ImprovementSteps) Accept();
    }

    /// <summary>The policy of a head [.., 2 act] (the network's tanh applied): mean, and log std mapped into [log_std_min, log_std_max].</summary>
    private Gaussian Policy(Tensor head)
    {
        int a = ActionDim;
        float lo = Config.LogStdMin, half = 0.5f * (Config.LogStdMax - Config.LogStdMin);
        return new Gaussian(head.Slice(-1, 0, a), (head.Slice(-1, a, a) + 1f) * half + lo);
    }

    /// <summary>IQL (critic.py): V by expectile regression on min_j Q'_j(s, a) (eq. 5), then Q to r + gamma V(s') with the new V (eq. 6).</summary>
    private void ValueStep(TransitionBatch b, long u)
    {
        Tensor qTarget;
        using (Tensor.NoGrad()) qTarget = Networks.MinQ(Networks.Q(_qTarget, b.ObsT, b.ActT));
        _vOpt.ZeroGrad();
        var vLoss = Iql.ExpectileLoss(qTarget - _v.Forward(b.ObsT), Config.Expectile);
        vLoss.Backward();
        _vOpt.Step();
        Tensor y;
        using (Tensor.NoGrad()) y = b.RewT + b.DiscountT * _v.Forward(b.NextT);
        _qOpt.ZeroGrad();
        var qLoss = Networks.CriticLoss(Networks.Q(_q, b.ObsT, b.ActT), y);
        qLoss.Backward();
        _qOpt.Step();
        if ((u + 1) % Config.TargetUpdateEvery == 0) Polyak.Update(_qTarget, _q, Config.Tau);
        Record("value_loss", vLoss);
        Record("q_loss", qLoss);
    }

    /// <summary>
    /// Ensemble behaviour cloning (eq. 4, BC_ensemble.py's heuristic): each member i on the same batch minimizes
    /// -log pi_i(a|s) - alpha (log pi_i(a|s) - max_j!=i log pi_j(a|s)), the other members' term held.
    /// </summary>
    private void CloneStep(TransitionBatch b)
    {
        int k = _k, n = b.Size;
        var a = Tiled(b.ActT, k);
        _bcOpt.ZeroGrad();
        var logp = Policy(_policies.Forward(b.ObsT)).LogProb(a);   // [K, B, 1]
        var others = Tensor.Temp(logp.Shape);
        for (int i = 0; i < k; i++)
            for (int r = 0; r < n; r++)
            {
                float m = float.NegativeInfinity;
                for (int j = 0; j < k; j++) if (j != i) m = MathF.Max(m, logp.Data[j * n + r]);
                others.Data[i * n + r] = k > 1 ? m : logp.Data[i * n + r];
            }
        // each member's own mean loss (the sum over members of their means: K x the mean over all)
        var loss = (-logp - (logp - others) * Config.BcAlpha).Mean() * k;
        loss.Backward();
        _bcOpt.Step();
        Record("bc_nll", -logp.Mean().Item());
    }

    /// <summary>The return value (ppo_finetune/main.py's refit): mean squared error to each row's Monte-Carlo return.</summary>
    private void ReturnValueStep(TransitionBatch b)
    {
        var g = _returnsToGo ?? throw new InvalidOperationException($"{Name}: no dataset returns (an offline run gives them through Agent.UseDataset)");
        var target = Tensor.Temp(new Shape(b.Size, 1));
        for (int i = 0; i < b.Size; i++) target.Data[i] = g[b.Rows[i]];
        _returnValueOpt!.ZeroGrad();
        var loss = (_returnValue!.Forward(b.ObsT) - target).Square().Mean();
        loss.Backward();
        _returnValueOpt.Step();
        Record("return_value_loss", loss);
    }

    /// <summary>Each member its own reference (ppo.py set_old_policy), each reference scored by AM-Q as the bar to beat.</summary>
    private void StartImprovement()
    {
        _reference.CopyParametersFrom(_policies);
        var scores = AmQ();
        scores.CopyTo(Best);
        scores.CopyTo(Last);
        _selected = ArgMax(Best);
    }

    /// <summary>
    /// One step of eq. 6 for every member on the batch's states: a ~ pi_ref_i(.|s), A = min_j Q_j(s, a) - V(s) normalized
    /// per member, -E[min(r A, clip(r, 1 - eps, 1 + eps) A)], r = pi_i(a|s) / pi_ref_i(a|s); each member's gradient
    /// clipped to norm 0.5; the rate decayed linearly, the clip over its first clip_decay_steps steps.
    /// </summary>
    private void ImprovementStep(TransitionBatch b, long step)
    {
        int k = _k, n = b.Size, act = ActionDim;
        Tensor a, oldLogp, adv;
        using (Tensor.NoGrad())
        {
            var reference = Policy(_reference.Forward(b.ObsT));
            a = reference.RSample(Rng);                                           // [K, B, act]
            oldLogp = reference.LogProb(a);
            var q = Networks.MinQ(Networks.Q(_q, Tiled(b.ObsT, k).Reshape(k * n, ObservationDim), a.Reshape(k * n, act)));
            var v = _v.Forward(b.ObsT);
            adv = Tensor.Temp(new Shape(k, n, 1));
            for (int i = 0; i < k; i++)
            {
                for (int r = 0; r < n; r++) adv.Data[i * n + r] = q.Data[i * n + r] - v.Data[r];
                RolloutBuffer.Standardize(adv.Data.AsSpan(i * n, n), bessel: true, eps: 1e-10);
            }
        }
        float eps = Config.ImprovementClip * (1f - (float)Math.Min(step, Config.ClipDecaySteps) / Config.ImprovementSteps);
        _improveOpt.BaseLr = Config.ImprovementLr * (1.0 - (double)step / Config.ImprovementSteps);   // decayed after each step (abppo.py)
        _improveOpt.ZeroGrad();
        var ratio = (Policy(_policies.Forward(b.ObsT)).LogProb(a) - oldLogp).Exp();
        var loss = Tensor.Maximum(-adv * ratio, -adv * ratio.Clamp(1f - eps, 1f + eps)).Mean() * k;
        loss.Backward();
        Record("improvement_grad_norm", Grad.ClipNormPerMember(_policyParams, k, Config.MaxGradNorm));
        _improveOpt.Step();
        Record("improvement_loss", loss.Item() / k);
        Record("clip", eps);
    }

    /// <summary>An AM-Q round: each member's score replaces its reference (and its bar) when it beats the best so far.</summary>
    private void Accept()
    {
        var scores = AmQ();
        int accepted = 0;
        for (int i = 0; i < _k; i++)
        {
            Last[i] = scores[i];
            if (scores[i] > Best[i])
            {
                Best[i] = scores[i];
                _reference.CopyMember(_policies, i, i);
                accepted++;
            }
        }
        _selected = ArgMax(Best);
        Record("ope_best", Best[(int)_selected]);
        Record("ope_last", Last[ArgMax(Last)]);
        Record("accepted", accepted);
    }

    /// <summary>
    /// AM-Q (eq. 8, dynamics_eval.py): from ope_starts dataset states per member, the member's mean action (clipped to
    /// [-1, 1]) steps the learned model (a random elite per row) for ope_horizon steps, a rollout ending where the
    /// environment's rule says; the score is the mean of min_j Q_j(s_t, pi(s_t)) over every state reached. The rows of
    /// all members step together; an ended row is held and no longer counted.
    /// </summary>
    internal float[] AmQ()
    {
        var data = _raw ?? throw new InvalidOperationException($"{Name}: no dataset (an offline run gives it through Agent.UseDataset)");
        var ends = _ends ?? throw new InvalidOperationException($"{Name}: no environment's termination rule (an offline run gives it through Agent.OfflineBatches)");
        if (!Dynamics.Fitted) throw new InvalidOperationException($"{Name}: the dynamics are not fitted (an offline run fits them through Agent.OfflineBatches)");
        int k = _k, n = Config.OpeStarts, rows = k * n, od = ObservationDim, act = ActionDim;
        var source = new DatasetSource(data);
        var raw = new float[rows * od];
        for (int r = 0; r < rows; r++) data.Observation(source.SampleableRow(Rng.NextInt(source.SampleableCount))).CopyTo(raw.AsSpan(r * od, od));
        var s = new float[rows * od];
        var next = new float[rows * od];
        var reward = new float[rows];
        var actions = new float[rows * act];
        var alive = new bool[rows];
        Array.Fill(alive, true);
        var sum = new double[k];
        var count = new long[k];
        int living = rows;
        for (int t = 0; t < Config.OpeHorizon && living > 0; t++)
        {
            raw.CopyTo(s, 0);
            for (int r = 0; r < rows; r++) Preprocessing.NormalizeObservation(s.AsSpan(r * od, od));
            using (TensorScope.Begin())
            using (Tensor.NoGrad())
            {
                var sT = Tensor.FromArray(s, k, n, od);
                var mean = _policies.Forward(sT).Slice(-1, 0, act).Clamp(-1f, 1f);   // [K, n, act]
                mean.Data.AsSpan(0, rows * act).CopyTo(actions);
                var q = Networks.MinQ(Networks.Q(_q, sT.Reshape(rows, od), mean.Reshape(rows, act)));
                for (int r = 0; r < rows; r++)
                    if (alive[r]) { sum[r / n] += q.Data[r]; count[r / n]++; }
            }
            Dynamics.Step(raw, actions, rows, Rng, next, reward, null, default);
            for (int r = 0; r < rows; r++)
            {
                if (!alive[r]) continue;
                var sNext = next.AsSpan(r * od, od);
                if (ends(sNext)) { alive[r] = false; living--; }
                else sNext.CopyTo(raw.AsSpan(r * od, od));
            }
        }
        var scores = new float[k];
        for (int i = 0; i < k; i++) scores[i] = (float)(sum[i] / count[i]);
        return scores;
    }

    private static int ArgMax(ReadOnlySpan<float> x) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(x);

    /// <summary>x [B, d] repeated for each of <paramref name="k"/> members: [K, B, d].</summary>
    private static Tensor Tiled(Tensor x, int k)
    {
        var y = Tensor.Temp(new Shape(k, x.Shape[0], x.Shape[1]));
        for (int i = 0; i < k; i++) x.Data.AsSpan(0, x.Size).CopyTo(y.Data.AsSpan(i * x.Size, x.Size));
        return y;
    }

    /// <summary>Online from the member with the highest last AM-Q (a resumed run's online state comes from its checkpoint).</summary>
    public override void StartOnline(OnlinePhase phase)
    {
        if (_online != 0) return;
        _selected = ArgMax(Last);
        _actor.CopyMember(_policies, (int)_selected, 0);
        _online = 1;
        Record("selected_policy", _selected);
    }

    public RolloutSettings Rollouts => new(Config.NumEnvs, Config.NumSteps, NormalizeObservations: false, ObservationClip: 0f,
        NormalizeRewards: false, RewardClip: 0f, Config.Gamma, Config.GaeLambda);

    /// <summary>a ~ pi(.|s) clipped to [-1, 1], the log-probability of the clipped action (ppo_finetune/ppo.py choose_action), V(s).</summary>
    public void Sample(ReadOnlySpan<float> observations, int n, Span<float> actions, Span<float> logProbs, Span<float> values)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tensor.NoGrad();
        var s = Tensor.Temp(new Shape(n, ObservationDim));
        observations.CopyTo(s.Data);
        var pi = Policy(ActorHead(s));
        var a = pi.RSample(Rng).Clamp(-1f, 1f);
        a.Data.AsSpan(0, n * ActionDim).CopyTo(actions);
        pi.LogProb(a).Data.AsSpan(0, n).CopyTo(logProbs);
        OnlineCritic.Forward(s).Data.AsSpan(0, n).CopyTo(values);
    }

    public void Value(ReadOnlySpan<float> observations, int n, Span<float> values)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tensor.NoGrad();
        var s = Tensor.Temp(new Shape(n, ObservationDim));
        observations.CopyTo(s.Data);
        OnlineCritic.Forward(s).Data.AsSpan(0, n).CopyTo(values);
    }

    /// <summary>
    /// PPO on the rollout (ppo_finetune/ppo.py update): advantages normalized over the whole rollout; update_epochs
    /// passes of shuffled minibatches, each one actor step on the clipped surrogate with the entropy bonus and one
    /// critic step on the clipped value loss, each clipped to grad norm 0.5; then both rates decayed for the steps taken.
    /// </summary>
    public void Learn(RolloutBuffer r, int iteration, int iterations, Rng shuffle)
    {
        if (_online == 0) throw new InvalidOperationException($"{Name}: the online phase learns after StartOnline");
        int size = r.Rows, mb = Config.MinibatchSize;
        double remaining = Math.Max(0, 1.0 - (double)(iteration - 1) * size / Config.LrDecaySteps);
        _actorOpt.BaseLr = Config.ActorLr * remaining;
        _criticOpt.BaseLr = Config.CriticLr * remaining;
        RolloutBuffer.Standardize(r.Advantages.AsSpan(0, size), bessel: true, eps: 1e-5);
        if (_order.Length != size) _order = new int[size];
        for (int i = 0; i < size; i++) _order[i] = i;
        for (int epoch = 0; epoch < Config.UpdateEpochs; epoch++)
        {
            shuffle.Shuffle(_order.AsSpan());
            for (int start = 0; start < size; start += mb)
            {
                using (TensorScope.Begin()) OnlineStep(r.Gather(_order.AsSpan(start, Math.Min(mb, size - start))));
                Updates++;
            }
        }
        Record("lr_actor", (float)_actorOpt.BaseLr);
        Record("explained_variance", r.ExplainedVariance());
    }

    private void OnlineStep(RolloutMinibatch b)
    {
        float eps = Config.ClipCoef;
        var pi = Policy(ActorHead(b.Observations));
        var ratio = (pi.LogProb(b.Actions) - b.LogProbs).Exp();
        var adv = b.Advantages;
        var entropy = pi.Entropy().Mean();
        var actorLoss = Tensor.Maximum(-adv * ratio, -adv * ratio.Clamp(1f - eps, 1f + eps)).Mean() - entropy * Config.EntCoef;
        _actorOpt.ZeroGrad();
        actorLoss.Backward();
        Grad.ClipNorm(_actorParams, Config.MaxGradNorm);
        _actorOpt.Step();

        var v = OnlineCritic.Forward(b.Observations);
        var criticLoss = Tensor.Maximum((v - b.Returns).Square(), (b.Values + (v - b.Values).Clamp(-eps, eps) - b.Returns).Square()).Mean();
        _criticOpt.ZeroGrad();
        criticLoss.Backward();
        Grad.ClipNorm(_criticParams, Config.MaxGradNorm);
        _criticOpt.Step();
        Record("policy_loss", actorLoss);
        Record("critic_loss", criticLoss);
        Record("entropy", entropy);
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        var pi = Policy(Head(s));
        var a = deterministic ? pi.Mean : pi.RSample(Rng).Clamp(-1f, 1f);
        a.Data.AsSpan(0, ActionDim).CopyTo(action);
    }

    /// <summary>The online actor's head [B, 2 act] (an ensemble of one, so that it copies a member as it is).</summary>
    private Tensor ActorHead(Tensor s) => _actor.Forward(s).Reshape(s.Shape[0], 2 * ActionDim);

    /// <summary>The acting policy's head [B, 2 act].</summary>
    private Tensor Head(Tensor s) =>
        _online != 0 ? ActorHead(s) : _policies.Forward(s).Slice(0, Acting, 1).Reshape(s.Shape[0], 2 * ActionDim);

    /// <summary>The acting policy's mean, in [-1, 1] by its tanh.</summary>
    protected internal override Tensor PolicyOutput(Tensor s) => Policy(Head(s)).Mean;

    protected override IEnumerable<(string, Module)> Modules()
    {
        yield return ("policies", _policies);
        yield return ("reference", _reference);
        yield return ("actor", _actor);
        yield return ("q", _q);
        yield return ("q_target", _qTarget);
        yield return ("v", _v);
        if (_returnValue is not null) yield return ("return_value", _returnValue);
        yield return ("ope", _scores);
        yield return ("dynamics_model", Dynamics.Network);
        yield return ("dynamics_state", Dynamics.State);
    }

    protected override IEnumerable<(string Name, Func<long> Get, Action<long> Set)> CheckpointCounters =>
    [
        ("online", () => _online, v => _online = v),
        ("selected_policy", () => _selected, v => _selected = v),
    ];
}
