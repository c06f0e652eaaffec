using System.Text.Json;
using OffRL.Data;
using OffRL.IO;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>Anything that acts: maps an observation to an action (continuous vector, or one float holding the index).</summary>
public interface IPolicy
{
    int ObservationDim { get; }
    Space ActionSpace { get; }
    void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic);
}

/// <summary>A loss or diagnostic turned NaN or infinite: training stops and says which and when.</summary>
public sealed class TrainingDivergedException(string algorithm, string quantity, float value, long step)
    : Exception($"{algorithm}: {quantity} became {value} at update {step}; lower the learning rate or check the data (rewards, normalization)")
{
    public string Quantity { get; } = quantity;
    public long Step { get; } = step;
}

/// <summary>
/// Shared machinery of every algorithm: seeded generator, preprocessing applied at acting time, update counter,
/// named modules and optimizers for checkpoints, loss checks. An algorithm file holds only its networks and losses.
/// </summary>
public abstract class Agent : IPolicy
{
    private readonly float[] _obsBuf;
    private readonly Tensor _obsT;
    protected Rng Rng { get; }
    public abstract string Name { get; }
    public int ObservationDim { get; }
    public Space ActionSpace { get; }
    public int ActionDim => ActionSpace.Width;
    public long Updates { get; protected set; }
    /// <summary>Observation normalization and action scaling the agent was trained with (applied in <see cref="Act"/>).</summary>
    public Preprocessing Preprocessing { get; set; } = Preprocessing.Identity;
    /// <summary>Latest values of the losses and diagnostics (reused; no allocation per update).</summary>
    public Dictionary<string, float> Metrics { get; } = new();

    protected Agent(int observationDim, Space actionSpace, ulong seed)
    {
        ObservationDim = observationDim; ActionSpace = actionSpace;
        Rng = new Rng(seed);
        _obsBuf = new float[observationDim];
        _obsT = Tensor.FromArray(_obsBuf, 1, observationDim);
    }

    /// <summary>One gradient update on a batch; returns <see cref="Metrics"/>.</summary>
    public Dictionary<string, float> Update(TransitionBatch batch)
    {
        using (TensorScope.Begin()) UpdateCore(batch);
        Updates++;
        return Metrics;
    }

    protected abstract void UpdateCore(TransitionBatch batch);

    /// <summary>Record a scalar and stop if it is NaN or infinite.</summary>
    protected float Record(string name, Tensor scalar) => Record(name, scalar.Item());

    protected float Record(string name, float v)
    {
        if (!float.IsFinite(v)) throw new TrainingDivergedException(Name, name, v, Updates);
        Metrics[name] = v;
        return v;
    }

    public void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic)
    {
        observation.CopyTo(_obsBuf);
        Preprocessing.NormalizeObservation(_obsBuf);
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
            ActCore(_obsT, action, deterministic);
        if (ActionSpace is Box) Preprocessing.UnscaleAction(action);
    }

    /// <summary>The action for a normalized observation [1, obs].</summary>
    protected abstract void ActCore(Tensor observation, Span<float> action, bool deterministic);

    /// <summary>Modules saved in checkpoints, by name.</summary>
    protected abstract IEnumerable<(string Name, Module Module)> Modules();

    private readonly List<(string Name, Optimizer Optimizer)> _optimizers = new();

    /// <summary>Register an optimizer so checkpoints carry its state (moments, step count).</summary>
    protected T Optim<T>(string name, T optimizer) where T : Optimizer
    {
        _optimizers.Add((name, optimizer));
        return optimizer;
    }

    /// <summary>Extra counters an algorithm must restore on resume (e.g. exploration progress).</summary>
    protected virtual long ExtraState { get => 0; set { } }

    /// <summary>
    /// A full checkpoint: everything <see cref="Save"/> writes plus optimizer state, the agent's generator state and
    /// update counter, so <see cref="LoadCheckpoint"/> continues training exactly where it stopped.
    /// </summary>
    public void SaveCheckpoint(string dir, object config)
    {
        Save(dir, config);
        var tensors = new List<(string, Tensor)>();
        var meta = new Dictionary<string, string> { ["updates"] = Updates.ToString(), ["extra"] = ExtraState.ToString() };
        foreach (var (name, opt) in _optimizers)
        {
            meta[$"{name}.steps"] = opt.Steps.ToString();
            foreach (var (k, v) in opt.State()) tensors.Add(($"{name}.{k}", Tensor.FromArray(v, v.Length)));
        }
        meta["rng"] = JsonSerializer.Serialize(Rng.GetState());
        Safetensors.Write(Path.Combine(dir, "optimizers.safetensors"), tensors, meta);
    }

    public void LoadCheckpoint(string dir)
    {
        Load(dir);
        var (tensors, meta) = Safetensors.Read(Path.Combine(dir, "optimizers.safetensors"));
        foreach (var (name, opt) in _optimizers)
        {
            foreach (var (k, v) in opt.State())
            {
                if (!tensors.TryGetValue($"{name}.{k}", out var e) || e.Data.Length != v.Length)
                    throw new InvalidDataException($"{dir}: optimizer state '{name}.{k}' is missing or has the wrong size");
                e.Data.CopyTo(v, 0);
            }
            opt.SetSteps(long.Parse(meta[$"{name}.steps"]));
        }
        Updates = long.Parse(meta["updates"]);
        ExtraState = long.Parse(meta["extra"]);
        Rng.SetState(JsonSerializer.Deserialize<RngState>(meta["rng"]));
    }

    /// <summary>Save the networks (safetensors), the preprocessing and the agent's description (JSON) into a folder.</summary>
    public void Save(string dir, object config)
    {
        Directory.CreateDirectory(dir);
        foreach (var (name, m) in Modules()) m.Save(Path.Combine(dir, name + ".safetensors"));
        Preprocessing.Save(Path.Combine(dir, "preprocessing.json"));
        var meta = new Dictionary<string, object>
        {
            ["algo"] = Name, ["updates"] = Updates, ["observation_dim"] = ObservationDim,
            ["action_space"] = ActionSpace, ["config"] = config,
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "agent.json"), JsonSerializer.Serialize(meta, Module.JsonOptions));
    }

    /// <summary>Load networks and preprocessing saved by <see cref="Save"/> into an agent built with the same config.</summary>
    public void Load(string dir)
    {
        foreach (var (name, m) in Modules()) m.Load(Path.Combine(dir, name + ".safetensors"));
        var pre = Path.Combine(dir, "preprocessing.json");
        if (File.Exists(pre)) Preprocessing = Preprocessing.Load(pre);
    }
}

/// <summary>A free-standing parameter as a module (SAC's log-temperature), so checkpoints include it.</summary>
public sealed class ParameterModule : Module
{
    public Tensor Value { get; }
    public ParameterModule(string name, Shape shape) => Value = Param(name, shape);
}

/// <summary>Gaussian policy with a tanh-squashed mean network and a state-independent log-std (IQL, AWAC).</summary>
public sealed class GaussianMeanPolicy : Module
{
    private readonly Mlp _mean;
    public Tensor LogStd { get; }
    public int ActionDim { get; }

    public GaussianMeanPolicy(int obs, int[] hidden, int act, Rng rng)
    {
        ActionDim = act;
        _mean = Child("mean", new Mlp(new MlpConfig(obs, hidden, act, Activation.Relu, Activation.Tanh), rng));
        LogStd = Param("log_std", new Shape(act));   // starts at 0
    }

    public Tensor LogProb(Tensor s, Tensor a) => new Gaussian(_mean.Forward(s), LogStd).LogProb(a);

    /// <summary>a = clip(mean(s) + std * eps, -1, 1) for a given noise tensor.</summary>
    public Tensor Sample(Tensor s, Tensor eps) => (_mean.Forward(s) + LogStd.Exp() * eps).Clamp(-1f, 1f);

    public void Act(Tensor s, Span<float> action, bool deterministic, Rng rng)
    {
        var mean = _mean.Forward(s);
        for (int j = 0; j < ActionDim; j++)
            action[j] = deterministic ? mean.Data[j] : Math.Clamp(mean.Data[j] + MathF.Exp(LogStd.Data[j]) * rng.Normal(), -1f, 1f);
    }
}

/// <summary>Network builders shared by the algorithms.</summary>
public static class Networks
{
    /// <summary>Twin (or N) Q networks as one ensemble: Q(s, a) for all members as [N, B, 1].</summary>
    public static EnsembleMlp Critic(int obs, int act, int[] hidden, Rng rng, int members = 2) =>
        new(members, new MlpConfig(obs + act, hidden, 1), rng);

    /// <summary>Q values [N, B, 1] of state-action pairs.</summary>
    public static Tensor Q(EnsembleMlp critic, Tensor s, Tensor a) => critic.Forward(Tensor.Concat(s, a, -1));

    /// <summary>Minimum over the ensemble members: [B, 1].</summary>
    public static Tensor MinQ(Tensor q)
    {
        int n = q.Shape[0], b = q.Shape[1];
        var m = q.Slice(0, 0, 1);
        for (int i = 1; i < n; i++) m = Tensor.Minimum(m, q.Slice(0, i, 1));
        return m.Reshape(b, 1);
    }

    /// <summary>A frozen copy of a module for target networks.</summary>
    public static T Target<T>(T source, Func<T> build) where T : Module
    {
        var t = build();
        t.CopyParametersFrom(source);
        t.SetRequiresGrad(false);
        return t;
    }

    /// <summary>Gaussian policy head: the MLP outputs mean and log-std (clamped) for a tanh-squashed Gaussian.</summary>
    public static TanhGaussian Policy(Mlp net, Tensor s, int act, float logStdMin = -5f, float logStdMax = 2f)
    {
        var h = net.Forward(s);
        return new TanhGaussian(h.Slice(-1, 0, act), h.Slice(-1, act, act).Clamp(logStdMin, logStdMax));
    }
}
