using System.Runtime.CompilerServices;
using System.Text.Json;
using OffRL.Data;
using OffRL.Dynamics;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>
/// Model-based OPE settings: the dynamics ensemble (<see cref="DynamicsConfig"/>; by default OfflineRL-Kit's, capped at
/// <see cref="DefaultMaxEpochs"/> epochs and <see cref="DefaultMaxSteps"/> gradient steps: on a small log the 1% rule
/// alone runs for hundreds of short epochs, on a large one each epoch is thousands of steps), how
/// episodes end in the model (<paramref name="Env"/>'s termination rule, or the dataset's environment's; without one a
/// classifier of the data's terminals trained for <paramref name="TerminationSteps"/> steps), and the rollouts.
/// <paramref name="Model"/>: a folder written by `offrl model fit` (<see cref="EnsembleDynamics.Save"/>) used instead of a fit.
/// </summary>
public sealed record ModelBasedConfig(
    DynamicsConfig? Dynamics = null,
    [property: FieldRange("[1, 10000]")] int RolloutsPerStart = 1,
    [property: FieldRange("[1, 100000000]")] int? Horizon = null,
    [property: FieldRange("[1, 100000000]")] int MaxStarts = 1000,
    string? Env = null,
    [property: FieldRange("[1, 100000000]")] int TerminationSteps = 2000,
    ulong Seed = 0,
    string? Model = null)
{
    /// <summary>The cap on the default ensemble's epochs (a 6 000-row log of random pendulum actions ran 343 epochs of 20 steps without one).</summary>
    public const int DefaultMaxEpochs = 100;
    /// <summary>The cap on the default ensemble's gradient steps (about 10 minutes on one core at 31 steps/s: bench dynamics-fit).</summary>
    public const int DefaultMaxSteps = 20_000;

    /// <summary>The ensemble's settings with this config's seed.</summary>
    public DynamicsConfig DynamicsWithSeed => (Dynamics ?? new DynamicsConfig { MaxEpochs = DefaultMaxEpochs, MaxSteps = DefaultMaxSteps }) with { Seed = Seed };

    /// <summary>Refuses settings no model could be fitted with (each field's range is beside it).</summary>
    public void Validate()
    {
        FieldRange.Check(this);
        DynamicsWithSeed.Validate();
    }
}

/// <summary>
/// Model-based OPE (Paduraru 2013; Voloshin et al. 2021, "model-based" in their benchmark): the dynamics ensemble of
/// model-based RL (<see cref="EnsembleDynamics"/>, one model code for both) learns p(s' - s, r | s, a); the target
/// policy is then rolled out in it from the logged initial states, each step through a random elite, for the data's
/// longest episode length, and the discounted returns averaged. A model depends on the data alone, so one fit serves
/// every target policy evaluated on the same data and settings (<see cref="Fit"/> keeps it).
/// </summary>
public sealed class ModelBasedOpe
{
    private readonly EnsembleDynamics _model;
    private readonly Termination.Rule? _rule;
    private readonly Mlp? _classifier;   // p(done | s, a) when no rule is known and the data has terminals
    private readonly ModelBasedConfig _c;

    /// <summary>What the fit of the dynamics reported (hold-out MSE per member, elites); null for a model loaded from a folder.</summary>
    public DynamicsFitReport? Report { get; }

    private ModelBasedOpe(EnsembleDynamics model, DynamicsFitReport? report, Termination.Rule? rule, Mlp? classifier, ModelBasedConfig c)
    {
        _model = model; Report = report; _rule = rule; _classifier = classifier; _c = c;
    }

    private static readonly ConditionalWeakTable<Dataset, Dictionary<string, ModelBasedOpe>> Fitted = new();

    /// <summary>The model for <paramref name="data"/> and <paramref name="config"/>: fitted once, then kept while the dataset lives.</summary>
    public static ModelBasedOpe Fit(Dataset data, ModelBasedConfig? config = null, IProgress<string>? progress = null)
    {
        var c = config ?? new ModelBasedConfig();
        c.Validate();
        var key = JsonSerializer.Serialize(c with { RolloutsPerStart = 1, Horizon = null, MaxStarts = 1 }, Module.JsonOptions);
        var byConfig = Fitted.GetOrCreateValue(data);
        lock (byConfig)
        {
            if (byConfig.TryGetValue(key, out var known)) return new ModelBasedOpe(known._model, known.Report, known._rule, known._classifier, c);
        }
        EnsembleDynamics model;
        DynamicsFitReport? report = null;
        if (c.Model is { } dir)
        {
            model = EnsembleDynamics.Load(dir);
            if (!model.Models(data))
                throw new ArgumentException($"--model: {dir} models {model.ObservationDim} observation and {model.ActionDim} action values" +
                    $"{(model.DiscreteActions > 0 ? $" ({model.DiscreteActions} discrete actions)" : "")}; the dataset has {data.ObservationDim} and {data.ActionDim}" +
                    $"{(data.ActionSpace is Discrete d ? $" ({d.N} discrete actions)" : "")}");
        }
        else
        {
            model = EnsembleDynamics.For(data, c.DynamicsWithSeed);
            report = model.Fit(data, progress);
        }
        var rule = Termination.Find(c.Env ?? data.Info.Env);
        Mlp? classifier = null;
        if (rule is null)
        {
            bool terminals = false;
            for (int i = 0; i < data.Count && !terminals; i++) terminals = data.Terminals[i];
            if (terminals) classifier = FitTerminals(data, model, c);
        }
        var fitted = new ModelBasedOpe(model, report, rule, classifier, c);
        lock (byConfig) byConfig[key] = fitted;
        return fitted;
    }

    /// <summary>A logistic classifier of the data's terminals from the model's input (s, a): binary cross-entropy, Adam.</summary>
    private static Mlp FitTerminals(Dataset data, EnsembleDynamics model, ModelBasedConfig c)
    {
        var rows = new List<int>();
        for (int i = 0; i < data.Count; i++) if (data.HasNext(i) || data.Terminals[i]) rows.Add(i);
        var rng = new Rng(c.Seed + 2);
        var net = new Mlp(model.InputDim, [64, 64], 1, rng, Activation.Relu);
        var opt = new Adam(net.Parameters(), 1e-3);
        int batch = Math.Min(256, rows.Count), inDim = model.InputDim;
        var x = new float[batch * inDim]; var done = new float[batch];
        var xT = Tensor.FromArray(x, batch, inDim); var doneT = Tensor.FromArray(done, batch, 1);
        for (int step = 0; step < c.TerminationSteps; step++)
        {
            for (int b = 0; b < batch; b++)
            {
                int i = rows[rng.NextInt(rows.Count)];
                model.Input(data.Observation(i), data.Action(i), x.AsSpan(b * inDim, inDim));
                done[b] = data.Terminals[i] ? 1f : 0f;
            }
            using var scope = TensorScope.Begin();
            var logit = net.Forward(xT);
            var loss = (logit.Softplus() - logit * doneT).Mean();   // binary cross-entropy with logits
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        return net;
    }

    /// <summary>
    /// Discounted return of each rollout (one entry per start and rollout): all rollouts step together, each row of a
    /// step through a random elite; a rollout ends at the horizon or where the termination rule (or classifier) says.
    /// </summary>
    public double[] Rollouts(Dataset data, IProbabilisticPolicy target, double gamma)
    {
        int od = _model.ObservationDim, inDim = _model.InputDim, ad = Math.Max(1, data.ActionDim);
        var starts = new List<int>();
        for (int e = 0; e < data.EpisodeCount && starts.Count < _c.MaxStarts; e++) starts.Add(data.EpisodeStart(e));
        int horizon = _c.Horizon ?? Enumerable.Range(0, data.EpisodeCount).Max(data.EpisodeLength);
        int m = starts.Count * _c.RolloutsPerStart;
        var rng = new Rng(_c.Seed + 1);
        var s = new float[m * od]; var next = new float[m * od]; var reward = new float[m]; var a = new float[ad];
        var x = new float[m * inDim]; var xT = Tensor.FromArray(x, m, inDim);
        var returns = new double[m];
        var alive = new bool[m];
        for (int k = 0; k < m; k++) { data.Observation(starts[k / _c.RolloutsPerStart]).CopyTo(s.AsSpan(k * od, od)); alive[k] = true; }
        double disc = 1;
        for (int t = 0; t < horizon; t++, disc *= gamma)
        {
            for (int k = 0; k < m; k++)
            {
                if (!alive[k]) continue;
                target.Sample(s.AsSpan(k * od, od), a, rng);
                _model.Input(s.AsSpan(k * od, od), a, x.AsSpan(k * inDim, inDim));
            }
            try { _model.Sample(xT, s, rng, next, reward); }
            catch (InvalidOperationException e) { throw new InvalidOperationException($"model-based OPE, rollout step {t}: {e.Message}", e); }
            float[]? pDone = null;
            if (_classifier is not null)
                using (TensorScope.Begin())
                using (Tensor.NoGrad())
                    pDone = _classifier.Forward(xT).Data.ToArray();
            bool any = false;
            for (int k = 0; k < m; k++)
            {
                if (!alive[k]) continue;
                returns[k] += disc * reward[k];
                var sNext = next.AsSpan(k * od, od);
                bool terminal = _rule is { } rule ? rule(sNext) : pDone is not null && pDone[k] > 0f;   // p(done) > 0.5
                sNext.CopyTo(s.AsSpan(k * od, od));
                alive[k] = !terminal;
                any |= !terminal;
            }
            if (!any) break;
        }
        return returns;
    }
}
