namespace OffRL.Dynamics;

/// <summary>
/// When a transition predicted by a model ends its episode: Gymnasium's rules, read on the observation the model
/// predicts (s'), for the environments OffRL names. Model rollouts need them because the ensemble predicts s' and r,
/// not the end (OfflineRL-Kit's utils/termination_fns.py does the same for its tasks). The locomotion observations
/// leave out the x (and y) position, so obs[0] is the height and obs[1] the first angle.
/// </summary>
public static class Termination
{
    /// <summary>A rule: does the episode end at next observation s'?</summary>
    public delegate bool Rule(ReadOnlySpan<float> next);

    private static readonly Rule Never = _ => false;

    /// <summary>The rule of an environment family (the env name up to its first '-' for the MuJoCo and maze tasks).</summary>
    private static readonly Dictionary<string, Rule> Rules = new()
    {
        // Hopper-v4: healthy while z > 0.7, |angle| < 0.2 and every other entry of the state within +-100
        ["hopper"] = s =>
        {
            if (!(s[0] > 0.7f && MathF.Abs(s[1]) < 0.2f)) return true;
            for (int i = 1; i < s.Length; i++) if (!(MathF.Abs(s[i]) < 100f)) return true;
            return false;
        },
        // Walker2d-v4: healthy while 0.8 < z < 2 and -1 < angle < 1
        ["walker2d"] = s => !(s[0] > 0.8f && s[0] < 2f && s[1] > -1f && s[1] < 1f),
        // Ant-v4: healthy while the torso's height is in [0.2, 1] and the state finite
        ["ant"] = s =>
        {
            if (!(s[0] >= 0.2f && s[0] <= 1f)) return true;
            foreach (var v in s) if (!float.IsFinite(v)) return true;
            return false;
        },
        // HalfCheetah-v4 never terminates; a model's rollout stops where a predicted entry leaves +-100, a state no real
        // half-cheetah reaches (OfflineRL-Kit's termination_fn_halfcheetah: the guard against a model running away)
        ["halfcheetah"] = s =>
        {
            foreach (var v in s) if (!(MathF.Abs(v) < 100f)) return true;
            return false;
        },
        ["pendulum"] = Never,
        ["pointmaze"] = Never,     // OffRL's point maze, like D4RL's maze2d, ends by time limit only
        // CartPole-v1: |x| > 2.4 or |theta| > 12 degrees (obs: x, x', theta, theta')
        ["cartpole"] = s => MathF.Abs(s[0]) > 2.4f || MathF.Abs(s[2]) > 12f * 2f * MathF.PI / 360f,
        // MountainCar-v0: position >= 0.5 with velocity >= 0 (goal_velocity 0)
        ["mountaincar"] = s => s[0] >= 0.5f && s[1] >= 0f,
        // MountainCarContinuous-v0: position >= 0.45 with velocity >= 0
        ["mountaincar-continuous"] = s => s[0] >= 0.45f && s[1] >= 0f,
        // Acrobot-v1: -cos(t1) - cos(t1 + t2) > 1 (obs: cos t1, sin t1, cos t2, sin t2, ...)
        ["acrobot"] = s => -s[0] - (s[0] * s[2] - s[1] * s[3]) > 1f,
    };

    /// <summary>The environments with a rule, as names.</summary>
    public static IEnumerable<string> Known => Rules.Keys;

    /// <summary>The rule for an environment name (e.g. hopper, walker2d-medium's walker2d, pointmaze-umaze, pendulum-masked), or null.</summary>
    public static Rule? Find(string env)
    {
        var name = env.Trim().ToLowerInvariant();
        if (Rules.TryGetValue(name, out var rule)) return rule;
        int dash = name.IndexOf('-');
        return dash > 0 && Rules.TryGetValue(name[..dash], out rule) ? rule : null;
    }

    /// <summary>The rule for an environment, or an error naming --env and the environments that have one.</summary>
    public static Rule For(string env) => Find(env)
        ?? throw new ArgumentException($"--env: '{env}' has no termination rule for model rollouts; known: {string.Join(", ", Rules.Keys)}");
}
