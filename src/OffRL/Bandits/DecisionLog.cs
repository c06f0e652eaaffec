using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using OffRL.Data;
using OffRL.Evaluation;
using OffRL.IO;
using Parquet.Serialization;

namespace OffRL.Bandits;

/// <summary>
/// One logged decision: what was asked, what was chosen and with what probability, by which policy. A step of a served
/// RL policy is logged in the same form: the observation as context; for continuous actions one candidate "action"
/// whose features are the action taken (probability 1 of being the one logged), for discrete actions one candidate per
/// action with the policy's probabilities; <see cref="LogProb"/> the behavior log-probability (log density for
/// continuous actions) and <see cref="Episode"/> the client's episode id.
/// </summary>
public sealed record DecisionRecord(string EventId, long TimestampMs, float[] Context, CandidateAction[] Actions, int Chosen,
    float Probability, float[] Probabilities, string Policy)
{
    public string ActionId => Actions[Chosen].Id;
    /// <summary>log pi_b(a|s) of the action taken (RL steps; bandit decisions leave it null: log Probability).</summary>
    public double? LogProb { get; init; }
    /// <summary>The episode an RL step belongs to (null for bandit decisions).</summary>
    public string? Episode { get; init; }
}

public enum RewardStatus { Recorded, UnknownEvent, AlreadyRewarded }

/// <summary>
/// The contract of a decision service's durable log, whatever stores it: a decision's task completes only once it is
/// committed; a reward is recorded at most once per event (a second is <see cref="RewardStatus.AlreadyRewarded"/>, an
/// unknown event <see cref="RewardStatus.UnknownEvent"/>) and its task completes once committed; every committed
/// decision reads back in order with its reward. <see cref="DecisionLog"/> (SQLite, one process) and
/// <see cref="PostgresDecisionLog"/> (PostgreSQL, shared by several instances) keep it; <see cref="DecisionLogs.Open"/>
/// picks one from the log's name.
/// </summary>
public interface IDecisionLog : IDisposable
{
    /// <summary>Where the log is, for messages (a file path, or a PostgreSQL URL without its password).</summary>
    string Describe { get; }
    long DecisionCount { get; }
    long RewardCount { get; }
    Task AppendDecision(DecisionRecord record);
    Task<(RewardStatus Status, DecisionRecord? Decision)> AppendReward(string eventId, float reward, long timestampMs, bool? terminal = null);
    /// <summary>Every committed decision in log order, with its reward and terminal flag when they arrived.</summary>
    IEnumerable<(DecisionRecord Decision, float? Reward, bool Terminal)> Steps();
}

/// <summary>Opens the log a service was given: a postgres:// (or postgresql://) URL or an Npgsql connection string, else a SQLite file.</summary>
public static class DecisionLogs
{
    public static bool IsPostgres(string log) =>
        log.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || log.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || log.Contains("Host=", StringComparison.OrdinalIgnoreCase);

    public static IDecisionLog Open(string log, bool synchronousFull = true) =>
        IsPostgres(log) ? PostgresDecisionLog.Open(log) : new DecisionLog(log, synchronousFull);
}

/// <summary>
/// The durable log of a decision service: SQLite in WAL mode with synchronous=FULL, so a committed decision or reward
/// survives a crash of the process (and of the machine). Writes go through one writer thread that commits whatever
/// has queued up in one transaction (group commit) and completes each caller's task only after that commit: an
/// acknowledged event is on disk. Readable by any SQLite tool (tables decisions and rewards; JSON text columns).
/// </summary>
public sealed class DecisionLog : IDecisionLog
{
    public string Describe => Path;

    public IEnumerable<(DecisionRecord Decision, float? Reward, bool Terminal)> Steps() => ReadSteps(Path);

    public string Path { get; }
    private readonly SqliteConnection _write;
    private readonly Channel<Op> _ops = Channel.CreateUnbounded<Op>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _writer;
    private readonly ExclusiveLock _lock;
    private long _decisions, _rewards;

    private abstract record Op;
    private sealed record DecisionOp(DecisionRecord Record, TaskCompletionSource Done) : Op;
    private sealed record RewardOp(string EventId, float Reward, bool? Terminal, long TimestampMs, TaskCompletionSource<(RewardStatus, DecisionRecord?)> Done) : Op;

    internal static readonly JsonSerializerOptions Json = BanditPolicy.Json;

    /// <summary>
    /// Opens (or creates) the log for this process alone: a log another process writes is refused (<see cref="ExclusiveLock"/> on PATH.lock).
    /// A file that is not an OffRL decision log (a CSV, a Parquet file, another program's SQLite database) is refused
    /// with a <see cref="DataException"/> naming it, before anything is written to it; the lock files this made are removed.
    /// </summary>
    public DecisionLog(string path, bool synchronousFull = true)
    {
        Path = path;
        CheckSqliteHeader(path);
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        _lock = ExclusiveLock.Acquire(path + ".lock", $"decision log {path}");
        _write = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            _write.Open();
            CheckSchema(_write, path);
            Exec(_write, "PRAGMA journal_mode=WAL;");
            Exec(_write, $"PRAGMA synchronous={(synchronousFull ? "FULL" : "NORMAL")};");
            Exec(_write, """
                CREATE TABLE IF NOT EXISTS decisions (
                  seq INTEGER PRIMARY KEY AUTOINCREMENT,
                  event_id TEXT NOT NULL UNIQUE,
                  ts_ms INTEGER NOT NULL,
                  context TEXT NOT NULL,
                  actions TEXT NOT NULL,
                  chosen INTEGER NOT NULL,
                  action_id TEXT NOT NULL,
                  probability REAL NOT NULL,
                  probabilities TEXT NOT NULL,
                  policy TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS rewards (
                  event_id TEXT PRIMARY KEY REFERENCES decisions(event_id),
                  ts_ms INTEGER NOT NULL,
                  reward REAL NOT NULL);
                """);
            // Columns added for served RL policies (a log written before them gets them, empty, on first open).
            EnsureColumn("decisions", "log_prob", "REAL");
            EnsureColumn("decisions", "episode", "TEXT");
            EnsureColumn("rewards", "terminal", "INTEGER");
        }
        catch (Exception e)
        {
            _write.Dispose();
            _lock.Dispose();
            if (e is SqliteException se) throw new DataException($"not a SQLite decision log ({se.Message.ReplaceLineEndings(" ")})", path);
            throw;
        }
        _decisions = Scalar("SELECT COUNT(*) FROM decisions");
        _rewards = Scalar("SELECT COUNT(*) FROM rewards");
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "offrl-decision-log" };
        _writer.Start();
    }

    /// <summary>
    /// Refuses, before anything is created or opened, a file that is not a SQLite database: an existing non-empty file
    /// must start with SQLite's header (an empty or missing one becomes a new log).
    /// </summary>
    private static void CheckSqliteHeader(string path)
    {
        if (Directory.Exists(path)) throw new DataException("is a folder, not a SQLite decision log", path);
        if (!File.Exists(path)) return;
        Span<byte> h = stackalloc byte[16];
        int got;
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            if (f.Length == 0) return;
            got = f.ReadAtLeast(h, 16, throwOnEndOfStream: false);
        }
        if (got < 16 || !h.SequenceEqual("SQLite format 3\0"u8))
            throw new DataException("not a SQLite decision log (its first bytes are not SQLite's header); give the .db file offrl serve wrote, or a new path; the file was left unchanged", path);
    }

    /// <summary>The columns every decision log has (what <see cref="StepsQuery"/> and the writer use).</summary>
    private static readonly (string Table, string[] Columns)[] Schema =
    [
        ("decisions", ["seq", "event_id", "ts_ms", "context", "actions", "chosen", "action_id", "probability", "probabilities", "policy"]),
        ("rewards", ["event_id", "ts_ms", "reward"]),
    ];

    /// <summary>
    /// Refuses a SQLite database that is not a decision log before anything is written to it: it must be empty (a new
    /// log) or hold the tables decisions and rewards with their columns.
    /// </summary>
    private static void CheckSchema(SqliteConnection c, string path)
    {
        var tables = new List<string>();
        using (var cmd = Command(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"))
        using (var rd = cmd.ExecuteReader())
            while (rd.Read()) tables.Add(rd.GetString(0));
        if (tables.Count == 0) return;
        foreach (var (table, columns) in Schema)
        {
            if (!tables.Contains(table))
                throw new DataException($"not a SQLite decision log: a SQLite database without the table '{table}' (it has {string.Join(", ", tables)}); the file was left unchanged", path, table);
            var have = new HashSet<string>();
            using (var cmd = Command(c, $"SELECT name FROM pragma_table_info('{table}')"))
            using (var rd = cmd.ExecuteReader())
                while (rd.Read()) have.Add(rd.GetString(0));
            foreach (var col in columns)
                if (!have.Contains(col))
                    throw new DataException($"not a SQLite decision log: table '{table}' has no column '{col}'; the file was left unchanged", path, $"{table}.{col}");
        }
    }

    public long DecisionCount => Interlocked.Read(ref _decisions);
    public long RewardCount => Interlocked.Read(ref _rewards);

    /// <summary>Append a decision; the task completes once it is committed.</summary>
    public Task AppendDecision(DecisionRecord record)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_ops.Writer.TryWrite(new DecisionOp(record, done))) done.SetException(new ObjectDisposedException(nameof(DecisionLog)));
        return done.Task;
    }

    /// <summary>Append a reward for a logged decision; completes once committed, with the decision it belongs to.</summary>
    public Task<(RewardStatus Status, DecisionRecord? Decision)> AppendReward(string eventId, float reward, long timestampMs, bool? terminal = null)
    {
        var done = new TaskCompletionSource<(RewardStatus, DecisionRecord?)>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_ops.Writer.TryWrite(new RewardOp(eventId, reward, terminal, timestampMs, done))) done.SetException(new ObjectDisposedException(nameof(DecisionLog)));
        return done.Task;
    }

    private void WriterLoop()
    {
        var batch = new List<Op>(1024);
        using var insertDecision = Command(_write, "INSERT INTO decisions (event_id, ts_ms, context, actions, chosen, action_id, probability, probabilities, policy, log_prob, episode) VALUES ($e, $t, $c, $a, $k, $id, $p, $ps, $pol, $lp, $ep)");
        using var findDecision = Command(_write, "SELECT event_id, ts_ms, context, actions, chosen, probability, probabilities, policy, log_prob, episode FROM decisions WHERE event_id = $e");
        using var findReward = Command(_write, "SELECT 1 FROM rewards WHERE event_id = $e");
        using var insertReward = Command(_write, "INSERT INTO rewards (event_id, ts_ms, reward, terminal) VALUES ($e, $t, $r, $term)");
        var reader = _ops.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            while (batch.Count < 1024 && reader.TryRead(out var op)) batch.Add(op);
            var results = new (RewardStatus, DecisionRecord?)[batch.Count];
            long newDecisions = 0, newRewards = 0;
            try
            {
                using var tx = _write.BeginTransaction();
                foreach (var cmd in new[] { insertDecision, findDecision, findReward, insertReward }) cmd.Transaction = tx;
                for (int i = 0; i < batch.Count; i++)
                {
                    switch (batch[i])
                    {
                        case DecisionOp d:
                            var r = d.Record;
                            Bind(insertDecision, DecisionParameters(r));
                            insertDecision.ExecuteNonQuery();
                            newDecisions++;
                            break;
                        case RewardOp w:
                            Bind(findDecision, ("$e", w.EventId));
                            DecisionRecord? found = null;
                            using (var rd = findDecision.ExecuteReader())
                                if (rd.Read()) found = ReadDecision(rd);
                            if (found is null) { results[i] = (RewardStatus.UnknownEvent, null); break; }
                            Bind(findReward, ("$e", w.EventId));
                            if (findReward.ExecuteScalar() is not null) { results[i] = (RewardStatus.AlreadyRewarded, found); break; }
                            Bind(insertReward, ("$e", w.EventId), ("$t", w.TimestampMs), ("$r", (double)w.Reward),
                                ("$term", w.Terminal is { } term ? (term ? 1L : 0L) : DBNull.Value));
                            insertReward.ExecuteNonQuery();
                            newRewards++;
                            results[i] = (RewardStatus.Recorded, found);
                            break;
                    }
                }
                tx.Commit();
            }
            catch (Exception e)
            {
                // Nothing of this batch is acknowledged; a duplicate event id fails only its own request where possible.
                foreach (var op in batch) Fail(op, e);
                continue;
            }
            Interlocked.Add(ref _decisions, newDecisions);
            Interlocked.Add(ref _rewards, newRewards);
            for (int i = 0; i < batch.Count; i++)
            {
                if (batch[i] is DecisionOp d) d.Done.SetResult();
                else ((RewardOp)batch[i]).Done.SetResult(results[i]);
            }
        }
    }

    private static void Fail(Op op, Exception e)
    {
        if (op is DecisionOp d) d.Done.TrySetException(e);
        else ((RewardOp)op).Done.TrySetException(e);
    }

    /// <summary>A decision from columns event_id, ts_ms, context, actions, chosen, probability, probabilities, policy, log_prob, episode (either backend).</summary>
    internal static DecisionRecord ReadDecision(System.Data.Common.DbDataReader rd) => new(
        rd.GetString(0), Integer(rd, 1),
        JsonSerializer.Deserialize<float[]>(rd.GetString(2), Json)!,
        JsonSerializer.Deserialize<CandidateAction[]>(rd.GetString(3), Json)!,
        (int)Integer(rd, 4), (float)Real(rd, 5),
        JsonSerializer.Deserialize<float[]>(rd.GetString(6), Json)!,
        rd.GetString(7))
    {
        LogProb = rd.IsDBNull(8) ? null : Real(rd, 8),
        Episode = rd.IsDBNull(9) ? null : rd.GetString(9),
    };

    /// <summary>A number column's value, refusing text or blobs (which SQLite would silently read as 0).</summary>
    internal static double Real(System.Data.Common.DbDataReader rd, int i)
    {
        var t = rd.GetFieldType(i);
        if (t != typeof(double) && t != typeof(long)) throw new FormatException($"column '{rd.GetName(i)}' holds {t.Name}, not a number");
        return rd.GetDouble(i);
    }

    internal static long Integer(System.Data.Common.DbDataReader rd, int i)
    {
        if (rd.GetFieldType(i) != typeof(long)) throw new FormatException($"column '{rd.GetName(i)}' holds {rd.GetFieldType(i).Name}, not an integer");
        return rd.GetInt64(i);
    }

    /// <summary>
    /// The checks every reader of a log applies to a decision (either backend): its chosen index among its actions,
    /// a probability in (0, 1], a finite reward and log-probability.
    /// </summary>
    internal static void Check(DecisionRecord d, float? reward, string source, long row)
    {
        if (reward is { } r && !float.IsFinite(r)) throw new DataException($"reward {r} is not finite", source, "rewards", row);
        if (d.Actions is null || d.Actions.Length == 0 || (uint)d.Chosen >= (uint)d.Actions.Length)
            throw new DataException($"chosen index {d.Chosen} is not one of its {d.Actions?.Length ?? 0} actions", source, "chosen", row);
        if (!(d.Probability > 0 && d.Probability <= 1)) throw new DataException($"probability {d.Probability} is not in (0, 1]", source, "probability", row);
        if (d.LogProb is { } lp && !double.IsFinite(lp)) throw new DataException($"log-probability {lp} is not finite", source, "log_prob", row);
    }

    /// <summary>The parameters of a decision's INSERT (either backend): $e, $t, $c, $a, $k, $id, $p, $ps, $pol, $lp, $ep.</summary>
    internal static (string, object)[] DecisionParameters(DecisionRecord r) =>
    [
        ("$e", r.EventId), ("$t", r.TimestampMs), ("$c", JsonSerializer.Serialize(r.Context, Json)),
        ("$a", JsonSerializer.Serialize(r.Actions, Json)), ("$k", (long)r.Chosen), ("$id", r.ActionId), ("$p", (double)r.Probability),
        ("$ps", JsonSerializer.Serialize(r.Probabilities, Json)), ("$pol", r.Policy),
        ("$lp", r.LogProb is { } lp ? lp : DBNull.Value), ("$ep", (object?)r.Episode ?? DBNull.Value),
    ];

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

    /// <summary>Every decision in log order with its reward and terminal flag (either backend; read by <see cref="ReadRows"/>).</summary>
    internal const string StepsQuery = """
        SELECT d.event_id, d.ts_ms, d.context, d.actions, d.chosen, d.probability, d.probabilities, d.policy, d.log_prob, d.episode,
               r.reward, r.terminal
        FROM decisions d LEFT JOIN rewards r ON r.event_id = d.event_id ORDER BY d.seq
        """;

    /// <summary>The rows of <see cref="StepsQuery"/>, each read and checked (a bad row: its 1-based place in the log named).</summary>
    internal static IEnumerable<(DecisionRecord Decision, float? Reward, bool Terminal)> ReadRows(System.Data.Common.DbDataReader rd, string source)
    {
        long row = 0;
        while (true)
        {
            row++;
            DecisionRecord d;
            float? reward;
            bool terminal;
            try
            {
                if (!rd.Read()) break;
                d = ReadDecision(rd);
                reward = rd.IsDBNull(10) ? null : (float)Real(rd, 10);
                terminal = !rd.IsDBNull(11) && Integer(rd, 11) != 0;
            }
            catch (Exception e) when (e is JsonException or InvalidCastException or System.Data.Common.DbException or FormatException or InvalidOperationException)
            {
                throw new DataException($"unreadable decision ({e.Message.ReplaceLineEndings(" ")})", source, "decisions", row);
            }
            Check(d, reward, source, row);
            yield return (d, reward, terminal);
        }
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

    private void EnsureColumn(string table, string column, string type)
    {
        using var info = Command(_write, $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'");
        if (Convert.ToInt64(info.ExecuteScalar()) == 0) Exec(_write, $"ALTER TABLE {table} ADD COLUMN {column} {type}");
    }

    private long Scalar(string sql)
    {
        using var cmd = Command(_write, sql);
        return Convert.ToInt64(cmd.ExecuteScalar());
    }

    private static SqliteCommand Command(SqliteConnection c, string sql)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd;
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = Command(c, sql);
        cmd.ExecuteNonQuery();
    }

    private static void Bind(SqliteCommand cmd, params (string Name, object Value)[] values)
    {
        cmd.Parameters.Clear();
        foreach (var (n, v) in values) cmd.Parameters.AddWithValue(n, v);
    }

    /// <summary>Finish every queued write, then close.</summary>
    public void Dispose()
    {
        _ops.Writer.TryComplete();
        _writer.Join();
        _write.Dispose();
        _lock.Dispose();
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
