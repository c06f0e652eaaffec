using OffRL.Bandits;

namespace OffRL.Serving;

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
