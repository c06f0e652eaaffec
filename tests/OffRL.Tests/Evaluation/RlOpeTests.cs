using OffRL.Dynamics;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Evaluation;
using OffRL.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace OffRL.Tests.Evaluation;

/// <summary>
/// A small episodic MDP with one-hot observations: S states, A actions, a per-step termination chance, Gaussian reward
/// noise. Its discounted value under any policy is solved exactly, and so is the value of the empirical MDP of a dataset.
/// </summary>
internal sealed class TabularMdp
{
    public const int S = 5, A = 3;
    public readonly double[,,] P = new double[S, A, S];   // to non-terminal states; the rest of the mass terminates
    public readonly double[,] R = new double[S, A];
    public readonly double[] Mu0 = new double[S];
    public readonly double[,] Behavior = new double[S, A];
    public readonly double[,] Target = new double[S, A];

    public TabularMdp(ulong seed = 1)
    {
        var rng = new Rng(seed);
        for (int s = 0; s < S; s++)
        {
            for (int a = 0; a < A; a++)
            {
                double z = 0;
                var row = new double[S];
                for (int t = 0; t < S; t++) { row[t] = rng.NextDouble() + 0.05; z += row[t]; }
                double stay = 0.85 + 0.1 * rng.NextDouble();   // terminate with probability 5-15% per step
                for (int t = 0; t < S; t++) P[s, a, t] = stay * row[t] / z;
                R[s, a] = 2 * rng.NextDouble() - 0.5;
            }
            Mu0[s] = s < 2 ? 0.5 : 0;
            double zb = 0, zt = 0;
            for (int a = 0; a < A; a++) { Behavior[s, a] = 0.5 + rng.NextDouble(); zb += Behavior[s, a]; Target[s, a] = Math.Exp(2 * rng.NextDouble()); zt += Target[s, a]; }
            for (int a = 0; a < A; a++) { Behavior[s, a] /= zb; Target[s, a] /= zt; }
        }
    }

    public static int State(ReadOnlySpan<float> obs) { for (int s = 0; s < S; s++) if (obs[s] > 0.5f) return s; return -1; }

    public IProbabilisticPolicy Policy(double[,] table) => new FuncDiscretePolicy(S, A, (o, p) =>
    {
        int s = State(o);   // -1 for the all-zero observation stored after a terminal (never bootstrapped)
        for (int a = 0; a < A; a++) p[a] = s < 0 ? 1f / A : (float)table[s, a];
    });

    /// <summary>Exact value: V = mu0' (I - gamma P_pi)^-1 r_pi.</summary>
    public static double Value(double[,,] p, double[,] r, double[] mu0, double[,] pi, double gamma)
    {
        var m = new double[S, S]; var b = new double[S];
        for (int s = 0; s < S; s++)
        {
            m[s, s] += 1;
            for (int a = 0; a < A; a++)
            {
                b[s] += pi[s, a] * r[s, a];
                for (int t = 0; t < S; t++) m[s, t] -= gamma * pi[s, a] * p[s, a, t];
            }
        }
        var v = Solve(m, b);
        double val = 0;
        for (int s = 0; s < S; s++) val += mu0[s] * v[s];
        return val;
    }

    private static double[] Solve(double[,] m, double[] b)
    {
        int n = b.Length;
        var a = (double[,])m.Clone(); var x = (double[])b.Clone();
        for (int c = 0; c < n; c++)
        {
            int piv = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(a[r, c]) > Math.Abs(a[piv, c])) piv = r;
            for (int k = 0; k < n; k++) (a[c, k], a[piv, k]) = (a[piv, k], a[c, k]);
            (x[c], x[piv]) = (x[piv], x[c]);
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = a[r, c] / a[c, c];
                for (int k = 0; k < n; k++) a[r, k] -= f * a[c, k];
                x[r] -= f * x[c];
            }
        }
        for (int c = 0; c < n; c++) x[c] /= a[c, c];
        return x;
    }

    public double TrueValue(double gamma) => Value(P, R, Mu0, Target, gamma);

    /// <summary>The empirical MDP of a dataset (counts), solved for the target policy.</summary>
    public double EmpiricalValue(Dataset d, double gamma)
    {
        var n = new double[S, A]; var p = new double[S, A, S]; var r = new double[S, A]; var mu = new double[S];
        for (int e = 0; e < d.EpisodeCount; e++) mu[State(d.Observation(d.EpisodeStart(e)))] += 1.0 / d.EpisodeCount;
        for (int i = 0; i < d.Count; i++)
        {
            int s = State(d.Observation(i)), a = (int)d.Action(i)[0];
            n[s, a]++; r[s, a] += d.Rewards[i];
            if (!d.Terminals[i]) p[s, a, State(d.NextObservation(i))]++;
        }
        for (int s = 0; s < S; s++) for (int a = 0; a < A; a++)
        {
            r[s, a] /= n[s, a];
            for (int t = 0; t < S; t++) p[s, a, t] /= n[s, a];
        }
        return Value(p, r, mu, Target, gamma);
    }

    public Dataset Sample(int episodes, ulong seed)
    {
        var rng = new Rng(seed);
        var obs = new List<float>(); var next = new List<float>(); var act = new List<float>(); var rew = new List<float>();
        var term = new List<bool>(); var tout = new List<bool>(); var logp = new List<float>();
        var pa = new float[A]; var ps = new float[S + 1];
        for (int e = 0; e < episodes; e++)
        {
            int s = rng.NextDouble() < 0.5 ? 0 : 1;
            for (int t = 0; ; t++)
            {
                for (int a = 0; a < A; a++) pa[a] = (float)Behavior[s, a];
                int act1 = rng.Categorical(pa);
                double stay = 0;
                for (int k = 0; k < S; k++) { ps[k] = (float)P[s, act1, k]; stay += P[s, act1, k]; }
                ps[S] = (float)(1 - stay);
                int s2 = rng.Categorical(ps);
                bool done = s2 == S, cut = !done && t == 199;
                for (int k = 0; k < S; k++) obs.Add(k == s ? 1 : 0);
                for (int k = 0; k < S; k++) next.Add(!done && k == s2 ? 1 : 0);
                act.Add(act1); rew.Add((float)(R[s, act1] + 0.3 * rng.NextNormal()));
                term.Add(done); tout.Add(cut); logp.Add((float)Math.Log(Behavior[s, act1]));
                if (done || cut) break;
                s = s2;
            }
        }
        var cols = new DatasetColumns
        {
            Observations = obs.ToArray(), NextObservations = next.ToArray(), Actions = act.ToArray(), Rewards = rew.ToArray(),
            Terminals = term.ToArray(), Timeouts = tout.ToArray(), BehaviorLogProbs = logp.ToArray(),
        };
        return new Dataset(cols, Box.Uniform(S, 0, 1), new Discrete(A));
    }
}

public class RlOpeTests(ITestOutputHelper output)
{
    private const double Gamma = 0.95;

    [Fact]
    public void ImportanceSamplingIsUnbiasedOverSeeds()
    {
        var mdp = new TabularMdp();
        double truth = mdp.TrueValue(Gamma);
        var target = mdp.Policy(mdp.Target);
        string[] names = ["tis", "pdis", "sntis", "snpdis"];
        var sums = new double[names.Length];
        const int seeds = 40;
        for (int s = 0; s < seeds; s++)
        {
            var d = new OpeData(mdp.Sample(300, (ulong)(10 + s)), target, Gamma);
            var w = TrajectoryIs.CumulativeWeights(d);
            for (int k = 0; k < names.Length; k++) sums[k] += TrajectoryIs.Estimate(names[k], d, w, null) / seeds;
        }
        for (int k = 0; k < names.Length; k++) output.WriteLine($"{names[k]}: {sums[k]:F3} (truth {truth:F3})");
        Assert.InRange(sums[1], truth - 0.1 * Math.Abs(truth), truth + 0.1 * Math.Abs(truth));   // PDIS
        Assert.InRange(sums[3], truth - 0.1 * Math.Abs(truth), truth + 0.1 * Math.Abs(truth));   // SN-PDIS
        Assert.InRange(sums[0], truth - 0.25 * Math.Abs(truth), truth + 0.25 * Math.Abs(truth)); // TIS: heavy-tailed
    }

    [Fact]
    public void LinearFqeAndMarginalizedIsMatchTheEmpiricalMdpExactly()
    {
        var mdp = new TabularMdp();
        var data = mdp.Sample(400, 77);
        double empirical = mdp.EmpiricalValue(data, Gamma), truth = mdp.TrueValue(Gamma);
        var d = new OpeData(data, mdp.Policy(mdp.Target), Gamma);
        var (_, fqe) = Fqe.Fit(d, new FqeConfig(Linear: true, Ridge: 1e-12));
        var mis = Marginalized.Fit(d, ridge: 1e-12);
        output.WriteLine($"truth {truth:F4}, empirical MDP {empirical:F4}, linear FQE {fqe:F4}, MIS {mis.Value:F4}");
        Assert.Equal(empirical, fqe, 5);
        Assert.Equal(empirical, mis.Value, 5);
        Assert.InRange(fqe, truth - 0.1 * Math.Abs(truth), truth + 0.1 * Math.Abs(truth));
    }

    [Fact]
    public void DoublyRobustAndNeuralFqeRecoverTheTruth()
    {
        var mdp = new TabularMdp();
        double truth = mdp.TrueValue(Gamma);
        var d = new OpeData(mdp.Sample(400, 78), mdp.Policy(mdp.Target), Gamma);
        var res = RlOpe.Run(d, ["pdis", "dr", "wdr", "fqe", "mis"], new RlOpe.Options(BootstrapSamples: 200,
            Fqe: new FqeConfig(Steps: 3000, Hidden: [64, 64], LearningRate: 1e-3f, BatchSize: 256)));
        foreach (var r in res) output.WriteLine($"{r.Estimator}: {r.Estimate:F3} [{r.CiLow:F3}, {r.CiHigh:F3}] ess {r.EffectiveSampleSize:F0} (truth {truth:F3})");
        foreach (var r in res)
        {
            Assert.InRange(r.Estimate, truth - 0.1 * Math.Abs(truth), truth + 0.1 * Math.Abs(truth));
            Assert.True(r.CiLow <= r.Estimate && r.Estimate <= r.CiHigh, $"{r.Estimator}: estimate outside its interval");
        }
    }

    [Fact]
    public void DatasetWithoutBehaviorProbabilitiesRunsOnlyTheEstimatorsThatNeedNone()
    {
        var mdp = new TabularMdp();
        var data = mdp.Sample(5, 1);
        var c = data.CopyColumns();
        var stripped = new Dataset(new DatasetColumns
        {
            Observations = c.Observations, Actions = c.Actions, Rewards = c.Rewards, Terminals = c.Terminals, Timeouts = c.Timeouts, NextObservations = c.NextObservations,
        }, data.ObservationSpace, data.ActionSpace);
        // Without behavior log-probabilities the importance-sampling estimators are refused by name; FQE and the
        // model-based estimator, which never use the ratios, still run.
        var d = new OpeData(stripped, mdp.Policy(mdp.Target), Gamma);
        Assert.False(d.HasBehavior);
        var ex = Assert.Throws<DataException>(() => RlOpe.Run(d, ["pdis", "fqe", "dr"]));
        Assert.Contains("behavior_log_probs", ex.Message);
        Assert.Contains("pdis, dr", ex.Message);
        var res = RlOpe.Run(d, ["fqe", "mb"], new RlOpe.Options(Fqe: new FqeConfig(Steps: 200),
            ModelBased: new ModelBasedConfig(new DynamicsConfig { Members = 3, Elites = 2, Hidden = [32], WeightDecays = [1e-4f, 1e-4f], MaxEpochs = 20 })));
        Assert.All(res, r => Assert.True(double.IsFinite(r.Estimate), $"{r.Estimator}: {r.Estimate}"));
    }
}

/// <summary>A 1-D linear-Gaussian system with quadratic cost: the continuous-action case, truth by Monte Carlo.</summary>
public class ContinuousOpeTests(ITestOutputHelper output)
{
    private const int Horizon = 60;
    private const double Gamma = 0.9;

    private sealed class Linear(double k) : IPolicy
    {
        public int ObservationDim => 1;
        public Space ActionSpace => Box.Uniform(1, -5f, 5f);
        public void Act(ReadOnlySpan<float> o, Span<float> a, bool deterministic) => a[0] = (float)(-k * o[0]);
    }

    private static double Step(ref double s, double a, Rng rng)
    {
        double r = -s * s - 0.1 * a * a;
        s = 0.9 * s + 0.5 * a + 0.1 * rng.NextNormal();
        return r;
    }

    private static Dataset Collect(IProbabilisticPolicy behavior, int episodes, ulong seed)
    {
        var rng = new Rng(seed);
        var obs = new List<float>(); var act = new List<float>(); var rew = new List<float>(); var next = new List<float>();
        var term = new List<bool>(); var tout = new List<bool>(); var logp = new List<float>();
        var a = new float[1];
        for (int e = 0; e < episodes; e++)
        {
            double s = rng.NextNormal();
            for (int t = 0; t < Horizon; t++)
            {
                obs.Add((float)s);
                logp.Add((float)behavior.Sample([(float)s], a, rng));
                act.Add(a[0]);
                rew.Add((float)Step(ref s, a[0], rng));
                next.Add((float)s); term.Add(false); tout.Add(t == Horizon - 1);
            }
        }
        return new Dataset(new DatasetColumns
        {
            Observations = obs.ToArray(), Actions = act.ToArray(), Rewards = rew.ToArray(), NextObservations = next.ToArray(),
            Terminals = term.ToArray(), Timeouts = tout.ToArray(), BehaviorLogProbs = logp.ToArray(),
        }, Box.Unbounded(1), Box.Uniform(1, -5f, 5f));
    }

    private static double MonteCarlo(IProbabilisticPolicy pi, int episodes)
    {
        var rng = new Rng(999);
        var a = new float[1];
        double total = 0;
        for (int e = 0; e < episodes; e++)
        {
            double s = rng.NextNormal(), disc = 1;
            for (int t = 0; t < Horizon; t++, disc *= Gamma)
            {
                pi.Sample([(float)s], a, rng);
                total += disc * Step(ref s, a[0], rng);
            }
        }
        return total / episodes;
    }

    [Fact]
    public void ModelBasedAndPerDecisionIsRecoverAContinuousPolicyValue()
    {
        var behavior = new GaussianPolicy(new Linear(0.3), 0.5);
        var target = new GaussianPolicy(new Linear(0.8), 0.4);
        double truth = MonteCarlo(target, 200_000);
        var d = new OpeData(Collect(behavior, 150, 5), target, Gamma, samples: 5);
        var res = RlOpe.Run(d, ["pdis", "snpdis", "mb", "fqe", "dr"], new RlOpe.Options(BootstrapSamples: 200,
            ModelBased: new ModelBasedConfig(new DynamicsConfig { Members = 3, Elites = 2, Hidden = [64, 64], WeightDecays = [2.5e-5f, 5e-5f, 1e-4f], MaxEpochs = 60 }),
            Fqe: new FqeConfig(Steps: 4000, Hidden: [64, 64], LearningRate: 1e-3f, BatchSize: 256)));
        foreach (var r in res) output.WriteLine($"{r.Estimator}: {r.Estimate:F3} [{r.CiLow:F3}, {r.CiHigh:F3}] (truth {truth:F3})");
        foreach (var r in res) Assert.InRange(r.Estimate, truth - 0.15 * Math.Abs(truth), truth + 0.15 * Math.Abs(truth));
    }

    [Fact]
    public void CensoredGaussianProbabilitiesAreConsistentAtTheBounds()
    {
        var pol = new GaussianPolicy(new Linear(0), 1.0);   // mean 0, bounds [-5, 5]
        Assert.Equal(Math.Log(GaussianPolicy.NormalTail(5.0)), pol.LogProb([0f], [5f]), 6);
        Assert.Equal(-0.5 * Math.Log(2 * Math.PI), pol.LogProb([0f], [0f]), 6);
    }
}
