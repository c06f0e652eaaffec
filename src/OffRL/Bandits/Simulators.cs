using OffRL.Data;
using OffRL.Evaluation;
using OffRL.Tensors;

namespace OffRL.Bandits;

/// <summary>
/// An online contextual bandit to run learners against: each step a context and the candidates available now, the
/// expected reward of any candidate (for regret), a realized reward for the chosen one (which may change the
/// environment's state), and how many steps later that reward is reported.
/// </summary>
public interface IBanditEnvironment
{
    string Name { get; }
    int ContextDim { get; }
    int ActionDim { get; }
    /// <summary>Every action id the environment can ever offer.</summary>
    IReadOnlyList<string> ActionIds { get; }
    BanditContext Next(Rng rng);
    double Expected(BanditContext c, int index);
    float Pull(BanditContext c, int index, Rng rng);
    int Delay(Rng rng);
}

/// <summary>The simulators by name, for the CLI and scripts.</summary>
public static class BanditSimulators
{
    public const string Names = "synthetic (logistic), synthetic-linear, synthetic-nonlinear, payments, recovering";

    /// <summary>A simulator by name; <paramref name="delayMean"/> &lt; 0 keeps the simulator's default reward lag.</summary>
    public static IBanditEnvironment Create(string name, ulong seed, double delayMean = -1)
    {
        double delay = Math.Max(0, delayMean);
        return name.ToLowerInvariant() switch
        {
            "synthetic" or "synthetic-logistic" => new SyntheticBandit(new SyntheticBanditConfig { Reward = "logistic", MinCandidates = 3, DelayMean = delay, Seed = seed }),
            "synthetic-linear" => new SyntheticBandit(new SyntheticBanditConfig { Reward = "linear", MinCandidates = 3, DelayMean = delay, Seed = seed }),
            "synthetic-nonlinear" => new SyntheticBandit(new SyntheticBanditConfig { Reward = "nonlinear", MinCandidates = 3, DelayMean = delay, Seed = seed }),
            "payments" or "payment-routing" => new PaymentRoutingSimulator(new PaymentRoutingConfig { Seed = seed, DelayMean = delayMean < 0 ? 50 : delayMean }),
            "recovering" => new RecoveringBandit(new RecoveringBanditConfig { Seed = seed }),
            _ => throw new ArgumentException($"--sim: '{name}' is not one of {Names}"),
        };
    }
}

public sealed record SyntheticBanditConfig
{
    public int ContextDim { get; init; } = 5;
    public int Actions { get; init; } = 10;
    /// <summary>Descriptive action features; 0 gives one-hot ids.</summary>
    public int ActionDim { get; init; } = 0;
    /// <summary>linear (Gaussian noise) | logistic (Bernoulli) | nonlinear (Bernoulli, a random tanh network).</summary>
    public string Reward { get; init; } = "logistic";
    public double Noise { get; init; } = 0.1;
    /// <summary>Candidates per decision are a random subset of at least this many (Actions: always all).</summary>
    public int MinCandidates { get; init; } = int.MaxValue;
    public double DelayMean { get; init; } = 0;
    public ulong Seed { get; init; } = 0;
}

/// <summary>
/// Synthetic contextual bandit with a known reward function: x ~ N(0, I); mu(x, a) = [1, x]' W [1, a] (linear),
/// its sigmoid (logistic), or the sigmoid of a fixed random tanh network of [x, a] (nonlinear). Because mu is known,
/// the true value of any policy on any set of contexts is sum_a pi(a|x) mu(x, a), averaged.
/// </summary>
public sealed class SyntheticBandit : IBanditEnvironment
{
    public SyntheticBanditConfig Config { get; }
    public string Name => $"synthetic-{Config.Reward}";
    public int ContextDim => Config.ContextDim;
    public int ActionDim { get; }
    public IReadOnlyList<string> ActionIds { get; }
    private readonly float[][] _actionFeatures;
    private readonly double[] _w;           // [(d+1) * (k+1)]
    private readonly double[] _u, _c, _v;   // nonlinear: hidden 16
    private const int Hidden = 16;
    private readonly CandidateAction[] _all;

    public SyntheticBandit(SyntheticBanditConfig config)
    {
        Config = config;
        if (config.Actions < 2) throw new ArgumentException($"actions must be >= 2, got {config.Actions}");
        if (config.Reward is not ("linear" or "logistic" or "nonlinear")) throw new ArgumentException($"reward '{config.Reward}': expected linear, logistic or nonlinear");
        var rng = new Rng(config.Seed);
        ActionDim = config.ActionDim > 0 ? config.ActionDim : config.Actions;
        ActionIds = Enumerable.Range(0, config.Actions).Select(i => $"a{i}").ToArray();
        _actionFeatures = new float[config.Actions][];
        for (int a = 0; a < config.Actions; a++)
        {
            if (config.ActionDim > 0) { _actionFeatures[a] = new float[ActionDim]; rng.FillNormal(_actionFeatures[a]); }
            else _actionFeatures[a] = JointFeatures.OneHot(a, config.Actions);
        }
        int dim = JointFeatures.Dim(ContextDim, ActionDim);
        double scale = 1.0 / Math.Sqrt(ContextDim + 1);
        _w = new double[dim];
        for (int i = 0; i < dim; i++) _w[i] = rng.NextNormal() * scale;
        int inDim = ContextDim + ActionDim;
        _u = new double[Hidden * inDim]; _c = new double[Hidden]; _v = new double[Hidden];
        for (int i = 0; i < _u.Length; i++) _u[i] = rng.NextNormal() / Math.Sqrt(inDim) * 2;
        for (int i = 0; i < Hidden; i++) { _c[i] = rng.NextNormal() * 0.5; _v[i] = rng.NextNormal() * 2 / Math.Sqrt(Hidden); }
        _all = new CandidateAction[config.Actions];
        for (int a = 0; a < config.Actions; a++) _all[a] = new CandidateAction(ActionIds[a], _actionFeatures[a]);
    }

    public float[] ActionFeatures(int action) => _actionFeatures[action];

    /// <summary>The expected reward of action <paramref name="action"/> (an index into ActionIds) at context x.</summary>
    public double Mu(ReadOnlySpan<float> x, int action)
    {
        var a = _actionFeatures[action];
        if (Config.Reward == "nonlinear")
        {
            double z = 0;
            for (int h = 0; h < Hidden; h++)
            {
                double s = _c[h];
                int inDim = ContextDim + ActionDim;
                for (int i = 0; i < ContextDim; i++) s += _u[h * inDim + i] * x[i];
                for (int j = 0; j < ActionDim; j++) s += _u[h * inDim + ContextDim + j] * a[j];
                z += _v[h] * Math.Tanh(s);
            }
            return Sigmoid(z);
        }
        double lin = 0;
        int k = ActionDim + 1;
        for (int i = 0; i <= ContextDim; i++)
        {
            double xi = i == 0 ? 1 : x[i - 1];
            double row = _w[i * k];
            for (int j = 0; j < ActionDim; j++) row += _w[i * k + j + 1] * a[j];
            lin += xi * row;
        }
        return Config.Reward == "linear" ? lin : Sigmoid(lin);
    }

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    private int Global(BanditContext c, int index) => int.Parse(c.Actions[index].Id.AsSpan(1));

    public BanditContext Next(Rng rng)
    {
        var x = new float[ContextDim];
        rng.FillNormal(x);
        int n = Config.Actions;
        if (Config.MinCandidates >= n) return new BanditContext(x, _all);
        int m = Config.MinCandidates + rng.NextInt(n - Config.MinCandidates + 1);
        var perm = rng.Permutation(n);
        Array.Sort(perm, 0, m);
        var cands = new CandidateAction[m];
        for (int i = 0; i < m; i++) cands[i] = _all[perm[i]];
        return new BanditContext(x, cands);
    }

    public double Expected(BanditContext c, int index) => Mu(c.Context, Global(c, index));

    public float Pull(BanditContext c, int index, Rng rng)
    {
        return Sample(Expected(c, index), rng);
    }

    /// <summary>A realized reward with mean mu: Gaussian noise (linear) or a Bernoulli draw.</summary>
    private float Sample(double mu, Rng rng) =>
        Config.Reward == "linear" ? (float)(mu + Config.Noise * rng.NextNormal()) : rng.NextDouble() < mu ? 1f : 0f;

    public int Delay(Rng rng) => rng.Geometric(Config.DelayMean);

    /// <summary>
    /// Logs of n decisions by a behavior policy with a set exploration level: softmax(beta * mu) mixed with
    /// epsilon uniform, over all actions; propensities are exact.
    /// </summary>
    public BanditFeedback Log(int n, double beta, double epsilon, Rng rng)
    {
        int K = Config.Actions, d = ContextDim;
        var ctx = new float[n * d]; var act = new int[n]; var r = new float[n]; var p = new float[n];
        var probs = new float[K];
        for (int i = 0; i < n; i++)
        {
            var x = ctx.AsSpan(i * d, d);
            rng.FillNormal(x);
            Behavior(x, beta, epsilon, probs);
            int a = rng.Categorical(probs);
            act[i] = a; p[i] = probs[a];
            r[i] = Sample(Mu(x, a), rng);
        }
        float[]? ac = Config.ActionDim > 0 ? _actionFeatures.SelectMany(f => f).ToArray() : null;
        return new BanditFeedback(ctx, d, act, new int[n], r, p, K, 1, ac, Name);
    }

    public void Behavior(ReadOnlySpan<float> x, double beta, double epsilon, Span<float> probs)
    {
        int K = Config.Actions;
        double m = double.NegativeInfinity;
        Span<double> mu = stackalloc double[K];
        for (int a = 0; a < K; a++) { mu[a] = Mu(x, a); m = Math.Max(m, beta * mu[a]); }
        double z = 0;
        for (int a = 0; a < K; a++) z += Math.Exp(beta * mu[a] - m);
        for (int a = 0; a < K; a++) probs[a] = (float)((1 - epsilon) * Math.Exp(beta * mu[a] - m) / z + epsilon / K);
    }

    /// <summary>The true value of a target on the logs' contexts: mean over rows of sum_a pi(a|x) mu(x, a).</summary>
    public double TrueValue(BanditFeedback logs, ActionDistribution target)
    {
        double s = 0;
        for (int i = 0; i < logs.Count; i++)
            for (int a = 0; a < logs.Actions; a++) s += target[i, a, 0] * Mu(logs.ContextOf(i), a);
        return s / logs.Count;
    }
}

public sealed record PaymentRoutingConfig
{
    public int Processors { get; init; } = 4;
    /// <summary>Mean settlement lag in decisions before the outcome is reported.</summary>
    public double DelayMean { get; init; } = 50;
    /// <summary>Overall success rate the processors start near (failures are the rare class).</summary>
    public double BaseSuccess { get; init; } = 0.9;
    /// <summary>Per-step random-walk std of each processor's success logit (mean-reverting).</summary>
    public double DriftStd { get; init; } = 0.02;
    /// <summary>Per-step chance a processor goes down (it leaves the candidate set for OutageLength steps).</summary>
    public double OutageRate { get; init; } = 1.0 / 3000;
    public int OutageLength { get; init; } = 300;
    public ulong Seed { get; init; } = 0;
}

/// <summary>
/// Payment routing: transactions (log amount, one of 3 countries, credit or debit, recurring or not, hour of day) are
/// routed to one of several processors; a transaction succeeds with probability sigmoid(b_k(t) + u_k' x), where each
/// processor is better for some countries and cards, b_k drifts (a mean-reverting random walk), processors go down for
/// a while (leaving the candidate set), and the outcome is reported after a random settlement lag. Successes are the
/// common class (about BaseSuccess), failures rare.
/// </summary>
public sealed class PaymentRoutingSimulator : IBanditEnvironment
{
    public PaymentRoutingConfig Config { get; }
    public string Name => "payment-routing";
    public int ContextDim => 8;
    public int ActionDim => Config.Processors;
    public IReadOnlyList<string> ActionIds { get; }
    private readonly double[] _base, _bias, _u;
    private readonly int[] _downUntil;
    private readonly CandidateAction[] _all;
    private readonly Rng _world;
    private long _t;

    public PaymentRoutingSimulator(PaymentRoutingConfig config)
    {
        Config = config;
        int K = config.Processors;
        if (K < 2) throw new ArgumentException($"processors must be >= 2, got {K}");
        _world = new Rng(config.Seed);
        ActionIds = Enumerable.Range(0, K).Select(i => $"processor-{i}").ToArray();
        _all = JointFeatures.Arms(ActionIds.ToArray());
        double logit = Math.Log(config.BaseSuccess / (1 - config.BaseSuccess));
        _base = new double[K]; _bias = new double[K]; _u = new double[K * ContextDim]; _downUntil = new int[K];
        for (int k = 0; k < K; k++)
        {
            _base[k] = _bias[k] = logit + 0.4 * _world.NextNormal();
            for (int j = 0; j < ContextDim; j++) _u[k * ContextDim + j] = 0.8 * _world.NextNormal();
        }
    }

    public BanditContext Next(Rng rng)
    {
        _t++;
        int K = Config.Processors;
        for (int k = 0; k < K; k++)
        {
            _bias[k] += 0.001 * (_base[k] - _bias[k]) + Config.DriftStd * _world.NextNormal();
            if (_downUntil[k] < _t && _world.NextDouble() < Config.OutageRate) _downUntil[k] = (int)_t + Config.OutageLength;
        }
        var x = new float[ContextDim];
        x[0] = (float)rng.NextNormal();                    // standardized log amount
        x[1 + rng.NextInt(3)] = 1;                          // country one-hot (3)
        x[4] = rng.NextDouble() < 0.6 ? 1 : 0;              // credit card
        x[5] = rng.NextDouble() < 0.2 ? 1 : 0;              // recurring
        double hour = rng.NextDouble() * 2 * Math.PI;
        x[6] = (float)Math.Sin(hour); x[7] = (float)Math.Cos(hour);
        var up = new List<CandidateAction>(K);
        for (int k = 0; k < K; k++) if (_downUntil[k] < _t) up.Add(_all[k]);
        if (up.Count == 0) up.Add(_all[(int)(_t % K)]);
        return new BanditContext(x, up.ToArray());
    }

    public double Expected(BanditContext c, int index)
    {
        int k = Array.IndexOf(_all, c.Actions[index]);
        double z = _bias[k];
        for (int j = 0; j < ContextDim; j++) z += _u[k * ContextDim + j] * c.Context[j];
        return 1 / (1 + Math.Exp(-z));
    }

    public float Pull(BanditContext c, int index, Rng rng) => rng.NextDouble() < Expected(c, index) ? 1f : 0f;
    public int Delay(Rng rng) => rng.Geometric(Config.DelayMean);
}

public sealed record RecoveringBanditConfig
{
    public int Arms { get; init; } = 5;
    public double Noise { get; init; } = 0.1;
    public ulong Seed { get; init; } = 0;
}

/// <summary>
/// Recovering bandit (after Pike-Burke &amp; Grunewalder 2019): arm k pays r_k (1 - exp(-z / tau_k)) plus noise, where z is
/// the number of steps since the arm was last pulled, so a pull depresses the arm and idle time restores it. No context;
/// each arm's features are its one-hot id times [1, 1 - exp(-z), 1 - exp(-z/5), 1 - exp(-z/20)], which a linear oracle
/// can fit closely, so the learner must trade an arm's current value against letting it recover.
/// </summary>
public sealed class RecoveringBandit : IBanditEnvironment
{
    public RecoveringBanditConfig Config { get; }
    public string Name => "recovering";
    public int ContextDim => 0;
    public int ActionDim => 4 * Config.Arms;
    public IReadOnlyList<string> ActionIds { get; }
    private readonly double[] _reward, _tau;
    private readonly long[] _lastPull;
    private long _t;
    private const int MaxIdle = 100;

    public RecoveringBandit(RecoveringBanditConfig config)
    {
        Config = config;
        var rng = new Rng(config.Seed);
        int K = config.Arms;
        ActionIds = Enumerable.Range(0, K).Select(i => $"arm-{i}").ToArray();
        _reward = new double[K]; _tau = new double[K]; _lastPull = new long[K];
        for (int k = 0; k < K; k++)
        {
            _reward[k] = 0.3 + 0.7 * rng.NextDouble();
            _tau[k] = 1 + 19 * rng.NextDouble();
            _lastPull[k] = -MaxIdle;
        }
    }

    private double Idle(int k) => Math.Min(MaxIdle, _t - _lastPull[k]);

    public BanditContext Next(Rng rng)
    {
        _t++;
        int K = Config.Arms;
        var cands = new CandidateAction[K];
        for (int k = 0; k < K; k++)
        {
            var f = new float[ActionDim];
            double z = Idle(k);
            f[4 * k] = 1;
            f[4 * k + 1] = (float)(1 - Math.Exp(-z));
            f[4 * k + 2] = (float)(1 - Math.Exp(-z / 5));
            f[4 * k + 3] = (float)(1 - Math.Exp(-z / 20));
            cands[k] = new CandidateAction(ActionIds[k], f);
        }
        return new BanditContext([], cands);
    }

    private int Arm(BanditContext c, int index) => int.Parse(c.Actions[index].Id.AsSpan(4));

    public double Expected(BanditContext c, int index)
    {
        int k = Arm(c, index);
        return _reward[k] * (1 - Math.Exp(-Idle(k) / _tau[k]));
    }

    public float Pull(BanditContext c, int index, Rng rng)
    {
        double mu = Expected(c, index);
        _lastPull[Arm(c, index)] = _t;
        return (float)(mu + Config.Noise * rng.NextNormal());
    }

    public int Delay(Rng rng) => 0;
}
