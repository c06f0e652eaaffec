using System.Text.Json;
using OffRL.IO;

namespace OffRL.Data;

/// <summary>How rewards are normalized before <see cref="PreprocessingConfig.RewardScale"/> and <see cref="PreprocessingConfig.RewardBias"/> apply.</summary>
public enum RewardNormalization
{
    None,
    /// <summary>
    /// r * 1000 / (max episode return - min episode return): the IQL authors' locomotion protocol (Kostrikov et al. 2022,
    /// appendix B), also d3rlpy's ReturnBasedRewardScaler(multiplier=1000) and CORL's normalize_reward (1000 = the
    /// episode limit).
    /// </summary>
    ReturnRange,
}

/// <summary>
/// Which preprocessing to fit to a dataset: observations standardized (std + <paramref name="StdEpsilon"/>, CORL's 1e-3),
/// rewards r' = RewardScale * n(r) + RewardBias with n the <see cref="RewardNormalization"/>, bounded actions mapped to [-1, 1].
/// </summary>
public sealed record PreprocessingConfig(bool NormalizeObservations = false, RewardNormalization Rewards = RewardNormalization.None,
    float RewardScale = 1f, float RewardBias = 0f, bool RescaleActions = false, float StdEpsilon = 1e-3f,
    ReturnSegments ReturnSegments = ReturnSegments.Episodes, bool StatsWithNextObservations = false);

/// <summary>
/// Fitted preprocessing, saved with a model so the deployed policy sees what it was trained on:
/// observation (s - mean) / std (clipped to +-ObservationClip where set), reward scale * r + shift, and actions mapped
/// from [low, high] to [-1, 1].
/// </summary>
public sealed record Preprocessing
{
    public float[]? ObservationMean { get; init; }
    public float[]? ObservationStd { get; init; }
    /// <summary>Normalized observations clipped to [-c, c] (PPO's running normalization: 10, as CleanRL); null: not clipped.</summary>
    public float? ObservationClip { get; init; }
    public float RewardScale { get; init; } = 1f;
    public float RewardShift { get; init; }
    public float[]? ActionLow { get; init; }
    public float[]? ActionHigh { get; init; }

    public static Preprocessing Identity { get; } = new();

    public static Preprocessing Fit(Dataset d, PreprocessingConfig c)
    {
        var p = new Preprocessing();
        if (c.NormalizeObservations)
        {
            var (mean, std) = ColumnStats.MeanStd(c.StatsWithNextObservations ? WithNext(d) : d.Observations, d.ObservationDim);
            p = p with
            {
                ObservationMean = mean.Select(m => (float)m).ToArray(),
                ObservationStd = std.Select(x => (float)x + c.StdEpsilon).ToArray(),
            };
        }
        float scale = c.RewardScale;
        if (c.Rewards == RewardNormalization.ReturnRange)
        {
            var ret = d.SegmentReturns(d.Segments(c.ReturnSegments));
            double span = ret.Length == 0 ? 0 : ret.Max() - ret.Min();
            if (!(span > 0))
                throw new DataException(ret.Length <= 1
                    ? $"return_range needs several episodes with different returns; the dataset has {ret.Length} episode(s) (no episode boundaries: mark terminals or timeouts, or set reward_normalization: none)"
                    : $"return_range needs episodes with different returns; all {ret.Length} episodes return {ret[0]:G6} (set reward_normalization: none)",
                    d.Info.Source is { Length: > 0 } source ? source : "dataset", "reward_normalization");
            scale = (float)(c.RewardScale * 1000.0 / span);
        }
        p = p with { RewardScale = scale, RewardShift = c.RewardBias };
        if (c.RescaleActions)
        {
            if (d.ActionSpace is not Box { IsBounded: true } box) throw new DataException($"action space {d.ActionSpace} has no finite bounds to rescale from", d.Info.Source, "actions");
            p = p with { ActionLow = (float[])box.Low.Clone(), ActionHigh = (float[])box.High.Clone() };
        }
        return p;
    }

    /// <summary>The observations followed by every usable next observation (RIQL's statistics over both).</summary>
    private static float[] WithNext(Dataset d)
    {
        int od = d.ObservationDim;
        var all = new List<float>(2 * d.Observations.Length);
        all.AddRange(d.Observations);
        for (int i = 0; i < d.Count; i++)
            if (d.HasNext(i)) foreach (var v in d.NextObservation(i)) all.Add(v);
        return all.ToArray();
    }

    /// <summary>A reward as the prepared data holds it: RewardScale r + RewardShift.</summary>
    public float TransformReward(float reward) => RewardScale * reward + RewardShift;

    public void NormalizeObservation(Span<float> obs)
    {
        if (ObservationMean is null || ObservationStd is null) return;
        int d = ObservationMean.Length;
        for (int i = 0; i < obs.Length; i++) obs[i] = (obs[i] - ObservationMean[i % d]) / ObservationStd[i % d];
        if (ObservationClip is { } c) System.Numerics.Tensors.TensorPrimitives.Clamp(obs, -c, c, obs);
    }

    /// <summary>Map environment actions in [low, high] to [-1, 1].</summary>
    public void ScaleAction(Span<float> act)
    {
        if (ActionLow is null || ActionHigh is null) return;
        int d = ActionLow.Length;
        for (int i = 0; i < act.Length; i++) act[i] = 2f * (act[i] - ActionLow[i % d]) / (ActionHigh[i % d] - ActionLow[i % d]) - 1f;
    }

    /// <summary>Map policy actions in [-1, 1] back to the environment's [low, high].</summary>
    public void UnscaleAction(Span<float> act)
    {
        if (ActionLow is null || ActionHigh is null) return;
        int d = ActionLow.Length;
        for (int i = 0; i < act.Length; i++) act[i] = ActionLow[i % d] + (act[i] + 1f) * 0.5f * (ActionHigh[i % d] - ActionLow[i % d]);
    }

    /// <summary>The dataset with observations (and next observations), rewards and actions transformed.</summary>
    public Dataset Apply(Dataset d)
    {
        var c = d.CopyColumns();
        NormalizeObservation(c.Observations);
        if (c.NextObservations is not null) NormalizeObservation(c.NextObservations);
        for (int i = 0; i < c.Rewards.Length; i++) c.Rewards[i] = TransformReward(c.Rewards[i]);
        ScaleAction(c.Actions);
        if (c.NextActions is not null) ScaleAction(c.NextActions);
        var actSpace = ActionLow is null ? d.ActionSpace : Box.Uniform(d.ActionDim, -1f, 1f);
        var info = d.Info with { Processing = new List<string>(d.Info.Processing) { $"preprocessing: {Describe()}" } };
        return new Dataset(c, d.ObservationSpace, actSpace, info);
    }

    public string Describe()
    {
        var parts = new List<string>();
        if (ObservationMean is not null) parts.Add(ObservationClip is { } c ? $"observations normalized and clipped to +-{c:G6}" : "observations normalized");
        if (RewardScale != 1f || RewardShift != 0f) parts.Add($"rewards * {RewardScale:G6} + {RewardShift:G6}");
        if (ActionLow is not null) parts.Add("actions rescaled to [-1, 1]");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    /// <summary>
    /// This preprocessing, refused with a <see cref="DataException"/> naming the file and field when it cannot serve an
    /// agent with these widths (actionDim 0: discrete actions, no action scaling): mean and std of the observation width,
    /// stds positive, bounds of the action width with low below high, every value finite.
    /// </summary>
    public Preprocessing Checked(int observationDim, int actionDim, string file)
    {
        void Width(float[]? v, int width, string field)
        {
            if (v is null) return;
            if (v.Length != width) throw new DataException($"has {v.Length} values, the agent's width is {width}", file, field);
            int bad = Array.FindIndex(v, x => !float.IsFinite(x));
            if (bad >= 0) throw new DataException($"value {bad} is {v[bad]}", file, field);
        }
        if ((ObservationMean is null) != (ObservationStd is null)) throw new DataException("needs both ObservationMean and ObservationStd", file, ObservationMean is null ? "ObservationMean" : "ObservationStd");
        Width(ObservationMean, observationDim, "ObservationMean");
        Width(ObservationStd, observationDim, "ObservationStd");
        if (ObservationStd is not null && Array.FindIndex(ObservationStd, x => x <= 0) is var z and >= 0) throw new DataException($"value {z} is {ObservationStd[z]}; stds must be > 0", file, "ObservationStd");
        if ((ActionLow is null) != (ActionHigh is null)) throw new DataException("needs both ActionLow and ActionHigh", file, ActionLow is null ? "ActionLow" : "ActionHigh");
        if (ActionLow is not null && actionDim == 0) throw new DataException("action bounds for an agent with discrete actions", file, "ActionLow");
        Width(ActionLow, actionDim, "ActionLow");
        Width(ActionHigh, actionDim, "ActionHigh");
        if (ActionLow is not null)
            for (int i = 0; i < ActionLow.Length; i++)
                if (!(ActionLow[i] < ActionHigh![i])) throw new DataException($"dimension {i}: low {ActionLow[i]} is not below high {ActionHigh[i]}", file, "ActionLow");
        if (ObservationClip is { } clip && !(clip > 0 && float.IsFinite(clip))) throw new DataException($"is {clip}; a clip must be a positive finite number", file, "ObservationClip");
        if (!float.IsFinite(RewardScale) || !float.IsFinite(RewardShift)) throw new DataException("reward scale and shift must be finite", file, "RewardScale");
        return this;
    }

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Nn.Module.JsonOptions));

    public static Preprocessing Load(string path) =>
        JsonSerializer.Deserialize<Preprocessing>(File.ReadAllText(path), Nn.Module.JsonOptions) ?? throw new DataException("empty preprocessing file", path);
}
