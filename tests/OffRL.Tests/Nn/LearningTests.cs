using OffRL.Nn;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Nn;

/// <summary>The engine learns: small supervised problems reach stated errors.</summary>
public class LearningTests
{
    [Fact]
    public void MlpFitsSine()
    {
        var rng = new Rng(0);
        var net = new Mlp(new MlpConfig(1, [64, 64], 1, Activation.Tanh), rng);
        var opt = new Adam(net.Parameters(), lr: 3e-3);
        int n = 256;
        var x = Tensor.Zeros(n, 1); var y = Tensor.Zeros(n, 1);
        for (int i = 0; i < n; i++) { x.Data[i] = -MathF.PI + 2 * MathF.PI * i / (n - 1); y.Data[i] = MathF.Sin(x.Data[i]); }
        float mse = float.MaxValue;
        for (int step = 0; step < 3000 && mse >= 1e-4f; step++)
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            var loss = (net.Forward(x) - y).Square().Mean();
            loss.Backward();
            opt.Step();
            mse = loss.Item();
        }
        using (Tensor.NoGrad())
        {
            // held-out points between the training grid
            var xt = Tensor.Zeros(100, 1);
            for (int i = 0; i < 100; i++) xt.Data[i] = -3f + 6f * (i + 0.37f) / 100f;
            var pred = net.Forward(xt);
            double err = 0;
            for (int i = 0; i < 100; i++) err += Math.Pow(pred.Data[i] - Math.Sin(xt.Data[i]), 2);
            Assert.True(err / 100 < 1e-3, $"sin(x) held-out MSE {err / 100}");
        }
    }

    [Fact]
    public void MlpLearnsXor()
    {
        var rng = new Rng(1);
        var net = new Mlp(new MlpConfig(2, [8], 1, Activation.Tanh), rng);
        var opt = new Adam(net.Parameters(), lr: 0.05);
        var x = Tensor.FromArray(new float[] { 0, 0, 0, 1, 1, 0, 1, 1 }, 4, 2);
        var t = Tensor.FromArray(new float[] { 0, 1, 1, 0 }, 4, 1);
        for (int step = 0; step < 500; step++)
        {
            using var _ = TensorScope.Begin();
            opt.ZeroGrad();
            // binary cross-entropy on logits: softplus(z) - t z
            var z = net.Forward(x);
            var loss = (z.Softplus() - t * z).Mean();
            loss.Backward();
            opt.Step();
        }
        using (Tensor.NoGrad())
        {
            var p = net.Forward(x).Sigmoid();
            for (int i = 0; i < 4; i++) Assert.True(MathF.Abs(p.Data[i] - t.Data[i]) < 0.1f, $"XOR row {i}: p = {p.Data[i]}");
        }
    }

    [Fact]
    public void TrainingStepAllocatesAlmostNothingInsideAScope()
    {
        var rng = new Rng(2);
        var net = new Mlp(new MlpConfig(17, [64, 64], 6), rng);
        var opt = new Adam(net.Parameters(), lr: 1e-3);
        var x = Tensor.Randn(new Shape(32, 17), rng);
        var y = Tensor.Randn(new Shape(32, 6), rng);
        void StepOnce()
        {
            using var _ = TensorScope.Begin();
            opt.ZeroGrad();
            (net.Forward(x) - y).Square().Mean().Backward();
            opt.Step();
        }
        for (int i = 0; i < 50; i++) StepOnce();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) StepOnce();
        long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
        Assert.True(perStep < 1024, $"a training step allocated {perStep} bytes");
    }
}
