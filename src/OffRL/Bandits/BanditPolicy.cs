using System.Text.Json;
using System.Text.Json.Serialization;
using OffRL.Data;
using OffRL.IO;

namespace OffRL.Bandits;

/// <summary>
/// A servable bandit policy: a learner (its config and learned state), the dimensions it expects and, optionally,
/// the list of arm ids it knows; requests that name actions by id only get one-hot features over that list.
/// Stored as one JSON file (readable by any tool), written atomically.
/// </summary>
public sealed class BanditPolicy
{
    public BanditLearner Learner { get; }
    public string[] Arms { get; }

    public BanditPolicy(BanditLearner learner, string[]? arms = null)
    {
        Learner = learner;
        Arms = arms ?? [];
        if (Arms.Length > 0 && learner.ActionDim != Arms.Length)
            throw new ArgumentException($"{Arms.Length} arms need one-hot action features of size {Arms.Length}, the learner has {learner.ActionDim}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Arms.Length; i++)
        {
            if (string.IsNullOrEmpty(Arms[i])) throw new ArgumentException($"arms[{i}] is empty; arm ids are non-empty strings");
            if (!seen.Add(Arms[i])) throw new ArgumentException($"arms[{i}] '{Arms[i]}' appears twice; arm ids must be distinct");
        }
        CheckDecides();
    }

    /// <summary>
    /// Throws unless the policy gives a distribution (finite, non-negative, summing to 1) for a probe request: a zero
    /// context over its arms (or one zero-feature candidate). Run when a policy is made and loaded, and by the service's
    /// /health, so a policy that cannot decide (NaN weights, a NaN setting) is refused or reported, not served.
    /// </summary>
    public void CheckDecides()
    {
        var actions = Arms.Length > 0 ? JointFeatures.Arms(Arms) : [new CandidateAction("probe", new float[Learner.ActionDim])];
        var p = new float[actions.Length];
        Learner.Probabilities(new BanditContext(new float[Learner.ContextDim], actions), p, new Tensors.Rng(0));
        double sum = 0;
        foreach (var x in p)
        {
            if (!float.IsFinite(x) || x < 0) throw new InvalidDataException($"the policy gives probability {x} to a probe request: its state or settings are not usable");
            sum += x;
        }
        if (Math.Abs(sum - 1) > 1e-3) throw new InvalidDataException($"the policy's probabilities for a probe request sum to {sum}, not 1");
    }

    public static BanditPolicy Create(BanditLearnerConfig config, int contextDim, string[] arms) =>
        new(BanditLearner.Create(config, contextDim, arms.Length), arms);

    /// <summary>The one-hot features of a known arm id, or null when the id is not in the arm list.</summary>
    public float[]? ArmFeatures(string id)
    {
        int i = Array.IndexOf(Arms, id);
        return i < 0 ? null : JointFeatures.OneHot(i, Arms.Length);
    }

    private sealed record FileModel(string Format, int Version, BanditLearnerConfig Config, int ContextDim, int ActionDim,
        string[] Arms, long Decisions, Dictionary<string, float[]> State);

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // A policy file without one of its fields is an error, not a policy with that field's default.
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    };

    public void Save(string path)
    {
        var model = new FileModel("offrl-bandit-policy", 1, Learner.Config, Learner.ContextDim, Learner.ActionDim, Arms, Learner.Decisions, Learner.Oracle.State());
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(model, Json));
    }

    public static BanditPolicy Load(string path)
    {
        if (!File.Exists(path)) throw new DataException("policy file not found", path);
        FileModel? m;
        try { m = JsonSerializer.Deserialize<FileModel>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new DataException($"not a bandit policy: {e.Message}", path, e.Path, e.LineNumber ?? -1); }
        if (m is null || m.Format != "offrl-bandit-policy") throw new DataException("not an OffRL bandit policy (field 'format' must be 'offrl-bandit-policy')", path, "format");
        if (m.Config is null) throw new DataException("is missing", path, "config");
        if (m.ContextDim < 0) throw new DataException($"must be >= 0, got {m.ContextDim}", path, "context_dim");
        if (m.ActionDim < 0) throw new DataException($"must be >= 0, got {m.ActionDim}", path, "action_dim");
        BanditLearner learner;
        try
        {
            learner = m.Config.Algo == FixedSoftmax.Algo
                ? FixedSoftmax.Create(m.Config, m.ContextDim, m.ActionDim, m.State)
                : BanditLearner.Create(m.Config, m.ContextDim, m.ActionDim);
            if (m.State is { Count: > 0 })
            {
                foreach (var (key, values) in m.State)
                {
                    if (values is null) throw new DataException("is null", path, $"state.{key}");
                    int bad = Array.FindIndex(values, v => !float.IsFinite(v));
                    if (bad >= 0) throw new DataException($"value {bad} is {values[bad]}; a policy's state is finite", path, $"state.{key}");
                }
                learner.Oracle.Restore(m.State);
            }
            learner.Decisions = m.Decisions;
        }
        catch (ArgumentException e) { throw new DataException(e.Message, path, "config"); }
        catch (DataException e) { throw new DataException(e.Message, path); }
        try { return new BanditPolicy(learner, m.Arms); }
        catch (Exception e) when (e is ArgumentException or InvalidDataException) { throw new DataException(e.Message, path, e is ArgumentException ? "arms" : "state"); }
    }
}
