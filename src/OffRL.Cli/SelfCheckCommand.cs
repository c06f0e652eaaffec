using System.CommandLine;
using System.Text.Json;
using OffRL.Nn;

namespace OffRL.Cli;

/// <summary>
/// `offrl selfcheck`: runs <see cref="SelfCheck"/> (the engine on problems with known answers) and prints its table.
/// </summary>
internal static class SelfCheckCommand
{
    public static Command Create()
    {
        var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object of results as the last line" };
        var outDir = new Option<string>("--out") { Description = "Folder for the saved model", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "offrl-selfcheck") };
        var cmd = new Command("selfcheck", "Train small networks with known answers and report what the engine does") { seed, json, outDir };
        cmd.SetAction(r => Run(r.GetValue(seed), r.GetValue(json), r.GetValue(outDir)!));
        return cmd;
    }

    private static int Run(int seed, bool json, string outDir)
    {
        var rows = SelfCheck.Run(seed, outDir, Console.Write);
        Console.WriteLine();
        Console.WriteLine($"{"task",-22} {"metric",-26} {"value",12} {"target",-12} {"ok",-4} {"time s",7} {"steps/s",9}");
        foreach (var r in rows)
            Console.WriteLine($"{r.Task,-22} {r.Metric,-26} {r.Value,12:G5} {r.Target,-12} {(r.Ok ? "yes" : "NO"),-4} {r.Seconds,7:F2} {r.StepsPerSecond,9:F0}");
        bool ok = rows.All(r => r.Ok);
        if (json)
        {
            var obj = new Dictionary<string, object> { ["ok"] = ok, ["seed"] = seed };
            foreach (var r in rows) obj[r.Task.Replace(' ', '_')] = Math.Round(r.Value, 6);
            Console.WriteLine(JsonSerializer.Serialize(obj));
        }
        return ok ? 0 : 1;
    }
}
