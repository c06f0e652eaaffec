using OffRL.Envs;
using OffRL.Tensors;

namespace OffRL.Dynamics;

/// <summary>
/// What model rollouts step through: a learned ensemble (<see cref="EnsembleDynamics"/>) or the simulator itself
/// (<see cref="SimulatorModel"/>, the edge-of-reach experiment's model without error).
/// </summary>
public interface IWorldModel
{
    int ObservationDim { get; }
    /// <summary>The action's width as the data holds it.</summary>
    int ActionDim { get; }

    /// <summary>
    /// One step for B rows: observations <paramref name="obs"/> [B, obs] and actions [B, act] as the data holds them -&gt;
    /// next observations [B, obs] and rewards [B]; with <paramref name="kind"/>, each row's uncertainty into
    /// <paramref name="penalty"/> [B]. A prediction that is not finite is an <see cref="InvalidOperationException"/>.
    /// </summary>
    void Step(ReadOnlySpan<float> obs, ReadOnlySpan<float> actions, int rows, Rng rng, Span<float> next, Span<float> reward, Uncertainty? kind, Span<float> penalty);
}

/// <summary>
/// The environment's own dynamics as a model of the world: each row's simulator state rebuilt from its observation
/// (<see cref="IStateFromObservation"/>), one true step. Sims et al. 2024 (section 4) train on such rollouts to show
/// that the edge-of-reach failure of model-based offline RL stays when the model has no error. Its uncertainty is
/// zero. The tasks: pendulum, and the MuJoCo locomotion tasks (their x is in no observation and matters to nothing).
/// </summary>
public sealed class SimulatorModel : IWorldModel, IDisposable
{
    private readonly IStateFromObservation _env;
    private readonly float[] _low, _high, _action, _state;

    public int ObservationDim { get; }
    public int ActionDim { get; }

    private SimulatorModel(IStateFromObservation env, float[] low, float[] high)
    {
        _env = env; _low = low; _high = high;
        ObservationDim = env.ObservationSpace.Width; ActionDim = env.ActionSpace.Width;
        _action = new float[ActionDim]; _state = new float[env.StateSize];
    }

    /// <summary>
    /// The simulator of <paramref name="env"/>; actions arrive in [-1, 1] (the networks' range) and are mapped to the
    /// env's bounds. An env whose state its observation does not fix is an error naming --env.
    /// </summary>
    public static SimulatorModel For(string env)
    {
        var made = EnvRegistry.Find(env).Create();   // the bare simulator, without the registry's time limit
        if (made is IStateFromObservation s && made.ActionSpace is Box box)
            return new SimulatorModel(s, box.Low, box.High);
        made.Dispose();
        throw new ArgumentException($"--env: '{env}' cannot be a model of itself (model: simulator): its observation does not fix its state, or its actions are not continuous; pendulum's and the MuJoCo locomotion tasks' do");
    }

    public void Step(ReadOnlySpan<float> obs, ReadOnlySpan<float> actions, int rows, Rng rng, Span<float> next, Span<float> reward, Uncertainty? kind, Span<float> penalty)
    {
        int od = ObservationDim, ad = ActionDim;
        for (int r = 0; r < rows; r++)
        {
            _env.StateOf(obs.Slice(r * od, od), _state);
            _env.ResetTo(_state, next.Slice(r * od, od));
            for (int j = 0; j < ad; j++) _action[j] = _low[j] + (actions[r * ad + j] + 1f) * 0.5f * (_high[j] - _low[j]);
            reward[r] = (float)_env.Step(_action, next.Slice(r * od, od)).Reward;
            if (kind is not null) penalty[r] = 0f;
        }
    }

    public void Dispose() => _env.Dispose();
}
