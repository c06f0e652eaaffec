using OffRL.Data;
using OffRL.Evaluation;
using OffRL.Tensors;

namespace OffRL.Bandits;

/// <summary>One logged decision of a simulation (what a decision service would store).</summary>
public readonly record struct LoggedDecision(float[] Context, int Action, float Probability, float Reward, double Expected, double BestExpected);

/// <summary>The outcome of running a learner online: per-step regret and reward, and the logged decisions.</summary>
public sealed class SimulationResult
{
    public required double[] CumulativeRegret { get; init; }
    public required double MeanReward { get; init; }
    public required List<LoggedDecision> Log { get; init; }
    public required int Actions { get; init; }
    public required int ContextDim { get; init; }

    /// <summary>Average regret per decision over steps [from, to).</summary>
    public double RegretRate(int from, int to) =>
        (CumulativeRegret[to - 1] - (from == 0 ? 0 : CumulativeRegret[from - 1])) / (to - from);

    /// <summary>The log as bandit feedback over every action id of the environment (propensities as logged).</summary>
    public BanditFeedback ToFeedback(string source = "simulation")
    {
        int n = Log.Count, d = ContextDim;
        var ctx = new float[n * d]; var a = new int[n]; var r = new float[n]; var p = new float[n];
        for (int i = 0; i < n; i++)
        {
            Log[i].Context.CopyTo(ctx, i * d);
            a[i] = Log[i].Action; r[i] = Log[i].Reward; p[i] = Log[i].Probability;
        }
        return new BanditFeedback(ctx, d, a, new int[n], r, p, Actions, 1, source: source);
    }
}

/// <summary>
/// Runs a learner against an environment: decide, pull, and deliver each reward after the environment's lag (a
/// reward with lag L produced at step t is delivered before the decision of step t + L + 1, so lag 0 is the same as
/// learning immediately); the learner learns in batches of its BatchSize as rewards arrive.
/// </summary>
public static class BanditSimulation
{
    /// <summary>One learner's run in <see cref="Compare"/>: its result, its policy as it ended, and its decision rate.</summary>
    public sealed record Entry(string Name, SimulationResult Result, BanditPolicy Policy, double DecisionsPerSecond);

    /// <summary>
    /// Several learners against the same simulator (each on a fresh environment from <paramref name="environment"/>, all
    /// with decision seed <paramref name="seed"/> + 1): every name is a learner of <see cref="BanditLearner.Create"/>
    /// with <paramref name="config"/>'s other settings, or "uniform" (epsilon-greedy with epsilon 1, the random
    /// baseline). <paramref name="done"/> sees each entry as it finishes.
    /// </summary>
    public static List<Entry> Compare(IReadOnlyList<string> names, BanditLearnerConfig config, Func<IBanditEnvironment> environment, int steps, ulong seed,
        Action<Entry>? done = null)
    {
        var entries = new List<Entry>(names.Count);
        foreach (var name in names)
        {
            var env = environment();
            var cfg = name == "uniform" ? config with { Algo = "epsilon-greedy", Epsilon = 1 } : config with { Algo = name };
            var policy = new BanditPolicy(BanditLearner.Create(cfg, env.ContextDim, env.ActionDim));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var res = Run(env, policy.Learner, steps, new Rng(seed + 1));
            var entry = new Entry(name, res, policy, res.CumulativeRegret.Length / sw.Elapsed.TotalSeconds);
            done?.Invoke(entry);
            entries.Add(entry);
        }
        return entries;
    }

    public static SimulationResult Run(IBanditEnvironment env, BanditLearner learner, int steps, Rng rng, bool delayed = true)
    {
        var pending = new PriorityQueue<(BanditContext C, int Index, float Reward), (long Due, long Seq)>();
        var regret = new double[steps];
        var log = new List<LoggedDecision>(steps);
        var ids = new Dictionary<string, int>();
        for (int i = 0; i < env.ActionIds.Count; i++) ids[env.ActionIds[i]] = i;
        double cum = 0, rewardSum = 0;
        for (int t = 0; t < steps; t++)
        {
            while (pending.TryPeek(out var item, out var due) && due.Due < t)
            {
                pending.Dequeue();
                learner.Observe(item.C, item.Index, item.Reward);
            }
            var c = env.Next(rng);
            var decision = learner.Decide(c, rng);
            double best = double.NegativeInfinity;
            for (int k = 0; k < c.Count; k++) best = Math.Max(best, env.Expected(c, k));
            double expected = env.Expected(c, decision.Index);
            float reward = env.Pull(c, decision.Index, rng);
            cum += best - expected;
            regret[t] = cum;
            rewardSum += reward;
            log.Add(new LoggedDecision(c.Context, ids[c.Actions[decision.Index].Id], decision.Probability, reward, expected, best));
            int lag = delayed ? env.Delay(rng) : 0;
            pending.Enqueue((c, decision.Index, reward), (t + lag, t));
        }
        return new SimulationResult
        {
            CumulativeRegret = regret, MeanReward = rewardSum / Math.Max(1, steps), Log = log,
            Actions = env.ActionIds.Count, ContextDim = env.ContextDim,
        };
    }
}
