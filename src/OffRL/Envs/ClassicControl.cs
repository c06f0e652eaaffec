
namespace OffRL.Envs;

/// <summary>
/// CartPole-v1 (Barto, Sutton and Anderson 1983; Gymnasium's constants): g 9.8, cart 1.0 kg, pole 0.1 kg,
/// half-length 0.5, force 10 N, tau 0.02 s, explicit Euler. Terminates when |x| > 2.4 or |theta| > 12 degrees;
/// +1 per step including the last. Use with TimeLimit(500).
/// </summary>
public sealed class CartPole : EnvBase, IStatefulEnv, IPhysicsParameters
{
    private double _x, _xDot, _theta, _thetaDot;
    private readonly Dictionary<string, float> _p = new() { ["gravity"] = 9.8f, ["masscart"] = 1.0f, ["masspole"] = 0.1f, ["length"] = 0.5f, ["force_mag"] = 10f };
    private const double Tau = 0.02, ThetaLimit = 12 * 2 * Math.PI / 360, XLimit = 2.4;

    public override string Id => "cartpole";
    public override Space ObservationSpace { get; } = new Box([-4.8f, float.NegativeInfinity, -0.41887903f, float.NegativeInfinity], [4.8f, float.PositiveInfinity, 0.41887903f, float.PositiveInfinity]);
    public override Space ActionSpace { get; } = new Discrete(2);
    public IReadOnlyDictionary<string, float> Parameters => _p;
    public void SetParameter(string name, float value) => _p[name] = _p.ContainsKey(name) ? value : throw new ArgumentException($"cartpole: no parameter '{name}'");
    public int StateSize => 4;

    protected override void ResetCore(Span<float> o)
    {
        _x = Rng.Uniform(-0.05f, 0.05f); _xDot = Rng.Uniform(-0.05f, 0.05f);
        _theta = Rng.Uniform(-0.05f, 0.05f); _thetaDot = Rng.Uniform(-0.05f, 0.05f);
        Observe(o);
    }

    private void Observe(Span<float> o) { o[0] = (float)_x; o[1] = (float)_xDot; o[2] = (float)_theta; o[3] = (float)_thetaDot; }

    protected override StepResult StepCore(ReadOnlySpan<float> action, Span<float> o)
    {
        double g = _p["gravity"], mc = _p["masscart"], mp = _p["masspole"], l = _p["length"];
        double total = mc + mp, poleMassLength = mp * l;
        double force = action[0] == 1 ? _p["force_mag"] : -_p["force_mag"];
        double cos = Math.Cos(_theta), sin = Math.Sin(_theta);
        double temp = (force + poleMassLength * _thetaDot * _thetaDot * sin) / total;
        double thetaAcc = (g * sin - cos * temp) / (l * (4.0 / 3.0 - mp * cos * cos / total));
        double xAcc = temp - poleMassLength * thetaAcc * cos / total;
        _x += Tau * _xDot; _xDot += Tau * xAcc;
        _theta += Tau * _thetaDot; _thetaDot += Tau * thetaAcc;
        Observe(o);
        bool terminated = _x < -XLimit || _x > XLimit || _theta < -ThetaLimit || _theta > ThetaLimit;
        return new StepResult(1f, terminated, false);
    }

    public void GetState(Span<float> s) => Observe(s);
    public void ResetTo(ReadOnlySpan<float> s, Span<float> o) { _x = s[0]; _xDot = s[1]; _theta = s[2]; _thetaDot = s[3]; Observe(o); }
}

/// <summary>
/// Pendulum-v1: max speed 8, max torque 2, dt 0.05, g 10, m 1, l 1; semi-implicit Euler; theta 0 upright.
/// Reward -(angle_normalize(theta)^2 + 0.1 thetadot^2 + 0.001 u^2) from the state before the step. Never
/// terminates; use with TimeLimit(200).
/// </summary>
public sealed class Pendulum : EnvBase, IStateFromObservation, IPhysicsParameters
{
    private double _theta, _thetaDot;
    private readonly Dictionary<string, float> _p = new() { ["g"] = 10f, ["m"] = 1f, ["l"] = 1f, ["max_torque"] = 2f };
    private const double Dt = 0.05, MaxSpeed = 8;

    public override string Id => "pendulum";
    public override Space ObservationSpace { get; } = new Box([-1f, -1f, -8f], [1f, 1f, 8f]);
    public override Space ActionSpace { get; } = Box.Uniform(1, -2f, 2f);
    public IReadOnlyDictionary<string, float> Parameters => _p;
    public void SetParameter(string name, float value) => _p[name] = _p.ContainsKey(name) ? value : throw new ArgumentException($"pendulum: no parameter '{name}'");
    public int StateSize => 2;

    protected override void ResetCore(Span<float> o)
    {
        _theta = Rng.NextDouble() * 2 * Math.PI - Math.PI;
        _thetaDot = Rng.NextDouble() * 2 - 1;
        Observe(o);
    }

    private void Observe(Span<float> o) { o[0] = (float)Math.Cos(_theta); o[1] = (float)Math.Sin(_theta); o[2] = (float)_thetaDot; }

    internal static double AngleNormalize(double x) => ((x + Math.PI) % (2 * Math.PI) + 2 * Math.PI) % (2 * Math.PI) - Math.PI;

    protected override StepResult StepCore(ReadOnlySpan<float> action, Span<float> o)
    {
        double g = _p["g"], m = _p["m"], l = _p["l"], maxU = _p["max_torque"];
        double u = Math.Clamp((double)action[0], -maxU, maxU);
        double th = AngleNormalize(_theta);
        double cost = th * th + 0.1 * _thetaDot * _thetaDot + 0.001 * u * u;
        double newThetaDot = Math.Clamp(_thetaDot + (3 * g / (2 * l) * Math.Sin(_theta) + 3.0 / (m * l * l) * u) * Dt, -MaxSpeed, MaxSpeed);
        _theta += newThetaDot * Dt;
        _thetaDot = newThetaDot;
        Observe(o);
        return new StepResult((float)-cost, false, false);
    }

    public void GetState(Span<float> s) { s[0] = (float)_theta; s[1] = (float)_thetaDot; }
    public void ResetTo(ReadOnlySpan<float> s, Span<float> o) { _theta = s[0]; _thetaDot = s[1]; Observe(o); }
    /// <summary>theta = atan2(sin, cos), theta-dot: the observation is the whole state.</summary>
    public void StateOf(ReadOnlySpan<float> o, Span<float> s) { s[0] = MathF.Atan2(o[1], o[0]); s[1] = o[2]; }
}

/// <summary>
/// MountainCar-v0 (Moore 1990; Gymnasium): actions push left / none / right with force 0.001, gravity term
/// 0.0025, speed limit 0.07, position in [-1.2, 0.6]; terminates at position >= 0.5 with velocity >= 0;
/// -1 per step. Use with TimeLimit(200).
/// </summary>
public sealed class MountainCar : EnvBase, IStatefulEnv
{
    private double _x, _v;
    public override string Id => "mountaincar";
    public override Space ObservationSpace { get; } = new Box([-1.2f, -0.07f], [0.6f, 0.07f]);
    public override Space ActionSpace { get; } = new Discrete(3);
    public int StateSize => 2;

    protected override void ResetCore(Span<float> o) { _x = Rng.NextDouble() * 0.2 - 0.6; _v = 0; Observe(o); }
    private void Observe(Span<float> o) { o[0] = (float)_x; o[1] = (float)_v; }

    protected override StepResult StepCore(ReadOnlySpan<float> action, Span<float> o)
    {
        _v += (action[0] - 1) * 0.001 + Math.Cos(3 * _x) * -0.0025;
        _v = Math.Clamp(_v, -0.07, 0.07);
        _x = Math.Clamp(_x + _v, -1.2, 0.6);
        if (_x == -1.2 && _v < 0) _v = 0;
        Observe(o);
        return new StepResult(-1f, _x >= 0.5 && _v >= 0, false);
    }

    public void GetState(Span<float> s) => Observe(s);
    public void ResetTo(ReadOnlySpan<float> s, Span<float> o) { _x = s[0]; _v = s[1]; Observe(o); }
}

/// <summary>
/// MountainCarContinuous-v0: force = clip(a, -1, 1) * 0.0015, gravity term 0.0025, speed limit 0.07, state in
/// float32; terminates at position >= 0.45 with velocity >= 0; reward -0.1 a^2 (unclipped) plus 100 on reaching
/// the goal. Use with TimeLimit(999).
/// </summary>
public sealed class MountainCarContinuous : EnvBase, IStatefulEnv
{
    private float _x, _v;
    public override string Id => "mountaincar-continuous";
    public override Space ObservationSpace { get; } = new Box([-1.2f, -0.07f], [0.6f, 0.07f]);
    public override Space ActionSpace { get; } = Box.Uniform(1, -1f, 1f);
    public int StateSize => 2;

    protected override void ResetCore(Span<float> o) { _x = Rng.Uniform(-0.6f, -0.4f); _v = 0; Observe(o); }
    private void Observe(Span<float> o) { o[0] = _x; o[1] = _v; }

    protected override StepResult StepCore(ReadOnlySpan<float> action, Span<float> o)
    {
        float force = Math.Clamp(action[0], -1f, 1f);
        _v = (float)(_v + force * 0.0015 - 0.0025 * Math.Cos(3 * _x));
        _v = Math.Clamp(_v, -0.07f, 0.07f);
        _x = Math.Clamp(_x + _v, -1.2f, 0.6f);
        if (_x == -1.2f && _v < 0) _v = 0;
        bool done = _x >= 0.45f && _v >= 0f;
        float reward = (done ? 100f : 0f) - 0.1f * action[0] * action[0];
        Observe(o);
        return new StepResult(reward, done, false, Success: done);
    }

    public void GetState(Span<float> s) => Observe(s);
    public void ResetTo(ReadOnlySpan<float> s, Span<float> o) { _x = s[0]; _v = s[1]; Observe(o); }
}

/// <summary>
/// Acrobot-v1 (Sutton 1996, "book" dynamics): two links of length 1 and mass 1, centres at 0.5, inertia 1,
/// g 9.8, dt 0.2 with one RK4 step, torque -1/0/+1 on the second joint; terminates when the tip is one link above
/// the bar (-cos t1 - cos(t1 + t2) > 1); -1 per step, 0 on the terminating one. Use with TimeLimit(500).
/// </summary>
public sealed class Acrobot : EnvBase, IStatefulEnv
{
    private readonly double[] _s = new double[4];
    private const double Dt = 0.2, L1 = 1, M1 = 1, M2 = 1, Lc1 = 0.5, Lc2 = 0.5, I1 = 1, I2 = 1, G = 9.8;
    private const double MaxVel1 = 4 * Math.PI, MaxVel2 = 9 * Math.PI;

    public override string Id => "acrobot";
    public override Space ObservationSpace { get; } = new Box([-1, -1, -1, -1, (float)-MaxVel1, (float)-MaxVel2], [1, 1, 1, 1, (float)MaxVel1, (float)MaxVel2]);
    public override Space ActionSpace { get; } = new Discrete(3);
    public int StateSize => 4;

    protected override void ResetCore(Span<float> o)
    {
        for (int i = 0; i < 4; i++) _s[i] = Rng.NextDouble() * 0.2 - 0.1;
        Observe(o);
    }

    private void Observe(Span<float> o)
    {
        o[0] = (float)Math.Cos(_s[0]); o[1] = (float)Math.Sin(_s[0]); o[2] = (float)Math.Cos(_s[1]); o[3] = (float)Math.Sin(_s[1]);
        o[4] = (float)_s[2]; o[5] = (float)_s[3];
    }

    private static void Derivs(ReadOnlySpan<double> s, double a, Span<double> ds)
    {
        double t1 = s[0], t2 = s[1], d1v = s[2], d2v = s[3];
        double d1 = M1 * Lc1 * Lc1 + M2 * (L1 * L1 + Lc2 * Lc2 + 2 * L1 * Lc2 * Math.Cos(t2)) + I1 + I2;
        double d2 = M2 * (Lc2 * Lc2 + L1 * Lc2 * Math.Cos(t2)) + I2;
        double phi2 = M2 * Lc2 * G * Math.Cos(t1 + t2 - Math.PI / 2);
        double phi1 = -M2 * L1 * Lc2 * d2v * d2v * Math.Sin(t2) - 2 * M2 * L1 * Lc2 * d2v * d1v * Math.Sin(t2)
                      + (M1 * Lc1 + M2 * L1) * G * Math.Cos(t1 - Math.PI / 2) + phi2;
        double dd2 = (a + d2 / d1 * phi1 - M2 * L1 * Lc2 * d1v * d1v * Math.Sin(t2) - phi2) / (M2 * Lc2 * Lc2 + I2 - d2 * d2 / d1);
        double dd1 = -(d2 * dd2 + phi1) / d1;
        ds[0] = d1v; ds[1] = d2v; ds[2] = dd1; ds[3] = dd2;
    }

    internal static double Wrap(double x)
    {
        const double lo = -Math.PI, hi = Math.PI, diff = hi - lo;
        while (x > hi) x -= diff;
        while (x < lo) x += diff;
        return x;
    }

    protected override StepResult StepCore(ReadOnlySpan<float> action, Span<float> o)
    {
        double torque = action[0] - 1;
        Span<double> k1 = stackalloc double[4], k2 = stackalloc double[4], k3 = stackalloc double[4], k4 = stackalloc double[4], t = stackalloc double[4];
        Derivs(_s, torque, k1);
        for (int i = 0; i < 4; i++) t[i] = _s[i] + Dt / 2 * k1[i];
        Derivs(t, torque, k2);
        for (int i = 0; i < 4; i++) t[i] = _s[i] + Dt / 2 * k2[i];
        Derivs(t, torque, k3);
        for (int i = 0; i < 4; i++) t[i] = _s[i] + Dt * k3[i];
        Derivs(t, torque, k4);
        for (int i = 0; i < 4; i++) _s[i] += Dt / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
        _s[0] = Wrap(_s[0]); _s[1] = Wrap(_s[1]);
        _s[2] = Math.Clamp(_s[2], -MaxVel1, MaxVel1); _s[3] = Math.Clamp(_s[3], -MaxVel2, MaxVel2);
        Observe(o);
        bool terminated = -Math.Cos(_s[0]) - Math.Cos(_s[1] + _s[0]) > 1.0;
        return new StepResult(terminated ? 0f : -1f, terminated, false, Success: terminated);
    }

    public void GetState(Span<float> s) { for (int i = 0; i < 4; i++) s[i] = (float)_s[i]; }
    public void ResetTo(ReadOnlySpan<float> s, Span<float> o) { for (int i = 0; i < 4; i++) _s[i] = s[i]; Observe(o); }
}
