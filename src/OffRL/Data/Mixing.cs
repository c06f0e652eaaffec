using OffRL.Tensors;

namespace OffRL.Data;

/// <summary>
/// Mixed datasets as the trajectory-weighting paper studies them (Hong et al. 2023, "Harnessing Mixed Offline RL
/// Datasets via Trajectory Weighting"): a few high-return trajectories among many low-return ones, e.g. 5% medium
/// transitions and 95% random. Whole episodes of the high-return dataset are drawn in a seeded random order until they
/// make up the asked fraction of the result's transitions; the low-return dataset is kept whole, after them.
/// </summary>
public static class Mixing
{
    public static Dataset Mix(Dataset high, Dataset low, double fraction, Rng rng)
    {
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentException($"mix: --fraction must be in (0, 1), got {fraction}");
        if (high.EpisodeCount == 0 || low.Count == 0) throw new ArgumentException("mix: both datasets need transitions");
        // high transitions h with h / (h + |low|) = fraction
        long want = (long)Math.Ceiling(fraction / (1 - fraction) * low.Count);
        var order = rng.Permutation(high.EpisodeCount);
        var picked = new List<int>();
        long have = 0;
        foreach (int e in order)
        {
            if (have >= want) break;
            picked.Add(e);
            have += high.EpisodeLength(e);
        }
        if (have < want)
            throw new ArgumentException($"mix: {fraction:P1} of the result needs {want} transitions of the first dataset, it has {high.Count}; lower --fraction or give a larger dataset");
        var part = high.SelectEpisodes(picked, $"mix: {picked.Count} of {high.EpisodeCount} episodes drawn (seeded)");
        var info = new DatasetInfo($"mix of {high.Info.Source} ({have} transitions, {(double)have / (have + low.Count):P1}) and {low.Info.Source} ({low.Count})",
            high.Info.Env.Length > 0 ? high.Info.Env : low.Info.Env);
        return Dataset.Concat([part, low], info);
    }
}
