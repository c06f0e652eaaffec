using OffRL.Tensors;

namespace OffRL.Envs;

/// <summary>What one step returned besides the observation (Gymnasium's reward, terminated, truncated, info).</summary>
public readonly record struct StepResult(float Reward, bool Terminated, bool Truncated, float Cost = 0f, bool Success = false)
{
    public bool Done => Terminated || Truncated;
}

/// <summary>
/// A Gymnasium-style environment over float vectors. Observations are written into caller-owned spans, so
/// stepping allocates nothing; discrete actions are one float holding the index. Reset(seed) re-seeds the
/// environment's generator (Gymnasium semantics); Reset(null) continues its stream.
/// </summary>
public interface IEnv : IDisposable
{
    string Id { get; }
    Space ObservationSpace { get; }
    Space ActionSpace { get; }
    void Reset(ulong? seed, Span<float> observation);
    StepResult Step(ReadOnlySpan<float> action, Span<float> observation);
}

/// <summary>An environment whose full simulator state can be read and restored (dataset-reset methods, tests).</summary>
public interface IStatefulEnv : IEnv
{
    int StateSize { get; }
    void GetState(Span<float> state);
    /// <summary>Put the simulator in a state and write the matching observation.</summary>
    void ResetTo(ReadOnlySpan<float> state, Span<float> observation);
}

/// <summary>
/// An environment whose observation fixes its simulator state up to what its dynamics and reward ignore, so it can be a
/// model of itself (<see cref="OffRL.Dynamics.SimulatorModel"/>).
/// </summary>
public interface IStateFromObservation : IStatefulEnv
{
    /// <summary>The state, as <see cref="IStatefulEnv.ResetTo"/> takes it, that <paramref name="observation"/> was read from.</summary>
    void StateOf(ReadOnlySpan<float> observation, Span<float> state);
}

/// <summary>An environment whose reset noise can be switched off (start from the model's rest state).</summary>
public interface IResetNoise
{
    bool ResetNoise { get; set; }
}

/// <summary>An environment with named physical parameters that a dynamics-gap variant can scale.</summary>
public interface IPhysicsParameters
{
    IReadOnlyDictionary<string, float> Parameters { get; }
    void SetParameter(string name, float value);
}

/// <summary>Common seeding and action checking for OffRL's environments.</summary>
public abstract class EnvBase : IEnv
{
    protected Rng Rng { get; private set; } = new(0UL);
    public abstract string Id { get; }
    public abstract Space ObservationSpace { get; }
    public abstract Space ActionSpace { get; }

    public void Reset(ulong? seed, Span<float> observation)
    {
        if (seed is { } s) Rng = new Rng(s);
        CheckObservation(observation);
        ResetCore(observation);
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        if (action.Length != ActionSpace.Width) throw new ArgumentException($"{Id}: action has {action.Length} values, the action space {ActionSpace} has {ActionSpace.Width}");
        if (ActionSpace is Discrete d && (action[0] < 0 || action[0] >= d.N || action[0] != MathF.Floor(action[0])))
            throw new ArgumentException($"{Id}: action {action[0]} is not in 0..{d.N - 1}");
        if (ActionSpace is Box) foreach (var a in action) if (!float.IsFinite(a)) throw new ArgumentException($"{Id}: action contains {a}");
        CheckObservation(observation);
        return StepCore(action, observation);
    }

    private void CheckObservation(Span<float> observation)
    {
        if (observation.Length != ObservationSpace.Width) throw new ArgumentException($"{Id}: observation buffer has {observation.Length} values, the observation space has {ObservationSpace.Width}");
    }

    protected abstract void ResetCore(Span<float> observation);
    protected abstract StepResult StepCore(ReadOnlySpan<float> action, Span<float> observation);
    public virtual void Dispose() { }
}

public static class EnvExtensions
{
    /// <summary>Gymnasium-style reset returning a new observation array.</summary>
    public static float[] Reset(this IEnv env, ulong? seed = null)
    {
        var o = new float[env.ObservationSpace.Width];
        env.Reset(seed, o);
        return o;
    }

    /// <summary>Gymnasium-style step returning a new observation array.</summary>
    public static (float[] Observation, StepResult Result) Step(this IEnv env, params float[] action)
    {
        var o = new float[env.ObservationSpace.Width];
        var r = env.Step(action, o);
        return (o, r);
    }
}
