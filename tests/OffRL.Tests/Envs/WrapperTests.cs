using OffRL.Data;
using OffRL.Envs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Envs;

public class WrapperTests
{
    [Fact]
    public void WrappersCompose()
    {
        IEnv env = new TimeLimit(new ActionRepeat(new ObservationHistory(new Pendulum(), 3), 2), 10);
        Assert.Equal(9, env.ObservationSpace.Width);
        var o = env.Reset(1UL);
        Assert.Equal(o[..3], o[3..6]);     // the first observation repeated
        var (o2, r) = env.Step(0.5f);
        Assert.NotEqual(o2[3..6], o2[6..9]);   // the history moved by one step (each step repeats the action twice)
        int steps = 1;
        while (!r.Done) { (o2, r) = env.Step(0.5f); steps++; }
        Assert.Equal(10, steps);
        Assert.True(r.Truncated);
        Assert.IsType<Pendulum>(Wrapper.Unwrap(env));
    }

    [Fact]
    public void ActionRepeatSumsRewards()
    {
        var a = new Pendulum(); var b = new Pendulum();
        var rep = new ActionRepeat(b, 3);
        var oa = a.Reset(5UL); rep.Reset(5UL);
        float sum = 0;
        for (int i = 0; i < 3; i++) sum += a.Step(1f).Result.Reward;
        Assert.Equal(sum, rep.Step(1f).Result.Reward, 5);
    }

    [Fact]
    public void NoiseMaskingDynamicsGapAndCost()
    {
        var masked = new ObservationNoise(new CartPole(), maskedDims: [1, 3]);
        var o = masked.Reset(1UL);
        Assert.Equal((0f, 0f), (o[1], o[3]));
        Assert.NotEqual(0f, o[0]);
        var noisy = new ObservationNoise(new CartPole(), noiseStd: 0.1f, seed: 2);
        var clean = new CartPole();
        Assert.NotEqual(clean.Reset(1UL), noisy.Reset(1UL));

        var heavy = new DynamicsGap(new CartPole(), new Dictionary<string, float> { ["masspole"] = 3f, ["gravity"] = 0.5f });
        var inner = (CartPole)Wrapper.Unwrap(heavy);
        Assert.Equal(0.3f, inner.Parameters["masspole"], 6);
        Assert.Equal(4.9f, inner.Parameters["gravity"], 6);
        Assert.Throws<ArgumentException>(() => new DynamicsGap(new CartPole(), new Dictionary<string, float> { ["friction"] = 2f }));
        Assert.Throws<ArgumentException>(() => new DynamicsGap(new MountainCar(), new Dictionary<string, float> { ["gravity"] = 2f }));

        var costly = new CostSignal(new CartPole(), (s, a, s2) => MathF.Abs(s2[0]) > 0.01f ? 1f : 0f);
        costly.Reset(3UL);
        float cost = 0;
        for (int i = 0; i < 20; i++) { var (_, r) = costly.Step(1f); cost += r.Cost; if (r.Done) break; }
        Assert.True(cost > 0);
    }

    [Fact]
    public void RunningNormalizationCentresObservations()
    {
        var env = new NormalizeObservation(new TimeLimit(new Pendulum(), 200));
        var rng = new Rng(1);
        var o = env.Reset(1UL);
        double sum = 0; int n = 0;
        for (int i = 0; i < 2000; i++)
        {
            var (obs, r) = env.Step(rng.Uniform(-2, 2));
            if (i > 500) { sum += obs[2]; n++; }
            if (r.Done) env.Reset(null, obs);
        }
        Assert.InRange(sum / n, -0.3, 0.3);
    }

    [Fact]
    public void VectorEnvEqualsSequentialEnvsWithTheSameSeeds()
    {
        const int n = 4, steps = 300;
        using var vec = new VectorEnv(_ => EnvRegistry.Make("cartpole"), n);
        vec.Reset(100);
        var seq = Enumerable.Range(0, n).Select(_ => EnvRegistry.Make("cartpole")).ToArray();
        var obs = seq.Select((e, i) => e.Reset(100UL + (ulong)i)).ToArray();
        for (int i = 0; i < n; i++) Assert.Equal(obs[i], vec.Observations.AsSpan(i * 4, 4).ToArray());
        var rng = new Rng(9);
        var acts = new float[n];
        for (int t = 0; t < steps; t++)
        {
            for (int i = 0; i < n; i++) acts[i] = rng.NextInt(2);
            vec.Step(acts);
            for (int i = 0; i < n; i++)
            {
                var r = seq[i].Step(acts[i..(i + 1)], obs[i]);
                Assert.Equal(r.Reward, vec.Rewards[i]);
                Assert.Equal(r.Terminated, vec.Terminated[i]);
                if (r.Done)
                {
                    Assert.Equal(obs[i], vec.FinalObservations.AsSpan(i * 4, 4).ToArray());
                    seq[i].Reset(null, obs[i]);
                }
                Assert.Equal(obs[i], vec.Observations.AsSpan(i * 4, 4).ToArray());
            }
        }
    }
}
