using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Nn;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

public class RebracTests
{
    /// <summary>
    /// D4RL's qlearning_dataset as CORL's ReBRAC loader extends it: every row but timeouts and the last, each with the
    /// next row's observation and action, also where that next row is a timeout row left out of the transitions.
    /// </summary>
    [Fact]
    public void QlearningRowsKeepTheActionLoggedAtTheNextObservation()
    {
        // 7 rows, action = 10 x row: a timeout at row 2, a terminal at row 4, the data ends at row 6
        int n = 7;
        var d = new Dataset(new DatasetColumns
        {
            Observations = Enumerable.Range(0, n).Select(i => (float)i).ToArray(), Actions = Enumerable.Range(0, n).Select(i => 0.1f * i).ToArray(),
            Rewards = new float[n], Terminals = [false, false, false, false, true, false, false], Timeouts = [false, false, true, false, false, false, true],
        }, Box.Unbounded(1), Box.Uniform(1, 0f, 1f));
        // the episode goes on: the next row's action; an episode's last row has none
        Assert.True(d.HasNextAction(0));
        Assert.Equal(0.1f, d.NextAction(0)[0]);
        Assert.False(d.HasNextAction(2));
        Assert.False(d.HasNextAction(4));
        var q = d.QlearningRows();   // rows 0, 1, 3, 4, 5
        Assert.Equal([0f, 1f, 3f, 4f, 5f], q.Observations.ToArray());
        Assert.Equal([0.1f, 0.2f, 0.4f, 0.5f, 0.6f], Enumerable.Range(0, q.Count).Select(i => q.NextAction(i)[0]).ToArray());
        Assert.True(q.Timeouts[1]);                     // row 1 is cut off from row 3 (row 2 was left out), yet keeps a' = a_2
        Assert.True(Enumerable.Range(0, q.Count).All(q.HasNextAction));
        // preprocessing maps them to [-1, 1] as it maps the actions
        var pre = Preprocessing.Fit(q, new PreprocessingConfig(RescaleActions: true));
        var scaled = pre.Apply(q);
        Assert.Equal(2f * 0.2f - 1f, scaled.NextAction(1)[0], 6);
        Assert.Equal(scaled.Action(2)[0], scaled.NextAction(1)[0] + 0.2f, 6);
    }

    private static readonly Dataset Pendulum = Recipes.Collect(null, "pendulum", 1200, 3);

    /// <summary>
    /// One update against the losses written out by hand from the batch: the critic target with the penalty on the
    /// logged next action (eq. 4), the actor loss with the sum-of-squares penalty and lambda = 1 / mean |min Q| (eq. 3),
    /// and the actor target moved towards the actor before its update (so, on the first, it stays where it was).
    /// </summary>
    [Fact]
    public void AnUpdateComputesThePapersLossesAndMovesTheTargetsAsCorlDoes()
    {
        var overrides = JsonDocument.Parse("""{"hidden": [16, 16], "policy_noise": 0, "actor_bc_coef": 0.3, "critic_bc_coef": 0.7, "qlearning_rows": true, "tau": 0.25}""").RootElement;
        var (agent, data) = Training.Prepare("rebrac", Pendulum, 3, overrides);
        var b = new UniformSampler(data, 32, new Rng(8)).Sample();
        var m = agent.NamedModules.ToDictionary(x => x.Name, x => x.Module);
        var actor = (Mlp)m["actor"]; var actorTarget = (Mlp)m["actor_target"];
        var critic = (EnsembleMlp)m["critic"]; var criticTarget = (EnsembleMlp)m["critic_target"];
        var actorBefore = actor.Parameters().Select(p => (float[])p.Data.Clone()).ToArray();
        var criticTargetBefore = criticTarget.Parameters().Select(p => (float[])p.Data.Clone()).ToArray();

        double expectedCritic = 0;
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
        {
            var a2 = actorTarget.Forward(b.NextT).Clamp(-1f, 1f);   // no smoothing noise
            var qNext = Networks.Q(criticTarget, b.NextT, a2).Data;
            var q = Networks.Q(critic, b.ObsT, b.ActT).Data;
            for (int i = 0; i < b.Size; i++)
            {
                double penalty = 0;
                var logged = data.NextAction(b.Rows[i]);
                for (int k = 0; k < logged.Length; k++) penalty += Math.Pow(a2.Data[i * logged.Length + k] - logged[k], 2);
                double y = b.Rew[i] + b.Discount[i] * (Math.Min(qNext[i], qNext[b.Size + i]) - 0.7 * penalty);
                expectedCritic += (Math.Pow(q[i] - y, 2) + Math.Pow(q[b.Size + i] - y, 2)) / b.Size;
            }
        }
        agent.Update(b);
        Assert.Equal(expectedCritic, agent.Metrics["critic_loss"], 1e-4 * expectedCritic);

        // the actor target moved towards the actor before the update (equal to it), not after
        var target = actorTarget.Parameters();
        var now = actor.Parameters();
        double stayed = 0, moved = 0;
        for (int p = 0; p < target.Count; p++)
            for (int i = 0; i < target[p].Size; i++)
            {
                stayed = Math.Max(stayed, Math.Abs(target[p].Data[i] - actorBefore[p][i]));
                moved = Math.Max(moved, Math.Abs(now[p].Data[i] - actorBefore[p][i]));
            }
        Assert.True(stayed < 1e-6 && moved > 1e-4, $"actor target off the actor before the update by {stayed}; the actor moved by {moved}");
        // the critic target: tau of the way to the critic after its update
        var ct = criticTarget.Parameters(); var c = critic.Parameters();
        for (int p = 0; p < ct.Count; p++)
            for (int i = 0; i < ct[p].Size; i += 7)
                Assert.Equal(0.75f * criticTargetBefore[p][i] + 0.25f * c[p].Data[i], ct[p].Data[i], 5e-6f);

        // the actor loss at the actor before its update (the actor target now) against the updated critic
        double expectedActor = 0;
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
        {
            var pi = actorTarget.Forward(b.ObsT);
            var q = Networks.Q(critic, b.ObsT, pi).Data;
            double meanAbs = 0;
            for (int i = 0; i < b.Size; i++) meanAbs += Math.Abs(Math.Min(q[i], q[b.Size + i])) / b.Size;
            for (int i = 0; i < b.Size; i++)
            {
                double bc = 0;
                for (int k = 0; k < agent.ActionDim; k++) bc += Math.Pow(pi.Data[i * agent.ActionDim + k] - b.Act[i * agent.ActionDim + k], 2);
                expectedActor += (0.3 * bc - Math.Min(q[i], q[b.Size + i]) / meanAbs) / b.Size;
            }
        }
        Assert.Equal(expectedActor, agent.Metrics["actor_loss"], 1e-4 * Math.Abs(expectedActor) + 1e-6);
    }

    /// <summary>Layer norm after each hidden activation, per critic: each member's own scale and shift.</summary>
    [Fact]
    public void TheCriticsNormalizeAfterTheActivationEachWithItsOwnScale()
    {
        var agent = AlgorithmRegistry.Create("rebrac", 3, Box.Uniform(2, -1f, 1f), 1, JsonDocument.Parse("""{"hidden": [8, 8]}""").RootElement);
        var critic = (EnsembleMlp)agent.NamedModules.Single(x => x.Name == "critic").Module;
        var gamma = critic.NamedParameters().Single(p => p.Name == "norms.1.weight").Value;
        Assert.Equal(new Shape(2, 1, 8), gamma.Shape);
        var rng = new Rng(2);
        rng.FillUniform(gamma.Data, 0.5f, 1.5f);
        var x = Tensor.Zeros(4, 5);
        rng.FillNormal(x.Data);
        using var scope = TensorScope.Begin();
        var q = critic.Forward(x).Data;
        for (int e = 0; e < 2; e++)
            for (int r = 0; r < 4; r++)
            {
                // member e by hand: (Linear, ReLU, LayerNorm) x 2, Linear
                var h = x.Data.AsSpan(r * 5, 5).ToArray();
                for (int l = 0; l < 2; l++)
                {
                    var lin = critic.Layers[l];
                    int inF = lin.Weight.Shape[1], outF = lin.Weight.Shape[2];
                    var z = new double[outF];
                    for (int j = 0; j < outF; j++)
                    {
                        double s = lin.Bias.Data[e * outF + j];
                        for (int i = 0; i < inF; i++) s += h[i] * lin.Weight.Data[(e * inF + i) * outF + j];
                        z[j] = Math.Max(0, s);
                    }
                    double mean = z.Average(), var_ = z.Select(v => (v - mean) * (v - mean)).Average();
                    var g = critic.NamedParameters().Single(p => p.Name == $"norms.{l}.weight").Value.Data;
                    var bt = critic.NamedParameters().Single(p => p.Name == $"norms.{l}.bias").Value.Data;
                    h = z.Select((v, j) => (float)((v - mean) / Math.Sqrt(var_ + 1e-6) * g[e * outF + j] + bt[e * outF + j])).ToArray();
                }
                var last = critic.Layers[2];
                double o = last.Bias.Data[e];
                for (int i = 0; i < 8; i++) o += h[i] * last.Weight.Data[e * 8 + i];
                Assert.Equal(o, q[e * 4 + r], 1e-4);
            }
    }

    /// <summary>
    /// Issue 36's reduction: ReBRAC with beta_2 = 0, no layer norm and TD3+BC's networks is TD3+BC with
    /// alpha = 1 / (beta_1 |A|), its actor loss times beta_1 |A| (here beta_1 = 1/2 and |A| = 2, so the scale is 1). Two
    /// differences are ReBRAC's own and stay: its actor reads min_i Q_i where TD3+BC reads Q_1, so the second critic is
    /// started 100 above the first (the minimum is then Q_1 on the batch, before and after the update); and its actor
    /// target moves towards the actor before the actor's step (CORL's update_actor), TD3+BC's after. One update from the
    /// same networks on the same batch (policy_freq 1, no smoothing noise): the same critics, critic targets and actor.
    /// </summary>
    [Fact]
    public void WithoutItsCriticPenaltyAndLayerNormReBracIsTd3BcWithAlphaOneOverBetaTimesTheActionWidth()
    {
        const int n = 400;
        var rng = new Rng(12);
        var obs = new float[n * 3]; var act = new float[n * 2]; var rew = new float[n];
        rng.FillNormal(obs); rng.FillUniform(act, -1f, 1f); rng.FillNormal(rew);
        var tout = Enumerable.Range(0, n).Select(i => i % 40 == 39).ToArray();
        var data = new Dataset(new DatasetColumns { Observations = obs, Actions = act, Rewards = rew, Terminals = new bool[n], Timeouts = tout },
            Box.Unbounded(3), Box.Uniform(2, -1f, 1f));
        const string shared = """ "hidden": [16, 16], "actor_lr": 1e-3, "critic_lr": 1e-3, "policy_freq": 1, "policy_noise": 0, "tau": 0.25, "normalize_observations": false, "qlearning_rows": true""";
        var (rebrac, prepared) = Training.Prepare("rebrac", data, 3, JsonDocument.Parse(
            "{" + shared + """, "actor_bc_coef": 0.5, "critic_bc_coef": 0, "critic_layer_norm": false}""").RootElement);
        var td3bc = AlgorithmRegistry.Create("td3bc", 3, Box.Uniform(2, -1f, 1f), 5, JsonDocument.Parse("{" + shared + """, "alpha": 1}""").RootElement);

        var r = rebrac.NamedModules.ToDictionary(x => x.Name, x => x.Module);
        var t = td3bc.NamedModules.ToDictionary(x => x.Name, x => x.Module);
        foreach (var name in new[] { "critic", "critic_target" })
        {
            var outputBias = r[name].Parameters()[^1];   // [members, 1]
            outputBias.Data[1] += 100f;
        }
        foreach (var (name, module) in r)
        {
            var from = module.Parameters(); var to = t[name].Parameters();
            Assert.Equal(from.Count, to.Count);
            for (int p = 0; p < from.Count; p++) from[p].Data.CopyTo(to[p].Data, 0);
        }
        var actorBefore = r["actor"].Parameters().Select(p => (float[])p.Data.Clone()).ToArray();
        var actorTargetBefore = r["actor_target"].Parameters().Select(p => (float[])p.Data.Clone()).ToArray();

        var b = new UniformSampler(prepared, 64, new Rng(8)).Sample();
        rebrac.Update(b);
        td3bc.Update(b);

        foreach (var name in new[] { "critic", "critic_target", "actor" })
        {
            var x = r[name].Parameters(); var y = t[name].Parameters();
            for (int p = 0; p < x.Count; p++)
                for (int i = 0; i < x[p].Size; i++)
                    Assert.True(Math.Abs(x[p].Data[i] - y[p].Data[i]) <= 1e-6f + 1e-5f * Math.Abs(y[p].Data[i]), $"{name} parameter {p}[{i}]: rebrac {x[p].Data[i]}, td3bc {y[p].Data[i]}");
        }
        Assert.Equal(td3bc.Metrics["actor_loss"], rebrac.Metrics["actor_loss"], 1e-5);
        double moved = 0;
        for (int p = 0; p < actorBefore.Length; p++)
            for (int i = 0; i < actorBefore[p].Length; i++) moved = Math.Max(moved, Math.Abs(r["actor"].Parameters()[p].Data[i] - actorBefore[p][i]));
        Assert.True(moved > 1e-4, $"the actor moved by {moved} only");
        // the minimum over the critics is still Q_1 after the update
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
        {
            var pi = ((Mlp)r["actor"]).Forward(b.ObsT);
            var q = Networks.Q((EnsembleMlp)r["critic"], b.ObsT, pi).Data;
            for (int i = 0; i < b.Size; i++) Assert.True(q[b.Size + i] > q[i] + 50f);
        }
        // the actor targets: ReBRAC's a quarter of the way to the actor before its step, TD3+BC's to the actor after it
        var rt = r["actor_target"].Parameters(); var tt = t["actor_target"].Parameters(); var actorNow = r["actor"].Parameters();
        for (int p = 0; p < rt.Count; p++)
            for (int i = 0; i < rt[p].Size; i++)
            {
                Assert.Equal(0.75f * actorTargetBefore[p][i] + 0.25f * actorBefore[p][i], rt[p].Data[i], 1e-6f);
                Assert.Equal(0.75f * actorTargetBefore[p][i] + 0.25f * actorNow[p].Data[i], tt[p].Data[i], 1e-5f);
            }
    }

    [Fact]
    public void WithoutItsDatasetOrWithNStepTargetsReBracSaysSo()
    {
        var agent = AlgorithmRegistry.Create("rebrac", 3, Box.Uniform(2, -1f, 1f), 0);
        var e = Assert.Throws<InvalidOperationException>(() => agent.Update(new TransitionBatch(8, 3, 2)));
        Assert.Contains("no dataset to take the next actions from", e.Message);
        var bad = Assert.Throws<ArgumentException>(() => AlgorithmRegistry.Create("rebrac", 3, Box.Uniform(2, -1f, 1f), 0,
            JsonDocument.Parse("""{"sampler": "n_step", "n_step": 3}""").RootElement));
        Assert.Contains("'sampler'", bad.Message);
        // a dataset in which every row ends an episode holds no next action
        var ends = new Dataset(new DatasetColumns { Observations = new float[6], Actions = new float[4], Rewards = new float[2], Terminals = [true, true], Timeouts = [false, false] },
            Box.Unbounded(3), Box.Uniform(2, -1f, 1f));
        var none = Assert.Throws<DataException>(() => agent.UseDataset(ends));
        Assert.Contains("next_actions", none.Message);
    }

    /// <summary>
    /// Online (CORL's finetune/rebrac.py): the critic's penalty is off, so an update needs no dataset's next actions; the
    /// actor's beta_1 falls linearly over the phase's updates to min_decay_coef of itself and stays there.
    /// </summary>
    [Fact]
    public void OnlineTheCriticPenaltyIsOffAndTheActorPenaltyDecays()
    {
        var agent = AlgorithmRegistry.Create("rebrac", 3, Box.Uniform(2, -1f, 1f), 0,
            JsonDocument.Parse("""{"hidden": [8, 8], "batch_size": 8, "actor_bc_coef": 0.4, "min_decay_coef": 0.25}""").RootElement);
        var batch = new TransitionBatch(8, 3, 2);
        new Rng(2).FillNormal(batch.Obs);
        Array.Fill(batch.Discount, 0.99f);
        agent.StartOnline(new OnlinePhase(FirstUpdate: 0, Updates: 100));
        var coef = new List<float>();
        for (int u = 0; u < 100; u++)
        {
            agent.Update(batch);   // no UseDataset: online, nothing reads a next action
            if (u % 2 == 0) coef.Add(agent.Metrics["actor_bc_coef"]);
        }
        Assert.Equal(0.4f, coef[0], 6);                        // (100 - 0) / 100 of beta_1 at the first update
        Assert.Equal(0.4f * 0.5f, coef[25], 6);                // update 50: half the phase to come
        Assert.Equal(0.4f * 0.25f, coef[^1], 6);               // update 98: 2% to come, held at min_decay_coef
    }
}
