using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>
/// The hot path allocates no tensor-sized temporaries: after warm-up, an update of TD3+BC, IQL or SAC at the
/// benchmark's shapes (obs 17, act 6, batch 256, 256-unit networks) allocates less than 64 KiB on the calling thread
/// (one batch-sized activation alone is 256 KiB; what remains is autograd bookkeeping, about 32-44 KiB today).
/// </summary>
public class AllocationTests
{
    [Theory]
    [InlineData("td3bc")]
    [InlineData("iql")]
    [InlineData("sac")]
    [InlineData("rebrac")]
    [InlineData("a2pr")]
    public void AnUpdateAllocatesNoTensorSizedTemporaries(string algo)
    {
        var rng = new Rng(0);
        var batch = new TransitionBatch(256, 17, 6);
        rng.FillNormal(batch.Obs); rng.FillUniform(batch.Act, -1f, 1f); rng.FillNormal(batch.Rew); rng.FillNormal(batch.Next);
        Array.Fill(batch.Discount, 0.99f);
        var agent = AlgorithmRegistry.Create(algo, 17, Box.Uniform(6, -1f, 1f), 0);
        // ReBRAC reads the next actions from its dataset (the batch's rows are all row 0, which has one)
        agent.UseDataset(new Dataset(new DatasetColumns { Observations = new float[2 * 17], Actions = new float[2 * 6], Rewards = new float[2], Terminals = [false, true], Timeouts = [false, false] },
            Box.Unbounded(17), Box.Uniform(6, -1f, 1f)));
        for (int i = 0; i < 5; i++) agent.Update(batch);   // pools and optimizer state are filled
        const int n = 10;
        // This thread's allocations (other tests run in parallel in the same process; the engine's worker threads run
        // product blocks, and IQL's Q half in a pooled scope of their own).
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < n; i++) agent.Update(batch);
        double perUpdate = (double)(GC.GetAllocatedBytesForCurrentThread() - before) / n;
        Assert.True(perUpdate < 64 * 1024, $"{algo}: {perUpdate:F0} bytes allocated per update");
    }
}
