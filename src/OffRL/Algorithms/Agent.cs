using System.Text.Json;
using OffRL.Data;
using OffRL.IO;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// Shared machinery of every algorithm: its config, seeded generator, preprocessing applied at acting time, update
/// counter, named modules and optimizers for checkpoints, loss checks. An algorithm file holds only its networks and
/// losses, and the <see cref="AlgorithmSpec"/> entries that name it.
/// </summary>
public abstract class Agent : IPolicy
{
    private readonly float[] _obsBuf;
    private readonly Tensor _obsT;
    protected Rng Rng { get; }
    public abstract string Name { get; }
    public int ObservationDim { get; }
    /// <summary>The space the networks act in (bounded continuous actions mapped to [-1, 1]).</summary>
    public Space ActionSpace { get; }

    /// <summary>
    /// What <see cref="Act"/> returns, for callers that see the agent as a policy (exploration around its actions,
    /// OPE, rollouts): the environment's bounds when the preprocessing maps actions back to them, else
    /// <see cref="ActionSpace"/>. Gaussian exploration clips at these bounds, not at [-1, 1].
    /// </summary>
    Space IPolicy.ActionSpace => ActionSpace is Box && Preprocessing.ActionLow is { } low && Preprocessing.ActionHigh is { } high
        ? new Box(low, high) : ActionSpace;
    public int ActionDim => ActionSpace.Width;
    public long Updates { get; protected internal set; }
    /// <summary>The agent's config (validated); the trainer and the sampler read the shared fields from here.</summary>
    public AgentConfig Config { get; }
    /// <summary>Observation normalization and action scaling the agent was trained with (applied in <see cref="Act"/>).</summary>
    public Preprocessing Preprocessing { get; set; } = Preprocessing.Identity;
    /// <summary>Latest values of the losses and diagnostics (reused; no allocation per update).</summary>
    public Dictionary<string, float> Metrics { get; } = new();

    protected Agent(int observationDim, Space actionSpace, AgentConfig config, ulong seed)
    {
        config.Validate();
        Config = config;
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

    /// <summary>Told the run's length (in updates) before training starts or resumes: for schedules that span the run.</summary>
    public virtual void PlanRun(long steps) { }

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

    /// <summary>
    /// The deterministic policy for normalized observations [B, obs]: actions in [-1, 1], [B, act] (continuous), or one
    /// value per action, [B, n], whose argmax is the action (discrete). Deterministic acting and ONNX export both use it.
    /// </summary>
    protected internal abstract Tensor PolicyOutput(Tensor observation);

    /// <summary>Modules saved in checkpoints, by name.</summary>
    protected abstract IEnumerable<(string Name, Module Module)> Modules();

    /// <summary>The modules by name, as checkpoints store them (read-only use: inspection, tests, export).</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules => Modules();

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
    public void SaveCheckpoint(string dir)
    {
        Save(dir);
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

    /// <summary>Save the networks (safetensors), the preprocessing and the agent's description with its config (JSON) into a folder.</summary>
    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var (name, m) in Modules()) m.Save(Path.Combine(dir, name + ".safetensors"));
        Preprocessing.Save(Path.Combine(dir, "preprocessing.json"));
        var meta = new Dictionary<string, object>
        {
            ["algo"] = Name, ["updates"] = Updates, ["observation_dim"] = ObservationDim,
            ["action_space"] = ActionSpace, ["config"] = JsonSerializer.SerializeToElement(Config, Config.GetType(), Module.JsonOptions),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "agent.json"), JsonSerializer.Serialize(meta, Module.JsonOptions));
    }

    /// <summary>Load networks and preprocessing saved by <see cref="Save"/> into an agent built with the same config (<see cref="AlgorithmRegistry.Load"/> builds it).</summary>
    public void Load(string dir)
    {
        foreach (var (name, m) in Modules()) m.Load(Path.Combine(dir, name + ".safetensors"));
        var pre = Path.Combine(dir, "preprocessing.json");
        if (File.Exists(pre)) Preprocessing = Preprocessing.Load(pre).Checked(ObservationDim, ActionSpace is Box ? ActionDim : 0, pre);
    }
}
