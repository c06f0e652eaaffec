using OffRL.Bandits;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using OffRL.Data;
using OffRL.Evaluation;
using OffRL.IO;

namespace OffRL.Serving;

/// <summary>Reading a log (SQLite file or PostgreSQL URL) and converting it: bandit feedback for training and OPE, RL transitions.</summary>
public sealed partial class DecisionLog
{
    /// <summary>
    /// Refuses a log file cut short (or padded): SQLite keeps no checksums, so a truncated last page would read as
    /// other values. The file must be whole pages, as many as its header says (when the header's count is current and
    /// no write-ahead log holds newer pages).
    /// </summary>
    private static void CheckWhole(string path)
    {
        Span<byte> h = stackalloc byte[100];
        long length;
        using (var f = File.OpenRead(path))
        {
            length = f.Length;
            if (length == 0) return;   // an empty file is a new, empty database
            if (f.Read(h) < 100 || !h[..16].SequenceEqual("SQLite format 3\0"u8)) throw new DataException("not a SQLite database (bad header)", path);
        }
        int pageSize = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(h[16..]);
        if (pageSize == 1) pageSize = 65536;
        if (pageSize < 512 || (pageSize & (pageSize - 1)) != 0) throw new DataException($"page size {pageSize} in its header is not valid", path);
        if (length % pageSize != 0) throw new DataException($"is {length} bytes, not whole {pageSize}-byte pages: the file was cut short", path);
        uint pages = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(h[28..]);
        bool current = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(h[92..]) == System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(h[24..]);
        if (current && pages > 0 && !File.Exists(path + "-wal") && length != (long)pages * pageSize)
            throw new DataException($"is {length / pageSize} pages, its header says {pages}: the file was cut short or padded", path);
    }

    /// <summary>Every decision in order, with its reward when one arrived.</summary>
    public static IEnumerable<(DecisionRecord Decision, float? Reward)> ReadAll(string path)
    {
        foreach (var (d, r, _) in ReadSteps(path)) yield return (d, r);
    }

    /// <summary>Every decision in order, with its reward and whether the client said its episode ended there (RL steps).</summary>
    public static IEnumerable<(DecisionRecord Decision, float? Reward, bool Terminal)> ReadSteps(string path)
    {
        if (!File.Exists(path)) throw new DataException("decision log not found", path);
        CheckWhole(path);
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        try { c.Open(); }
        catch (SqliteException e) { throw new DataException($"not a readable SQLite file ({e.Message})", path); }
        using var cmd = Command(c, StepsQuery);
        SqliteDataReader rd;
        try { rd = cmd.ExecuteReader(); }
        catch (SqliteException e) { throw new DataException($"not an OffRL decision log ({e.Message})", path); }
        using (rd)
            foreach (var step in ReadRows(rd, path)) yield return step;
    }

    /// <summary>
    /// A log's steps by its name (a PostgreSQL URL or connection string, else a SQLite file) with the name to give in
    /// messages (a PostgreSQL URL without its password). Dispose the returned handle after reading.
    /// </summary>
    private static (IEnumerable<(DecisionRecord Decision, float? Reward, bool Terminal)> Steps, string Source, IDisposable? Handle) OpenSteps(string path)
    {
        if (!DecisionLogs.IsPostgres(path)) return (ReadSteps(path), path, null);
        var pg = PostgresDecisionLog.Open(path);
        return (pg.Steps(), pg.Describe, pg);
    }

    /// <summary>
    /// The log (a SQLite file or a PostgreSQL URL) as bandit feedback for training and OPE: decisions whose reward
    /// arrived (or whose chosen action has a known reward), actions indexed by id in order of first appearance, action
    /// features per id when every id always carried the same features. Returns the ids with it. A log with more
    /// distinct action ids than <see cref="BanditFeedback.MaxActions"/>, or whose per-row tables would exceed
    /// <see cref="BanditFeedback.MaxTableCells"/>, is refused at the row that went beyond.
    /// </summary>
    public static (BanditFeedback Logs, string[] ActionIds) ToFeedback(string path)
    {
        var ids = new Dictionary<string, int>();
        var features = new List<float[]>();
        bool consistent = true;
        var ctx = new List<float>(); var act = new List<int>(); var rew = new List<float>(); var prop = new List<float>(); var lines = new List<int>();
        int dim = -1;
        long row = 0;
        var (steps, source, handle) = OpenSteps(path);
        using (handle)
            foreach (var (d, reward, _) in steps)
            {
                row++;
                foreach (var a in d.Actions)
                {
                    if (!ids.TryGetValue(a.Id, out int idx))
                    {
                        if (ids.Count == BanditFeedback.MaxActions)
                            throw new DataException($"action '{a.Id}' is the log's {ids.Count + 1}th distinct action id, over the limit of {BanditFeedback.MaxActions} (BanditFeedback.MaxActions)", source, "actions", row);
                        ids[a.Id] = ids.Count; features.Add(a.Features);
                    }
                    else if (!features[idx].AsSpan().SequenceEqual(a.Features)) consistent = false;
                }
                float? r = reward ?? d.Actions[d.Chosen].KnownReward;
                if (r is null) continue;
                if (dim < 0) dim = d.Context.Length;
                else if (d.Context.Length != dim) throw new DataException($"event '{d.EventId}' has a context of {d.Context.Length} values, earlier ones {dim}", source, "context", row);
                ctx.AddRange(d.Context); act.Add(ids[d.ActionId]); rew.Add(r.Value); prop.Add(d.Probability); lines.Add((int)Math.Min(row, int.MaxValue));
            }
        if (act.Count == 0) throw new DataException("has no decision with a reward yet", source, "rewards");
        int k = features[0].Length;
        foreach (var f in features) if (f.Length != k) consistent = false;
        if (consistent && (long)k * ids.Count > BanditFeedback.MaxTableCells) consistent = false;   // too many to hold: the ids alone
        float[]? actionContext = consistent && k > 0 ? features.SelectMany(f => f).ToArray() : null;
        var names = new string[ids.Count];
        foreach (var (id, i) in ids) names[i] = id;
        // Actions seen only among the candidates of later rows count too: the table check names the row of the largest id.
        return (new BanditFeedback(ctx.ToArray(), dim, act.ToArray(), new int[act.Count], rew.ToArray(), prop.ToArray(), ids.Count, 1, actionContext, source, lines.ToArray()), names);
    }

    /// <summary>
    /// The RL steps of a log (decisions with an episode id) as an offline dataset for `offrl ope rl` and training:
    /// per episode in log order, observation, action (the continuous action, or the discrete index), reward, the
    /// behavior log-probability; an episode ends at a step the client marked terminal, else it is cut (timeout) at its
    /// last rewarded step. Steps still waiting for their reward end their episode's usable part there. Continuous actions
    /// are unbounded unless <paramref name="actionSpace"/> (e.g. the environment's) is given. What was left out, and
    /// why, is in the dataset's notes; <see cref="ToTransitions(string, Space?, out TransitionReport)"/> returns it.
    /// </summary>
    public static Dataset ToTransitions(string path, Space? actionSpace = null) => ToTransitions(path, actionSpace, out _);

    /// <summary>
    /// <see cref="ToTransitions(string, Space?)"/> with its account of every row of the log: placed as a transition, or
    /// left out with the reason (<see cref="TransitionReport"/>; Placed + LeftOut.Count == Rows). An episode id that goes
    /// on after its terminal step (a client reusing ids) continues as a new episode, noted in the report.
    /// </summary>
    public static Dataset ToTransitions(string path, Space? actionSpace, out TransitionReport report)
    {
        var segments = new Dictionary<string, List<(DecisionRecord D, float R, bool T)>>();
        var order = new List<string>();
        var state = new Dictionary<string, EpisodeState>();
        var leftOut = new List<LeftOutStep>();
        var notes = new List<string>();
        long row = 0;
        int od = -1, ad = -1;
        bool? discrete = null;
        int actionCount = 0;
        var (all, source, handle) = OpenSteps(path);
        using (handle)
            foreach (var (d, r, t) in all)
            {
                row++;
                if (d.Episode is null) { leftOut.Add(new LeftOutStep(row, d.EventId, null, TransitionReport.NotRl)); continue; }
                if (d.LogProb is null) throw new DataException("an RL step without its behavior log-probability", source, "log_prob", row);
                bool isDiscrete = !(d.Actions.Length == 1 && d.Actions[0].Id == "action");
                if (discrete is null) { discrete = isDiscrete; od = d.Context.Length; ad = isDiscrete ? 1 : d.Actions[0].Features.Length; actionCount = d.Actions.Length; }
                if (discrete != isDiscrete || d.Context.Length != od || (!isDiscrete && d.Actions[0].Features.Length != ad))
                    throw new DataException("RL steps with different observation or action widths in one log", source, "context", row);
                if (!state.TryGetValue(d.Episode, out var st)) state[d.Episode] = st = new EpisodeState();
                if (st.GapRow > 0)
                {   // an earlier step of this episode has no reward: the episode cannot go on past it
                    leftOut.Add(new LeftOutStep(row, d.EventId, d.Episode, $"{TransitionReport.AfterGap} {st.GapRow}, whose reward has not arrived"));
                    if (r is not null && t) { st.GapRow = 0; st.Ended = true; st.EndRow = row; }   // ends here; a later step starts a new episode
                    continue;
                }
                if (r is null)
                {
                    leftOut.Add(new LeftOutStep(row, d.EventId, d.Episode, TransitionReport.Awaiting));
                    st.GapRow = row;
                    continue;
                }
                if (st.Key is null || st.Ended)
                {
                    if (st.Ended)
                        notes.Add($"episode '{d.Episode}' went on after its terminal step at row {st.EndRow}: from row {row} placed as a new episode");
                    st.Segment++;
                    st.Key = st.Segment == 1 ? d.Episode : $"{d.Episode}\u0000{st.Segment}";
                    st.Ended = false;
                    segments[st.Key] = [];
                    order.Add(st.Key);
                }
                segments[st.Key].Add((d, r.Value, t));
                if (t) { st.Ended = true; st.EndRow = row; }
            }
        long n = 0;
        foreach (var seg in segments.Values) n += seg.Count;
        report = new TransitionReport(row, n, leftOut, notes);
        if (n == 0) throw new DataException($"has no rewarded RL step (POST /act, then /reward); {report.Summary()}", source, "rewards");
        if (n * Math.Max(od, ad) > BanditFeedback.MaxTableCells) throw new DataException($"{n} RL steps of {Math.Max(od, ad)} values are over the limit of {BanditFeedback.MaxTableCells} values", source, "context");
        int count = (int)n;
        var obs = new float[count * od]; var act = new float[count * ad]; var rew = new float[count]; var logp = new float[count];
        var term = new bool[count]; var tout = new bool[count];
        int i = 0;
        foreach (var e in order)
        {
            var steps = segments[e];
            for (int k = 0; k < steps.Count; k++, i++)
            {
                var (d, r, t) = steps[k];
                d.Context.CopyTo(obs, i * od);
                if (discrete == true) act[i] = d.Chosen; else d.Actions[0].Features.CopyTo(act, i * ad);
                rew[i] = r; logp[i] = (float)d.LogProb!.Value; term[i] = t; tout[i] = !t && k == steps.Count - 1;
            }
        }
        var cols = new DatasetColumns { Observations = obs, Actions = act, Rewards = rew, Terminals = term, Timeouts = tout, BehaviorLogProbs = logp };
        actionSpace ??= discrete == true ? new Discrete(actionCount) : Box.Uniform(ad, float.NegativeInfinity, float.PositiveInfinity);
        return new Dataset(cols, Box.Uniform(od, float.NegativeInfinity, float.PositiveInfinity), actionSpace,
            new DatasetInfo(Source: source, Notes: $"RL steps of the decision log {(DecisionLogs.IsPostgres(path) ? source : System.IO.Path.GetFileName(path))}: {order.Count} episodes; {report.Summary()}"));
    }

    /// <summary>Where an episode id stands while a log is converted: its current episode, whether it ended, the row of a step without reward.</summary>
    private sealed class EpisodeState
    {
        public string? Key;
        public int Segment;
        public bool Ended;
        public long EndRow, GapRow;
    }

}

/// <summary>A row of a decision log that could not become a transition, and why.</summary>
public sealed record LeftOutStep(long Row, string EventId, string? Episode, string Reason);

/// <summary>
/// What <see cref="DecisionLog.ToTransitions(string, Space?, out TransitionReport)"/> did with every row of a log:
/// <see cref="Placed"/> rows became transitions, each of the others is in <see cref="LeftOut"/> with its row (1-based,
/// in log order), event id, episode and reason, so Placed + LeftOut.Count == Rows. <see cref="Notes"/> says where an
/// episode id went on after its terminal step (placed as a new episode).
/// </summary>
public sealed record TransitionReport(long Rows, long Placed, IReadOnlyList<LeftOutStep> LeftOut, IReadOnlyList<string> Notes)
{
    /// <summary>Reason: a bandit decision (POST /decide), not a step of an RL episode.</summary>
    public const string NotRl = "not an RL step (a bandit decision without an episode id)";
    /// <summary>Reason: the step's reward has not arrived, so its episode's usable part ends before it.</summary>
    public const string Awaiting = "its reward has not arrived";
    /// <summary>Reason prefix: a step after one of its episode without a reward (followed by that row).</summary>
    public const string AfterGap = "follows the step of its episode at row";

    /// <summary>One line: placed of rows, and the left-out count per reason.</summary>
    public string Summary()
    {
        if (LeftOut.Count == 0 && Notes.Count == 0) return $"placed all {Rows} rows";
        var parts = new List<string>();
        foreach (var g in LeftOut.GroupBy(s => s.Reason.StartsWith(AfterGap, StringComparison.Ordinal) ? AfterGap + " N, whose reward has not arrived" : s.Reason))
            parts.Add($"{g.Count()} {g.Key}");
        string left = LeftOut.Count == 0 ? "" : $"; left out {LeftOut.Count}: {string.Join("; ", parts)}";
        string restarted = Notes.Count == 0 ? "" : $"; {Notes.Count} episode ids went on after a terminal step (placed as new episodes)";
        return $"placed {Placed} of {Rows} rows{left}{restarted}";
    }

    /// <summary>Lines to print: the summary, then every left-out row (at most <paramref name="max"/>, then how many more) and every note.</summary>
    public IEnumerable<string> Lines(int max = 20)
    {
        yield return Summary();
        for (int i = 0; i < LeftOut.Count && i < max; i++)
        {
            var s = LeftOut[i];
            yield return $"  left out row {s.Row} (event {s.EventId}{(s.Episode is null ? "" : $", episode '{s.Episode}'")}): {s.Reason}";
        }
        if (LeftOut.Count > max) yield return $"  ... and {LeftOut.Count - max} more left-out rows";
        foreach (var note in Notes) yield return "  " + note;
    }
}
