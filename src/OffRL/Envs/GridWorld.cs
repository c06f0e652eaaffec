using OffRL.Tensors;

namespace OffRL.Envs;

/// <summary>
/// A procedurally generated gridworld in the style of MiniGrid's DoorKey (Chevalier-Boisvert et al.): each seed
/// draws a new layout of two rooms split by a wall with a locked door; the key lies in the agent's room and the
/// goal in the other. The agent sees a 7x7 egocentric view (it stands at the bottom centre facing up; walls do
/// not occlude) encoded per cell as (object, colour, state) like MiniGrid, plus its direction, as 148 floats.
/// Actions: 0 turn left, 1 turn right, 2 forward, 3 pick up, 4 drop, 5 toggle (open a door with the key),
/// 6 done. Reward 1 - 0.9 * steps / max_steps on reaching the goal (terminal); max steps 10 * size^2 (truncation).
/// </summary>
public sealed class GridWorld : EnvBase, IScriptedExpert
{
    public enum Cell : byte { Unseen = 0, Empty = 1, Wall = 2, Floor = 3, Door = 4, Key = 5, Ball = 6, Box = 7, Goal = 8, Agent = 10 }
    private const int View = 7;
    private static readonly (int Dx, int Dy)[] Dirs = [(1, 0), (0, 1), (-1, 0), (0, -1)];   // right, down, left, up (MiniGrid)

    private readonly int _size;
    private Cell[,] _grid = new Cell[1, 1];
    private bool _doorOpen, _carrying;
    private int _ax, _ay, _dir, _steps;
    public int MaxSteps => 10 * _size * _size;
    public override string Id => $"gridworld-{_size}x{_size}";
    public override Space ObservationSpace { get; } = Box.Uniform(View * View * 3 + 1, 0f, 10f);
    public override Space ActionSpace { get; } = new Discrete(7);

    public GridWorld(int size = 8)
    {
        if (size < 5) throw new ArgumentException($"gridworld: size must be at least 5, got {size}");
        _size = size;
    }

    public (int X, int Y, int Dir) Agent => (_ax, _ay, _dir);
    public Cell At(int x, int y) => x < 0 || y < 0 || x >= _size || y >= _size ? Cell.Wall : _grid[x, y];
    public bool DoorOpen => _doorOpen;
    public bool Carrying => _carrying;

    protected override void ResetCore(Span<float> o)
    {
        int n = _size;
        _grid = new Cell[n, n];
        for (int x = 0; x < n; x++) for (int y = 0; y < n; y++) _grid[x, y] = x == 0 || y == 0 || x == n - 1 || y == n - 1 ? Cell.Wall : Cell.Empty;
        int split = 2 + Rng.NextInt(n - 4);               // wall column
        for (int y = 0; y < n; y++) _grid[split, y] = Cell.Wall;
        int doorY = 1 + Rng.NextInt(n - 2);
        _grid[split, doorY] = Cell.Door;
        _doorOpen = false; _carrying = false; _steps = 0;
        (int, int) Free(int x0, int x1)
        {
            while (true)
            {
                int x = x0 + Rng.NextInt(x1 - x0), y = 1 + Rng.NextInt(n - 2);
                if (_grid[x, y] == Cell.Empty && (x, y) != (_ax, _ay)) return (x, y);
            }
        }
        (_ax, _ay) = (-1, -1);
        var goal = Free(split + 1, n - 1);
        _grid[goal.Item1, goal.Item2] = Cell.Goal;
        var key = Free(1, split);
        _grid[key.Item1, key.Item2] = Cell.Key;
        (_ax, _ay) = Free(1, split);
        _dir = Rng.NextInt(4);
        Observe(o);
    }

    protected override StepResult StepCore(ReadOnlySpan<float> action, Span<float> o)
    {
        _steps++;
        var (dx, dy) = Dirs[_dir];
        int fx = _ax + dx, fy = _ay + dy;
        var front = At(fx, fy);
        bool reached = false;
        switch ((int)action[0])
        {
            case 0: _dir = (_dir + 3) % 4; break;
            case 1: _dir = (_dir + 1) % 4; break;
            case 2:
                if (front is Cell.Empty or Cell.Goal || (front == Cell.Door && _doorOpen)) { _ax = fx; _ay = fy; reached = front == Cell.Goal; }
                break;
            case 3:
                if (front == Cell.Key && !_carrying) { _carrying = true; _grid[fx, fy] = Cell.Empty; }
                break;
            case 4:
                if (front == Cell.Empty && _carrying) { _carrying = false; _grid[fx, fy] = Cell.Key; }
                break;
            case 5:
                if (front == Cell.Door && (_doorOpen || _carrying)) _doorOpen = !_doorOpen;
                break;
        }
        Observe(o);
        float reward = reached ? 1f - 0.9f * _steps / MaxSteps : 0f;
        return new StepResult(reward, reached, _steps >= MaxSteps && !reached, Success: reached);
    }

    /// <summary>
    /// The first action of a shortest plan to the goal from the current state (a breadth-first search over position,
    /// direction, key carried and door open, with the full grid known): the scripted expert whose trajectories are the
    /// offline data of the procedural-level studies (MiniGrid's bot plays this role there). Opening the door needs the
    /// key; a key picked up is carried on (the plan never drops it). 6 (done) when no plan exists.
    /// </summary>
    public int ExpertAction()
    {
        int n = _size, states = n * n * 4 * 4;
        var first = new int[states];
        var seen = new bool[states];
        var queue = new Queue<(int X, int Y, int Dir, bool Key, bool Open)>();
        int Index(int x, int y, int dir, bool key, bool open) => (((x * n + y) * 4 + dir) * 2 + (key ? 1 : 0)) * 2 + (open ? 1 : 0);
        seen[Index(_ax, _ay, _dir, _carrying, _doorOpen)] = true;
        queue.Enqueue((_ax, _ay, _dir, _carrying, _doorOpen));
        while (queue.Count > 0)
        {
            var (x, y, dir, key, open) = queue.Dequeue();
            int from = Index(x, y, dir, key, open);
            bool start = x == _ax && y == _ay && dir == _dir && key == _carrying && open == _doorOpen;
            var (dx, dy) = Dirs[dir];
            int fx = x + dx, fy = y + dy;
            var front = At(fx, fy);
            if (front == Cell.Key && key) front = Cell.Empty;   // picked up on this plan
            for (int a = 0; a <= 5; a++)
            {
                var next = (x, y, dir, key, open);
                switch (a)
                {
                    case 0: next.dir = (dir + 3) % 4; break;
                    case 1: next.dir = (dir + 1) % 4; break;
                    case 2:
                        if (front == Cell.Goal) return start ? a : first[from];
                        if (front is Cell.Empty || (front == Cell.Door && open)) { next.x = fx; next.y = fy; } else continue;
                        break;
                    case 3: if (!key && front == Cell.Key) next.key = true; else continue; break;
                    case 5: if (front == Cell.Door && key && !open) next.open = true; else continue; break;
                    default: continue;
                }
                int to = Index(next.x, next.y, next.dir, next.key, next.open);
                if (seen[to]) continue;
                seen[to] = true;
                first[to] = start ? a : first[from];
                queue.Enqueue(next);
            }
        }
        return 6;
    }

    /// <summary>7x7 egocentric view: the agent at view (3, 6) looking toward view row 0.</summary>
    private void Observe(Span<float> o)
    {
        var (fdx, fdy) = Dirs[_dir];
        int rdx = -fdy, rdy = fdx;   // the agent's right
        for (int vy = 0; vy < View; vy++)
            for (int vx = 0; vx < View; vx++)
            {
                int forward = View - 1 - vy, right = vx - View / 2;
                int x = _ax + forward * fdx + right * rdx, y = _ay + forward * fdy + right * rdy;
                int k = (vy * View + vx) * 3;
                var c = At(x, y);
                o[k] = (float)c;
                o[k + 1] = c switch { Cell.Door => 4, Cell.Key => 4, Cell.Goal => 1, Cell.Wall => 5, _ => 0 };   // colour ids as MiniGrid (yellow 4, green 1, grey 5)
                o[k + 2] = c == Cell.Door ? (_doorOpen ? 0 : 2) : 0;                                            // door state: 0 open, 2 locked
            }
        int self = ((View - 1) * View + View / 2) * 3;
        if (_carrying) { o[self] = (float)Cell.Key; o[self + 1] = 4; }
        o[View * View * 3] = _dir;
    }
}

/// <summary>An environment that can say the action its scripted expert takes in the current state (a planner that sees the whole state).</summary>
public interface IScriptedExpert
{
    int ExpertAction();
}

/// <summary>
/// The scripted expert of an environment as a policy (<c>offrl collect --policy expert</c>): its action, or with
/// probability <paramref name="epsilon"/> a uniformly random one (suboptimal demonstrations), drawn from its own generator.
/// </summary>
public sealed class ScriptedExpertPolicy(IEnv env, double epsilon, ulong seed) : IPolicy
{
    private readonly IScriptedExpert _expert = Wrapper.Unwrap(env) as IScriptedExpert
        ?? throw new ArgumentException($"--policy expert: {env.Id} has no scripted expert (gridworld has)");
    private readonly Rng _rng = new(seed ^ 0xE4E4E4E4UL);
    public int ObservationDim => env.ObservationSpace.Width;
    public Space ActionSpace => env.ActionSpace;

    public void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic)
    {
        if (!deterministic && epsilon > 0 && _rng.NextDouble() < epsilon) ActionSpace.SampleAction(_rng, action);
        else action[0] = _expert.ExpertAction();
    }
}
