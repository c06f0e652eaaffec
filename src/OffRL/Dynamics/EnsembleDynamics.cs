using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Dynamics;

/// <summary>
/// A dynamics ensemble's settings, as OfflineRL-Kit trains the models of its MOPO and MOBILE
/// (yihaosun1124/OfflineRL-Kit @e3ce697: run_example/run_mopo.py and run_mobile.py arguments L58-66,
/// offlinerlkit/dynamics/ensemble_dynamics.py train/learn/validate, offlinerlkit/modules/dynamics_module.py,
/// offlinerlkit/nets/ensemble_linear.py): the probabilistic ensemble of PETS and MBPO (Chua et al. 2018; Janner et al.
/// 2019). Each member is a Gaussian MLP (SiLU, 4 x 200) from the standardized (s, a) to the mean and log-variance of
/// (s' - s, r); members are trained together on bootstrap resamples of the training rows.
/// </summary>
public sealed record DynamicsConfig
{
    /// <summary>Members of the ensemble (--n-ensemble 7).</summary>
    [FieldRange("[1, 1000]")] public int Members { get; init; } = 7;
    /// <summary>Members kept for prediction, the best by hold-out error (--n-elites 5).</summary>
    [FieldRange("[1, 1000]")] public int Elites { get; init; } = 5;
    /// <summary>Hidden widths (--dynamics-hidden-dims 200 200 200 200).</summary>
    [FieldRange("[1, 16384]")] public int[] Hidden { get; init; } = [200, 200, 200, 200];
    /// <summary>L2 coefficient of each layer's weights inside the loss, wd/2 ||W||^2, the output layer last (--dynamics-weight-decay).</summary>
    [FieldRange("[0, 1000]")] public float[] WeightDecays { get; init; } = [2.5e-5f, 5e-5f, 7.5e-5f, 7.5e-5f, 1e-4f];
    /// <summary>Adam's learning rate (--dynamics-lr 1e-3).</summary>
    [FieldRange("(0, 10]")] public float LearningRate { get; init; } = 1e-3f;
    /// <summary>Rows per member in a gradient step (train(batch_size=256)).</summary>
    [FieldRange("[1, 1000000]")] public int BatchSize { get; init; } = 256;
    /// <summary>Share of the rows held out to select members (holdout_ratio 0.2) ...</summary>
    [FieldRange("(0, 1)")] public double HoldoutRatio { get; init; } = 0.2;
    /// <summary>... and at most this many (min(int(n * 0.2), 1000)).</summary>
    [FieldRange("[1, 100000000]")] public int MaxHoldout { get; init; } = 1000;
    /// <summary>A member's weights are kept when its hold-out MSE falls by more than this share of its best (0.01).</summary>
    [FieldRange("[0, 1)")] public double ImprovementThreshold { get; init; } = 0.01;
    /// <summary>Stop after this many epochs in which no member improved (max_epochs_since_update 5).</summary>
    [FieldRange("[1, 1000000]")] public int MaxEpochsSinceUpdate { get; init; } = 5;
    /// <summary>Stop after this many epochs at most: none for MOPO, 30 for MOBILE (--dynamics-max-epochs).</summary>
    [FieldRange("[1, 1000000]")] public int? MaxEpochs { get; init; }
    /// <summary>Stop after this many gradient steps at most, the epoch cut short (OffRL's addition, not OfflineRL-Kit's: a budget that does not grow with the data; none by default).</summary>
    [FieldRange("[1, 1000000000]")] public int? MaxSteps { get; init; }
    /// <summary>Weight of sum(max log-variance) - sum(min log-variance) in the loss (logvar_loss_coef 0.01).</summary>
    [FieldRange("[0, 1000]")] public float LogVarBoundCoef { get; init; } = 0.01f;
    /// <summary>The learned upper bound of the log-variance at start (max_logvar: 0.5).</summary>
    [FieldRange("[-100, 100]")] public float MaxLogVarInit { get; init; } = 0.5f;
    /// <summary>The learned lower bound of the log-variance at start (min_logvar: -10).</summary>
    [FieldRange("[-100, 100]")] public float MinLogVarInit { get; init; } = -10f;
    /// <summary>Seed of the initialization, the split, the bootstrap and the shuffles.</summary>
    public ulong Seed { get; init; }

    /// <summary>Every field in its range; elites within the members; one weight decay per layer.</summary>
    public void Validate()
    {
        FieldRange.Check(this);
        if (Elites > Members) throw new ArgumentException($"config: field 'elites' of DynamicsConfig is {Elites}, more than the {Members} members");
        if (WeightDecays.Length != Hidden.Length + 1)
            throw new ArgumentException($"config: field 'weight_decays' of DynamicsConfig has {WeightDecays.Length} values; expected one per layer, {Hidden.Length + 1} (the hidden layers and the output)");
        if (MinLogVarInit >= MaxLogVarInit) throw new ArgumentException($"config: field 'min_log_var_init' of DynamicsConfig ({MinLogVarInit}) must be below max_log_var_init ({MaxLogVarInit})");
    }
}

/// <summary>
/// The ensemble's network: E Gaussian MLPs as one batched <see cref="EnsembleMlp"/> with outputs [mean, log-variance],
/// the log-variance soft-clamped between learned bounds (shared by the members, as dynamics_module.py):
/// lv = max - softplus(max - lv), then lv = min + softplus(lv - min).
/// </summary>
public sealed class DynamicsNetwork : Module
{
    public EnsembleMlp Body { get; }
    public Tensor MaxLogVar { get; }
    public Tensor MinLogVar { get; }
    public int Outputs { get; }

    public DynamicsNetwork(int inputs, int outputs, DynamicsConfig c, Rng rng)
    {
        Outputs = outputs;
        Body = Child("body", new EnsembleMlp(c.Members, new MlpConfig(inputs, c.Hidden, 2 * outputs, Activation.Silu), rng));
        // ensemble_linear.py: weights from trunc_normal_(std = 1 / (2 sqrt(in))) (cut at +-2), biases zero
        foreach (var layer in Body.Layers)
        {
            Init.TruncatedNormal(layer.Weight, 0f, 1f / (2f * MathF.Sqrt(layer.Weight.Shape[1])), -2f, 2f, rng);
            Init.Constant(layer.Bias, 0f);
        }
        MaxLogVar = Param("max_log_var", new Shape(outputs));
        MinLogVar = Param("min_log_var", new Shape(outputs));
        Init.Constant(MaxLogVar, c.MaxLogVarInit);
        Init.Constant(MinLogVar, c.MinLogVarInit);
    }

    /// <summary>x [B, in] (shared) or [E, B, in] -> mean and soft-clamped log-variance, each [E, B, outputs].</summary>
    public (Tensor Mean, Tensor LogVar) Forward(Tensor x)
    {
        var h = Body.Forward(x);
        int last = h.Shape.Rank - 1;
        var mean = h.Slice(last, 0, Outputs);
        var logVar = h.Slice(last, Outputs, Outputs);
        logVar = MaxLogVar - (MaxLogVar - logVar).Softplus();
        logVar = MinLogVar + (logVar - MinLogVar).Softplus();
        return (mean, logVar);
    }
}

/// <summary>
/// How uncertain the model is about a transition, the reward penalty of MOPO-style methods, over all members. As
/// OfflineRL-Kit's ensemble_dynamics.py step computes it (its uncertainty_mode): <see cref="Aleatoric"/> max over
/// members of ||sigma_e(s, a)|| over all outputs (MOPO's default); <see cref="PairwiseDiff"/> max over members of
/// ||mu_e - mean_e' mu_e'|| over the next-state outputs; <see cref="EnsembleStd"/> sqrt of the mean over next-state
/// outputs of the members' variance of mu. The two further heuristics Lu et al. 2022 ("Revisiting Design Choices in
/// Offline Model-Based RL", section 4) compare: <see cref="MaxPairwise"/> max over pairs of members of ||mu_i - mu_j||
/// over the next-state outputs (MOReL's disagreement); <see cref="LogLikelihoodVariance"/> the members' variance of
/// log N(s'; mu_e, sigma_e^2) summed over the next-state outputs, s' the transition the rollout drew (LOMPO's).
/// </summary>
public enum Uncertainty { Aleatoric, PairwiseDiff, EnsembleStd, MaxPairwise, LogLikelihoodVariance }

/// <summary>What a fit did: each member's best hold-out MSE, the elites, the epochs run.</summary>
/// <param name="ConstantMse">The hold-out MSE of a constant prediction, the training targets' mean: what the members are measured against.</param>
public sealed record DynamicsFitReport(double[] HoldoutMse, int[] Elites, int Epochs, int TrainRows, int HoldoutRows, double ConstantMse, long Steps)
{
    /// <summary>The mean hold-out MSE of the elites (what OfflineRL-Kit logs as the holdout loss).</summary>
    public double EliteHoldoutMse
    {
        get { double s = 0; foreach (var e in Elites) s += HoldoutMse[e]; return s / Elites.Length; }
    }
}

/// <summary>
/// An ensemble's state that is not trained by gradient: the input standardization, the elites (member indices, best
/// first) and a flag set once it is fitted or loaded. A module, so checkpoints of model-based agents save it by name.
/// </summary>
public sealed class DynamicsState : Module
{
    public Tensor InputMean { get; }
    public Tensor InputStd { get; }
    private readonly Tensor _elites;
    public Tensor Fitted { get; }
    private int[]? _cache;

    public DynamicsState(int inputs, int elites)
    {
        InputMean = Param("input_mean", new Shape(inputs));
        InputStd = Param("input_std", new Shape(inputs));
        _elites = Param("elites", new Shape(elites));
        Fitted = Param("fitted", new Shape(1));
        Init.Constant(InputStd, 1f);
        for (int e = 0; e < elites; e++) _elites.Data[e] = e;
    }

    /// <summary>The elites as indices (cached until they change; a loaded state is read afresh).</summary>
    public int[] Elites()
    {
        var d = _elites.Data;
        if (_cache is { } c && c.Length == _elites.Size)
        {
            bool same = true;
            for (int i = 0; i < c.Length && same; i++) same = c[i] == d[i];
            if (same) return c;
        }
        var e = new int[_elites.Size];
        for (int i = 0; i < e.Length; i++) e[i] = (int)d[i];
        return _cache = e;
    }

    public void SetElites(int[] elites)
    {
        if (elites.Length != _elites.Size) throw new ArgumentException($"dynamics: {elites.Length} elites, the ensemble keeps {_elites.Size}");
        for (int i = 0; i < elites.Length; i++) _elites.Data[i] = elites[i];
        _cache = null;
    }
}

/// <summary>
/// A learned model of the world from logged transitions: an ensemble of Gaussians over (s' - s, r) given (s, a),
/// fitted as OfflineRL-Kit fits it (<see cref="DynamicsConfig"/>), used by model-based OPE and model-based training.
/// Continuous actions enter as they are, discrete ones one-hot; inputs are standardized with the training rows'
/// statistics, targets are not.
/// </summary>
public sealed class EnsembleDynamics : IWorldModel
{
    public DynamicsConfig Config { get; }
    public DynamicsNetwork Network { get; }
    public int ObservationDim { get; }
    /// <summary>The action's width as the data holds it (1 for a discrete action).</summary>
    public int ActionDim { get; }
    /// <summary>Discrete actions (0 for continuous): the input holds them one-hot.</summary>
    public int DiscreteActions { get; }
    public int InputDim => ObservationDim + (DiscreteActions > 0 ? DiscreteActions : ActionDim);
    /// <summary>Outputs per member: s' - s and r.</summary>
    public int OutputDim => ObservationDim + 1;
    /// <summary>
    /// What the ensemble knows beyond its network, as a module a checkpoint saves beside it: the input standardization,
    /// the elites, and whether it was fitted (or loaded).
    /// </summary>
    public DynamicsState State { get; }
    /// <summary>The input standardization (the training rows' mean and std; a std below 1e-12 taken as 1).</summary>
    public float[] InputMean => State.InputMean.Data;
    public float[] InputStd => State.InputStd.Data;
    /// <summary>The members used for prediction, best first.</summary>
    public int[] Elites
    {
        get => State.Elites();
        private set => State.SetElites(value);
    }
    /// <summary>Whether the ensemble was fitted to data or loaded (a new one predicts from its random weights).</summary>
    public bool Fitted => State.Fitted.Data[0] != 0f;

    public EnsembleDynamics(int observationDim, int actionDim, int discreteActions, DynamicsConfig? config = null)
    {
        Config = config ?? new DynamicsConfig();
        Config.Validate();
        ObservationDim = observationDim; ActionDim = actionDim; DiscreteActions = discreteActions;
        Network = new DynamicsNetwork(InputDim, OutputDim, Config, new Rng(Config.Seed));
        State = new DynamicsState(InputDim, Config.Elites);
    }

    /// <summary>An ensemble shaped for <paramref name="data"/>'s observations and actions.</summary>
    public static EnsembleDynamics For(Dataset data, DynamicsConfig? config = null) =>
        new(data.ObservationDim, data.ActionDim, DiscreteActionsOf(data), config);

    private static int DiscreteActionsOf(Dataset data) => data.ActionSpace is Discrete d ? d.N : 0;

    /// <summary>Whether this ensemble models <paramref name="data"/>'s observations and actions (widths and action kind).</summary>
    public bool Models(Dataset data) =>
        ObservationDim == data.ObservationDim && ActionDim == data.ActionDim && DiscreteActions == DiscreteActionsOf(data);

    /// <summary>Writes the network input of (s, a), standardized, into <paramref name="x"/>.</summary>
    public void Input(ReadOnlySpan<float> s, ReadOnlySpan<float> a, Span<float> x)
    {
        RawInput(s, a, x);
        for (int j = 0; j < x.Length; j++) x[j] = (x[j] - InputMean[j]) / InputStd[j];
    }

    /// <summary>(s, a) as the network reads it before standardization: the action as it is, or one-hot.</summary>
    private void RawInput(ReadOnlySpan<float> s, ReadOnlySpan<float> a, Span<float> x)
    {
        s.CopyTo(x);
        if (DiscreteActions > 0) { x.Slice(ObservationDim, DiscreteActions).Clear(); x[ObservationDim + (int)a[0]] = 1f; }
        else a.CopyTo(x[ObservationDim..]);
    }

    /// <summary>
    /// The ensemble a run uses, unless it is fitted already (a resumed run's, from its checkpoint): copied from
    /// <paramref name="dir"/>, a folder of <c>offrl model fit</c>, or else fitted on <paramref name="data"/>, progress
    /// reported as <paramref name="who"/>.
    /// </summary>
    public void FitOrLoad(Dataset data, string? dir, string who, IProgress<string>? progress)
    {
        if (Fitted) return;
        if (dir is not null)
        {
            EnsembleDynamics saved;
            try { saved = Load(dir); }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException)
            {
                throw new DataException($"not a model folder of offrl model fit ({e.Message})", dir, "model");
            }
            CopyFrom(saved, dir);
            progress?.Report($"[{who}] dynamics from {dir}: elites {string.Join(", ", Elites)}");
            return;
        }
        var report = Fit(data, progress);
        progress?.Report($"[{who}] dynamics fitted in {report.Epochs} epochs: elites {string.Join(", ", report.Elites)}, hold-out MSE {report.EliteHoldoutMse:G4} (a constant: {report.ConstantMse:G4})");
    }

    /// <summary>
    /// Fits the ensemble to <paramref name="data"/>'s transitions (rows with a next observation), as ensemble_dynamics.py's
    /// train: a random hold-out of min(ratio n, max) rows; per member a bootstrap resample of the training rows, reshuffled
    /// every epoch and walked in batches; per batch the loss sum_e mean_{b,d}[(mu - y)^2 exp(-lv) + lv] + sum_l wd_l/2
    /// ||W_l||^2 + coef (sum max_lv - sum min_lv) and one Adam step; after each epoch each member's hold-out MSE of the
    /// mean, its weights kept when that improved by more than the threshold; stop after the set epochs without any
    /// improvement (or at the epoch cap); the kept weights restored and the best members made elites.
    /// </summary>
    public DynamicsFitReport Fit(Dataset data, IProgress<string>? progress = null)
    {
        var c = Config;
        // the rows OfflineRL-Kit's qlearning_dataset keeps: a next observation, and not cut off by a timeout
        var rows = new List<int>(data.Count);
        for (int i = 0; i < data.Count; i++) if (data.HasNext(i) && !data.Timeouts[i]) rows.Add(i);
        int n = rows.Count, holdout = Math.Min((int)(n * c.HoldoutRatio), c.MaxHoldout), train = n - holdout;
        if (holdout < 1 || train < 1)
            throw new DataException($"dynamics: {n} transitions (rows with a next observation) leave {holdout} for the hold-out set and {train} to train on; the model needs at least one of each",
                data.Where, "next_observations");
        int inDim = InputDim, outDim = OutputDim, od = ObservationDim, members = c.Members;
        var rng = new Rng(c.Seed + 1);
        var order = rng.Permutation(n);

        // inputs (raw, then standardized with the training rows' statistics) and targets (s' - s, r)
        var inputs = new float[n * inDim]; var targets = new float[n * outDim];
        for (int k = 0; k < n; k++)
        {
            int i = rows[order[k]];
            var s = data.Observation(i); var s2 = data.NextObservation(i);
            RawInput(s, data.Action(i), inputs.AsSpan(k * inDim, inDim));
            for (int j = 0; j < od; j++) targets[k * outDim + j] = s2[j] - s[j];
            targets[k * outDim + od] = data.Rewards[i];
            if (!float.IsFinite(targets[k * outDim + od])) throw new DataException($"dynamics: reward at row {i} is {data.Rewards[i]}", data.Where, "rewards");
        }
        // scaler.py: the training rows' mean and std, a std below 1e-12 taken as 1
        var (mu, sigma) = ColumnStats.MeanStd(inputs.AsSpan(0, train * inDim), inDim);
        for (int j = 0; j < inDim; j++) { InputMean[j] = (float)mu[j]; InputStd[j] = sigma[j] < 1e-12 ? 1f : (float)sigma[j]; }
        for (int k = 0; k < n; k++)
            for (int j = 0; j < inDim; j++) inputs[k * inDim + j] = (inputs[k * inDim + j] - InputMean[j]) / InputStd[j];
        var holdoutX = Tensor.FromArray(inputs.AsSpan(train * inDim).ToArray(), holdout, inDim);

        var layers = Network.Body.Layers;
        var best = new double[members];
        Array.Fill(best, 1e10);
        var saved = layers.Select(l => ((float[])l.Weight.Data.Clone(), (float[])l.Bias.Data.Clone())).ToArray();
        // each member's bootstrap resample of the training rows
        var boot = new int[members * train];
        for (int k = 0; k < boot.Length; k++) boot[k] = rng.NextInt(train);

        int batch = Math.Min(c.BatchSize, train), epochs = 0, sinceUpdate = 0;
        long steps = 0;
        var x3 = new float[members * batch * inDim]; var y3 = new float[members * batch * outDim];
        while (true)
        {
            epochs++;
            double lossSum = 0; int batches = 0;
            for (int start = 0; start < train && !(c.MaxSteps is { } budget && steps >= budget); start += batch)
            {
                int b = Math.Min(batch, train - start);
                var xb = b == batch ? x3 : new float[members * b * inDim];
                var yb = b == batch ? y3 : new float[members * b * outDim];
                for (int e = 0; e < members; e++)
                    for (int r = 0; r < b; r++)
                    {
                        int k = boot[e * train + start + r];
                        inputs.AsSpan(k * inDim, inDim).CopyTo(xb.AsSpan((e * b + r) * inDim, inDim));
                        targets.AsSpan(k * outDim, outDim).CopyTo(yb.AsSpan((e * b + r) * outDim, outDim));
                    }
                float value = TrainStep(Tensor.FromArray(xb, members, b, inDim), Tensor.FromArray(yb, members, b, outDim));
                if (!float.IsFinite(value)) throw new TrainingDivergedException("dynamics", "loss", value, epochs);
                lossSum += value; batches++; steps++;
            }
            var mse = HoldoutMse(holdoutX, targets.AsSpan(train * outDim));
            int improved = 0;
            for (int e = 0; e < members; e++)
                if ((best[e] - mse[e]) / best[e] > c.ImprovementThreshold)
                {
                    best[e] = mse[e];
                    improved++;
                    for (int l = 0; l < layers.Count; l++) SaveMember(layers[l], saved[l], e);
                }
            sinceUpdate = improved > 0 ? 0 : sinceUpdate + 1;
            progress?.Report($"dynamics epoch {epochs}: train loss {lossSum / batches:G5}, hold-out MSE {string.Join(" ", mse.Select(v => v.ToString("G4")))}; {improved} improved");
            if (sinceUpdate >= c.MaxEpochsSinceUpdate || (c.MaxEpochs is { } cap && epochs >= cap) || (c.MaxSteps is { } most && steps >= most)) break;
            // a new order of each member's resample for the next epoch
            for (int e = 0; e < members; e++) rng.Shuffle(boot.AsSpan(e * train, train));
        }
        for (int l = 0; l < layers.Count; l++)
        {
            saved[l].Item1.CopyTo(layers[l].Weight.Data, 0);
            saved[l].Item2.CopyTo(layers[l].Bias.Data, 0);
        }
        Elites = Enumerable.Range(0, members).OrderBy(e => best[e]).ThenBy(e => e).Take(c.Elites).ToArray();
        State.Fitted.Data[0] = 1f;
        return new DynamicsFitReport(best, Elites, epochs, train, holdout, ConstantMse(targets, train, holdout), steps);
    }

    private Adam? _opt;

    /// <summary>
    /// One gradient step on a batch per member: <paramref name="x"/> [E, B, in] standardized inputs, <paramref name="y"/>
    /// [E, B, obs + 1] targets. The loss (ensemble_dynamics.py's learn): sum over members of the mean over rows and outputs
    /// of (mu - y)^2 exp(-lv) + lv (the Gaussian NLL up to constants), plus sum_l wd_l/2 ||W_l||^2, plus coef (sum of the
    /// log-variance's upper bound - sum of its lower bound). Returns the loss.
    /// </summary>
    public float TrainStep(Tensor x, Tensor y)
    {
        var net = Network;
        _opt ??= new Adam(net.Parameters(), Config.LearningRate);
        using var scope = TensorScope.Begin();
        var (mean, logVar) = net.Forward(x);
        var nll = ((mean - y).Square() * (-logVar).Exp() + logVar).Sum() * (1f / (y.Shape[1] * y.Shape[2]));
        var loss = nll + (net.MaxLogVar.Sum() - net.MinLogVar.Sum()) * Config.LogVarBoundCoef;
        _opt.ZeroGrad();
        loss.Backward();
        float decay = AddDecayGradient();
        _opt.Step();
        return loss.Item() + decay;
    }

    /// <summary>
    /// The weight decay term sum over layers of wd_l / 2 ||W_l||^2 (every member's weights; biases free), applied as its
    /// gradient wd_l W_l added to each layer's weight gradient (one pass per layer, no tape); returns the term's value.
    /// </summary>
    private float AddDecayGradient()
    {
        var layers = Network.Body.Layers;
        double total = 0;
        for (int l = 0; l < layers.Count; l++)
        {
            var w = layers[l].Weight;
            var weights = w.Data.AsSpan(0, w.Size);
            float wd = Config.WeightDecays[l];
            total += 0.5 * wd * System.Numerics.Tensors.TensorPrimitives.Dot(weights, weights);
            if (w.Grad is { } g) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(weights, wd, g.AsSpan(0, w.Size), g.AsSpan(0, w.Size));
        }
        return (float)total;
    }

    /// <summary>The hold-out MSE of predicting every output by its mean over the training rows.</summary>
    private double ConstantMse(float[] targets, int train, int holdout)
    {
        int outDim = OutputDim;
        var mean = new double[outDim];
        for (int k = 0; k < train; k++)
            for (int j = 0; j < outDim; j++) mean[j] += targets[k * outDim + j] / (double)train;
        double s = 0;
        for (int k = train; k < train + holdout; k++)
            for (int j = 0; j < outDim; j++) s += Math.Pow(targets[k * outDim + j] - mean[j], 2);
        return s / (holdout * outDim);
    }

    private static void SaveMember(EnsembleLinear layer, (float[] Weight, float[] Bias) saved, int member)
    {
        int w = layer.Weight.Size / layer.Members, b = layer.Bias.Size / layer.Members;
        layer.Weight.Data.AsSpan(member * w, w).CopyTo(saved.Weight.AsSpan(member * w, w));
        layer.Bias.Data.AsSpan(member * b, b).CopyTo(saved.Bias.AsSpan(member * b, b));
    }

    /// <summary>Each member's MSE of its mean over the hold-out rows (standardized inputs) and outputs.</summary>
    private double[] HoldoutMse(Tensor inputs, ReadOnlySpan<float> targets)
    {
        int outDim = OutputDim, members = Config.Members, rows = inputs.Shape[0];
        var mse = new double[members];
        using var scope = TensorScope.Begin();
        var (mean, _) = Predict(inputs);
        var m = mean.Data;
        for (int e = 0; e < members; e++)
        {
            double s = 0;
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < outDim; j++)
                {
                    double d = m[(e * rows + r) * outDim + j] - targets[r * outDim + j];
                    s += d * d;
                }
            mse[e] = s / (rows * outDim);
        }
        return mse;
    }

    /// <summary>
    /// Every member's prediction for a batch: <paramref name="x"/> [B, in] of standardized inputs (<see cref="Input"/>)
    /// -> the mean of (s' - s, r) and its log-variance, each [E, B, obs + 1]. No gradient is recorded.
    /// </summary>
    public (Tensor Mean, Tensor LogVar) Predict(Tensor x)
    {
        using var noGrad = Tensor.NoGrad();
        return Network.Forward(x);
    }

    /// <summary>
    /// One model step for a batch of B rows, as ensemble_dynamics.py's step: each member's sample mean + std * eps, then
    /// per row a random elite's; writes s' into <paramref name="next"/> [B, obs] and r into <paramref name="reward"/> [B].
    /// <paramref name="x"/> holds the standardized inputs [B, in], <paramref name="obs"/> the raw observations.
    /// </summary>
    public void Sample(Tensor x, ReadOnlySpan<float> obs, Rng rng, Span<float> next, Span<float> reward) => Sample(x, obs, rng, next, reward, null, default);

    /// <summary>As <see cref="Sample(Tensor, ReadOnlySpan{float}, Rng, Span{float}, Span{float})"/>, and each row's <paramref name="kind"/> of uncertainty over all members into <paramref name="penalty"/> [B].</summary>
    public void Sample(Tensor x, ReadOnlySpan<float> obs, Rng rng, Span<float> next, Span<float> reward, Uncertainty? kind, Span<float> penalty)
    {
        int rowsN = x.Shape[0], od = ObservationDim, outDim = OutputDim;
        using var scope = TensorScope.Begin();
        var (mean, logVar) = Predict(x);
        var m = mean.Data; var lv = logVar.Data;
        if (kind is { } k and not Uncertainty.LogLikelihoodVariance) Measure(k, m, lv, Config.Members, rowsN, outDim, penalty);
        var elites = Elites;
        for (int r = 0; r < rowsN; r++)
        {
            int e = elites[rng.NextInt(elites.Length)];
            int at = (e * rowsN + r) * outDim;
            for (int j = 0; j < outDim; j++)
            {
                float v = m[at + j] + MathF.Exp(0.5f * lv[at + j]) * rng.Normal();   // mean + std eps
                if (!float.IsFinite(v)) throw new InvalidOperationException($"dynamics: member {e} predicted {v} for output {j} of row {r}");
                if (j < od) next[r * od + j] = obs[r * od + j] + v;
                else reward[r] = v;
            }
            if (kind == Uncertainty.LogLikelihoodVariance) penalty[r] = LikelihoodVariance(m, lv, Config.Members, rowsN, outDim, r, obs.Slice(r * od, od), next.Slice(r * od, od));
        }
    }

    /// <summary>One model step for B rows of raw (s, a): the inputs standardized, then <see cref="Sample(Tensor, ReadOnlySpan{float}, Rng, Span{float}, Span{float}, Uncertainty?, Span{float})"/>.</summary>
    public void Step(ReadOnlySpan<float> obs, ReadOnlySpan<float> actions, int rows, Rng rng, Span<float> next, Span<float> reward, Uncertainty? kind, Span<float> penalty)
    {
        int od = ObservationDim, ad = ActionDim, inDim = InputDim;
        var x = new float[rows * inDim];
        for (int k = 0; k < rows; k++) Input(obs.Slice(k * od, od), actions.Slice(k * ad, ad), x.AsSpan(k * inDim, inDim));
        Sample(Tensor.FromArray(x, rows, inDim), obs[..(rows * od)], rng, next, reward, kind, penalty);
    }

    /// <summary>
    /// The members' (population) variance of log N(s' - s; mu_e, sigma_e^2) summed over the next-state outputs, for row
    /// <paramref name="r"/> of a prediction [E, B, outputs] (<see cref="Uncertainty.LogLikelihoodVariance"/>).
    /// </summary>
    public static float LikelihoodVariance(ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int members, int rows, int outputs, int r,
        ReadOnlySpan<float> obs, ReadOnlySpan<float> next)
    {
        double sum = 0, sq = 0;
        for (int e = 0; e < members; e++)
        {
            int at = (e * rows + r) * outputs;
            double ll = 0;
            for (int j = 0; j < next.Length; j++)
            {
                double d = next[j] - obs[j] - mean[at + j];
                ll -= 0.5 * (d * d * Math.Exp(-logVar[at + j]) + logVar[at + j] + Math.Log(2 * Math.PI));
            }
            sum += ll; sq += ll * ll;
        }
        double avg = sum / members;
        return (float)Math.Max(0, sq / members - avg * avg);
    }

    /// <summary>
    /// The <paramref name="kind"/> of uncertainty of each of B rows from every member's prediction (<see cref="Predict"/>:
    /// <paramref name="mean"/> and <paramref name="logVar"/> [E, B, obs + 1], the reward last) into <paramref name="penalty"/> [B].
    /// </summary>
    public static void Measure(Uncertainty kind, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int members, int rows, int outputs, Span<float> penalty)
    {
        int od = outputs - 1;
        Span<double> avg = od <= 256 ? stackalloc double[od] : new double[od];
        for (int r = 0; r < rows; r++)
        {
            double value = 0;
            if (kind == Uncertainty.Aleatoric)
                for (int e = 0; e < members; e++)
                {
                    double sq = 0;
                    for (int j = 0; j < outputs; j++) sq += Math.Exp(logVar[(e * rows + r) * outputs + j]);   // sigma^2
                    value = Math.Max(value, Math.Sqrt(sq));
                }
            else
            {
                // the members' mean next-state prediction, then each member's distance from it
                avg.Clear();
                for (int e = 0; e < members; e++)
                    for (int j = 0; j < od; j++) avg[j] += mean[(e * rows + r) * outputs + j] / (double)members;
                double variance = 0, maxNorm = 0;
                for (int e = 0; e < members; e++)
                {
                    double sq = 0;
                    for (int j = 0; j < od; j++) { double d = mean[(e * rows + r) * outputs + j] - avg[j]; sq += d * d; }
                    variance += sq / members;
                    maxNorm = Math.Max(maxNorm, Math.Sqrt(sq));
                }
                value = kind == Uncertainty.EnsembleStd ? Math.Sqrt(variance / od) : maxNorm;
                if (kind == Uncertainty.MaxPairwise)
                {
                    value = 0;
                    for (int i = 0; i < members; i++)
                        for (int k = i + 1; k < members; k++)
                        {
                            double pair = 0;
                            for (int j = 0; j < od; j++) { double d = mean[(i * rows + r) * outputs + j] - mean[(k * rows + r) * outputs + j]; pair += d * d; }
                            value = Math.Max(value, Math.Sqrt(pair));
                        }
                }
                else if (kind == Uncertainty.LogLikelihoodVariance)
                    throw new ArgumentException("uncertainty: log_likelihood_variance needs the drawn transition; EnsembleDynamics.Sample measures it");
            }
            penalty[r] = (float)value;
        }
    }

    /// <summary>Saves the network (safetensors), the scaler and the elites (JSON beside it) under <paramref name="dir"/>.</summary>
    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        Network.Save(Path.Combine(dir, "dynamics.safetensors"), new SavedDynamics(Config, ObservationDim, ActionDim, DiscreteActions, InputMean, InputStd, Elites));
    }

    /// <summary>Loads an ensemble written by <see cref="Save"/>.</summary>
    public static EnsembleDynamics Load(string dir)
    {
        var path = Path.Combine(dir, "dynamics.safetensors");
        var s = Module.LoadConfig<SavedDynamics>(path);
        var model = new EnsembleDynamics(s.ObservationDim, s.ActionDim, s.DiscreteActions, s.Config);
        if (s.InputMean.Length != model.InputDim || s.InputStd.Length != model.InputDim)
            throw new InvalidDataException($"{path}.json: input_mean and input_std must have {model.InputDim} values");
        if (s.Elites.Length == 0 || s.Elites.Any(e => e < 0 || e >= s.Config.Members))
            throw new InvalidDataException($"{path}.json: elites must name members in [0, {s.Config.Members})");
        model.Network.Load(path);
        s.InputMean.CopyTo(model.InputMean, 0);
        s.InputStd.CopyTo(model.InputStd, 0);
        model.Elites = s.Elites;
        model.State.Fitted.Data[0] = 1f;
        return model;
    }

    /// <summary>
    /// Takes <paramref name="other"/>'s weights, standardization and elites (an ensemble of the same shape: members,
    /// widths, inputs and outputs), or an error naming <paramref name="source"/> and what differs.
    /// </summary>
    public void CopyFrom(EnsembleDynamics other, string source)
    {
        string Shape(EnsembleDynamics m) => $"{m.Config.Members} members of [{string.Join(", ", m.Config.Hidden)}] over {m.ObservationDim} observations and {m.ActionDim} actions, {m.Config.Elites} elites";
        if (other.Config.Members != Config.Members || !other.Config.Hidden.AsSpan().SequenceEqual(Config.Hidden) || other.InputDim != InputDim
            || other.OutputDim != OutputDim || other.Config.Elites != Config.Elites)
            throw new DataException($"the ensemble there has {Shape(other)}; this run's has {Shape(this)} (set the dynamics_* fields to match, or fit a model with them)", source);
        Network.CopyParametersFrom(other.Network);
        State.CopyParametersFrom(other.State);
    }

    internal sealed record SavedDynamics(DynamicsConfig Config, int ObservationDim, int ActionDim, int DiscreteActions, float[] InputMean, float[] InputStd, int[] Elites);
}
