using OffRL.Envs;
using OffRL.MuJoCo;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Envs;

/// <summary>MuJoCo locomotion through libmujoco 2.2.2 (installed by scripts/install-deps.sh, which .ci/run runs).</summary>
public class MuJoCoTests
{
    static MuJoCoTests() => MuJoCoEnvs.Register();

    public static IEnumerable<object[]> PublishedBodies() =>
    [
        // model, body masses (kg) and diagonal inertias as compiled by libmujoco 2.2.2 (env-facts.md, section 2)
        ["hopper", new[] { 3.665191, 4.057891, 2.781357, 5.315575 }, new[] { 0.0692459, 0.0932988, 0.0723025, 0.103523 }, new[] { 0.00445059, 0.00494146, 0.00218219, 0.00924231 }, 15.820013],
        ["walker2d", new[] { 3.665191, 4.057891, 2.781357, 3.166725, 4.057891, 2.781357, 3.166725 }, new[] { 0.0692459, 0.0932988, 0.0723025, 0.0239977, 0.0932988, 0.0723025, 0.0239977 }, new[] { 0.00445059, 0.00494146, 0.00218219, 0.00537439, 0.00494146, 0.00218219, 0.00537439 }, 23.677137],
        // ant: masses libmujoco 2.2.2 compiles from Gym's published ant.xml (density 5)
        ["ant", new[] { 0.3272492, 0.03915775, 0.03915775, 0.0675922, 0.03915775, 0.03915775, 0.0675922, 0.03915775, 0.03915775, 0.0675922, 0.03915775, 0.03915775, 0.0675922 }, null!, null!, 0.9108801],
        ["halfcheetah", new[] { 6.250209, 1.543515, 1.587448, 1.095397, 1.438075, 1.200837, 0.884519 }, new[] { 0.897118, 0.0168443, 0.0182674, 0.00635242, 0.0137396, 0.00822211, 0.00352911 }, new[] { 0.0179609, 0.00157602, 0.0016225, 0.00110191, 0.00146447, 0.00121347, 0.000878804 }, 14.0],
    ];

    private static MjModel Compile(string name) => name switch
    {
        "ant" => MjModel.FromXml(Models.Ant, name),
        "hopper" => MjModel.FromXml(Models.Hopper, name),
        "walker2d" => MjModel.FromXml(Models.Walker2d, name),
        _ => MjModel.FromXml(Models.HalfCheetah, name),
    };

    private static void SameToPrintedDigits(double expected, double actual, string what)
    {
        // the published figures carry 6-7 significant digits
        double tol = Math.Abs(expected) * 5e-6 + 1e-9;
        Assert.True(Math.Abs(expected - actual) <= tol, $"{what}: {actual:G9}, published {expected:G9}");
    }

    [Theory]
    [MemberData(nameof(PublishedBodies))]
    public void ModelsCompileToThePublishedMassesAndInertias(string name, double[] mass, double[] ixx, double[] izz, double total)
    {
        using var m = Compile(name);
        var bm = m.BodyMass.ToArray();
        var bi = m.BodyInertia.ToArray();
        Assert.Equal(mass.Length + 1, m.NBody);
        for (int b = 0; b < mass.Length; b++)
        {
            SameToPrintedDigits(mass[b], bm[b + 1], $"{name} body {b + 1} mass");
            if (ixx is null) continue;
            SameToPrintedDigits(ixx[b], bi[3 * (b + 1)], $"{name} body {b + 1} inertia x");
            SameToPrintedDigits(izz[b], bi[3 * (b + 1) + 2], $"{name} body {b + 1} inertia z");
        }
        SameToPrintedDigits(total, bm.Sum(), $"{name} total mass");
    }

    [Fact]
    public void SpacesTimestepsAndRestState()
    {
        using var h = new Hopper();
        Assert.Equal((11, 3), (h.ObservationSpace.Width, h.ActionSpace.Width));
        Assert.Equal(0.008, h.Dt, 12);
        using var w = new Walker2d();
        Assert.Equal((17, 6), (w.ObservationSpace.Width, w.ActionSpace.Width));
        using var c = new HalfCheetah();
        Assert.Equal((17, 6), (c.ObservationSpace.Width, c.ActionSpace.Width));
        Assert.Equal(0.05, c.Dt, 12);
        h.ResetNoise = false;
        var o = h.Reset(0UL);
        Assert.Equal(1.25f, o[0]);             // torso height = rootz with ref 1.25
        Assert.All(o[1..], v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData("hopper", -10.0, 60.0, 5, 200)]
    [InlineData("walker2d", -30.0, 40.0, 5, 200)]
    [InlineData("halfcheetah", -450.0, -150.0, 1000, 1000)]
    public void RandomPolicyReturnsFallInTheExpectedRange(string name, double lo, double hi, int minLen, int maxLen)
    {
        using var env = EnvRegistry.Make(name);
        var rng = new Rng(3);
        var o = new float[env.ObservationSpace.Width];
        var a = new float[env.ActionSpace.Width];
        var returns = new List<double>();
        int episodes = name == "halfcheetah" ? 3 : 20;
        for (int e = 0; e < episodes; e++)
        {
            env.Reset((ulong)e, o);
            double ret = 0; int len = 0;
            StepResult r;
            do { env.ActionSpace.SampleAction(rng, a); r = env.Step(a, o); ret += r.Reward; len++; } while (!r.Done);
            Assert.InRange(len, minLen, maxLen);
            returns.Add(ret);
        }
        Assert.InRange(returns.Average(), lo, hi);
    }

    [Fact]
    public void HopperTerminatesWhenItFallsAndStillPaysTheHealthyBonus()
    {
        using var env = new Hopper();
        var o = env.Reset(1UL);
        StepResult r;
        int steps = 0;
        var push = new float[] { 1f, 1f, 1f };
        double xBefore, xAfter;
        do
        {
            xBefore = env.GetPhysicsState()[0];
            r = env.Step(push, o);
            xAfter = env.GetPhysicsState()[0];
            steps++;
        } while (!r.Done && steps < 1000);
        Assert.True(r.Terminated);
        Assert.False(r.Truncated);
        Assert.True(o[0] <= 0.7f || Math.Abs(o[1]) >= 0.2f, $"height {o[0]}, angle {o[1]}");
        // reward = x velocity + 1 (healthy bonus, paid on the terminating step too) - 0.001 * |a|^2
        Assert.Equal((xAfter - xBefore) / 0.008 + 1.0 - 0.003, r.Reward, 4);
    }

    [Fact]
    public void SameSeedSameTrajectoryAndSharedModelsAgree()
    {
        double[] Run(Func<MujocoEnv> make)
        {
            using var env = make();
            var rng = new Rng(5);
            var o = new float[17]; var a = new float[6];
            env.Reset(11UL, o);
            for (int t = 0; t < 200; t++) { env.ActionSpace.SampleAction(rng, a); env.Step(a, o); }
            return env.GetPhysicsState();
        }
        var a1 = Run(() => new HalfCheetah());
        Assert.Equal(a1, Run(() => new HalfCheetah()));
        using var shared = MjModel.FromXml(Models.HalfCheetah, "halfcheetah");
        Assert.Equal(a1, Run(() => new HalfCheetah(shared)));
        Assert.Equal(a1, Run(() => new HalfCheetah(shared)));   // the model outlives its users until disposed
        using var vec = new VectorEnv(_ => new HalfCheetah(shared), 3);
        Assert.True(shared.IsShared);
        Assert.Throws<InvalidOperationException>(() => ((HalfCheetah)vec[0]).SetParameter("mass", 2f));
    }

    [Fact]
    public void AntObservationsRewardAndTermination()
    {
        using var ant = new Ant();
        using var antC = new Ant(contactForces: true);
        Assert.Equal((27, 8), (ant.ObservationSpace.Width, ant.ActionSpace.Width));
        Assert.Equal(111, antC.ObservationSpace.Width);
        ant.ResetNoise = false;
        var o = ant.Reset(0UL);
        Assert.Equal(0.75f, o[0]);            // torso height
        Assert.Equal(1f, o[1]);               // quaternion w
        var rng = new Rng(2);
        var a = new float[8];
        StepResult r = default;
        int steps = 0;
        do
        {
            double x0 = ant.GetPhysicsState()[0];
            ant.ActionSpace.SampleAction(rng, a);
            r = ant.Step(a, o);
            double x1 = ant.GetPhysicsState()[0];
            double ctrl = a.Sum(v => (double)v * v);
            Assert.Equal((x1 - x0) / 0.05 + 1.0 - 0.5 * ctrl, r.Reward, 3);
            steps++;
        } while (!r.Done && steps < 300);
        if (r.Terminated) Assert.True(o[0] < 0.2f || o[0] > 1.0f);
        var oc = antC.Reset(3UL);
        int touching = 0;
        for (int t = 0; t < 200; t++)
        {
            antC.ActionSpace.SampleAction(rng, a);
            var rc = antC.Step(a, oc);
            Assert.All(oc[27..], v => Assert.InRange(v, -1f, 1f));
            if (oc[27..].Any(v => v != 0f)) touching++;
            if (rc.Done) break;
        }
        Assert.True(touching > 0, "the ant never touched the floor");   // contact forces are computed (mj_rnePostConstraint)
    }

    [Fact]
    public void StateRoundTripsExactly()
    {
        using var env = new Walker2d();
        var o = env.Reset(2UL);
        var rng = new Rng(1);
        var a = new float[6];
        for (int t = 0; t < 10; t++) { env.ActionSpace.SampleAction(rng, a); env.Step(a, o); }
        var s = env.GetPhysicsState();
        var next1 = new float[17];
        env.Step(a, next1);
        env.SetPhysicsState(s, o);
        var next2 = new float[17];
        env.Step(a, next2);
        Assert.Equal(next1, next2);
    }

    /// <summary>
    /// The locomotion tasks are models of themselves (model: simulator, the edge-of-reach runs): from an observation
    /// alone, x set to 0, one step gives the observation and reward the running env gives, for each task (where no
    /// velocity is past the clip of hopper's and walker2d's observations).
    /// </summary>
    [Theory]
    [InlineData("halfcheetah")]
    [InlineData("hopper")]
    [InlineData("walker2d")]
    [InlineData("ant")]
    public void AnObservationRebuildsTheStateOneStepNeeds(string name)
    {
        using var env = (MujocoEnv)EnvRegistry.Find(name).Create();
        var o = env.Reset(3UL);
        var rng = new Rng(4);
        var a = new float[env.ActionSpace.Width];
        for (int t = 0; t < 8; t++)
        {
            env.ActionSpace.SampleAction(rng, a);
            for (int j = 0; j < a.Length; j++) a[j] *= 0.3f;   // gently: no velocity beyond hopper's and walker's clip at 10
            env.Step(a, o);
        }
        var state = env.GetPhysicsState();
        Assert.NotEqual(0.0, state[0]);   // the body has moved: x is not 0
        Assert.All(state[1..], v => Assert.True(Math.Abs(v) < 10));
        var expected = new float[o.Length];
        double reward = env.Step(a, expected).Reward;
        using var model = OffRL.Dynamics.SimulatorModel.For(name);
        float[] next = new float[o.Length], r = new float[1];
        model.Step(o, a, 1, new Rng(0), next, r, null, default);
        for (int j = 0; j < o.Length; j++) Assert.True(Math.Abs(expected[j] - next[j]) <= 1e-3 * (1 + Math.Abs(expected[j])), $"{name} entry {j}: {next[j]} vs {expected[j]}");
        Assert.Equal(reward, r[0], 1e-3);
    }

    [Fact]
    public void DynamicsGapChangesThePhysics()
    {
        using var normal = new HalfCheetah();
        using var heavy = new HalfCheetah();
        var gap = new DynamicsGap(heavy, new Dictionary<string, float> { ["mass"] = 2f, ["gravity"] = 1.5f });
        Assert.Equal(-9.81f * 1.5f, heavy.Parameters["gravity"], 4);
        var o1 = normal.Reset(1UL); var o2 = gap.Reset(1UL);
        Assert.Equal(o1, o2);
        var act = new float[] { 1, -1, 1, -1, 1, -1 };
        for (int t = 0; t < 20; t++) { normal.Step(act, o1); gap.Step(act, o2); }
        Assert.NotEqual(o1, o2);
    }
}
