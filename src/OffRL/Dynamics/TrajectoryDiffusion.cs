using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Dynamics;

/// <summary>
/// Settings of policy-guided diffusion (Jackson et al. 2024, "Policy-Guided Diffusion"): a denoising diffusion model
/// (Ho et al. 2020, DDPM: linear betas 1e-4 .. 0.02 over T steps, noise prediction) over segments of H transitions of
/// the dataset, sampled with the target policy's score added at every denoising step. OffRL's choices, where the paper
/// uses an EDM-trained U-Net on GPUs: an MLP denoiser 3 x 512 (SiLU) over the flattened, standardized segment and a
/// sinusoidal time embedding; segments of 16 transitions, as the paper's. The target policy's likelihood is a Gaussian
/// of std <see cref="PolicyStd"/> around its deterministic action (any OffRL agent has one).
/// </summary>
public sealed record DiffusionConfig
{
    /// <summary>Transitions per generated segment (H).</summary>
    [FieldRange("[1, 1000]")] public int Horizon { get; init; } = 16;
    /// <summary>Denoising steps T.</summary>
    [FieldRange("[2, 10000]")] public int Steps { get; init; } = 100;
    [FieldRange("[1, 16384]")] public int[] Hidden { get; init; } = [512, 512, 512];
    [FieldRange("(0, 10]")] public double LearningRate { get; init; } = 3e-4;
    [FieldRange("[1, 1000000]")] public int BatchSize { get; init; } = 256;
    /// <summary>Gradient steps of the fit.</summary>
    [FieldRange("[1, 1000000000]")] public int TrainSteps { get; init; } = 20_000;
    /// <summary>lambda, the weight of the target policy's score in sampling (0: the behavior distribution, unguided).</summary>
    [FieldRange("[0, 1000000]")] public float Guidance { get; init; }
    /// <summary>Std of the Gaussian around the target policy's action that guidance follows (in the action's units).</summary>
    [FieldRange("(0, 1000]")] public float PolicyStd { get; init; } = 0.1f;
    public ulong Seed { get; init; }
}

/// <summary>
/// A diffusion model of the dataset's H-step segments (s_0, a_0, r_0, ..., s_{H-1}, a_{H-1}, r_{H-1}, s_H), fitted
/// with the noise-prediction loss, and sampled into synthetic transitions for any offline algorithm, optionally guided
/// towards a target policy: at step t the denoised mean moves by lambda beta_t grad log pi(a | s) of the segment's
/// current clean estimate (the paper's policy guidance, eq. 8, on the x_0 estimate).
/// </summary>
public sealed class TrajectoryDiffusion
{
    private readonly Mlp _net;
    private readonly double[] _beta, _alpha, _alphaBar;
    private readonly float[] _mean, _std;
    private const int TimeFeatures = 32;

    public DiffusionConfig Config { get; }
    public int ObservationDim { get; }
    public int ActionDim { get; }
    /// <summary>Values per segment: H (obs + act + 1) + obs.</summary>
    public int Width { get; }

    public TrajectoryDiffusion(int observationDim, int actionDim, DiffusionConfig? config = null)
    {
        Config = config ?? new DiffusionConfig();
        FieldRange.Check(Config);
        ObservationDim = observationDim; ActionDim = actionDim;
        Width = Config.Horizon * (observationDim + actionDim + 1) + observationDim;
        _net = new Mlp(new MlpConfig(Width + TimeFeatures, Config.Hidden, Width, Activation.Silu), new Rng(Config.Seed));
        int T = Config.Steps;
        _beta = new double[T + 1]; _alpha = new double[T + 1]; _alphaBar = new double[T + 1];
        _alphaBar[0] = 1;
        for (int t = 1; t <= T; t++)
        {
            _beta[t] = 1e-4 + (0.02 - 1e-4) * (t - 1) / Math.Max(1, T - 1);
            _alpha[t] = 1 - _beta[t];
            _alphaBar[t] = _alphaBar[t - 1] * _alpha[t];
        }
        _mean = new float[Width]; _std = new float[Width];
        Array.Fill(_std, 1f);
    }

    /// <summary>Takes a fitted model's weights and standardization (one of the same shape), e.g. to sample it with other guidance.</summary>
    public void CopyFrom(TrajectoryDiffusion other)
    {
        if (other.Width != Width || !other.Config.Hidden.AsSpan().SequenceEqual(Config.Hidden) || other.Config.Steps != Config.Steps)
            throw new ArgumentException("diffusion: the models differ in shape (horizon, widths or steps)");
        _net.CopyParametersFrom(other._net);
        other._mean.CopyTo(_mean, 0);
        other._std.CopyTo(_std, 0);
    }

    /// <summary>Where a segment's step <paramref name="t"/> starts in the flattened vector (its s_t; s_H at t = H).</summary>
    private int At(int t) => t * (ObservationDim + ActionDim + 1);

    /// <summary>The first rows of every H-step segment inside one episode whose rows all have a next observation.</summary>
    private static List<int> SegmentStarts(Dataset d, int h)
    {
        var starts = new List<int>();
        for (int i = 0; i + h <= d.Count; i++)
        {
            bool ok = true;
            for (int k = 0; k < h && ok; k++) ok = d.HasNext(i + k) && (k == h - 1 || !(d.Terminals[i + k] || d.Timeouts[i + k]));
            if (ok) starts.Add(i);
        }
        return starts;
    }

    private void Flatten(Dataset d, int start, Span<float> x)
    {
        int od = ObservationDim, ad = ActionDim;
        for (int k = 0; k < Config.Horizon; k++)
        {
            int at = At(k);
            d.Observation(start + k).CopyTo(x.Slice(at, od));
            d.Action(start + k).CopyTo(x.Slice(at + od, ad));
            x[at + od + ad] = d.Rewards[start + k];
        }
        d.NextObservation(start + Config.Horizon - 1).CopyTo(x.Slice(At(Config.Horizon), od));
    }

    /// <summary>Sinusoidal features of step t (of T) into [rows, 32], the same for every row.</summary>
    private float[] TimeEmbedding(int rows, int t)
    {
        var e = new float[rows * TimeFeatures];
        for (int r = 0; r < rows; r++) TimeEmbedding(t, e.AsSpan(r * TimeFeatures, TimeFeatures));
        return e;
    }

    /// <summary>Step t's sinusoidal features into one row of 32.</summary>
    private void TimeEmbedding(int t, Span<float> into)
    {
        double tau = (double)t / Config.Steps;
        for (int f = 0; f < TimeFeatures / 2; f++)
        {
            double w = Math.Pow(1000, -(double)f / (TimeFeatures / 2)) * 1000 * tau;
            into[f] = (float)Math.Sin(w); into[TimeFeatures / 2 + f] = (float)Math.Cos(w);
        }
    }

    private Tensor PredictNoise(Tensor x, int rows, int t) =>
        _net.Forward(Tensor.Concat(x, Tensor.FromArray(TimeEmbedding(rows, t), rows, TimeFeatures), -1));

    /// <summary>
    /// Fits the model to <paramref name="data"/>'s segments: each value standardized by its kind (observation, action,
    /// reward column over the data), then per step a batch of segments, a random t and noise, and one Adam step on
    /// mean (eps_hat - eps)^2. Returns the last 100 steps' mean loss.
    /// </summary>
    public double Fit(Dataset data, IProgress<string>? progress = null)
    {
        if (data.ObservationDim != ObservationDim || data.ActionDim != ActionDim)
            throw new DataException($"the diffusion model takes {ObservationDim} observations and {ActionDim} actions, the dataset has {data.ObservationDim} and {data.ActionDim}", data.Where);
        int h = Config.Horizon, w = Width, od = ObservationDim, ad = ActionDim;
        var starts = SegmentStarts(data, h);
        if (starts.Count == 0)
            throw new DataException($"no segment of {h} transitions inside one episode (the episodes are shorter; a smaller horizon)", data.Where, "horizon");
        var all = new float[starts.Count * w];
        for (int k = 0; k < starts.Count; k++) Flatten(data, starts[k], all.AsSpan(k * w, w));
        // one mean and std per observation, action and reward column, shared by every step of the segment
        var (om, os) = ColumnStats.MeanStd(data.Observations, od);
        var (am, asd) = ColumnStats.MeanStd(data.Actions, ad);
        var (rm, rs) = ColumnStats.MeanStd(data.Rewards, 1);
        for (int k = 0; k <= h; k++)
        {
            int at = At(k);
            for (int j = 0; j < od; j++) { _mean[at + j] = (float)om[j]; _std[at + j] = (float)os[j] + 1e-6f; }
            if (k == h) break;
            for (int j = 0; j < ad; j++) { _mean[at + od + j] = (float)am[j]; _std[at + od + j] = (float)asd[j] + 1e-6f; }
            _mean[at + od + ad] = (float)rm[0]; _std[at + od + ad] = (float)rs[0] + 1e-6f;
        }
        for (int i = 0; i < all.Length; i++) all[i] = (all[i] - _mean[i % w]) / _std[i % w];

        var rng = new Rng(Config.Seed + 1);
        var opt = new Adam(_net.Parameters(), Config.LearningRate);
        int b = Config.BatchSize;
        var x0 = new float[b * w]; var eps = new float[b * w]; var xt = new float[b * w]; var emb = new float[b * TimeFeatures];
        double recent = 0;
        for (int step = 0; step < Config.TrainSteps; step++)
        {
            rng.FillNormal(eps);
            for (int r = 0; r < b; r++)
            {
                all.AsSpan(rng.NextInt(starts.Count) * w, w).CopyTo(x0.AsSpan(r * w, w));
                int t = 1 + rng.NextInt(Config.Steps);
                float a = (float)Math.Sqrt(_alphaBar[t]), s = (float)Math.Sqrt(1 - _alphaBar[t]);
                for (int j = 0; j < w; j++) xt[r * w + j] = a * x0[r * w + j] + s * eps[r * w + j];
                TimeEmbedding(t, emb.AsSpan(r * TimeFeatures, TimeFeatures));   // no allocation per row
            }
            float loss;
            using (TensorScope.Begin())
            {
                var pred = _net.Forward(Tensor.Concat(Tensor.FromArray(xt, b, w), Tensor.FromArray(emb, b, TimeFeatures), -1));
                var l = (pred - Tensor.FromArray(eps, b, w)).Square().Mean();
                opt.ZeroGrad();
                l.Backward();
                opt.Step();
                loss = l.Item();
            }
            if (!float.IsFinite(loss)) throw new TrainingDivergedException("diffusion", "loss", loss, step);
            if (step >= Config.TrainSteps - 100) recent += loss / Math.Min(100, Config.TrainSteps);
            if (progress is not null && (step + 1) % 1000 == 0) progress.Report($"diffusion step {step + 1}/{Config.TrainSteps}: loss {loss:G4}");
        }
        return recent;
    }

    /// <summary>
    /// <paramref name="segments"/> synthetic segments as a dataset (each an episode of H transitions ending in a
    /// timeout), guided by <paramref name="policy"/> (raw observations [B, obs] -&gt; its actions [B, act],
    /// differentiable) with weight <see cref="DiffusionConfig.Guidance"/>; actions clipped to the data's bounds.
    /// </summary>
    public Dataset Sample(int segments, Space observationSpace, Space actionSpace, Rng rng, Func<Tensor, Tensor>? policy = null)
    {
        if (segments < 1) throw new ArgumentException($"diffusion: segments must be >= 1, got {segments}");
        int w = Width, h = Config.Horizon, od = ObservationDim, ad = ActionDim;
        float lambda = policy is null ? 0f : Config.Guidance;
        var x = new float[segments * w];
        rng.FillNormal(x);
        var mean = Tensor.FromArray((float[])_mean.Clone(), 1, w);
        var std = Tensor.FromArray((float[])_std.Clone(), 1, w);
        for (int t = Config.Steps; t >= 1; t--)
        {
            using var scope = TensorScope.Begin();
            float[] eps;
            using (Tensor.NoGrad()) eps = PredictNoise(Tensor.FromArray(x, segments, w), segments, t).Data.AsSpan(0, segments * w).ToArray();
            double sa = Math.Sqrt(_alpha[t]), s1 = Math.Sqrt(1 - _alphaBar[t]), sab = Math.Sqrt(_alphaBar[t]);
            var grad = lambda > 0 ? Score(x, eps, sab, s1, mean, std, segments, policy!) : null;
            for (int i = 0; i < x.Length; i++)
            {
                double mu = (x[i] - _beta[t] / s1 * eps[i]) / sa;
                if (grad is not null) mu += lambda * _beta[t] * grad[i];
                x[i] = (float)mu;
            }
            if (t > 1)
            {
                float sigma = (float)Math.Sqrt(_beta[t]);
                for (int i = 0; i < x.Length; i++) x[i] += sigma * rng.Normal();
            }
        }
        for (int i = 0; i < x.Length; i++) x[i] = x[i] * _std[i % w] + _mean[i % w];
        return ToDataset(x, segments, observationSpace, actionSpace);
    }

    /// <summary>
    /// grad over the segment of sum_t log N(a_t; pi(s_t), std^2), at the clean estimate x0 = (x - sqrt(1 - abar) eps) /
    /// sqrt(abar), in standardized units, for every value of every segment.
    /// </summary>
    private float[] Score(float[] x, float[] eps, double sab, double s1, Tensor mean, Tensor std, int segments, Func<Tensor, Tensor> policy)
    {
        int w = Width, h = Config.Horizon, od = ObservationDim, ad = ActionDim;
        var x0 = new float[x.Length];
        for (int i = 0; i < x.Length; i++) x0[i] = (float)((x[i] - s1 * eps[i]) / sab);
        var z = Tensor.FromArray(x0, segments, w);
        z.RequiresGrad = true;
        var raw = z * std + mean;
        Tensor? total = null;
        for (int k = 0; k < h; k++)
        {
            var s = raw.Slice(-1, At(k), od);
            var a = raw.Slice(-1, At(k) + od, ad);
            var ll = (a - policy(s)).Square().Sum() * (-0.5f / (Config.PolicyStd * Config.PolicyStd));
            total = total is null ? ll : total + ll;
        }
        var g = Tensor.Gradient(total!, z, createGraph: false);
        return g.Data.AsSpan(0, x.Length).ToArray();
    }

    private Dataset ToDataset(float[] x, int segments, Space observationSpace, Space actionSpace)
    {
        int w = Width, h = Config.Horizon, od = ObservationDim, ad = ActionDim, n = segments * h;
        var c = new DatasetColumns
        {
            Observations = new float[n * od], NextObservations = new float[n * od], Actions = new float[n * ad], Rewards = new float[n],
            Terminals = new bool[n], Timeouts = new bool[n],
        };
        var box = actionSpace as Box;
        for (int g = 0; g < segments; g++)
            for (int k = 0; k < h; k++)
            {
                int row = g * h + k, at = g * w + At(k);
                x.AsSpan(at, od).CopyTo(c.Observations.AsSpan(row * od, od));
                for (int j = 0; j < ad; j++)
                {
                    float a = x[at + od + j];
                    c.Actions[row * ad + j] = box is { IsBounded: true } ? Math.Clamp(a, box.Low[j], box.High[j]) : a;
                }
                c.Rewards[row] = x[at + od + ad];
                x.AsSpan(g * w + At(k + 1), od).CopyTo(c.NextObservations.AsSpan(row * od, od));
                c.Timeouts[row] = k == h - 1;
            }
        return new Dataset(c, observationSpace, actionSpace, new DatasetInfo { Source = $"policy-guided diffusion: {segments} segments of {h}, guidance {Config.Guidance:G4}" });
    }
}
