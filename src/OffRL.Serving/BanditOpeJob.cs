using OffRL.Bandits;
using OffRL.Data;
using OffRL.Evaluation;

namespace OffRL.Serving;

/// <summary>The whole bandit OPE job behind `offrl ope bandit`: read logs, build the target, fit the reward model, estimate.</summary>
public static class BanditOpeJob
{
    public sealed record Request(string Logs, string Format = "offrl", string Target = "uniform", string? Campaign = null,
        string[]? Estimators = null, string RewardModel = "logistic", int Folds = 3, BanditOpe.Options? Options = null);

    public sealed record Result(BanditFeedback Logs, ActionDistribution Target, List<OpeEstimate> Estimates);

    /// <summary>
    /// Logged bandit feedback: obd (an Open Bandit Dataset campaign file), offrl (OffRL's CSV) or service (a decision
    /// log); null picks service for .db/.sqlite files, else offrl. Decision logs also give their arm ids.
    /// </summary>
    public static (BanditFeedback Logs, string[]? Arms) ReadLogs(string path, string? format)
    {
        format ??= path.EndsWith(".db", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".sqlite", StringComparison.OrdinalIgnoreCase) ? "service" : "offrl";
        switch (format.ToLowerInvariant())
        {
            case "obd": return (BanditFeedback.ReadObd(path), null);
            case "offrl" or "csv": return (BanditFeedback.ReadCsv(path), null);
            case "service" or "db":
                var (logs, ids) = DecisionLog.ToFeedback(path);
                return (logs, ids);
            default: throw new ArgumentException($"--format: '{format}' is not obd, offrl or service");
        }
    }

    /// <summary>
    /// "uniform", a bandit policy file (.json, from offrl bandit init | learn | simulate), or a CSV table
    /// item_id,pos1..posK[,campaign]. The campaign defaults to the logs' file name (men.csv -> men), as OBD names its
    /// campaign files.
    /// </summary>
    public static ActionDistribution ReadTarget(string spec, BanditFeedback logs, string? campaign)
    {
        if (spec.Equals("uniform", StringComparison.OrdinalIgnoreCase)) return ActionDistribution.Uniform(logs.Count, logs.Actions, logs.Positions);
        if (spec.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return Poem.Distribution(BanditPolicy.Load(spec), logs);
        if (!File.Exists(spec)) throw new DataException("target policy file not found (expected 'uniform' or a CSV table item_id,pos1..posK)", spec, "--target");
        var header = CsvTable.Read(spec).Header;
        var camp = header.Contains("campaign") ? campaign ?? Path.GetFileNameWithoutExtension(logs.Source) : null;
        return ActionDistribution.ContextFree(ActionDistribution.ReadTable(spec, logs.Actions, logs.Positions, camp), logs.Count);
    }

    public static Result Run(Request r)
    {
        var logs = ReadLogs(r.Logs, r.Format).Logs;
        var target = ReadTarget(r.Target, logs, r.Campaign);
        var estimators = (r.Estimators ?? BanditEstimator.All).Select(BanditEstimator.ByName).ToList();
        var o = r.Options ?? new BanditOpe.Options();
        float[]? qhat = estimators.Any(e => e.NeedsRewardModel) ? RewardModel.FitPredict(logs, RewardModel.ByName(r.RewardModel, o.Seed), r.Folds, o.Seed) : null;
        var x = BanditOpeInputs.From(logs, target, qhat);
        return new Result(logs, target, BanditOpe.Run(x, estimators, o));
    }
}
