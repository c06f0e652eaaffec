using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Data;

/// <summary>Settings of the inverse-dynamics model (defaults follow Zheng et al. 2023: a 2x256 ReLU MLP trained with Adam).</summary>
public sealed record InverseDynamicsConfig(int[]? Hidden = null, int Steps = 5000, int BatchSize = 256, double LearningRate = 3e-4, double HoldOut = 0.1, ulong Seed = 0);

/// <summary>
/// Labels action-free trajectories for semi-supervised offline RL (Zheng et al., "Semi-Supervised Offline
/// Reinforcement Learning with Action-Free Trajectories", ICML 2023): an inverse-dynamics model a = f(s, s') is
/// fit on the labeled part, its error is measured on held-out labeled episodes, and it labels the rest.
/// </summary>
public sealed class InverseDynamics
{
    private readonly Mlp _net;
    private readonly Box? _bounds;
    public double HeldOutMse { get; private set; }
    public double HeldOutMae { get; private set; }
    public int TrainTransitions { get; private set; }
    public int HeldOutTransitions { get; private set; }

    private InverseDynamics(Mlp net, Box? bounds) { _net = net; _bounds = bounds; }

    public static InverseDynamics Train(Dataset labeled, InverseDynamicsConfig? config = null)
    {
        var c = config ?? new InverseDynamicsConfig();
        if (labeled.DiscreteActions) throw new ArgumentException("inverse dynamics: continuous actions only (discrete actions need a classifier)");
        var full = labeled.WithNextObservations();
        var rng = new Rng(c.Seed);
        int od = full.ObservationDim, ad = full.ActionDim;
        // Hold out whole episodes, so the error is measured on trajectories the model never saw.
        var episodes = rng.Permutation(full.EpisodeCount);
        int hold = full.EpisodeCount > 1 ? Math.Max(1, (int)Math.Round(full.EpisodeCount * c.HoldOut)) : 0;
        var testSet = new HashSet<int>(episodes.Take(hold));
        var train = new List<int>(); var test = new List<int>();
        for (int i = 0; i < full.Count; i++) (testSet.Contains(full.EpisodeOf(i)) ? test : train).Add(i);
        if (train.Count == 0) throw new ArgumentException("inverse dynamics: no labeled transitions to train on");
        var bounds = full.ActionSpace as Box is { IsBounded: true } b ? b : null;
        bool tanh = bounds is not null && bounds.Low.All(x => x == -1f) && bounds.High.All(x => x == 1f);
        var net = new Mlp(new MlpConfig(2 * od, c.Hidden ?? [256, 256], ad, Activation.Relu, tanh ? Activation.Tanh : Activation.None), rng);
        var model = new InverseDynamics(net, bounds) { TrainTransitions = train.Count, HeldOutTransitions = test.Count };
        var opt = new Adam(net.Parameters(), c.LearningRate);
        var x = Tensor.Zeros(c.BatchSize, 2 * od);
        var y = Tensor.Zeros(c.BatchSize, ad);
        for (int step = 0; step < c.Steps; step++)
        {
            for (int k = 0; k < c.BatchSize; k++)
            {
                int i = train[rng.NextInt(train.Count)];
                full.Observation(i).CopyTo(x.Data.AsSpan(k * 2 * od, od));
                full.NextObservation(i).CopyTo(x.Data.AsSpan(k * 2 * od + od, od));
                full.Action(i).CopyTo(y.Data.AsSpan(k * ad, ad));
            }
            using var _ = TensorScope.Begin();
            opt.ZeroGrad();
            (net.Forward(x) - y).Square().Mean().Backward();
            opt.Step();
        }
        if (test.Count > 0)
        {
            var pred = model.Predict(full, test);
            double se = 0, ae = 0;
            for (int k = 0; k < test.Count; k++)
            {
                var a = full.Action(test[k]);
                for (int j = 0; j < ad; j++) { double e = pred[k * ad + j] - a[j]; se += e * e; ae += Math.Abs(e); }
            }
            model.HeldOutMse = se / (test.Count * ad);
            model.HeldOutMae = ae / (test.Count * ad);
        }
        return model;
    }

    private float[] Predict(Dataset d, IReadOnlyList<int> rows)
    {
        int od = d.ObservationDim, ad = d.ActionDim;
        var outp = new float[rows.Count * ad];
        const int chunk = 1024;
        for (int s = 0; s < rows.Count; s += chunk)
        {
            int b = Math.Min(chunk, rows.Count - s);
            var x = Tensor.Zeros(b, 2 * od);
            for (int k = 0; k < b; k++)
            {
                d.Observation(rows[s + k]).CopyTo(x.Data.AsSpan(k * 2 * od, od));
                d.NextObservation(rows[s + k]).CopyTo(x.Data.AsSpan(k * 2 * od + od, od));
            }
            using var _ = TensorScope.Begin();
            using var ng = Tensor.NoGrad();
            _net.Forward(x).Data.AsSpan(0, b * ad).CopyTo(outp.AsSpan(s * ad));
        }
        if (_bounds is not null)
            for (int i = 0; i < outp.Length; i++) outp[i] = Math.Clamp(outp[i], _bounds.Low[i % ad], _bounds.High[i % ad]);
        return outp;
    }

    /// <summary>Label the actions of action-free trajectories (their action column is ignored and replaced).</summary>
    public Dataset Label(Dataset actionFree)
    {
        var full = actionFree.WithNextObservations();
        var rows = Enumerable.Range(0, full.Count).ToArray();
        var actions = Predict(full, rows);
        var c = full.CopyColumns();
        var labeled = new DatasetColumns
        {
            Observations = c.Observations, NextObservations = c.NextObservations, Actions = actions, Rewards = c.Rewards,
            Terminals = c.Terminals, Timeouts = c.Timeouts, Costs = c.Costs, Extras = c.Extras,
        };
        return full.With(labeled, $"actions labeled by an inverse-dynamics model (held-out MSE {HeldOutMse:G4})");
    }
}
