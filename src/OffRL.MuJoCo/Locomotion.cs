using OffRL.Data;
using OffRL.Envs;

namespace OffRL.MuJoCo;

/// <summary>
/// Base of the MuJoCo locomotion tasks (Gym v2/v3, Gymnasium v4 definitions): the action goes into ctrl (MuJoCo
/// clamps it to the control range), physics advances frame_skip steps, the forward velocity is (x after - x before)
/// / dt of qpos[0]. Observations are qpos without x, then qvel. One model can serve many environments (vector
/// envs); native memory is freed on Dispose.
/// </summary>
public abstract class MujocoEnv : EnvBase, IStateFromObservation, IPhysicsParameters, IResetNoise
{
    protected MjModel Model { get; }
    protected MjData Data { get; }
    private readonly double[] _mass0, _inertia0, _friction0, _gear0;
    private readonly Dictionary<string, float> _params = new() { ["mass"] = 1f, ["friction"] = 1f, ["actuator"] = 1f };

    public abstract int FrameSkip { get; }
    public double Dt => Model.Timestep * FrameSkip;
    public bool ResetNoise { get; set; } = true;
    public int StateSize => Model.Nq + Model.Nv;
    public IReadOnlyDictionary<string, float> Parameters => _params;
    public override Space ActionSpace { get; }
    public override Space ObservationSpace { get; }

    /// <summary>Leading qpos entries left out of the observation (the root's x, or x and y).</summary>
    protected int ExcludedPositions { get; }

    protected MujocoEnv(string xml, string name, MjModel? shared, int excludedPositions = 1, int extraObservations = 0)
    {
        Model = shared?.AddRef() ?? MjModel.FromXml(xml, name);
        Data = new MjData(Model);
        ExcludedPositions = excludedPositions;
        ActionSpace = Box.Uniform(Model.Nu, -1f, 1f);
        ObservationSpace = Box.Unbounded(Model.Nq - excludedPositions + Model.Nv + extraObservations);
        _mass0 = Model.BodyMass.ToArray(); _inertia0 = Model.BodyInertia.ToArray();
        _friction0 = Model.GeomFriction.ToArray(); _gear0 = Model.ActuatorGear.ToArray();
        _params["gravity"] = (float)Model.Gravity[2];
    }

    /// <summary>Scale factors "mass" (bodies' masses and inertias), "friction" (sliding), "actuator" (gears), and "gravity" (z, m/s^2).</summary>
    public void SetParameter(string name, float value)
    {
        if (!_params.ContainsKey(name)) throw new ArgumentException($"{Id}: no parameter '{name}' (has: {string.Join(", ", _params.Keys)})");
        if (Model.IsShared) throw new InvalidOperationException($"{Id}: the model is shared with other environments; create this one with its own model to change its physics");
        _params[name] = value;
        switch (name)
        {
            case "mass":
                for (int i = 0; i < _mass0.Length; i++) Model.BodyMass[i] = _mass0[i] * value;
                for (int i = 0; i < _inertia0.Length; i++) Model.BodyInertia[i] = _inertia0[i] * value;
                break;
            case "friction":
                for (int g = 0; g < _friction0.Length / 3; g++) Model.GeomFriction[3 * g] = _friction0[3 * g] * value;
                break;
            case "actuator":
                for (int i = 0; i < _gear0.Length; i++) Model.ActuatorGear[i] = _gear0[i] * value;
                break;
            case "gravity":
                Model.Gravity[2] = value;
                break;
        }
    }

    /// <summary>Reset noise added to qpos0 and to zero velocities (each task's own rule).</summary>
    protected abstract void AddResetNoise(Span<double> qpos, Span<double> qvel);

    protected override void ResetCore(Span<float> o)
    {
        Data.Reset();
        var qpos = Data.Qpos; var qvel = Data.Qvel;
        Model.Qpos0.CopyTo(qpos);
        qvel.Clear();
        if (ResetNoise) AddResetNoise(qpos, qvel);
        Data.Forward();
        Observe(o);
    }

    protected virtual void Observe(Span<float> o)
    {
        var qpos = Data.Qpos; var qvel = Data.Qvel;
        int k = 0;
        for (int i = ExcludedPositions; i < qpos.Length; i++) o[k++] = (float)qpos[i];
        for (int i = 0; i < qvel.Length; i++) o[k++] = (float)ClipVelocity(qvel[i]);
        ObserveExtra(o[k..]);
    }

    /// <summary>Observation entries after qpos and qvel (contact forces for Ant).</summary>
    protected virtual void ObserveExtra(Span<float> rest) { }

    protected virtual double ClipVelocity(double v) => v;

    protected override StepResult StepCore(ReadOnlySpan<float> action, Span<float> o)
    {
        double xBefore = Data.Qpos[0];
        var ctrl = Data.Ctrl;
        double ctrlSq = 0;
        for (int i = 0; i < ctrl.Length; i++) { ctrl[i] = action[i]; ctrlSq += (double)action[i] * action[i]; }
        for (int k = 0; k < FrameSkip; k++) Data.Step();
        AfterSteps();
        double velocity = (Data.Qpos[0] - xBefore) / Dt;
        Observe(o);
        var (reward, terminated) = Reward(velocity, ctrlSq);
        return new StepResult((float)reward, terminated, false);
    }

    /// <summary>Work after the physics steps of one environment step (Gymnasium v4 computes contact forces here).</summary>
    protected virtual void AfterSteps() { }

    /// <summary>The task's reward and termination after a step.</summary>
    protected abstract (double Reward, bool Terminated) Reward(double forwardVelocity, double controlSquared);

    /// <summary>Physics state as doubles (qpos then qvel): exact, unlike the float <see cref="GetState"/>.</summary>
    public double[] GetPhysicsState() => [.. Data.Qpos.ToArray(), .. Data.Qvel.ToArray()];

    public void SetPhysicsState(ReadOnlySpan<double> state, Span<float> observation)
    {
        if (state.Length != StateSize) throw new ArgumentException($"{Id}: state has {state.Length} values, expected {StateSize} (qpos {Model.Nq} + qvel {Model.Nv})");
        state[..Model.Nq].CopyTo(Data.Qpos);
        state[Model.Nq..].CopyTo(Data.Qvel);
        Data.Forward();
        Observe(observation);
    }

    public void GetState(Span<float> s)
    {
        var st = GetPhysicsState();
        for (int i = 0; i < st.Length; i++) s[i] = (float)st[i];
    }

    public void ResetTo(ReadOnlySpan<float> state, Span<float> observation)
    {
        if (state.Length != StateSize) throw new ArgumentException($"{Id}: state has {state.Length} values, expected {StateSize} (qpos {Model.Nq} + qvel {Model.Nv})");
        Data.Reset();
        var qpos = Data.Qpos; var qvel = Data.Qvel;
        for (int i = 0; i < qpos.Length; i++) qpos[i] = state[i];
        for (int i = 0; i < qvel.Length; i++) qvel[i] = state[qpos.Length + i];
        Data.Forward();
        Observe(observation);
    }

    /// <summary>
    /// The root's x (and y), left out of the observation, enter neither the dynamics (the floor is a plane) nor the
    /// reward (the forward velocity is a difference of x): they are set to 0; the rest is the observation's qpos and
    /// qvel in order (extra observations, Ant's contact forces, follow from the state and are not read). Hopper's and
    /// Walker2d's observations clip velocities to [-10, 10], so a velocity beyond that is rebuilt at the clip.
    /// </summary>
    public void StateOf(ReadOnlySpan<float> observation, Span<float> state)
    {
        int nq = Model.Nq, k = 0;
        for (int i = 0; i < ExcludedPositions; i++) state[i] = 0f;
        for (int i = ExcludedPositions; i < nq; i++) state[i] = observation[k++];
        for (int i = 0; i < Model.Nv; i++) state[nq + i] = observation[k++];
    }

    protected void UniformNoise(Span<double> v, double scale)
    {
        for (int i = 0; i < v.Length; i++) v[i] += Rng.NextDouble() * 2 * scale - scale;
    }

    public override void Dispose()
    {
        Data.Dispose();
        Model.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>What Hopper and Walker2d share: frame skip 4, reset noise U(-0.005, 0.005) on qpos and qvel, qvel clipped to [-10, 10] in the observation.</summary>
public abstract class PlanarWalker(string xml, string name, MjModel? shared) : MujocoEnv(xml, name, shared)
{
    public override int FrameSkip => 4;
    protected override double ClipVelocity(double v) => Math.Clamp(v, -10, 10);
    protected override void AddResetNoise(Span<double> qpos, Span<double> qvel) { UniformNoise(qpos, 0.005); UniformNoise(qvel, 0.005); }
}

/// <summary>
/// Hopper (v2/v3/v4): reward = x-velocity + 1 (healthy bonus, paid on the terminating step too) - 0.001 |a|^2;
/// terminates unless qpos[2:]/qvel are inside (-100, 100), height > 0.7 and |angle| < 0.2; frame skip 4;
/// reset noise U(-0.005, 0.005) on qpos and qvel; qvel clipped to [-10, 10] in the observation.
/// </summary>
public sealed class Hopper(MjModel? shared = null) : PlanarWalker(Models.Hopper, "hopper", shared)
{
    public override string Id => "hopper";

    protected override (double, bool) Reward(double v, double ctrlSq)
    {
        var qpos = Data.Qpos; var qvel = Data.Qvel;
        bool healthy = qpos[1] > 0.7 && Math.Abs(qpos[2]) < 0.2;
        for (int i = 2; i < qpos.Length && healthy; i++) healthy = Math.Abs(qpos[i]) < 100;
        for (int i = 0; i < qvel.Length && healthy; i++) healthy = Math.Abs(qvel[i]) < 100;
        return (v + 1.0 - 1e-3 * ctrlSq, !healthy);
    }
}

/// <summary>
/// Walker2d (v2/v3/v4): reward = x-velocity + 1 - 0.001 |a|^2; terminates unless 0.8 &lt; height &lt; 2 and
/// -1 &lt; angle &lt; 1; frame skip 4; reset noise U(-0.005, 0.005); qvel clipped to [-10, 10] in the observation.
/// </summary>
public sealed class Walker2d(MjModel? shared = null) : PlanarWalker(Models.Walker2d, "walker2d", shared)
{
    public override string Id => "walker2d";

    protected override (double, bool) Reward(double v, double ctrlSq)
    {
        double z = Data.Qpos[1], angle = Data.Qpos[2];
        bool healthy = z > 0.8 && z < 2.0 && angle > -1.0 && angle < 1.0;
        return (v + 1.0 - 1e-3 * ctrlSq, !healthy);
    }
}

/// <summary>
/// HalfCheetah (v2/v3/v4): reward = x-velocity - 0.1 |a|^2; never terminates; frame skip 5 (dt 0.05);
/// reset qpos += U(-0.1, 0.1), qvel = 0.1 N(0, 1).
/// </summary>
public sealed class HalfCheetah(MjModel? shared = null) : MujocoEnv(Models.HalfCheetah, "halfcheetah", shared)
{
    public override string Id => "halfcheetah";
    public override int FrameSkip => 5;

    protected override void AddResetNoise(Span<double> qpos, Span<double> qvel)
    {
        UniformNoise(qpos, 0.1);
        for (int i = 0; i < qvel.Length; i++) qvel[i] = 0.1 * Rng.NextNormal();
    }

    protected override (double, bool) Reward(double v, double ctrlSq) => (v - 0.1 * ctrlSq, false);
}

/// <summary>
/// Ant (v4 definitions): reward = x-velocity of the torso + 1 (healthy) - 0.5 |a|^2, minus 5e-4 |clip(cfrc_ext, -1, 1)|^2
/// when contact forces are used; terminates unless the state is finite and the torso height is in [0.2, 1.0]; frame
/// skip 5 (dt 0.05); reset qpos += U(-0.1, 0.1), qvel = 0.1 N(0, 1). Observation: qpos without x and y (13), qvel (14),
/// and with <paramref name="contactForces"/> the clipped external forces of the 14 bodies (84; 111 in all, as Ant-v3 and
/// D4RL's ant datasets).
/// </summary>
public sealed class Ant(MjModel? shared = null, bool contactForces = false) : MujocoEnv(Models.Ant, "ant", shared, 2, contactForces ? 84 : 0)
{
    public bool ContactForces => contactForces;
    public override string Id => ContactForces ? "ant-contact" : "ant";
    public override int FrameSkip => 5;

    protected override void AddResetNoise(Span<double> qpos, Span<double> qvel)
    {
        UniformNoise(qpos, 0.1);
        for (int i = 0; i < qvel.Length; i++) qvel[i] = 0.1 * Rng.NextNormal();
    }

    protected override void AfterSteps() { if (ContactForces) Data.RnePostConstraint(); }

    protected override void ObserveExtra(Span<float> rest)
    {
        if (!ContactForces) return;
        var f = Data.CfrcExt;
        for (int i = 0; i < f.Length; i++) rest[i] = (float)Math.Clamp(f[i], -1.0, 1.0);
    }

    protected override (double, bool) Reward(double v, double ctrlSq)
    {
        var qpos = Data.Qpos; var qvel = Data.Qvel;
        bool healthy = qpos[2] >= 0.2 && qpos[2] <= 1.0;
        for (int i = 0; i < qpos.Length && healthy; i++) healthy = double.IsFinite(qpos[i]);
        for (int i = 0; i < qvel.Length && healthy; i++) healthy = double.IsFinite(qvel[i]);
        double contact = 0;
        if (ContactForces)
            foreach (var c in Data.CfrcExt) { double x = Math.Clamp(c, -1.0, 1.0); contact += x * x; }
        return (v + 1.0 - 0.5 * ctrlSq - 5e-4 * contact, !healthy);
    }
}

/// <summary>Adds the MuJoCo tasks to <see cref="EnvRegistry"/> (Gymnasium v4 ids as aliases).</summary>
public static class MuJoCoEnvs
{
    public static void Register()
    {
        EnvRegistry.Register(new("hopper", "Hopper-v4", 1000, "MuJoCo one-legged hopper (libmujoco 2.2.2)", () => new Hopper()));
        EnvRegistry.Register(new("halfcheetah", "HalfCheetah-v4", 1000, "MuJoCo planar cheetah (libmujoco 2.2.2)", () => new HalfCheetah()));
        EnvRegistry.Register(new("walker2d", "Walker2d-v4", 1000, "MuJoCo planar biped (libmujoco 2.2.2)", () => new Walker2d()));
        EnvRegistry.Register(new("ant", "Ant-v4", 1000, "MuJoCo quadruped, 27-dim observation (libmujoco 2.2.2)", () => new Ant()));
        EnvRegistry.Register(new("ant-contact", "Ant-v3", 1000, "Ant with clipped contact forces, 111-dim observation (D4RL's ant)", () => new Ant(contactForces: true)));
    }
}
