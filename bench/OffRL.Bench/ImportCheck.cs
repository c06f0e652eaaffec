using System.Text.Json;
using OffRL.Algorithms;

/// <summary>
/// `import-check`: a checkpoint folder written by bench/reference/offline_rl.py (PyTorch) loaded into OffRL, its
/// deterministic actions on the probe observations compared with PyTorch's own (probe.json in the folder).
/// CHECKPOINT=DIR dotnet run -c Release --project bench/OffRL.Bench -- import-check
/// </summary>
internal static class ImportCheck
{
    private sealed record Probe(float[][] Observations, float[][] Actions);

    public static Dictionary<string, double> Run(string? dir)
    {
        if (dir is null) throw new ArgumentException("CHECKPOINT: set it to a folder written by bench/reference/offline_rl.py");
        var probe = JsonSerializer.Deserialize<Probe>(File.ReadAllText(Path.Combine(dir, "probe.json")), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        var agent = AlgorithmRegistry.Load(dir);
        double max = 0;
        var a = new float[agent.ActionDim];
        for (int i = 0; i < probe.Observations.Length; i++)
        {
            agent.Act(probe.Observations[i], a, deterministic: true);
            for (int j = 0; j < a.Length; j++) max = Math.Max(max, Math.Abs(a[j] - probe.Actions[i][j]));
        }
        return new() { ["observations"] = probe.Observations.Length, ["max_abs_action_diff"] = max };
    }
}
