using OffRL.IO;
using Parquet.Serialization;

namespace OffRL.Serving;

/// <summary>A log exported as Parquet (offrl bandit export).</summary>
public sealed partial class DecisionLog
{
    public sealed class ExportRow
    {
        public string event_id { get; set; } = "";
        public long ts_ms { get; set; }
        public float[] context { get; set; } = [];
        public string[] candidates { get; set; } = [];
        public string action_id { get; set; } = "";
        public int chosen { get; set; }
        public float probability { get; set; }
        public float[] probabilities { get; set; } = [];
        public float? reward { get; set; }
        public string policy { get; set; } = "";
    }

    /// <summary>Export the whole log (one row per decision, reward null while pending) as Parquet, atomically.</summary>
    public static int ExportParquet(string path, string outPath)
    {
        var rows = new List<ExportRow>();
        var (steps, _, handle) = OpenSteps(path);
        using (handle)
            foreach (var (d, r, _) in steps)
                rows.Add(new ExportRow
                {
                    event_id = d.EventId, ts_ms = d.TimestampMs, context = d.Context, candidates = d.Actions.Select(a => a.Id).ToArray(),
                    action_id = d.ActionId, chosen = d.Chosen, probability = d.Probability, probabilities = d.Probabilities,
                    reward = r ?? d.Actions[d.Chosen].KnownReward, policy = d.Policy,
                });
        AtomicFile.Write(outPath, s => ParquetSerializer.SerializeAsync(rows, s).GetAwaiter().GetResult());
        return rows.Count;
    }

}
