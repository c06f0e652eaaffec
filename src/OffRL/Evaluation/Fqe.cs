using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>
/// Fitted Q evaluation (Le, Voloshin & Yue 2019): repeatedly regress Q(s,a) on r + gamma (1 - done) E_{a'~pi} Q_target(s',a').
/// Defaults follow d3rlpy's FQE: learning rate 1e-4, batch 100, hard target update every 100 steps, 256x256 network.
/// Hidden = [] with Linear = true solves each regression in closed form on linear features instead (exact on tabular
/// data with one-hot observations).
/// </summary>
public sealed record FqeConfig(
    [property: FieldRange("[1, inf)")] int Steps = 20_000,
    int[]? Hidden = null,
    [property: FieldRange("(0, inf)")] float LearningRate = 1e-4f,
    [property: FieldRange("[1, 1000000]")] int BatchSize = 100,
    [property: FieldRange("[1, inf)")] int TargetUpdateInterval = 100,
    bool Linear = false,
    [property: FieldRange("[1, inf)")] int LinearIterations = 2000,
    [property: FieldRange("[0, inf)")] double Ridge = 1e-6,
    ulong Seed = 0)
{
    public int[] HiddenLayers => Hidden ?? [256, 256];

    /// <summary>
    /// Refuses settings that would rank with an untrained or unbuildable network: steps at least 1 (fqe-steps 0 would
    /// report the initial weights' values), every field in its range, and the network's hidden widths within
    /// <see cref="Nn.Linear.MaxWidth"/> with batch x width within one tensor (the linear solver uses none).
    /// </summary>
    public void Validate()
    {
        FieldRange.Check(this);
        if (Linear) return;
        var h = HiddenLayers;
        if (h.Length == 0) throw new ArgumentException("config: field 'hidden' of FqeConfig must be a non-empty list of widths for the network (or set linear)");
        for (int i = 0; i < h.Length; i++)
        {
            if (h[i] < 1 || h[i] > Nn.Linear.MaxWidth)
                throw new ArgumentException($"config: field 'hidden' of FqeConfig must have every width in [1, {Nn.Linear.MaxWidth}] (element {i}), got {h[i]}");
            if ((long)BatchSize * h[i] > int.MaxValue)
                throw new ArgumentException($"config: field 'batch_size' of FqeConfig times hidden width {h[i]} is {(long)BatchSize * h[i]} values, more than one tensor holds ({int.MaxValue})");
        }
    }
}

public static class Fqe
{
    /// <summary>Fit Q for the target policy; returns Q at logged actions, V at every state, and the value of the initial states.</summary>
    public static (QEstimates Q, double Value) Fit(OpeData d, FqeConfig? config = null, IProgress<string>? progress = null)
    {
        var c = config ?? new FqeConfig();
        c.Validate();
        return c.Linear ? FitLinear(d, c) : FitNetwork(d, c, progress);
    }

    private static double InitialValue(OpeData d, double[] v)
    {
        double s = 0;
        var init = d.InitialRows();
        foreach (var i in init) s += v[i];
        return s / init.Length;
    }

    // ---- linear features, closed-form regression per iteration ----

    private static (QEstimates, double) FitLinear(OpeData d, FqeConfig c)
    {
        var data = d.Data;
        var feats = LinearFeatures.For(d, c.Seed);
        int n = data.Count, p = feats.Dim;
        var phi = new double[n, p]; var phiNext = new double[n, p]; var phiPi = new double[n, p];
        var row = new double[p];
        var ne = new NormalEquations(p);
        for (int i = 0; i < n; i++)
        {
            feats.Compute(data.Observation(i), data.Action(i), row);
            for (int j = 0; j < p; j++) phi[i, j] = row[j];
            ne.Add(row);
            feats.Expected(d, i, next: true, row);
            for (int j = 0; j < p; j++) phiNext[i, j] = row[j];
            feats.Expected(d, i, next: false, row);
            for (int j = 0; j < p; j++) phiPi[i, j] = row[j];
        }
        ne.AddRidge(c.Ridge * n);
        var theta = new double[p]; var xty = new double[p];
        for (int it = 0; it < c.LinearIterations; it++)
        {
            Array.Clear(xty);
            for (int i = 0; i < n; i++)
            {
                double y = data.Rewards[i];
                if (!data.Terminals[i] && d.HasNext[i])
                {
                    double qn = 0;
                    for (int j = 0; j < p; j++) qn += phiNext[i, j] * theta[j];
                    y += d.Gamma * qn;
                }
                for (int j = 0; j < p; j++) xty[j] += phi[i, j] * y;
            }
            var next = ne.Solve(xty);   // X'X is factored once
            double delta = 0;
            for (int j = 0; j < p; j++) { delta = Math.Max(delta, Math.Abs(next[j] - theta[j])); theta[j] = next[j]; }
            if (delta < 1e-10) break;
        }
        var q = new double[n]; var v = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < p; j++) { q[i] += phi[i, j] * theta[j]; v[i] += phiPi[i, j] * theta[j]; }
        return (new QEstimates(q, v), InitialValue(d, v));
    }

    // ---- neural FQE ----

    private static (QEstimates, double) FitNetwork(OpeData d, FqeConfig c, IProgress<string>? progress)
    {
        var data = d.Data;
        int n = data.Count, od = data.ObservationDim, ad = data.ActionDim, A = d.Actions, K = d.Samples;
        bool discrete = A > 0;
        var rng = new Rng(c.Seed);
        int input = discrete ? od : od + ad, output = discrete ? A : 1;
        var q = new Mlp(input, c.HiddenLayers, output, rng);
        var qTarget = new Mlp(input, c.HiddenLayers, output, rng);
        qTarget.CopyParametersFrom(q);
        var opt = new Adam(q.Parameters(), c.LearningRate);
        var (mean, std) = Standardizer(data);
        var rows = new List<int>();
        for (int i = 0; i < n; i++) if (data.Terminals[i] || d.HasNext[i]) rows.Add(i);
        int B = Math.Min(c.BatchSize, rows.Count);
        var xs = new float[B * input]; var xn = new float[B * input];
        var mask = new float[B * output]; var piN = new float[B * output];
        var r = new float[B]; var notDone = new float[B];
        var xsT = Tensor.FromArray(xs, B, input); var xnT = Tensor.FromArray(xn, B, input);
        var maskT = Tensor.FromArray(mask, B, output); var piT = Tensor.FromArray(piN, B, output);
        var rT = Tensor.FromArray(r, B, 1); var ndT = Tensor.FromArray(notDone, B, 1);
        for (int step = 0; step < c.Steps; step++)
        {
            Array.Clear(mask);
            for (int b = 0; b < B; b++)
            {
                int i = rows[rng.NextInt(rows.Count)];
                var s2 = d.HasNext[i] ? data.NextObservation(i) : data.Observation(i);
                Normalize(data.Observation(i), mean, std, xs.AsSpan(b * input, od));
                Normalize(s2, mean, std, xn.AsSpan(b * input, od));
                if (discrete)
                {
                    mask[b * A + (int)data.Action(i)[0]] = 1;
                    d.PiNext.AsSpan(i * A, A).CopyTo(piN.AsSpan(b * A, A));
                }
                else
                {
                    data.Action(i).CopyTo(xs.AsSpan(b * input + od, ad));
                    d.SampledNext.AsSpan((i * K + rng.NextInt(K)) * ad, ad).CopyTo(xn.AsSpan(b * input + od, ad));
                    mask[b] = 1; piN[b] = 1;
                }
                r[b] = data.Rewards[i];
                notDone[b] = data.Terminals[i] ? 0 : 1;
            }
            using (TensorScope.Begin())
            {
                Tensor y;
                using (Tensor.NoGrad())
                    y = rT + (float)d.Gamma * ndT * (qTarget.Forward(xnT) * piT).Sum(1, keepDim: true);   // r + gamma E_pi Q_target(s', a')
                var qsa = (q.Forward(xsT) * maskT).Sum(1, keepDim: true);
                var loss = (qsa - y).Square().Mean();
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
                if (!float.IsFinite(loss.Item())) throw new TrainingDivergedException("fqe", "td_loss", loss.Item(), step);
                if (progress is not null && (step + 1) % 5000 == 0) progress.Report($"fqe step {step + 1}/{c.Steps}: loss {loss.Item():G4}");
            }
            if ((step + 1) % c.TargetUpdateInterval == 0) qTarget.CopyParametersFrom(q);
        }
        // Q at logged actions and V under pi for every row.
        var qLogged = new double[n]; var v = new double[n];
        var x1 = new float[input]; var x1T = Tensor.FromArray(x1, 1, input);
        for (int i = 0; i < n; i++)
        {
            Normalize(data.Observation(i), mean, std, x1.AsSpan(0, od));
            using (TensorScope.Begin())
            using (Tensor.NoGrad())
            {
                if (discrete)
                {
                    var outp = q.Forward(x1T).Data;
                    qLogged[i] = outp[(int)data.Action(i)[0]];
                    double vv = 0;
                    for (int a = 0; a < A; a++) vv += d.PiCurrent![i * A + a] * outp[a];
                    v[i] = vv;
                }
                else
                {
                    data.Action(i).CopyTo(x1.AsSpan(od, ad));
                    qLogged[i] = q.Forward(x1T).Item();
                    double vv = 0;
                    for (int k = 0; k < K; k++)
                    {
                        d.SampledCurrent.AsSpan((i * K + k) * ad, ad).CopyTo(x1.AsSpan(od, ad));
                        vv += q.Forward(x1T).Item();
                    }
                    v[i] = vv / K;
                }
            }
        }
        return (new QEstimates(qLogged, v), InitialValue(d, v));
    }

    /// <summary>Per-dimension observation mean and std (+1e-3) of a dataset, for standardizing network inputs.</summary>
    internal static (float[] Mean, float[] Std) Standardizer(Dataset data)
    {
        var (mean, std) = ColumnStats.MeanStd(data.Observations, data.ObservationDim);
        return (Array.ConvertAll(mean, m => (float)m), Array.ConvertAll(std, s => (float)s + 1e-3f));
    }

    internal static void Normalize(ReadOnlySpan<float> s, float[] mean, float[] std, Span<float> dst)
    {
        for (int j = 0; j < s.Length; j++) dst[j] = (s[j] - mean[j]) / std[j];
    }
}

/// <summary>
/// Features phi(s, a) for the linear estimators. Discrete actions: s (x) onehot(a) (one-hot s makes this tabular).
/// Continuous actions: random Fourier features of the standardized (s, a) plus a constant (Rahimi &amp; Recht 2007).
/// </summary>
public sealed class LinearFeatures
{
    private readonly int _od, _ad, _actions;
    private readonly double[]? _omega, _phase;
    private readonly float[] _mean, _std;
    public int Dim { get; }

    private LinearFeatures(OpeData d, int randomFeatures, double lengthScale, ulong seed)
    {
        _od = d.Data.ObservationDim; _ad = d.Data.ActionDim; _actions = d.Actions;
        (_mean, _std) = Fqe.Standardizer(d.Data);
        if (_actions > 0) { Dim = _od * _actions; return; }
        int z = _od + _ad;
        var rng = new Rng(seed);
        _omega = new double[randomFeatures * z]; _phase = new double[randomFeatures];
        for (int j = 0; j < _omega.Length; j++) _omega[j] = rng.NextNormal() / lengthScale;
        for (int j = 0; j < randomFeatures; j++) _phase[j] = 2 * Math.PI * rng.NextDouble();
        Dim = randomFeatures + 1;
    }

    public static LinearFeatures For(OpeData d, ulong seed = 0, int randomFeatures = 256, double lengthScale = 1.0) => new(d, randomFeatures, lengthScale, seed);

    public void Compute(ReadOnlySpan<float> s, ReadOnlySpan<float> a, Span<double> f)
    {
        f.Clear();
        if (_actions > 0) { int ai = (int)a[0]; for (int j = 0; j < _od; j++) f[ai * _od + j] = s[j]; return; }
        int D = Dim - 1, z = _od + _ad;
        double scale = Math.Sqrt(2.0 / D);
        for (int k = 0; k < D; k++)
        {
            double dot = _phase![k];
            for (int j = 0; j < _od; j++) dot += _omega![k * z + j] * (s[j] - _mean[j]) / _std[j];
            for (int j = 0; j < _ad; j++) dot += _omega![k * z + _od + j] * a[j];
            f[k] = scale * Math.Cos(dot);
        }
        f[D] = 1;
    }

    /// <summary>E_{a~pi} phi(s, a) at s_i (or s'_i) from the probabilities or samples cached in <paramref name="d"/>.</summary>
    public void Expected(OpeData d, int i, bool next, Span<double> f)
    {
        var data = d.Data;
        var s = next && d.HasNext[i] ? data.NextObservation(i) : data.Observation(i);
        Span<double> tmp = stackalloc double[Dim];
        f.Clear();
        Span<float> a = stackalloc float[Math.Max(1, _ad)];
        if (_actions > 0)
        {
            var pi = (next ? d.PiNext! : d.PiCurrent!).AsSpan(i * _actions, _actions);
            for (int k = 0; k < _actions; k++)
            {
                if (pi[k] == 0) continue;
                a[0] = k; Compute(s, a, tmp);
                for (int j = 0; j < Dim; j++) f[j] += pi[k] * tmp[j];
            }
            return;
        }
        int K = d.Samples;
        var src = next ? d.SampledNext! : d.SampledCurrent!;
        for (int k = 0; k < K; k++)
        {
            Compute(s, src.AsSpan((i * K + k) * _ad, _ad), tmp);
            for (int j = 0; j < Dim; j++) f[j] += tmp[j] / K;
        }
    }
}
