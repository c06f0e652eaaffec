using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>Model-based OPE settings: a Gaussian MLP dynamics model, then rollouts of the target policy in it.</summary>
public sealed record ModelBasedConfig(
    [property: FieldRange("[1, inf)")] int Steps = 10_000,
    [property: FieldRange("[1, 16384]")] int[]? Hidden = null,
    [property: FieldRange("(0, inf)")] float LearningRate = 1e-3f,
    [property: FieldRange("[1, 1000000]")] int BatchSize = 256,
    [property: FieldRange("[1, 10000]")] int RolloutsPerStart = 1,
    [property: FieldRange("[1, 100000000]")] int? Horizon = null,
    [property: FieldRange("[1, 100000000]")] int MaxStarts = 1000,
    ulong Seed = 0)
{
    public int[] HiddenLayers => Hidden ?? [200, 200];

    /// <summary>Refuses settings no model could be fitted with (each field's range is beside it).</summary>
    public void Validate() => FieldRange.Check(this with { Hidden = HiddenLayers });
}

/// <summary>
/// Model-based OPE (Paduraru 2013; Voloshin et al. 2021, "model-based" in their benchmark): learn
/// p(s' - s, r | s, a) as a diagonal Gaussian MLP trained by negative log-likelihood, and a termination classifier
/// when the data has terminals; then roll the target policy out from the logged initial states for the data's
/// longest episode length and average the discounted returns.
/// </summary>
public sealed class ModelBasedOpe
{
    private readonly Mlp _net;
    private readonly int _od, _ad, _actions, _in, _out;
    private readonly bool _terminals;
    private readonly float[] _sMean, _sStd, _yMean, _yStd;
    private readonly ModelBasedConfig _c;

    private ModelBasedOpe(Mlp net, int od, int ad, int actions, bool terminals, float[] sMean, float[] sStd, float[] yMean, float[] yStd, ModelBasedConfig c)
    {
        _net = net; _od = od; _ad = ad; _actions = actions; _terminals = terminals;
        _in = od + (actions > 0 ? actions : ad); _out = od + 1;
        _sMean = sMean; _sStd = sStd; _yMean = yMean; _yStd = yStd; _c = c;
    }

    private void Input(ReadOnlySpan<float> s, ReadOnlySpan<float> a, Span<float> x)
    {
        Fqe.Normalize(s, _sMean, _sStd, x[.._od]);
        if (_actions > 0) { x.Slice(_od, _actions).Clear(); x[_od + (int)a[0]] = 1; }
        else a.CopyTo(x[_od..]);
    }

    public static ModelBasedOpe Fit(Dataset data, ModelBasedConfig? config = null)
    {
        var c = config ?? new ModelBasedConfig();
        c.Validate();
        int n = data.Count, od = data.ObservationDim, ad = data.ActionDim;
        int actions = data.ActionSpace is Discrete dd ? dd.N : 0;
        bool terminals = false;
        for (int i = 0; i < n; i++) terminals |= data.Terminals[i];
        var rows = new List<int>();
        for (int i = 0; i < n; i++) if (data.HasNext(i)) rows.Add(i);
        var (sMean, sStd) = Fqe.Standardizer(data);
        int outDim = od + 1;
        // Target standardization: delta state and reward.
        var yMean = new float[outDim]; var yStd = new float[outDim];
        foreach (var i in rows)
        {
            var s = data.Observation(i); var s2 = data.NextObservation(i);
            for (int j = 0; j < od; j++) yMean[j] += (s2[j] - s[j]) / rows.Count;
            yMean[od] += data.Rewards[i] / rows.Count;
        }
        foreach (var i in rows)
        {
            var s = data.Observation(i); var s2 = data.NextObservation(i);
            for (int j = 0; j < od; j++) { float e = s2[j] - s[j] - yMean[j]; yStd[j] += e * e / rows.Count; }
            float er = data.Rewards[i] - yMean[od]; yStd[od] += er * er / rows.Count;
        }
        for (int j = 0; j < outDim; j++) yStd[j] = MathF.Sqrt(yStd[j]) + 1e-6f;
        var rng = new Rng(c.Seed);
        int heads = 2 * outDim + (terminals ? 1 : 0);
        var net = new Mlp(od + (actions > 0 ? actions : ad), c.HiddenLayers, heads, rng, Activation.Relu);
        var model = new ModelBasedOpe(net, od, ad, actions, terminals, sMean, sStd, yMean, yStd, c);
        var opt = new Adam(net.Parameters(), c.LearningRate);
        int B = Math.Min(c.BatchSize, rows.Count), inDim = model._in;
        var x = new float[B * inDim]; var y = new float[B * outDim]; var done = new float[B];
        var xT = Tensor.FromArray(x, B, inDim); var yT = Tensor.FromArray(y, B, outDim); var doneT = Tensor.FromArray(done, B, 1);
        for (int step = 0; step < c.Steps; step++)
        {
            for (int b = 0; b < B; b++)
            {
                int i = rows[rng.NextInt(rows.Count)];
                var s = data.Observation(i); var s2 = data.NextObservation(i);
                model.Input(s, data.Action(i), x.AsSpan(b * inDim, inDim));
                for (int j = 0; j < od; j++) y[b * outDim + j] = (s2[j] - s[j] - yMean[j]) / yStd[j];
                y[b * outDim + od] = (data.Rewards[i] - yMean[od]) / yStd[od];
                done[b] = data.Terminals[i] ? 1 : 0;
            }
            using (TensorScope.Begin())
            {
                var h = net.Forward(xT);
                var mu = h.Slice(1, 0, outDim);
                var logStd = h.Slice(1, outDim, outDim).Clamp(-10f, 2f);
                // Gaussian negative log-likelihood: 0.5 ((y - mu) / sigma)^2 + log sigma.
                var z = (yT - mu) * (-logStd).Exp();
                var loss = (z.Square() * 0.5f + logStd).Mean();
                if (terminals)
                {
                    var logit = h.Slice(1, 2 * outDim, 1);
                    loss = loss + (logit.Softplus() - logit * doneT).Mean();   // binary cross-entropy with logits
                }
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
                if (!float.IsFinite(loss.Item())) throw new TrainingDivergedException("model-based ope", "nll", loss.Item(), step);
            }
        }
        return model;
    }

    /// <summary>Discounted return of each rollout (one entry per start and rollout).</summary>
    public double[] Rollouts(Dataset data, IProbabilisticPolicy target, double gamma)
    {
        int od = _od;
        var starts = new List<int>();
        for (int e = 0; e < data.EpisodeCount && starts.Count < _c.MaxStarts; e++) starts.Add(data.EpisodeStart(e));
        int horizon = _c.Horizon ?? Enumerable.Range(0, data.EpisodeCount).Max(data.EpisodeLength);
        var rng = new Rng(_c.Seed + 1);
        var s = new float[od]; var a = new float[Math.Max(1, _ad)];
        var x = new float[_in]; var xT = Tensor.FromArray(x, 1, _in);
        var returns = new double[starts.Count * _c.RolloutsPerStart];
        int k = 0;
        foreach (var start in starts)
            for (int r = 0; r < _c.RolloutsPerStart; r++)
            {
                data.Observation(start).CopyTo(s);
                double g = 0, disc = 1;
                for (int t = 0; t < horizon; t++, disc *= gamma)
                {
                    target.Sample(s, a, rng);
                    Input(s, a, x);
                    bool terminal;
                    using (TensorScope.Begin())
                    using (Tensor.NoGrad())
                    {
                        var h = _net.Forward(xT).Data;
                        for (int j = 0; j <= od; j++)
                        {
                            double sd = Math.Exp(Math.Clamp(h[_out + j], -10f, 2f));
                            double v = (h[j] + sd * rng.NextNormal()) * _yStd[j] + _yMean[j];
                            if (j < od) s[j] += (float)v; else g += disc * v;
                        }
                        terminal = _terminals && h[2 * _out] > 0;   // p(done) > 0.5
                    }
                    if (terminal) break;
                }
                returns[k++] = g;
            }
        return returns;
    }
}
