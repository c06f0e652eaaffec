using System.Globalization;
using OffRL.Tensors;

namespace OffRL.Envs;

/// <summary>Returns, lengths and successes of a set of episodes.</summary>
public sealed record RolloutResult(double[] Returns, int[] Lengths, int Successes)
{
    /// <summary>Each episode's discounted return sum_t gamma^t r_t, for the gamma the rollout was asked for (else null).</summary>
    public double[]? DiscountedReturns { get; init; }

    public double Mean => Returns.Average();
    /// <summary>Population standard deviation of the returns.</summary>
    public double Std
    {
        get
        {
            double m = Mean, s = 0;
            foreach (var r in Returns) s += (r - m) * (r - m);
            return Math.Sqrt(s / Returns.Length);
        }
    }
    public double LengthMean => Lengths.Average();
}

/// <summary>
/// Running a policy in an environment, the one rollout loop that evaluation (the trainer's, <c>offrl eval</c>) and
/// <c>offrl env rollout</c> share: episode k starts from Reset(seed + k); an episode ends when the env says done
/// (terminated or truncated by its time limit).
/// </summary>
public static class Rollout
{
    public static RolloutResult Episodes(string envName, IPolicy policy, int episodes, ulong seed, bool deterministic = true, double? gamma = null)
    {
        using var env = EnvRegistry.Make(envName);
        return Episodes(env, policy, episodes, seed, deterministic, gamma);
    }

    /// <summary>
    /// Refuses a policy that does not act in this environment: observation width, action kind and width, the number of
    /// discrete actions, and continuous bounds (a policy trained to act in [-1, 1] would act wrongly in pendulum's [-2, 2]).
    /// </summary>
    public static void CheckFits(IEnv env, IPolicy policy)
    {
        if (policy.ObservationDim != env.ObservationSpace.Width)
            throw new ArgumentException($"{env.Id}: observations have {env.ObservationSpace.Width} values, the policy expects {policy.ObservationDim}" +
                (policy.History > 1 ? $" (a history of {policy.History} observations of {policy.ObservationDim / policy.History})" : ""));
        switch (policy.ActionSpace, env.ActionSpace)
        {
            case (Discrete p, Discrete e) when p.N != e.N:
                throw new ArgumentException($"{env.Id}: takes {e.N} discrete actions, the policy chooses among {p.N}");
            case (Box p, Box e) when p.Width != e.Width:
                throw new ArgumentException($"{env.Id}: actions have {e.Width} values, the policy gives {p.Width}");
            case (Box p, Box e) when p.IsBounded && e.IsBounded && !p.Equals(e):
                throw new ArgumentException($"{env.Id}: takes actions in [{Bounds(e)}], the policy acts in [{Bounds(p)}] (it was trained for other bounds)");
            case (Discrete, Box) or (Box, Discrete):
                throw new ArgumentException($"{env.Id}: takes {env.ActionSpace} actions, the policy gives {policy.ActionSpace}");
        }
    }

    private static string Bounds(Box b) =>
        string.Join("; ", b.Low.Zip(b.High, (l, h) => FormattableString.Invariant($"{l:G4}, {h:G4}")).Take(3)) + (b.Width > 3 ? "; ..." : "");

    /// <summary>Runs the episodes; with <paramref name="gamma"/> each episode's discounted return is kept too (on-policy values for OPE).</summary>
    public static RolloutResult Episodes(IEnv env, IPolicy policy, int episodes, ulong seed, bool deterministic = true, double? gamma = null)
    {
        if (episodes < 1) throw new ArgumentException($"episodes: must be at least 1, got {episodes}");
        env = ObservationHistory.For(env, policy);
        CheckFits(env, policy);
        var obs = new float[env.ObservationSpace.Width];
        var act = new float[env.ActionSpace.Width];
        var returns = new double[episodes];
        var lengths = new int[episodes];
        var discounted = new double[episodes];
        int successes = 0;
        for (int k = 0; k < episodes; k++)
        {
            env.Reset(seed + (ulong)k, obs);
            double weight = 1;
            while (true)
            {
                policy.Act(obs, act, deterministic);
                var r = env.Step(act, obs);
                returns[k] += r.Reward; lengths[k]++;
                discounted[k] += weight * r.Reward;
                weight *= gamma ?? 1.0;
                if (r.Success) successes++;
                if (r.Done) break;
            }
        }
        return new RolloutResult(returns, lengths, successes) { DiscountedReturns = gamma is null ? null : discounted };
    }

    /// <summary>
    /// Replay a fixed action sequence from a CSV file (one row per step, one column per action dimension, an optional
    /// header) from Reset(seed), until the actions run out or the episode ends.
    /// </summary>
    public static (double Return, int Steps, float[] FinalObservation) Replay(IEnv env, string csvFile, ulong seed)
    {
        if (!File.Exists(csvFile)) throw new DataException("action file not found", csvFile);
        int ad = env.ActionSpace.Width;
        var obs = new float[env.ObservationSpace.Width];
        env.Reset(seed, obs);
        double ret = 0;
        int steps = 0, line = 0;
        var act = new float[ad];
        foreach (var raw in File.ReadLines(csvFile))
        {
            line++;
            if (raw.Trim().Length == 0) continue;
            var f = raw.Split(',');
            bool header = line == 1 && !float.TryParse(f[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _);
            if (header) continue;
            if (f.Length != ad) throw new DataException($"has {f.Length} values, the action space has {ad}", csvFile, null, line);
            for (int j = 0; j < ad; j++)
                if (!float.TryParse(f[j], NumberStyles.Float, CultureInfo.InvariantCulture, out act[j]))
                    throw new DataException($"'{f[j]}' is not a number", csvFile, $"column {j}", line);
            var res = env.Step(act, obs);
            ret += res.Reward; steps++;
            if (res.Done) break;
        }
        return (ret, steps, obs);
    }
}

/// <summary>Uniformly random actions from the action space (its own seeded generator); the baseline policy.</summary>
public sealed class RandomPolicy(int observationDim, Space actionSpace, ulong seed) : IPolicy
{
    private readonly Rng _rng = new(seed);
    public int ObservationDim => observationDim;
    public Space ActionSpace => actionSpace;
    public void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic) => actionSpace.SampleAction(_rng, action);
}
