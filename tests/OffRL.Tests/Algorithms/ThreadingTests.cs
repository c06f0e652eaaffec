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

    /// <summary>Layer norm's rows split over the cores (ReBRAC's critics: [2, 1024, 256]) give the numbers of one thread, forward and backward.</summary>
    [Fact]
    public void LayerNormsRowsOverTheCoresGiveTheNumbersOfOneThread()
    {
        float[] Run(int threads)
        {
            int saved = Gemm.Threads;
            Gemm.Threads = threads;
            try
            {
                var rng = new Rng(5);
                var x = Tensor.Parameter(new Shape(2, 1024, 256));
                var gamma = Tensor.Parameter(new Shape(2, 1, 256));
                var beta = Tensor.Parameter(new Shape(2, 1, 256));
                rng.FillNormal(x.Data); rng.FillUniform(gamma.Data, 0.5f, 1.5f); rng.FillNormal(beta.Data);
                var w = new float[x.Size];
                rng.FillNormal(w);
                using var scope = TensorScope.Begin();
                var y = Tensor.LayerNorm(x, gamma, beta, 1e-6f);
                y.Backward(w);
                return [.. y.Data, .. x.Grad!, .. gamma.Grad!, .. beta.Grad!];
            }
            finally { Gemm.Threads = saved; }
        }
        Assert.Equal(Run(1), Run(2));
    }
}
