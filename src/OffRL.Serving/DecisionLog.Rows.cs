using OffRL.Bandits;
using System.Text.Json;

namespace OffRL.Serving;

/// <summary>The row codec both backends share: a decision's columns read and checked, its INSERT's parameters, the steps query.</summary>
public sealed partial class DecisionLog
{
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

}
