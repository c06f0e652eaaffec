using OffRL.Bandits;
using Npgsql;

namespace OffRL.Serving;

/// <summary>
/// The decision log in PostgreSQL (Npgsql), for several service instances behind a load balancer: the same tables
/// and JSON columns as the SQLite log, and the same contract (<see cref="IDecisionLog"/>). Each decision is one
/// INSERT committed (synchronous_commit as the server has it, on by default) before its task completes; a reward is
/// inserted only if its decision exists and it has none yet, in one statement, so two instances receiving the same
/// reward record it once. Opening retries with backoff (the database may start after the service) and then fails with
/// the address it could not reach: a service never answers without its durable log.
/// </summary>
public sealed class PostgresDecisionLog : IDecisionLog
{
    private readonly NpgsqlDataSource _source;
    private long _decisions, _rewards;
    public string Describe { get; }

    /// <summary>Delays between connection attempts when the server does not answer (then the error).</summary>
    public static TimeSpan[] Backoff { get; set; } = [TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)];

    private PostgresDecisionLog(NpgsqlDataSource source, string describe) { _source = source; Describe = describe; }

    /// <summary>Connects (postgres://user:password@host:port/database or an Npgsql connection string) and creates the tables if missing.</summary>
    public static PostgresDecisionLog Open(string log)
    {
        var csb = ConnectionString(log);
        string where = $"postgresql://{csb.Username}@{csb.Host}:{csb.Port}/{csb.Database}";
        var source = NpgsqlDataSource.Create(csb);
        var result = new PostgresDecisionLog(source, where);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                result.CreateSchema();
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
            {
                if (attempt >= Backoff.Length)
                {
                    source.Dispose();
                    throw new DataException($"cannot reach PostgreSQL after {attempt + 1} attempts ({e.Message.ReplaceLineEndings(" ")}); the service does not start without its durable log", where);
                }
                Thread.Sleep(Backoff[attempt]);
            }
        }
        result._decisions = result.Count("SELECT COUNT(*) FROM decisions");
        result._rewards = result.Count("SELECT COUNT(*) FROM rewards");
        return result;
    }

    private static NpgsqlConnectionStringBuilder ConnectionString(string log)
    {
        if (!log.Contains("://", StringComparison.Ordinal))
        {
            try { return new NpgsqlConnectionStringBuilder(log); }
            catch (ArgumentException e) { throw new DataException($"not a PostgreSQL connection string ({e.Message})", "--log"); }
        }
        if (!Uri.TryCreate(log, UriKind.Absolute, out var u) || u.Host.Length == 0)
            throw new DataException("not a PostgreSQL URL (postgres://user:password@host:port/database)", "--log");
        var b = new NpgsqlConnectionStringBuilder { Host = u.Host, Port = u.IsDefaultPort || u.Port < 0 ? 5432 : u.Port, Database = u.AbsolutePath.Trim('/') is { Length: > 0 } db ? Uri.UnescapeDataString(db) : "postgres" };
        var user = u.UserInfo.Split(':', 2);
        if (user[0].Length > 0) b.Username = Uri.UnescapeDataString(user[0]);
        if (user.Length > 1) b.Password = Uri.UnescapeDataString(user[1]);
        foreach (var kv in u.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = kv.Split('=', 2);
            if (p[0] == "sslmode" && p.Length == 2 && Enum.TryParse<SslMode>(p[1], ignoreCase: true, out var mode)) b.SslMode = mode;
        }
        b.Timeout = 5;
        return b;
    }

    private void CreateSchema()
    {
        using var c = _source.OpenConnection();
        using var tx = c.BeginTransaction();
        // Instances starting together: one creates, the others wait for it (a transaction-scoped advisory lock).
        Exec(c, tx, "SELECT pg_advisory_xact_lock(7355608)");
        Exec(c, tx, """
            CREATE TABLE IF NOT EXISTS decisions (
              seq BIGSERIAL PRIMARY KEY,
              event_id TEXT NOT NULL UNIQUE,
              ts_ms BIGINT NOT NULL,
              context TEXT NOT NULL,
              actions TEXT NOT NULL,
              chosen BIGINT NOT NULL,
              action_id TEXT NOT NULL,
              probability DOUBLE PRECISION NOT NULL,
              probabilities TEXT NOT NULL,
              policy TEXT NOT NULL,
              log_prob DOUBLE PRECISION,
              episode TEXT);
            CREATE TABLE IF NOT EXISTS rewards (
              event_id TEXT PRIMARY KEY REFERENCES decisions(event_id),
              ts_ms BIGINT NOT NULL,
              reward DOUBLE PRECISION NOT NULL,
              terminal BIGINT);
            """);
        tx.Commit();
    }

    private static void Exec(NpgsqlConnection c, NpgsqlTransaction? tx, string sql)
    {
        using var cmd = new NpgsqlCommand(sql, c, tx);
        cmd.ExecuteNonQuery();
    }

    private long Count(string sql)
    {
        using var cmd = _source.CreateCommand(sql);
        return Convert.ToInt64(cmd.ExecuteScalar());
    }

    public long DecisionCount => Interlocked.Read(ref _decisions);
    public long RewardCount => Interlocked.Read(ref _rewards);

    private static NpgsqlCommand Command(NpgsqlDataSource source, string sql, (string, object)[] values)
    {
        // Npgsql names parameters without the SQLite-style '$' prefix the shared parameter lists use.
        var cmd = source.CreateCommand(sql.Replace("$", "@"));
        foreach (var (n, v) in values) cmd.Parameters.AddWithValue(n.TrimStart('$'), v);
        return cmd;
    }

    public async Task AppendDecision(DecisionRecord record)
    {
        await using var cmd = Command(_source, """
            INSERT INTO decisions (event_id, ts_ms, context, actions, chosen, action_id, probability, probabilities, policy, log_prob, episode)
            VALUES ($e, $t, $c, $a, $k, $id, $p, $ps, $pol, $lp, $ep)
            """, DecisionLog.DecisionParameters(record));
        await cmd.ExecuteNonQueryAsync();
        Interlocked.Increment(ref _decisions);
    }

    public async Task<(RewardStatus Status, DecisionRecord? Decision)> AppendReward(string eventId, float reward, long timestampMs, bool? terminal = null)
    {
        await using var c = await _source.OpenConnectionAsync();
        var decision = await Find(c, eventId);
        if (decision is null) return (RewardStatus.UnknownEvent, null);
        // Recorded once, whichever instance gets it first; the others see no row inserted.
        await using var cmd = new NpgsqlCommand("INSERT INTO rewards (event_id, ts_ms, reward, terminal) VALUES (@e, @t, @r, @term) ON CONFLICT (event_id) DO NOTHING", c);
        cmd.Parameters.AddWithValue("e", eventId);
        cmd.Parameters.AddWithValue("t", timestampMs);
        cmd.Parameters.AddWithValue("r", (double)reward);
        cmd.Parameters.AddWithValue("term", terminal is { } t ? (t ? 1L : 0L) : DBNull.Value);
        if (await cmd.ExecuteNonQueryAsync() == 0) return (RewardStatus.AlreadyRewarded, decision);
        Interlocked.Increment(ref _rewards);
        return (RewardStatus.Recorded, decision);
    }

    private static async Task<DecisionRecord?> Find(NpgsqlConnection c, string eventId)
    {
        await using var cmd = new NpgsqlCommand("SELECT event_id, ts_ms, context, actions, chosen, probability, probabilities, policy, log_prob, episode FROM decisions WHERE event_id = @e", c);
        cmd.Parameters.AddWithValue("e", eventId);
        await using var rd = await cmd.ExecuteReaderAsync();
        return await rd.ReadAsync() ? DecisionLog.ReadDecision(rd) : null;
    }

    public IEnumerable<(DecisionRecord Decision, float? Reward, bool Terminal)> Steps()
    {
        using var c = _source.OpenConnection();
        using var cmd = new NpgsqlCommand(DecisionLog.StepsQuery, c);
        using var rd = cmd.ExecuteReader();
        foreach (var step in DecisionLog.ReadRows(rd, Describe)) yield return step;
    }

    public void Dispose() => _source.Dispose();
}
