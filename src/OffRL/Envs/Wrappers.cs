using OffRL.Tensors;

namespace OffRL.Envs;

/// <summary>Base of wrappers: forwards everything to the inner environment.</summary>
public abstract class Wrapper(IEnv inner) : IEnv
{
    public IEnv Inner { get; } = inner;
    public virtual string Id => Inner.Id;
    public virtual Space ObservationSpace => Inner.ObservationSpace;
    public virtual Space ActionSpace => Inner.ActionSpace;
    public virtual void Reset(ulong? seed, Span<float> observation) => Inner.Reset(seed, observation);
    public virtual StepResult Step(ReadOnlySpan<float> action, Span<float> observation) => Inner.Step(action, observation);
    public virtual void Dispose() => Inner.Dispose();

    /// <summary>The innermost environment of a wrapper chain.</summary>
    public static IEnv Unwrap(IEnv env)
    {
        while (env is Wrapper w) env = w.Inner;
        return env;
    }
}

/// <summary>Truncates episodes after a number of steps (Gymnasium's TimeLimit: truncation, not termination).</summary>
public sealed class TimeLimit(IEnv inner, int maxSteps) : Wrapper(inner)
{
    private int _t;
    public int MaxSteps { get; } = maxSteps > 0 ? maxSteps : throw new ArgumentException($"TimeLimit: max steps must be positive, got {maxSteps}");
    public int Elapsed => _t;

    public override void Reset(ulong? seed, Span<float> observation) { _t = 0; Inner.Reset(seed, observation); }

    public override StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        var r = Inner.Step(action, observation);
        _t++;
        return _t >= MaxSteps && !r.Terminated ? r with { Truncated = true } : r;
    }
}

/// <summary>Repeats each action k times, summing rewards (and costs); stops early when the episode ends.</summary>
public sealed class ActionRepeat(IEnv inner, int repeats) : Wrapper(inner)
{
    public int Repeats { get; } = repeats > 0 ? repeats : throw new ArgumentException($"ActionRepeat: repeats must be positive, got {repeats}");

    public override StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        float reward = 0, cost = 0;
        StepResult r = default;
        for (int i = 0; i < Repeats; i++)
        {
            r = Inner.Step(action, observation);
            reward += r.Reward; cost += r.Cost;
            if (r.Done) break;
        }
        return r with { Reward = reward, Cost = cost };
    }
}

/// <summary>Observation = the last k observations concatenated, oldest first (the first is repeated after reset).</summary>
public sealed class ObservationHistory : Wrapper
{
    /// <summary>
    /// <paramref name="env"/> as <paramref name="policy"/> sees it: wrapped to give the last <see cref="IPolicy.History"/>
    /// observations when the policy takes a history and the environment gives single observations; else itself.
    /// The wrapper is not to be disposed (its inner environment belongs to the caller).
    /// </summary>
    public static IEnv For(IEnv env, IPolicy policy) =>
        policy.History > 1 && policy.ObservationDim == policy.History * env.ObservationSpace.Width ? new ObservationHistory(env, policy.History) : env;

    private readonly float[] _hist;
    private readonly int _k, _d;
    public override Space ObservationSpace { get; }

    public ObservationHistory(IEnv inner, int k) : base(inner)
    {
        if (k < 1) throw new ArgumentException($"ObservationHistory: k must be at least 1, got {k}");
        _k = k; _d = inner.ObservationSpace.Width;
        _hist = new float[k * _d];
        ObservationSpace = inner.ObservationSpace is Box b
            ? new Box(Enumerable.Repeat(b.Low, k).SelectMany(x => x).ToArray(), Enumerable.Repeat(b.High, k).SelectMany(x => x).ToArray())
            : Box.Unbounded(k * _d);
    }

    public override void Reset(ulong? seed, Span<float> observation)
    {
        Span<float> o = stackalloc float[_d];
        Inner.Reset(seed, o);
        for (int i = 0; i < _k; i++) o.CopyTo(_hist.AsSpan(i * _d, _d));
        _hist.CopyTo(observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        Span<float> o = stackalloc float[_d];
        var r = Inner.Step(action, o);
        Array.Copy(_hist, _d, _hist, 0, (_k - 1) * _d);
        o.CopyTo(_hist.AsSpan((_k - 1) * _d, _d));
        _hist.CopyTo(observation);
        return r;
    }
}

/// <summary>
/// Normalizes observations: (o - mean) / std with fixed statistics (e.g. a dataset's preprocessing: its
/// ObservationMean and ObservationStd), or with running mean and variance updated on every observation before it is
/// normalized (Gymnasium's NormalizeObservation: <see cref="RunningMeanStd"/>, epsilon 1e-8).
/// </summary>
public sealed class NormalizeObservation : Wrapper
{
    private readonly float[]? _fixedMean, _fixedStd;
    private readonly RunningMeanStd? _running;

    public NormalizeObservation(IEnv inner, float[]? fixedMean = null, float[]? fixedStd = null) : base(inner)
    {
        if ((fixedMean is null) != (fixedStd is null)) throw new ArgumentException("NormalizeObservation: give both the fixed mean and std, or neither");
        if (fixedMean is not null && (fixedMean.Length != inner.ObservationSpace.Width || fixedStd!.Length != inner.ObservationSpace.Width))
            throw new ArgumentException($"NormalizeObservation: fixed statistics have {fixedMean.Length} and {fixedStd!.Length} values, observations {inner.ObservationSpace.Width}");
        (_fixedMean, _fixedStd) = (fixedMean, fixedStd);
        if (fixedMean is null) _running = new RunningMeanStd(inner.ObservationSpace.Width);
    }

    public override Space ObservationSpace => Box.Unbounded(Inner.ObservationSpace.Width);

    private void Apply(Span<float> o)
    {
        if (_running is not null)
        {
            _running.Update(o, 1);
            for (int i = 0; i < o.Length; i++) o[i] = (float)((o[i] - _running.Mean[i]) / Math.Sqrt(_running.Var[i] + 1e-8));
            return;
        }
        for (int i = 0; i < o.Length; i++) o[i] = (o[i] - _fixedMean![i]) / _fixedStd![i];
    }

    public override void Reset(ulong? seed, Span<float> observation) { Inner.Reset(seed, observation); Apply(observation); }

    public override StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        var r = Inner.Step(action, observation);
        Apply(observation);
        return r;
    }
}

/// <summary>
/// Partial observability: Gaussian noise of a given std on every observation entry, and/or masking (zeroing)
/// of chosen dimensions (e.g. all velocities) or of each entry with a probability.
/// </summary>
public sealed class ObservationNoise(IEnv inner, float noiseStd = 0f, int[]? maskedDims = null, float dropProbability = 0f, ulong seed = 0) : Wrapper(inner)
{
    private readonly Rng _rng = new(seed);
    private readonly bool[] _mask = BuildMask(inner.ObservationSpace.Width, maskedDims);

    /// <summary>The dimensions always zeroed (sorted; a dataset used in this environment is masked alike, <see cref="Runs.Recipes.FitToEnv"/>).</summary>
    public IReadOnlyList<int> MaskedDims { get; } = (maskedDims ?? []).Distinct().Order().ToArray();

    private static bool[] BuildMask(int width, int[]? dims)
    {
        var m = new bool[width];
        foreach (var d in dims ?? [])
        {
            if (d < 0 || d >= width) throw new ArgumentException($"ObservationNoise: dimension {d} is outside 0..{width - 1}");
            m[d] = true;
        }
        return m;
    }

    private void Apply(Span<float> o)
    {
        for (int i = 0; i < o.Length; i++)
        {
            if (_mask[i] || (dropProbability > 0 && _rng.NextFloat() < dropProbability)) { o[i] = 0f; continue; }
            if (noiseStd > 0) o[i] += noiseStd * (float)_rng.NextNormal();
        }
    }

    public override void Reset(ulong? seed, Span<float> observation) { Inner.Reset(seed, observation); Apply(observation); }

    public override StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        var r = Inner.Step(action, observation);
        Apply(observation);
        return r;
    }
}

/// <summary>
/// A dynamics-gap variant ("simulator" vs "real", as in H2O): scales named physical parameters of the inner
/// environment (mass, friction, gravity, actuator strength...) once, at construction.
/// </summary>
public sealed class DynamicsGap : Wrapper
{
    public IReadOnlyDictionary<string, float> Scales { get; }

    public DynamicsGap(IEnv inner, IReadOnlyDictionary<string, float> scales) : base(inner)
    {
        if (Unwrap(inner) is not IPhysicsParameters p)
            throw new ArgumentException($"DynamicsGap: {inner.Id} exposes no physical parameters");
        foreach (var (name, scale) in scales)
        {
            if (!p.Parameters.TryGetValue(name, out var v))
                throw new ArgumentException($"DynamicsGap: {inner.Id} has no parameter '{name}' (has: {string.Join(", ", p.Parameters.Keys)})");
            p.SetParameter(name, v * scale);
        }
        Scales = scales;
    }

    public override string Id => $"{Inner.Id}[gap]";
}

/// <summary>
/// A finite set of levels of a procedurally generated environment (Procgen's num_levels; the training levels of the
/// procedural-generalization studies): every episode is one of the inner environment's episodes from seeds 0 .. N-1,
/// drawn uniformly by a generator that each seeded reset restarts, so a run is reproducible and never meets a level
/// outside the set. The levels of the environment without the wrapper at other seeds are the unseen ones.
/// </summary>
public sealed class LevelSet : Wrapper
{
    private Rng _rng = new(0);
    public int Levels { get; }

    public LevelSet(IEnv inner, int levels) : base(inner) =>
        Levels = levels >= 1 ? levels : throw new ArgumentException($"environment '{inner.Id}': levels must be a whole number >= 1, got {levels}");

    public override string Id => $"{Inner.Id}[levels={Levels}]";

    public override void Reset(ulong? seed, Span<float> observation)
    {
        if (seed is { } s) _rng = new Rng(s);
        Inner.Reset((ulong)_rng.NextInt(Levels), observation);
    }
}

/// <summary>Adds a cost signal for safe RL: cost(observation before, action, observation after) goes into <see cref="StepResult.Cost"/>.</summary>
public sealed class CostSignal(IEnv inner, CostSignal.CostFunction cost) : Wrapper(inner)
{
    public delegate float CostFunction(ReadOnlySpan<float> observation, ReadOnlySpan<float> action, ReadOnlySpan<float> next);
    private float[] _last = new float[inner.ObservationSpace.Width];

    public override void Reset(ulong? seed, Span<float> observation)
    {
        Inner.Reset(seed, observation);
        observation.CopyTo(_last);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        var r = Inner.Step(action, observation);
        float c = cost(_last, action, observation);
        observation.CopyTo(_last);
        return r with { Cost = r.Cost + c };
    }
}
