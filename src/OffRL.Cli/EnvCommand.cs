using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Tensors;

namespace OffRL.Cli;

/// <summary>`offrl env list|rollout`.</summary>
internal static class EnvCommand
{
    public static Command Create()
    {
        var cmd = new Command("env", "List environments and roll out policies in them");
        var list = new Command("list", "Environments, their spaces and time limits");
        list.SetAction(_ =>
        {
            Console.WriteLine($"{"name",-24} {"gymnasium id",-26} {"obs",-10} {"action",-12} {"limit",6}  description");
            foreach (var e in EnvRegistry.All)
            {
                using var env = e.Create();
                Console.WriteLine($"{e.Name,-24} {e.GymnasiumId,-26} {env.ObservationSpace,-10} {env.ActionSpace,-12} {e.MaxEpisodeSteps,6}  {e.Description}");
            }
            return 0;
        });
        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(Rollout());
        return cmd;
    }

    private static Command Rollout()
    {
        var env = new Option<string>("--env") { Description = "Environment name or Gymnasium id", Required = true };
        var policy = new Option<string>("--policy") { Description = "random, or a checkpoint folder", DefaultValueFactory = _ => "random" };
        var episodes = new Option<int>("--episodes") { Description = "Episodes to run", DefaultValueFactory = _ => 10 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the first episode (episode k uses seed + k)", DefaultValueFactory = _ => 0 };
        var actions = new Option<string?>("--actions") { Description = "CSV of actions to replay (one row per step, one column per action dimension)" };
        var noResetNoise = new Option<bool>("--no-reset-noise") { Description = "Start from the model's rest state (environments with reset noise)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line" };
        var cmd = new Command("rollout", "Run episodes and report returns") { env, policy, episodes, seed, actions, noResetNoise, json };
        cmd.SetAction(r => DatasetCommand.Run(() =>
        {
            var name = r.GetValue(env)!;
            var pol = r.GetValue(policy)!;
            if (pol != "random") throw new ArgumentException($"--policy: '{pol}': policy checkpoints come with the learning core; use 'random' or --actions");
            if (r.GetValue(noResetNoise))
            {
                using var probe = EnvRegistry.Find(name).Create();
                if (probe is not IResetNoise) throw new ArgumentException($"--no-reset-noise: {name} has no reset noise to switch off");
            }
            var actionFile = r.GetValue(actions);
            if (actionFile is not null) Replay(name, actionFile, r.GetValue(seed), r.GetValue(noResetNoise), r.GetValue(json));
            else Random(name, r.GetValue(episodes), r.GetValue(seed), r.GetValue(noResetNoise), r.GetValue(json));
        }));
        return cmd;
    }

    private static void Random(string name, int episodes, ulong seed, bool noResetNoise, bool json)
    {
        if (episodes < 1) throw new ArgumentException($"--episodes: must be at least 1, got {episodes}");
        using var e = EnvRegistry.Make(name);
        if (noResetNoise && Wrapper.Unwrap(e) is IResetNoise n) n.ResetNoise = false;
        var rng = new Rng(seed + 1_000_003UL);
        var obs = new float[e.ObservationSpace.Width];
        var act = new float[e.ActionSpace.Width];
        var returns = new double[episodes];
        var lengths = new int[episodes];
        int successes = 0;
        for (int k = 0; k < episodes; k++)
        {
            e.Reset(seed + (ulong)k, obs);
            while (true)
            {
                e.ActionSpace.SampleAction(rng, act);
                var res = e.Step(act, obs);
                returns[k] += res.Reward; lengths[k]++;
                if (res.Success) successes++;
                if (res.Done) break;
            }
        }
        double mean = returns.Average(), std = Math.Sqrt(returns.Select(x => (x - mean) * (x - mean)).Average());
        Console.WriteLine($"{name}: {episodes} episodes, return {mean:G6} +- {std:G4}, length {lengths.Average():F1}");
        var outp = new Dictionary<string, object> { ["env"] = name, ["episodes"] = episodes, ["return_mean"] = mean, ["return_std"] = std, ["length_mean"] = lengths.Average() };
        if (NormalizedScore.TryGet(name, out _)) outp["normalized_score"] = NormalizedScore.Score(name, mean);
        if (json) Console.WriteLine(JsonSerializer.Serialize(outp));
    }

    private static void Replay(string name, string file, ulong seed, bool noResetNoise, bool json)
    {
        using var e = EnvRegistry.Make(name);
        int ad = e.ActionSpace.Width;
        var obs = new float[e.ObservationSpace.Width];
        if (noResetNoise && Wrapper.Unwrap(e) is IResetNoise n) n.ResetNoise = false;
        e.Reset(seed, obs);
        double ret = 0;
        int steps = 0, line = 0;
        var act = new float[ad];
        foreach (var raw in File.ReadLines(file))
        {
            line++;
            if (raw.Trim().Length == 0) continue;
            var f = raw.Split(',');
            if (f.Length != ad)
            {
                if (line == 1 && !float.TryParse(f[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _)) continue;   // header
                throw new DataException($"has {f.Length} values, the action space has {ad}", file, null, line);
            }
            for (int j = 0; j < ad; j++)
                if (!float.TryParse(f[j], NumberStyles.Float, CultureInfo.InvariantCulture, out act[j]))
                {
                    if (line == 1) goto nextLine;
                    throw new DataException($"'{f[j]}' is not a number", file, $"column {j}", line);
                }
            var res = e.Step(act, obs);
            ret += res.Reward; steps++;
            if (res.Done) break;
            nextLine:;
        }
        Console.WriteLine($"{name}: replayed {steps} steps from {file}, return {ret:G8}");
        Console.WriteLine($"final observation: {string.Join(", ", obs.Select(v => v.ToString("G9", CultureInfo.InvariantCulture)))}");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["env"] = name, ["steps"] = steps, ["return"] = ret, ["final_observation"] = obs,
                ["return_mean"] = ret, ["return_std"] = 0.0, ["length_mean"] = (double)steps,
            }));
    }
}
