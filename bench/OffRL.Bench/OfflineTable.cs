using System.Globalization;
using System.Text;
using System.Text.Json;
using OffRL;
using OffRL.Envs;
using OffRL.IO;

/// <summary>
/// The D4RL-style table of bench/mujoco-offline.sh: for each dataset, the dataset's own average normalized score and
/// each algorithm's normalized score, mean ± std over seeds; a run's score is the mean of its last 3 evaluations
/// (runs/NAME.metrics.csv; the last evaluation alone where no metrics file was kept).
/// Reads OUT/dataset-*.json and OUT/runs/*.json (OUT = $OUT or bench/results/mujoco), writes OUT/table.md.
/// </summary>
static class OfflineTable
{
    public static Dictionary<string, double> Build(string dir)
    {
        if (!Directory.Exists(Path.Combine(dir, "runs"))) throw new DirectoryNotFoundException($"{dir}/runs: run bench/mujoco-offline.sh first");
        var runs = new List<(string Dataset, string Env, string Algo, ulong Seed, double Score, long Steps)>();
        var presets = new SortedSet<string>(StringComparer.Ordinal);
        var files = new Dictionary<string, Dictionary<string, string>>();   // dataset -> its files' SHA-256 -> a run on it
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "runs"), "*.json").Order())
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(f));
            var r = doc.RootElement;
            if (r.TryGetProperty("dataset_sha256", out var sha) && sha.ValueKind == JsonValueKind.String)
            {
                var seen = files.TryGetValue(r.GetProperty("dataset").GetString()!, out var m) ? m : files[r.GetProperty("dataset").GetString()!] = new();
                seen.TryAdd(sha.GetString()!, Path.GetFileName(f));
            }
            presets.Add(r.TryGetProperty("preset", out var p) && p.ValueKind == JsonValueKind.String ? $"`--preset {p.GetString()}`" : "OffRL's defaults");
            runs.Add((r.GetProperty("dataset").GetString()!, r.GetProperty("env").GetString()!, Display(r.GetProperty("algo").GetString()!), r.GetProperty("seed").GetUInt64(),
                LastEvaluations(f[..^".json".Length] + ".metrics.csv") ?? r.GetProperty("normalized_score").GetDouble(), r.GetProperty("steps").GetInt64()));
        }
        // a row is one dataset file: runs on another build of the same recipe (another machine's) belong in another table
        foreach (var (name, shas) in files)
            if (shas.Count > 1)
                throw new InvalidDataException($"{dir}/runs: the {name} runs trained on {shas.Count} different files: " +
                    string.Join("; ", shas.Select(kv => $"{kv.Key[..12]}... ({kv.Value})")) + "; file each build's runs in its own table folder");
        var datasets = runs.Select(r => r.Dataset).Distinct().OrderBy(d => d, StringComparer.Ordinal).ToList();
        string[] order = ["BC", "%BC", "TD3+BC", "IQL", "CQL", "AWAC"];
        var algos = runs.Select(r => r.Algo).Distinct().OrderBy(a => Array.IndexOf(order, a) is var i && i < 0 ? 99 : i).ToList();
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("| dataset | dataset average | " + string.Join(" | ", algos) + " |");
        md.AppendLine("| --- | ---: | " + string.Join(" | ", algos.Select(_ => "---:")) + " |");
        var figures = new Dictionary<string, double>();
        foreach (var d in datasets)
        {
            string dsCell = "";
            var dsFile = Path.Combine(dir, $"dataset-{d}.json");
            if (File.Exists(dsFile))
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(dsFile));
                double ret = doc.RootElement.GetProperty("return_mean").GetDouble();
                string env = runs.First(r => r.Dataset == d).Env;
                double score = NormalizedScore.Score(env, ret);
                dsCell = score.ToString("F1", inv);
                figures[$"{d}_dataset"] = score;
            }
            var cells = new List<string>();
            foreach (var a in algos)
            {
                var s = runs.Where(r => r.Dataset == d && r.Algo == a).Select(r => r.Score).ToArray();
                if (s.Length == 0) { cells.Add("–"); continue; }
                double mean = s.Average(), std = Math.Sqrt(s.Select(x => (x - mean) * (x - mean)).Average());
                cells.Add($"{mean.ToString("F1", inv)} ± {std.ToString("F1", inv)} ({s.Length})");
                figures[$"{d}_{a.ToLowerInvariant().Replace("+", "").Replace("%", "p")}"] = mean;
            }
            md.AppendLine($"| {d} | {dsCell} | {string.Join(" | ", cells)} |");
        }
        var steps = runs.Select(r => r.Steps).Distinct().ToList();
        md.AppendLine();
        md.AppendLine($"Normalized score 100 (return - random) / (expert - random) with D4RL's reference returns; each run's score is the mean of " +
            $"its last 3 evaluations (10 episodes each), mean ± std over seeds (number of seeds in brackets); {string.Join(", ", steps)} gradient steps per run; " +
            $"configs: {string.Join(", ", presets)} (each cell with its dataset's entry).");
        AtomicFile.WriteAllText(Path.Combine(dir, "table.md"), md.ToString());
        Console.Write(md);
        return figures;
    }

    /// <summary>Mean normalized score of a run's last 3 evaluations (its metrics.csv); null when the file is missing.</summary>
    private static double? LastEvaluations(string metricsCsv, int last = 3)
    {
        if (!File.Exists(metricsCsv)) return null;
        var rows = File.ReadAllLines(metricsCsv).Skip(1).Where(l => l.Length > 0).ToList();
        var scores = rows.Skip(Math.Max(0, rows.Count - last)).Select(l => double.Parse(l.Split(',')[3], CultureInfo.InvariantCulture)).ToList();
        return scores.Count == 0 ? null : scores.Average();
    }

    private static string Display(string algo) => algo switch
    {
        "bc" => "BC", "pbc" => "%BC", "td3bc" => "TD3+BC", "iql" => "IQL", "cql" => "CQL", "awac" => "AWAC", _ => algo.ToUpperInvariant(),
    };
}
