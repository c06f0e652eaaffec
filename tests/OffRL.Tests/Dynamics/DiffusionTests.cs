using OffRL.Data;
using OffRL.Dynamics;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Dynamics;

public class DiffusionTests
{
    /// <summary>Episodes of 20 steps: s0 in U(-1, 1), actions in U(-1, 1), s' = s + 0.1 a, r = -s^2.</summary>
    private static Dataset Linear(int episodes, ulong seed)
    {
        var rng = new Rng(seed);
        int n = episodes * 20;
        var obs = new float[n]; var next = new float[n]; var act = new float[n]; var rew = new float[n]; var tout = new bool[n];
        for (int e = 0; e < episodes; e++)
        {
            float s = rng.Uniform(-1f, 1f);
            for (int k = 0; k < 20; k++)
            {
                int i = e * 20 + k;
                obs[i] = s; act[i] = rng.Uniform(-1f, 1f); rew[i] = -s * s;
                s += 0.1f * act[i];
                next[i] = s; tout[i] = k == 19;
            }
        }
        return new Dataset(new DatasetColumns { Observations = obs, NextObservations = next, Actions = act, Rewards = rew, Terminals = new bool[n], Timeouts = tout },
            Box.Unbounded(1), Box.Uniform(1, -1f, 1f));
    }

    private static (double LogLikelihood, double DynamicsError) Judge(Dataset d)
    {
        double ll = 0, err = 0;
        for (int i = 0; i < d.Count; i++)
        {
            ll += -Math.Pow(d.Actions[i] - 0.8, 2) / d.Count;                                                  // the target: a = 0.8
            err += Math.Abs(d.NextObservations[i] - (d.Observations[i] + 0.1 * d.Actions[i])) / d.Count;       // the true step
        }
        return (ll, err);
    }

    /// <summary>
    /// Policy guidance moves the synthetic actions towards the target policy's (their log-likelihood under it rises with
    /// the guidance weight) while the synthetic transitions keep the dynamics as well as unguided samples do (within 10%;
    /// the true step checks them); unguided, the samples' actions are distributed as the data's.
    /// </summary>
    [Fact]
    public void GuidanceRaisesTheTargetsLikelihoodAndKeepsTheDynamics()
    {
        var data = Linear(100, 1);
        var config = new DiffusionConfig { Horizon = 4, Steps = 50, Hidden = [256, 256], BatchSize = 128, TrainSteps = 2500, Seed = 2 };
        var model = new TrajectoryDiffusion(1, 1, config);
        model.Fit(data);
        Func<Tensor, Tensor> target = s => s * 0f + 0.8f;
        var judged = new[] { 0f, 0.02f, 0.1f }.Select(g =>
        {
            var guided = new TrajectoryDiffusion(1, 1, config with { Guidance = g });
            guided.CopyFrom(model);
            return Judge(guided.Sample(100, data.ObservationSpace, data.ActionSpace, new Rng(3), target));
        }).ToArray();
        var real = Judge(data);
        Assert.InRange(judged[0].LogLikelihood, real.LogLikelihood - 0.15, real.LogLikelihood + 0.15);
        Assert.True(judged[0].LogLikelihood < judged[1].LogLikelihood && judged[1].LogLikelihood < judged[2].LogLikelihood,
            $"log-likelihoods {string.Join(", ", judged.Select(j => j.LogLikelihood.ToString("G3")))} (data {real.LogLikelihood:G3})");
        // by hand: log-likelihoods -0.945, -0.576, -0.095 (the data -0.964); dynamics errors 0.0403, 0.0401, 0.0410
        string errors = string.Join(", ", judged.Select(x => x.DynamicsError.ToString("G3")));
        Assert.True(judged[0].DynamicsError < 0.05, $"unguided dynamics error {errors}: no better than ignoring the action (0.05)");
        Assert.All(judged, j => Assert.True(Math.Abs(j.DynamicsError - judged[0].DynamicsError) < 0.1 * judged[0].DynamicsError, $"dynamics errors {errors}"));
    }
}
