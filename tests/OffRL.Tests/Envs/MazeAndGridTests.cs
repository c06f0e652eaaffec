using OffRL.Envs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Envs;

public class MazeAndGridTests
{
    [Fact]
    public void PointMazeWallsHoldAndVelocityIsBounded()
    {
        var env = new PointMaze("umaze");
        var o = new float[6];
        env.ResetTo([3f, 1f, 0f, 0f], o);   // cell (3, 1): bottom corridor; wall row 4 below, wall column 0 left
        for (int t = 0; t < 300; t++) env.Step([1f, -1f], o);   // push down-left into the corner
        // walls of cells (4, *) start at x = 4 - 0.2 - 0.5 = 3.3; of cells (*, 0) end at y = 0 - 0.2 + 0.5 = 0.3
        Assert.InRange(o[0], 3.3f - 0.1f - 1e-3f, 3.3f - 0.1f + 1e-3f);
        Assert.InRange(o[1], 0.3f + 0.1f - 1e-3f, 0.3f + 0.1f + 1e-3f);
        env.ResetTo([3f, 2f, 0f, 0f], o);
        for (int t = 0; t < 100; t++) env.Step([0f, 1f], o);
        Assert.InRange(o[3], 0f, 5.5f);   // clipped to 5 before each step
        Assert.Equal((1f, 1f), (o[4], o[5]));   // goal cell G at (1, 1)
    }

    [Fact]
    public void PointMazeRewardsNearTheGoal()
    {
        var env = new PointMaze("umaze");
        var o = new float[6];
        env.ResetTo([1.2f, 1.1f, 0f, 0f], o);
        var r = env.Step([0f, 0f], o);
        Assert.Equal(1f, r.Reward);
        Assert.True(r.Success);
        var dense = new PointMaze("umaze", dense: true);
        dense.ResetTo([3f, 3f, 0f, 0f], o);
        var rd = dense.Step([0f, 0f], o);
        Assert.Equal(MathF.Exp(-MathF.Sqrt(4 + 4)), rd.Reward, 2);
    }

    [Fact]
    public void PointMazeResetsOnFreeCells()
    {
        var env = new PointMaze("large");
        var o = new float[6];
        for (ulong s = 0; s < 200; s++)
        {
            env.Reset(s, o);
            Assert.False(env.IsWall((int)Math.Round(o[0]), (int)Math.Round(o[1])));
        }
    }

    [Fact]
    public void GridWorldLayoutsDifferPerSeedAndAPlannerSolvesThem()
    {
        var seen = new HashSet<string>();
        for (ulong seed = 0; seed < 20; seed++)
        {
            var env = new GridWorld(8);
            var o = new float[env.ObservationSpace.Width];
            env.Reset(seed, o);
            seen.Add(Layout(env));
            var r = Solve(env, o);
            Assert.True(r.Terminated, $"seed {seed}: not solved");
            Assert.InRange(r.Reward, 0.5f, 1f);
        }
        Assert.True(seen.Count >= 15);
    }

    /// <summary>
    /// The scripted expert (one breadth-first search over the whole state) solves every level, never in more steps than
    /// the three-phase planner here (key, door, goal: each leg shortest, so the whole no shorter than the best plan).
    /// </summary>
    [Fact]
    public void TheGridWorldExpertSolvesEveryLevelNoLongerThanAPhasedPlan()
    {
        for (ulong seed = 0; seed < 30; seed++)
        {
            var (a, b) = (new GridWorld(8), new GridWorld(8));
            var (oa, ob) = (new float[a.ObservationSpace.Width], new float[b.ObservationSpace.Width]);
            a.Reset(seed, oa); b.Reset(seed, ob);
            StepResult r = default;
            int steps = 0;
            while (!r.Done && steps < a.MaxSteps) { r = a.Step([a.ExpertAction()], oa); steps++; }
            Assert.True(r.Terminated, $"seed {seed}: the expert did not reach the goal");
            var phased = Solve(b, ob);
            Assert.True(phased.Reward <= r.Reward, $"seed {seed}: the expert took longer ({r.Reward}) than the phased plan ({phased.Reward})");
        }
    }

    /// <summary>gridworld:levels=N plays only the levels of seeds 0 .. N-1, drawn by a generator each seeded reset restarts.</summary>
    [Fact]
    public void ALevelSetPlaysOnlyItsLevelsReproducibly()
    {
        static List<string> Starts(IEnv env, ulong seed, int episodes)
        {
            var o = new float[env.ObservationSpace.Width];
            var starts = new List<string>();
            for (int e = 0; e < episodes; e++)
            {
                env.Reset(e == 0 ? seed : null, o);
                starts.Add(Layout((GridWorld)Wrapper.Unwrap(env)));
            }
            return starts;
        }
        using var set = EnvRegistry.Make("gridworld:levels=3");
        var seen = Starts(set, 11, 40);
        var levels = new HashSet<string>();
        for (ulong level = 0; level < 3; level++)
        {
            var g = new GridWorld(8);
            g.Reset(level, new float[g.ObservationSpace.Width]);
            levels.Add(Layout(g));
        }
        Assert.Equal(levels, seen.ToHashSet());
        using var again = EnvRegistry.Make("gridworld:levels=3");
        Assert.Equal(seen, Starts(again, 11, 40));
        foreach (var bad in new[] { "gridworld:levels=0", "gridworld:levels=2.5" })
            Assert.Contains("levels", Assert.Throws<ArgumentException>(() => EnvRegistry.Make(bad)).Message);
    }

    [Fact]
    public void GridWorldViewShowsWhatIsAhead()
    {
        var env = new GridWorld(8);
        var o = new float[env.ObservationSpace.Width];
        env.Reset(3UL, o);
        // turn until a wall is directly ahead, then check the view cell in front of the agent (view (3, 5))
        for (int k = 0; k < 40; k++)
        {
            var (x, y, d) = env.Agent;
            (int dx, int dy) = d switch { 0 => (1, 0), 1 => (0, 1), 2 => (-1, 0), _ => (0, -1) };
            var front = env.At(x + dx, y + dy);
            Assert.Equal((float)front, o[(5 * 7 + 3) * 3]);
            env.Step(k % 3 == 0 ? [2f] : [1f], o);
        }
    }

    private static string Layout(GridWorld env)
    {
        var sb = new System.Text.StringBuilder();
        for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) sb.Append((int)env.At(x, y));
        return sb.ToString() + env.Agent;
    }

    /// <summary>Breadth-first planner over (x, y, dir, has key, door open): pick up the key, open the door, reach the goal.</summary>
    private static StepResult Solve(GridWorld env, float[] o)
    {
        StepResult last = default;
        for (int phase = 0; phase < 3; phase++)
        {
            var plan = Plan(env, phase);
            Assert.NotNull(plan);
            foreach (var a in plan!) { last = env.Step([a], o); if (last.Done) return last; }
        }
        return last;
    }

    private static List<int>? Plan(GridWorld env, int phase)
    {
        var (sx, sy, sd) = env.Agent;
        var prev = new Dictionary<(int, int, int), ((int, int, int) From, int Action)>();
        var q = new Queue<(int, int, int)>();
        q.Enqueue((sx, sy, sd));
        prev[(sx, sy, sd)] = ((-1, -1, -1), -1);
        (int, int)[] dirs = [(1, 0), (0, 1), (-1, 0), (0, -1)];
        while (q.Count > 0)
        {
            var (x, y, d) = q.Dequeue();
            var (dx, dy) = dirs[d];
            var front = env.At(x + dx, y + dy);
            int finish = phase switch
            {
                0 when front == GridWorld.Cell.Key => 3,
                1 when front == GridWorld.Cell.Door && !env.DoorOpen => 5,
                2 when front == GridWorld.Cell.Goal => 2,
                _ => -1,
            };
            if (finish >= 0)
            {
                var path = new List<int> { finish };
                var at = (x, y, d);
                while (prev[at].Action >= 0) { path.Add(prev[at].Action); at = prev[at].From; }
                path.Reverse();
                return path;
            }
            foreach (var (a, next) in new[] { (0, (x, y, (d + 3) % 4)), (1, (x, y, (d + 1) % 4)), (2, (x + dx, y + dy, d)) })
            {
                if (a == 2 && !(front == GridWorld.Cell.Empty || (front == GridWorld.Cell.Door && env.DoorOpen))) continue;
                if (prev.ContainsKey(next)) continue;
                prev[next] = ((x, y, d), a);
                q.Enqueue(next);
            }
        }
        return phase == 1 && env.DoorOpen ? [] : null;
    }
}
