
namespace OffRL.Envs;

/// <summary>
/// A 2-D point mass in a maze, after D4RL's maze2d (Fu et al. 2020), in managed physics: maze layouts, cell
/// coordinates (position qpos in cell indices, walls centred 0.2 below/left of their index, as D4RL keeps them),
/// sphere radius 0.1 (mass 4/3 pi 0.1^3 * 1000), two slide joints with damping 1 (implicit, as MuJoCo's Euler),
/// motors of gear 100, timestep 0.01, velocities clipped to [-5, 5] before each step, walls as boxes of
/// half-size 0.5 that the ball cannot enter. Observation: position, velocity and the goal (6 values).
/// Sparse reward 1 within 0.5 of the goal, dense exp(-distance). Never terminates: TimeLimit per layout.
/// </summary>
public sealed class PointMaze : EnvBase, IStatefulEnv, IPhysicsParameters
{
    public static readonly IReadOnlyDictionary<string, string[]> Layouts = new Dictionary<string, string[]>
    {
        ["open"] = ["#######", "#OOOOO#", "#OOGOO#", "#OOOOO#", "#######"],
        ["umaze"] = ["#####", "#GOO#", "###O#", "#OOO#", "#####"],
        ["medium"] = ["########", "#OO##OO#", "#OO#OOO#", "##OOO###", "#OO#OOO#", "#O#OO#O#", "#OOO#OG#", "########"],
        ["large"] = ["############", "#OOOO#OOOOO#", "#O##O#O#O#O#", "#OOOOOO#OOO#", "#O####O###O#", "#OO#O#OOOOO#", "##O#O#O#O###", "#OO#OOO#OGO#", "############"],
    };

    /// <summary>Episode limits of D4RL's maze2d-v1 tasks (open: v0's 150).</summary>
    public static readonly IReadOnlyDictionary<string, int> EpisodeLimits = new Dictionary<string, int> { ["open"] = 150, ["umaze"] = 300, ["medium"] = 600, ["large"] = 800 };

    private const double Radius = 0.1, Dt = 0.01, MaxVel = 5, WallHalf = 0.5, WallOffset = -0.2;
    private static readonly double Mass = 4.0 / 3.0 * Math.PI * Radius * Radius * Radius * 1000.0;
    private readonly string[] _map;
    private readonly List<(int I, int J)> _free = new();
    private readonly List<(int I, int J)> _walls = new();
    private readonly (int I, int J) _goalCell;
    private readonly Dictionary<string, float> _p = new() { ["damping"] = 1f, ["gear"] = 100f, ["mass"] = (float)Mass };
    private double _x, _y, _vx, _vy;

    public string Layout { get; }
    public bool Dense { get; }
    public (double X, double Y) Goal { get; private set; }
    public override string Id => $"pointmaze-{Layout}{(Dense ? "-dense" : "")}";
    public override Space ObservationSpace { get; }
    public override Space ActionSpace { get; } = Box.Uniform(2, -1f, 1f);
    public IReadOnlyDictionary<string, float> Parameters => _p;
    public void SetParameter(string name, float value) => _p[name] = _p.ContainsKey(name) ? value : throw new ArgumentException($"pointmaze: no parameter '{name}'");
    public int StateSize => 4;

    public PointMaze(string layout = "umaze", bool dense = false)
    {
        if (!Layouts.TryGetValue(layout, out var map)) throw new ArgumentException($"pointmaze: unknown layout '{layout}' (open, umaze, medium, large)");
        Layout = layout; Dense = dense; _map = map;
        for (int i = 0; i < map.Length; i++)
            for (int j = 0; j < map[i].Length; j++)
            {
                char c = map[i][j];
                if (c == '#') _walls.Add((i, j));
                else _free.Add((i, j));
                if (c == 'G') _goalCell = (i, j);
            }
        Goal = (_goalCell.I, _goalCell.J);
        float hi = Math.Max(map.Length, map[0].Length);
        ObservationSpace = new Box([-1, -1, (float)-MaxVel, (float)-MaxVel, -1, -1], [hi, hi, (float)MaxVel, (float)MaxVel, hi, hi]);
    }

    protected override void ResetCore(Span<float> o)
    {
        var (i, j) = _free[Rng.NextInt(_free.Count)];
        _x = i + Rng.Uniform(-0.1f, 0.1f);
        _y = j + Rng.Uniform(-0.1f, 0.1f);
        _vx = 0.1 * Rng.NextNormal();
        _vy = 0.1 * Rng.NextNormal();
        Observe(o);
    }

    private void Observe(Span<float> o)
    {
        o[0] = (float)_x; o[1] = (float)_y; o[2] = (float)_vx; o[3] = (float)_vy; o[4] = (float)Goal.X; o[5] = (float)Goal.Y;
    }

    public double DistanceToGoal => Math.Sqrt((_x - Goal.X) * (_x - Goal.X) + (_y - Goal.Y) * (_y - Goal.Y));

    protected override StepResult StepCore(ReadOnlySpan<float> action, Span<float> o)
    {
        double b = _p["damping"], gear = _p["gear"], m = _p["mass"];
        double ux = Math.Clamp(action[0], -1f, 1f), uy = Math.Clamp(action[1], -1f, 1f);
        _vx = Math.Clamp(_vx, -MaxVel, MaxVel);
        _vy = Math.Clamp(_vy, -MaxVel, MaxVel);
        // (m + h b) a = gear u - b v : damping integrated implicitly, then semi-implicit Euler.
        double ax = (gear * ux - b * _vx) / (m + Dt * b), ay = (gear * uy - b * _vy) / (m + Dt * b);
        _vx += Dt * ax; _vy += Dt * ay;
        _x += Dt * _vx; _y += Dt * _vy;
        Collide();
        Observe(o);
        double d = DistanceToGoal;
        float reward = Dense ? (float)Math.Exp(-d) : d <= 0.5 ? 1f : 0f;
        return new StepResult(reward, false, false, Success: d <= 0.5);
    }

    /// <summary>Push the ball out of any wall box it entered and remove its velocity into the wall.</summary>
    private void Collide()
    {
        for (int pass = 0; pass < 2; pass++)
            foreach (var (i, j) in _walls)
            {
                double cx = i + WallOffset, cy = j + WallOffset;
                if (Math.Abs(_x - cx) > WallHalf + Radius || Math.Abs(_y - cy) > WallHalf + Radius) continue;
                double px = Math.Clamp(_x, cx - WallHalf, cx + WallHalf), py = Math.Clamp(_y, cy - WallHalf, cy + WallHalf);
                double dx = _x - px, dy = _y - py, dist = Math.Sqrt(dx * dx + dy * dy);
                if (dist >= Radius) continue;
                if (dist < 1e-12)
                {   // centre inside the box: leave through the nearest face
                    double l = _x - (cx - WallHalf), r = cx + WallHalf - _x, d = _y - (cy - WallHalf), u = cy + WallHalf - _y;
                    double min = Math.Min(Math.Min(l, r), Math.Min(d, u));
                    (dx, dy) = min == l ? (-1.0, 0.0) : min == r ? (1.0, 0.0) : min == d ? (0.0, -1.0) : (0.0, 1.0);
                    px = min == l ? cx - WallHalf : min == r ? cx + WallHalf : _x;
                    py = min == d ? cy - WallHalf : min == u ? cy + WallHalf : _y;
                    dist = 1;
                }
                double nx = dx / dist, ny = dy / dist;
                _x = px + nx * Radius; _y = py + ny * Radius;
                double vn = _vx * nx + _vy * ny;
                if (vn < 0) { _vx -= vn * nx; _vy -= vn * ny; }
            }
    }

    public void GetState(Span<float> s) { s[0] = (float)_x; s[1] = (float)_y; s[2] = (float)_vx; s[3] = (float)_vy; }
    public void ResetTo(ReadOnlySpan<float> s, Span<float> o) { _x = s[0]; _y = s[1]; _vx = s[2]; _vy = s[3]; Observe(o); }

    public bool IsWall(int i, int j) => i < 0 || j < 0 || i >= _map.Length || j >= _map[i].Length || _map[i][j] == '#';
}
