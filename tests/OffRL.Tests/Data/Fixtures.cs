using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Tests.Data;

internal static class Fixtures
{
    /// <summary>
    /// Three episodes, observation width 2, action width 1:
    /// episode 0: 3 steps, rewards 1, 2, 3, ends terminal (return 6);
    /// episode 1: 2 steps, rewards 0.5, 0.5, ends by timeout (return 1);
    /// episode 2: 4 steps, rewards 2, 2, 2, 2, ends terminal (return 8).
    /// Observation of row i is (i, 10 i); action is 0.1 i.
    /// </summary>
    public static Dataset Small(bool nextObs = false)
    {
        float[] rew = [1, 2, 3, 0.5f, 0.5f, 2, 2, 2, 2];
        bool[] term = [false, false, true, false, false, false, false, false, true];
        bool[] tout = [false, false, false, false, true, false, false, false, false];
        int n = rew.Length;
        var obs = new float[n * 2]; var act = new float[n];
        for (int i = 0; i < n; i++) { obs[2 * i] = i; obs[2 * i + 1] = 10 * i; act[i] = 0.1f * i; }
        float[]? next = null;
        if (nextObs)
        {
            next = new float[n * 2];
            for (int i = 0; i < n; i++) { next[2 * i] = i + 0.5f; next[2 * i + 1] = 10 * i + 5; }
        }
        return new Dataset(new DatasetColumns { Observations = obs, Actions = act, Rewards = rew, Terminals = term, Timeouts = tout, NextObservations = next },
            Box.Unbounded(2), Box.Uniform(1, -1f, 1f), new DatasetInfo("fixture"));
    }

    /// <summary>
    /// Random-walk episodes in a linear system s' = A s + B a + noise with a linear policy plus noise, obs 4, act 2.
    /// Reward -|s|^2; episodes of 20..60 steps, the last step a timeout.
    /// </summary>
    public static Dataset Linear(int episodes, ulong seed = 1, float policyNoise = 0.3f, bool storeNext = false)
    {
        var rng = new Rng(seed);
        var obs = new List<float>(); var act = new List<float>(); var rew = new List<float>(); var next = new List<float>();
        var term = new List<bool>(); var tout = new List<bool>();
        for (int e = 0; e < episodes; e++)
        {
            var s = new float[4];
            for (int j = 0; j < 4; j++) s[j] = rng.Normal();
            int len = 20 + rng.NextInt(41);
            for (int t = 0; t < len; t++)
            {
                var a = new float[2];
                a[0] = Math.Clamp(-0.5f * s[0] + policyNoise * rng.Normal(), -1f, 1f);
                a[1] = Math.Clamp(-0.5f * s[2] + policyNoise * rng.Normal(), -1f, 1f);
                var s2 = new float[4];
                s2[0] = 0.9f * s[0] + 0.1f * s[1] + 0.5f * a[0];
                s2[1] = 0.9f * s[1] + 0.01f * rng.Normal();
                s2[2] = 0.95f * s[2] + 0.5f * a[1];
                s2[3] = 0.8f * s[3] + 0.2f * s[0];
                obs.AddRange(s); act.AddRange(a); next.AddRange(s2);
                rew.Add(-(s[0] * s[0] + s[1] * s[1] + s[2] * s[2] + s[3] * s[3]));
                term.Add(false); tout.Add(t == len - 1);
                s = s2;
            }
        }
        return new Dataset(new DatasetColumns
        {
            Observations = obs.ToArray(), Actions = act.ToArray(), Rewards = rew.ToArray(), Terminals = term.ToArray(), Timeouts = tout.ToArray(),
            NextObservations = storeNext ? next.ToArray() : null,
        }, Box.Unbounded(4), Box.Uniform(2, -1f, 1f), new DatasetInfo("linear"));
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "offrl-data-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
