using OffRL.Data;
using OffRL.Envs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Envs;

public class ClassicControlTests
{
    [Fact]
    public void CartPoleStepMatchesHandDerivedDynamics()
    {
        var env = new CartPole();
        var o = new float[4];
        env.ResetTo([0.1f, -0.2f, 0.05f, 0.3f], o);
        var r = env.Step([1f], o);
        // by hand: F = +10, M = 1.1, m l = 0.05, l = 0.5
        double th = 0.05f, thd = 0.3f, x = 0.1f, xd = -0.2f;
        double temp = (10 + 0.05 * thd * thd * Math.Sin(th)) / 1.1;
        double thacc = (9.8 * Math.Sin(th) - Math.Cos(th) * temp) / (0.5 * (4.0 / 3 - 0.1 * Math.Cos(th) * Math.Cos(th) / 1.1));
        double xacc = temp - 0.05 * thacc * Math.Cos(th) / 1.1;
        Assert.Equal(x + 0.02 * xd, o[0], 6);
        Assert.Equal(xd + 0.02 * xacc, o[1], 6);
        Assert.Equal(th + 0.02 * thd, o[2], 6);
        Assert.Equal(thd + 0.02 * thacc, o[3], 6);
        Assert.Equal(1f, r.Reward);
        Assert.False(r.Done);
    }

    [Fact]
    public void CartPoleFallsAndIsRewardedOnTheLastStep()
    {
        using var env = EnvRegistry.Make("CartPole-v1");
        var o = env.Reset(3UL);
        int steps = 0;
        StepResult r;
        do { r = env.Step([1f], o); steps++; } while (!r.Done);
        Assert.True(r.Terminated);
        Assert.False(r.Truncated);
        Assert.Equal(1f, r.Reward);
        Assert.True(Math.Abs(o[2]) > 0.2094f || Math.Abs(o[0]) > 2.4f);
        Assert.InRange(steps, 5, 60);
    }

    [Fact]
    public void PendulumStepAndReward()
    {
        var env = new Pendulum();
        var o = new float[3];
        env.ResetTo([0.5f, 0.1f], o);
        var r = env.Step([1f], o);
        double thd = 0.1f + (3 * 10 / 2.0 * Math.Sin(0.5) + 3.0 * 1) * 0.05;
        double th = 0.5 + thd * 0.05;
        Assert.Equal(Math.Cos(th), o[0], 6);
        Assert.Equal(Math.Sin(th), o[1], 6);
        Assert.Equal(thd, o[2], 5);
        Assert.Equal(-(0.25 + 0.1 * 0.01 + 0.001), r.Reward, 5);
        // torque is clipped to 2 and the angle normalized into [-pi, pi)
        env.ResetTo([(float)(2 * Math.PI + 0.1), 0f], o);
        var r2 = env.Step([5f], o);
        Assert.Equal(-(0.01 + 0.001 * 4), r2.Reward, 4);
        Assert.Equal(Math.PI - 0.1, Pendulum.AngleNormalize(Math.PI - 0.1), 12);
        Assert.Equal(-Math.PI, Pendulum.AngleNormalize(Math.PI), 12);
    }

    [Fact]
    public void MountainCarsFollowTheirEquations()
    {
        var env = new MountainCar();
        var o = new float[2];
        env.ResetTo([-0.5f, 0f], o);
        env.Step([2f], o);
        double v = 0.001 - 0.0025 * Math.Cos(3 * -0.5f);
        Assert.Equal(v, o[1], 6);
        Assert.Equal(-0.5f + v, o[0], 6);
        env.ResetTo([-1.19f, -0.05f], o);   // hits the left wall: velocity zeroed
        env.Step([0f], o);
        Assert.Equal((-1.2f, 0f), (o[0], o[1]));
        env.ResetTo([0.49f, 0.02f], o);
        var r = env.Step([1f], o);
        Assert.True(r.Terminated);
        Assert.Equal(-1f, r.Reward);

        var c = new MountainCarContinuous();
        c.ResetTo([0.44f, 0.05f], o);
        var rc = c.Step([3f], o);   // force clipped to 1, cost uses the raw action
        Assert.True(rc.Terminated);
        Assert.Equal(100f - 0.1f * 9f, rc.Reward, 4);
    }

    [Fact]
    public void AcrobotRk4MatchesAFineIntegrationAndTerminatesAboveTheBar()
    {
        var env = new Acrobot();
        var o = new float[6];
        env.ResetTo([0.3f, -0.2f, 0.5f, -0.4f], o);
        env.Step([2f], o);
        var s = new float[4];
        env.GetState(s);
        // reference: 2000 Euler sub-steps of the same equations
        double[] x = [0.3f, -0.2f, 0.5f, -0.4f];
        for (int k = 0; k < 2000; k++)
        {
            var d = Deriv(x, 1.0);
            for (int i = 0; i < 4; i++) x[i] += 0.2 / 2000 * d[i];
        }
        for (int i = 0; i < 4; i++) Assert.Equal(x[i], s[i], 2);
        env.ResetTo([(float)Math.PI, 0f, 0f, 0f], o);   // hanging straight up
        var r = env.Step([1f], o);
        Assert.True(r.Terminated);
        Assert.Equal(0f, r.Reward);
    }

    private static double[] Deriv(double[] s, double a)
    {
        double t1 = s[0], t2 = s[1], v1 = s[2], v2 = s[3];
        double d1 = 0.25 + (1 + 0.25 + Math.Cos(t2)) + 2;
        double d2 = 0.25 + 0.5 * Math.Cos(t2) + 1;
        double phi2 = 0.5 * 9.8 * Math.Cos(t1 + t2 - Math.PI / 2);
        double phi1 = -0.5 * v2 * v2 * Math.Sin(t2) - v2 * v1 * Math.Sin(t2) + 1.5 * 9.8 * Math.Cos(t1 - Math.PI / 2) + phi2;
        double dd2 = (a + d2 / d1 * phi1 - 0.5 * v1 * v1 * Math.Sin(t2) - phi2) / (0.25 + 1 - d2 * d2 / d1);
        return [v1, v2, -(d2 * dd2 + phi1) / d1, dd2];
    }

    [Theory]
    [InlineData("cartpole")]
    [InlineData("pendulum")]
    [InlineData("mountaincar")]
    [InlineData("mountaincar-continuous")]
    [InlineData("acrobot")]
    [InlineData("pointmaze-medium")]
    [InlineData("gridworld")]
    public void SameSeedSameTrajectory(string name)
    {
        float[] Run(ulong seed)
        {
            using var env = EnvRegistry.Make(name);
            var rng = new Rng(seed);
            var o = new float[env.ObservationSpace.Width];
            var a = new float[env.ActionSpace.Width];
            var trace = new List<float>();
            env.Reset(seed, o);
            trace.AddRange(o);
            for (int t = 0; t < 50; t++)
            {
                env.ActionSpace.SampleAction(rng, a);
                var r = env.Step(a, o);
                trace.AddRange(o);
                trace.Add(r.Reward);
                if (r.Done) env.Reset(null, o);
            }
            return trace.ToArray();
        }
        Assert.Equal(Run(7), Run(7));
        Assert.NotEqual(Run(7), Run(8));
    }

    [Fact]
    public void TimeLimitsTruncate()
    {
        using var env = EnvRegistry.Make("pendulum");
        var o = env.Reset(1UL);
        int steps = 0;
        StepResult r;
        do { r = env.Step([0f], o); steps++; } while (!r.Done);
        Assert.Equal(200, steps);
        Assert.True(r.Truncated);
        Assert.False(r.Terminated);
    }

    [Fact]
    public void BadActionsAreRejected()
    {
        var env = new CartPole();
        env.Reset(1UL);
        Assert.Contains("0..1", Assert.Throws<ArgumentException>(() => env.Step([2f])).Message);
        var p = new Pendulum();
        p.Reset(1UL);
        Assert.Throws<ArgumentException>(() => p.Step([float.NaN]));
        Assert.Throws<ArgumentException>(() => p.Step([1f, 2f]));
        Assert.Contains("unknown environment", Assert.Throws<ArgumentException>(() => EnvRegistry.Make("nope")).Message);
    }

    [Fact]
    public void NormalizedScoresUseD4rlReferences()
    {
        Assert.Equal(100.0, NormalizedScore.Score("hopper", 3234.3), 9);
        Assert.Equal(0.0, NormalizedScore.Score("hopper-medium-v2", -20.272305), 9);
        Assert.Equal(100.0, NormalizedScore.Score("maze2d-umaze-v1", 161.86), 9);
        Assert.Equal(100.0, NormalizedScore.Score("CartPole-v1", 500), 9);
    }
}
