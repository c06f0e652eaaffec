namespace OffRL.Envs;

/// <summary>Environment names (Gymnasium ids accepted as aliases), each with its time limit.</summary>
public static class EnvRegistry
{
    public sealed record Entry(string Name, string GymnasiumId, int MaxEpisodeSteps, string Description, Func<IEnv> Create);

    private static readonly List<Entry> Entries =
    [
        new("cartpole", "CartPole-v1", 500, "balance a pole on a cart (discrete 2)", () => new CartPole()),
        new("pendulum", "Pendulum-v1", 200, "swing up and hold a pendulum (torque in [-2, 2])", () => new Pendulum()),
        new("pendulum-masked", "Pendulum-v1/masked-velocity", 200, "pendulum with its angular velocity hidden (zeroed): a POMDP, solvable from a history",
            () => new ObservationNoise(new Pendulum(), maskedDims: [2])),
        new("mountaincar", "MountainCar-v0", 200, "drive an underpowered car up a hill (discrete 3)", () => new MountainCar()),
        new("mountaincar-continuous", "MountainCarContinuous-v0", 999, "the same with a continuous force", () => new MountainCarContinuous()),
        new("acrobot", "Acrobot-v1", 500, "swing a two-link arm above the bar (discrete 3)", () => new Acrobot()),
        new("pointmaze-open", "maze2d-open-v0", 150, "point mass in an open room, sparse reward", () => new PointMaze("open")),
        new("pointmaze-umaze", "maze2d-umaze-v1", 300, "point mass in a U-maze, sparse reward", () => new PointMaze("umaze")),
        new("pointmaze-medium", "maze2d-medium-v1", 600, "point mass in the medium maze, sparse reward", () => new PointMaze("medium")),
        new("pointmaze-large", "maze2d-large-v1", 800, "point mass in the large maze, sparse reward", () => new PointMaze("large")),
        new("pointmaze-umaze-dense", "maze2d-umaze-dense-v1", 300, "U-maze with dense reward exp(-distance)", () => new PointMaze("umaze", dense: true)),
        new("pointmaze-medium-dense", "maze2d-medium-dense-v1", 600, "medium maze, dense reward", () => new PointMaze("medium", dense: true)),
        new("pointmaze-large-dense", "maze2d-large-dense-v1", 800, "large maze, dense reward", () => new PointMaze("large", dense: true)),
        new("gridworld", "MiniGrid-DoorKey-8x8-v0", 640, "procedural two-room key-door-goal grid, egocentric 7x7 view", () => new GridWorld(8)),
    ];

    /// <summary>Registered environments (MuJoCo tasks are added by OffRL.MuJoCo when it is loaded).</summary>
    public static IReadOnlyList<Entry> All => Entries;

    public static void Register(Entry e)
    {
        lock (Entries)
        {
            Entries.RemoveAll(x => x.Name == e.Name);
            Entries.Add(e);
        }
    }

    /// <summary>The entry of a name or Gymnasium id (a dynamics gap after it, <see cref="Make"/>'s form, is the same entry).</summary>
    public static Entry Find(string name)
    {
        var bare = ParseGap(name).Name;
        return Entries.FirstOrDefault(e => string.Equals(e.Name, bare, StringComparison.OrdinalIgnoreCase) || string.Equals(e.GymnasiumId, bare, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"unknown environment '{bare}' (known: {string.Join(", ", Entries.Select(e => e.Name))})");
    }

    /// <summary>
    /// The named environment wrapped in its time limit. A name may carry a dynamics gap after a colon,
    /// <c>NAME:PARAM=SCALE[,PARAM=SCALE...]</c> (H2O's simulator: <c>halfcheetah:gravity=2</c>, <c>pendulum:g=1.5</c>):
    /// each named physical parameter multiplied by its scale (<see cref="DynamicsGap"/>; an unknown one names the known).
    /// The parameter <c>levels=N</c> is no physical one: it keeps the episodes to the first N seeds' levels
    /// (<see cref="LevelSet"/>; <c>gridworld:levels=200</c>).
    /// </summary>
    public static IEnv Make(string name)
    {
        var e = Find(name);
        IEnv env = e.Create();
        if (ParseGap(name).Scales is { } given)
        {
            var scales = new Dictionary<string, float>(given);
            try
            {
                if (scales.Remove("levels", out var levels))
                    env = new LevelSet(env, levels == MathF.Floor(levels) && levels is >= 1 and <= int.MaxValue ? (int)levels
                        : throw new ArgumentException($"environment '{name}': levels must be a whole number >= 1, got {levels}"));
                if (scales.Count > 0) env = new DynamicsGap(env, scales);
            }
            catch { env.Dispose(); throw; }
        }
        return new TimeLimit(env, e.MaxEpisodeSteps);
    }

    /// <summary>A name and its dynamics gap (null: none), from <c>NAME[:PARAM=SCALE,...]</c>.</summary>
    public static (string Name, IReadOnlyDictionary<string, float>? Scales) ParseGap(string name)
    {
        int colon = name.IndexOf(':');
        if (colon < 0) return (name, null);
        var scales = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var part in name[(colon + 1)..].Split(','))
        {
            var kv = part.Split('=');
            if (kv.Length != 2 || kv[0].Trim().Length == 0
                || !float.TryParse(kv[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v) || v == 0)
                throw new ArgumentException($"environment '{name}': a dynamics gap is NAME:PARAM=SCALE[,PARAM=SCALE] with finite, non-zero scales; got '{part}'");
            if (!scales.TryAdd(kv[0].Trim(), v)) throw new ArgumentException($"environment '{name}': parameter '{kv[0].Trim()}' is scaled twice");
        }
        return (name[..colon], scales);
    }
}

/// <summary>
/// Normalized score 100 * (return - random) / (expert - random), with D4RL's reference returns for its tasks
/// (Fu et al. 2020, d4rl/infos.py) and references measured by OffRL for the others.
/// </summary>
public static class NormalizedScore
{
    public sealed record Reference(double Random, double Expert, string Source);

    private static readonly Dictionary<string, Reference> Refs = new(StringComparer.OrdinalIgnoreCase)
    {
        ["hopper"] = new(-20.272305, 3234.3, "D4RL"),
        ["halfcheetah"] = new(-280.178953, 12135.0, "D4RL"),
        ["walker2d"] = new(1.629008, 4592.3, "D4RL"),
        ["ant"] = new(-325.6, 3879.7, "D4RL"),
        ["ant-contact"] = new(-325.6, 3879.7, "D4RL (its ant datasets use the 111-dim observation)"),
        ["pointmaze-umaze"] = new(23.85, 161.86, "D4RL maze2d-umaze-v1"),
        ["pointmaze-medium"] = new(13.13, 277.39, "D4RL maze2d-medium-v1"),
        ["pointmaze-large"] = new(6.7, 273.99, "D4RL maze2d-large-v1"),
        ["pointmaze-umaze-dense"] = new(68.537689, 193.66285642381482, "D4RL maze2d-umaze-dense-v1"),
        ["pointmaze-medium-dense"] = new(44.264742, 297.4552547777125, "D4RL maze2d-medium-dense-v1"),
        ["pointmaze-large-dense"] = new(30.569041, 303.4857382709002, "D4RL maze2d-large-dense-v1"),
        // OffRL's open room is 3 x 5 free cells; D4RL's maze2d-open differs, so its random reference (0.01) does not apply.
        ["pointmaze-open"] = new(9.271, 20.66, "OffRL: random measured; expert = D4RL maze2d-open-v0's (provisional)"),
        // Measured by OffRL: random = mean return of 1000 uniformly random episodes, seeds 0..999:
        //   dotnet run -c Release --project src/OffRL.Cli -- env rollout --env NAME --episodes 1000 --json
        // expert = the best achievable return where it is known in closed form (CartPole: 500 steps of +1;
        // gridworld: a shortest solution of about 20 steps), else Gymnasium's reward threshold or a typical SAC
        // return, until OffRL's own SAC/DQN experts replace them (learning-core issue).
        ["cartpole"] = new(21.77, 500.0, "OffRL: random measured; expert = maximum return"),
        ["pendulum"] = new(-1220.16, -145.0, "OffRL: random measured; expert = typical SAC return (provisional)"),
        ["pendulum-masked"] = new(-1220.16, -145.0, "as pendulum's (the same task with the angular velocity hidden)"),
        ["mountaincar"] = new(-200.0, -110.0, "OffRL: random measured; expert = Gymnasium reward threshold (provisional)"),
        ["mountaincar-continuous"] = new(-32.89, 90.0, "OffRL: random measured; expert = Gymnasium reward threshold (provisional)"),
        ["acrobot"] = new(-498.70, -100.0, "OffRL: random measured; expert = Gymnasium reward threshold (provisional)"),
        ["gridworld"] = new(0.0157, 0.97, "OffRL: random measured; expert = shortest solution (about 20 of 640 steps)"),
    };

    public static bool TryGet(string env, out Reference reference) => Refs.TryGetValue(Canonical(env), out reference!);

    public static double Score(string env, double ret)
    {
        if (!TryGet(env, out var r)) throw new ArgumentException($"no reference returns for '{env}'");
        return 100.0 * (ret - r.Random) / (r.Expert - r.Random);
    }

    /// <summary>The normalized score where the environment has reference returns, else null (what runs and commands report).</summary>
    public static double? ScoreOrNull(string env, double ret) => TryGet(env, out _) ? Score(env, ret) : null;

    private static string Canonical(string env)
    {
        try { return EnvRegistry.Find(env).Name; } catch (ArgumentException) { }
        var lower = env.ToLowerInvariant();
        foreach (var k in new[] { "halfcheetah", "hopper", "walker2d", "ant" }) if (lower.StartsWith(k)) return k;
        return env;
    }
}
