using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>Work split over the engine's threads gives the numbers of one thread.</summary>
public class ThreadingTests
{
    /// <summary>
    /// IQL's Q update runs beside its value and policy updates on two threads (Gemm.Beside): the same parameters, bit for
    /// bit, as with one thread, where they run one after the other.
    /// </summary>
    [Fact]
    public void IqlsHalvesSideBySideGiveTheNumbersOfOneAfterTheOther()
    {
        float[] Run(int threads)
        {
            int saved = Gemm.Threads;
            Gemm.Threads = threads;
            try
            {
                var rng = new Rng(3);
                var batch = new TransitionBatch(64, 5, 2);
                var agent = AlgorithmRegistry.Create("iql", 5, Box.Uniform(2, -1f, 1f), 7);
                for (int i = 0; i < 30; i++)
                {
                    rng.FillNormal(batch.Obs); rng.FillUniform(batch.Act, -1f, 1f); rng.FillNormal(batch.Rew); rng.FillNormal(batch.Next);
                    Array.Fill(batch.Discount, 0.99f);
                    agent.Update(batch);
                }
                var probe = new float[5 * 4];
                new Rng(11).FillNormal(probe);
                var outputs = new List<float>();
                var action = new float[2];
                for (int i = 0; i < 4; i++) { agent.Act(probe.AsSpan(5 * i, 5), action, deterministic: true); outputs.AddRange(action); }
                foreach (var (name, v) in agent.Metrics) outputs.Add(v);
                return outputs.ToArray();
            }
            finally { Gemm.Threads = saved; }
        }
        Assert.Equal(Run(1), Run(2));
    }
}
