using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Algorithms;

namespace OffRL.Cli;

/// <summary>`offrl env list|rollout|serve`.</summary>
internal static class EnvCommand
{
    public static Command Create()
    {
        var cmd = new Command("env", "List environments, roll out policies in them, serve one to another program");
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
        cmd.Subcommands.Add(Serve());
        return cmd;
    }

    /// <summary>`offrl env serve --env E`: the environment over stdin/stdout, JSON Lines (<see cref="EnvServer"/>).</summary>
    private static Command Serve()
    {
        var env = new Option<string>("--env") { Description = "Environment name or Gymnasium id", Required = true };
        var cmd = new Command("serve", "Step an environment for another program: JSON Lines on stdin ({\"reset\": SEED} or {\"step\": [...]}), one answer per line on stdout") { env };
        cmd.SetAction(r =>
        {
            var name = r.GetValue(env)!;
            var entry = EnvRegistry.Find(name);
            using var e = EnvRegistry.Make(name);
            EnvServer.Serve(e, entry.Name, entry.MaxEpisodeSteps, Console.In, Console.Out);
        });
        return cmd;
    }

    private static Command Rollout()
    {
        var env = new Option<string>("--env") { Description = "Environment name or Gymnasium id", Required = true };
        var policy = new Option<string>("--policy") { Description = "random, or a checkpoint folder (offrl train --out; acts deterministically)", DefaultValueFactory = _ => "random" };
        var episodes = new Option<int>("--episodes") { Description = "Episodes to run", DefaultValueFactory = _ => 10 }.InRange("[1, 100000]");
        var seed = new Option<ulong>("--seed") { Description = "Seed of the first episode (episode k uses seed + k)", DefaultValueFactory = _ => 0 };
        var actions = new Option<string?>("--actions") { Description = "CSV of actions to replay (one row per step, one column per action dimension)" };
        var noResetNoise = new Option<bool>("--no-reset-noise") { Description = "Start from the model's rest state (environments with reset noise)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line" };
        var cmd = new Command("rollout", "Run episodes and report returns") { env, policy, episodes, seed, actions, noResetNoise, json };
        cmd.SetAction(r =>
        {
            var name = r.GetValue(env)!;
            ulong s0 = r.GetValue(seed);
            using var e = EnvRegistry.Make(name);
            if (r.GetValue(noResetNoise))
            {
                if (Wrapper.Unwrap(e) is not IResetNoise n) throw new ArgumentException($"--no-reset-noise: {name} has no reset noise to switch off");
                n.ResetNoise = false;
            }
            if (r.GetValue(actions) is { } file)
            {
                var (ret, steps, final) = Envs.Rollout.Replay(e, file, s0);
                Console.WriteLine($"{name}: replayed {steps} steps from {file}, return {ret:G8}");
                Console.WriteLine($"final observation: {string.Join(", ", final.Select(v => v.ToString("G9", CultureInfo.InvariantCulture)))}");
                if (r.GetValue(json))
                    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                    {
                        ["env"] = name, ["steps"] = steps, ["return"] = ret, ["final_observation"] = final,
                        ["return_mean"] = ret, ["return_std"] = 0.0, ["length_mean"] = (double)steps,
                    }));
                return;
            }
            var p = r.GetValue(policy)!;
            IPolicy pol = p == "random" ? new RandomPolicy(e.ObservationSpace.Width, e.ActionSpace, s0 + 1_000_003UL) : AlgorithmRegistry.Load(p, s0);
            var res = Envs.Rollout.Episodes(e, pol, r.GetValue(episodes), s0, deterministic: p != "random");
            Console.WriteLine($"{name}: {res.Returns.Length} episodes of {(p == "random" ? "random actions" : p)}, return {res.Mean:G6} +- {res.Std:G4}, length {res.LengthMean:F1}");
            var outp = new Dictionary<string, object> { ["env"] = name, ["episodes"] = res.Returns.Length, ["return_mean"] = res.Mean, ["return_std"] = res.Std, ["length_mean"] = res.LengthMean };
            if (res.Successes > 0) outp["successes"] = res.Successes;
            if (NormalizedScore.ScoreOrNull(name, res.Mean) is { } score) outp["normalized_score"] = score;
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(outp));
        });
        return cmd;
    }
}
