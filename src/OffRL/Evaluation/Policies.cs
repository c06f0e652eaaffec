using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>
/// A policy whose action probabilities are known: what importance sampling needs of a behavior or target policy.
/// For discrete actions the action holds the index and <see cref="LogProb"/> is log pi(a|s); for continuous actions it is
/// the log density (per dimension a censored Gaussian at the action bounds, see <see cref="GaussianPolicy"/>).
/// </summary>
public interface IProbabilisticPolicy : IPolicy
{
    double LogProb(ReadOnlySpan<float> observation, ReadOnlySpan<float> action);

    /// <summary>Draw an action from the policy with the given generator and return its log probability.</summary>
    double Sample(ReadOnlySpan<float> observation, Span<float> action, Rng rng);

    /// <summary>Discrete actions: pi(.|s) into <paramref name="probs"/> (length N).</summary>
    void Probabilities(ReadOnlySpan<float> observation, Span<float> probs)
    {
        Span<float> a = stackalloc float[1];
        for (int i = 0; i < probs.Length; i++) { a[0] = i; probs[i] = (float)Math.Exp(LogProb(observation, a)); }
    }
}

/// <summary>Shared sampling for discrete policies defined by their probabilities.</summary>
public abstract class DiscreteProbabilisticPolicy(int observationDim, int actions, ulong seed) : IProbabilisticPolicy
{
    private readonly float[] _p = new float[actions];
    private readonly Rng _rng = new(seed);
    public int ObservationDim { get; } = observationDim;
    public Space ActionSpace { get; } = new Discrete(actions);
    public int Actions => actions;

    public abstract void Probabilities(ReadOnlySpan<float> observation, Span<float> probs);

    public double LogProb(ReadOnlySpan<float> observation, ReadOnlySpan<float> action)
    {
        int a = (int)action[0];
        if (a < 0 || a >= actions) throw new ArgumentOutOfRangeException(nameof(action), $"action index {a} is outside 0..{actions - 1}");
        Probabilities(observation, _p);
        return Math.Log(_p[a]);
    }

    public double Sample(ReadOnlySpan<float> observation, Span<float> action, Rng rng)
    {
        Probabilities(observation, _p);
        int a = rng.Categorical(_p);
        action[0] = a;
        return Math.Log(_p[a]);
    }

    public void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic)
    {
        if (!deterministic) { Sample(observation, action, _rng); return; }
        Probabilities(observation, _p);
        int best = 0;
        for (int i = 1; i < actions; i++) if (_p[i] > _p[best]) best = i;
        action[0] = best;
    }
}

/// <summary>Discrete policy given by a function of the observation (tabular policies, softmax heads, tests).</summary>
public sealed class FuncDiscretePolicy(int observationDim, int actions, Action<float[], float[]> probabilities, ulong seed = 0)
    : DiscreteProbabilisticPolicy(observationDim, actions, seed)
{
    private readonly float[] _obs = new float[observationDim];
    private readonly float[] _buf = new float[actions];
    public override void Probabilities(ReadOnlySpan<float> observation, Span<float> probs)
    {
        observation.CopyTo(_obs);
        probabilities(_obs, _buf);
        _buf.CopyTo(probs);
    }
}

/// <summary>Epsilon-greedy around any policy's deterministic action: pi(a|s) = eps/N + (1 - eps) [a = greedy(s)].</summary>
public sealed class EpsilonGreedyPolicy : DiscreteProbabilisticPolicy
{
    private readonly IPolicy _greedy;
    private readonly double _eps;
    private readonly float[] _a = new float[1];

    public EpsilonGreedyPolicy(IPolicy greedy, double epsilon, ulong seed = 0)
        : base(greedy.ObservationDim, (greedy.ActionSpace as Discrete ?? throw new ArgumentException("epsilon-greedy needs a discrete-action policy")).N, seed)
    {
        if (epsilon is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(epsilon), $"epsilon must be in [0, 1], got {epsilon}");
        _greedy = greedy; _eps = epsilon;
    }

    public override void Probabilities(ReadOnlySpan<float> observation, Span<float> probs)
    {
        _greedy.Act(observation, _a, deterministic: true);
        probs.Fill((float)(_eps / Actions));
        probs[(int)_a[0]] += (float)(1 - _eps);
    }
}

/// <summary>
/// Gaussian exploration around a deterministic policy: a = clip(mu(s) + sigma * eps). Each dimension is a censored
/// Gaussian: inside the bounds the log density of N(mu, sigma^2), at a bound the log of the clipped tail mass, so the
/// importance ratio of two such policies is exact (both put the same kind of mass at the bounds).
/// </summary>
public sealed class GaussianPolicy(IPolicy mean, double sigma, ulong seed = 0) : IProbabilisticPolicy
{
    private readonly float[] _mu = new float[mean.ActionSpace.Width];
    private readonly Rng _rng = new(seed);
    private readonly Box? _box = mean.ActionSpace as Box is { IsBounded: true } b ? b : null;
    public int ObservationDim => mean.ObservationDim;
    public Space ActionSpace => mean.ActionSpace;
    public double Sigma { get; } = sigma > 0 ? sigma : throw new ArgumentOutOfRangeException(nameof(sigma), $"sigma must be > 0, got {sigma}");

    public double LogProb(ReadOnlySpan<float> observation, ReadOnlySpan<float> action)
    {
        mean.Act(observation, _mu, deterministic: true);
        return LogProbAround(_mu, action);
    }

    private double LogProbAround(ReadOnlySpan<float> mu, ReadOnlySpan<float> action)
    {
        double lp = 0;
        for (int i = 0; i < mu.Length; i++)
        {
            double z = (action[i] - mu[i]) / Sigma;
            if (_box is not null && action[i] >= _box.High[i]) lp += Math.Log(Math.Max(1e-300, NormalTail((_box.High[i] - mu[i]) / Sigma)));
            else if (_box is not null && action[i] <= _box.Low[i]) lp += Math.Log(Math.Max(1e-300, NormalTail((mu[i] - _box.Low[i]) / Sigma)));
            else lp += -0.5 * z * z - Math.Log(Sigma) - 0.5 * Math.Log(2 * Math.PI);
        }
        return lp;
    }

    public double Sample(ReadOnlySpan<float> observation, Span<float> action, Rng rng)
    {
        mean.Act(observation, _mu, deterministic: true);
        for (int i = 0; i < _mu.Length; i++)
        {
            float a = _mu[i] + (float)(Sigma * rng.NextNormal());
            if (_box is not null) a = Math.Clamp(a, _box.Low[i], _box.High[i]);
            action[i] = a;
        }
        return LogProbAround(_mu, action);
    }

    public void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic)
    {
        if (deterministic) mean.Act(observation, action, true);
        else Sample(observation, action, _rng);
    }

    /// <summary>P(Z > x) for a standard normal Z.</summary>
    internal static double NormalTail(double x) => 0.5 * Erfc(x / Math.Sqrt(2));

    /// <summary>Complementary error function (Numerical Recipes' Chebyshev fit, relative error below 1.2e-7).</summary>
    internal static double Erfc(double x)
    {
        double z = Math.Abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                   t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}

/// <summary>Uniform over the action space (discrete, or a bounded box).</summary>
public sealed class UniformPolicy : IProbabilisticPolicy
{
    private readonly Rng _rng;
    private readonly double _logp;
    public int ObservationDim { get; }
    public Space ActionSpace { get; }

    public UniformPolicy(int observationDim, Space actionSpace, ulong seed = 0)
    {
        ObservationDim = observationDim; ActionSpace = actionSpace; _rng = new Rng(seed);
        _logp = actionSpace switch
        {
            Discrete d => -Math.Log(d.N),
            Box { IsBounded: true } b => -Enumerable.Range(0, b.Width).Sum(i => Math.Log(b.High[i] - b.Low[i])),
            _ => throw new ArgumentException($"a uniform policy needs a discrete or bounded action space, got {actionSpace}"),
        };
    }

    public double LogProb(ReadOnlySpan<float> observation, ReadOnlySpan<float> action) => _logp;

    public double Sample(ReadOnlySpan<float> observation, Span<float> action, Rng rng)
    {
        if (ActionSpace is Discrete d) action[0] = rng.NextInt(d.N);
        else
        {
            var b = (Box)ActionSpace;
            for (int i = 0; i < b.Width; i++) action[i] = b.Low[i] + (float)rng.NextDouble() * (b.High[i] - b.Low[i]);
        }
        return _logp;
    }

    public void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic) => Sample(observation, action, _rng);
}
