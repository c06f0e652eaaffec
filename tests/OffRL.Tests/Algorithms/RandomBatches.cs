using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Tests.Algorithms;

/// <summary>Batches of random transitions for single updates in the algorithm tests.</summary>
internal static class RandomBatches
{
    /// <summary>16 random transitions (obs 3, action 1 in [-1, 1], discount 0.99), the same for the same seed.</summary>
    public static TransitionBatch Of(ulong seed)
    {
        var batch = new TransitionBatch(16, 3, 1);
        var rng = new Rng(seed);
        rng.FillNormal(batch.Obs); rng.FillUniform(batch.Act, -1f, 1f); rng.FillNormal(batch.Rew); rng.FillNormal(batch.Next);
        Array.Fill(batch.Discount, 0.99f);
        return batch;
    }
}
