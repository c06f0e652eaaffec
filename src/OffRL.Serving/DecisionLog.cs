using OffRL.Bandits;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using OffRL.IO;

namespace OffRL.Serving;

/// <summary>
/// The durable log of a decision service: SQLite in WAL mode with synchronous=FULL, so a committed decision or reward
/// survives a crash of the process (and of the machine). Writes go through one writer thread that commits whatever
/// has queued up in one transaction (group commit) and completes each caller's task only after that commit: an
/// acknowledged event is on disk. Readable by any SQLite tool (tables decisions and rewards; JSON text columns).
/// </summary>
public sealed partial class DecisionLog : IDecisionLog
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
