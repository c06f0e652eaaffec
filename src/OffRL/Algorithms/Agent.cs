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
    private string? _name;

    /// <summary>
    /// The algorithm's name: the one of the <see cref="AlgorithmSpec"/> that built it (so "pbc" and "bc", "td3" and
    /// "td3bc" share a class and never depend on config values), else <see cref="DefaultName"/>.
    /// </summary>
    public string Name => _name ??= DefaultName;

    /// <summary>The name of an agent built without a spec (<c>new Sac(...)</c>): its class's name in lower case.</summary>
    protected virtual string DefaultName => GetType().Name.ToLowerInvariant();

    internal void Named(string name) => _name = name;
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
    /// <summary>The observations the agent takes as one input (<see cref="AgentConfig.History"/>).</summary>
    public int History => Config.History;
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
        if (config.HistoryEncoder == HistoryEncoder.Gru && !BuildsHistoryEncoders)
            throw new ArgumentException($"config: field 'history_encoder' is gru, but {GetType().Name} builds no GRU encoders (the TD3 family and IQL do); use history_encoder: stack");
        ObservationDim = observationDim; ActionSpace = actionSpace;
        Rng = new Rng(seed);
        _obsBuf = new float[observationDim];
        _obsT = Tensor.FromArray(_obsBuf, 1, observationDim);
    }

    /// <summary>Whether the method's networks read a history with GRUs when asked (<see cref="AgentConfig.HistoryEncoder"/>).</summary>
    protected virtual bool BuildsHistoryEncoders => false;

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

    /// <summary>
    /// Given the dataset an offline run learns from, as its updates will see it (prepared and preprocessed), before
    /// training starts or resumes: for methods that consult the data itself (PRDC's nearest neighbours).
    /// </summary>
    public virtual void UseDataset(Dataset prepared) { }

    /// <summary>
    /// Given the online buffer of a fine-tuning or hybrid run (before training starts or resumes), for methods that draw
    /// batches of their own beside the trainer's (H2O's discriminators).
    /// </summary>
    public virtual void UseOnlineBuffer(ITransitionSource buffer) { }

    /// <summary>
    /// The batches of an offline run, for a method that draws its own (model-based: rollouts of a learned model mixed
    /// with the data); null (the default): the sampler <see cref="AgentConfig.Sampler"/> names, over the dataset. Called
    /// once per run, after a resumed run's checkpoint is loaded.
    /// </summary>
    public virtual ITransitionSampler? OfflineBatches(OfflineRun run) => null;

    /// <summary>
    /// Why this method cannot go on online after its offline phase (<c>offrl finetune</c>: its updates on batches that
    /// mix the dataset with the agent's own transitions), or null when it can.
    /// </summary>
    public virtual string? NoOnlineForm => null;

    /// <summary>
    /// A fine-tuning run's online phase begins (called at its first online step, and when a run resumes in it): where it
    /// starts and how many updates it makes, for methods whose settings change over it (ReBRAC's decaying penalty).
    /// </summary>
    public virtual void StartOnline(OnlinePhase phase) { }

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

    /// <summary>
    /// The deterministic policy as a differentiable map from raw observations [B, obs] to actions in the environment's
    /// units [B, act] (continuous actions): the saved normalization, <see cref="PolicyOutput"/>, the action scaling
    /// undone. Policy-guided diffusion differentiates through it.
    /// </summary>
    public Tensor ActionOf(Tensor observations)
    {
        if (ActionSpace is not Box) throw new InvalidOperationException($"{Name}: a differentiable action needs continuous actions");
        var s = observations;
        var p = Preprocessing;
        if (p.ObservationMean is { } mean && p.ObservationStd is { } std)
            s = (s - Tensor.FromArray((float[])mean.Clone(), 1, mean.Length)) / Tensor.FromArray((float[])std.Clone(), 1, std.Length);
        if (p.ObservationClip is { } clip) s = s.Clamp(-clip, clip);
        var a = PolicyOutput(s);
        if (p.ActionLow is { } low && p.ActionHigh is { } high)
        {
            var half = new float[low.Length]; var mid = new float[low.Length];
            for (int j = 0; j < low.Length; j++) { half[j] = 0.5f * (high[j] - low[j]); mid[j] = 0.5f * (high[j] + low[j]); }
            a = a * Tensor.FromArray(half, 1, half.Length) + Tensor.FromArray(mid, 1, mid.Length);
        }
        return a;
    }

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

    /// <summary>
    /// Counters beyond modules and optimizers that a checkpoint stores by name and a resume restores (DQN's exploration
    /// progress "acts"); each must be present when loading.
    /// </summary>
    protected virtual IEnumerable<(string Name, Func<long> Get, Action<long> Set)> CheckpointCounters => [];

    /// <summary>
    /// A full checkpoint: everything <see cref="Save"/> writes plus optimizer state, the agent's generator state and
    /// update counter, so <see cref="LoadCheckpoint"/> continues training exactly where it stopped.
    /// </summary>
    public void SaveCheckpoint(string dir)
    {
        Save(dir);
        var tensors = new List<(string, Tensor)>();
        var meta = new Dictionary<string, string> { ["updates"] = Updates.ToString() };
        foreach (var (name, get, _) in CheckpointCounters) meta[$"state.{name}"] = get().ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (name, opt) in _optimizers)
        {
            meta[$"{name}.steps"] = opt.Steps.ToString();
            foreach (var (k, v) in opt.State()) tensors.Add(($"{name}.{k}", Tensor.FromArray(v, v.Length)));
        }
        meta["rng"] = JsonSerializer.Serialize(Rng.GetState());
        Safetensors.Write(Path.Combine(dir, "optimizers.safetensors"), tensors, meta);
    }

    /// <summary>
    /// Restore a checkpoint written by <see cref="SaveCheckpoint"/>. Every value read is checked before any is applied
    /// to the optimizers; a missing, malformed or mis-sized one is a <see cref="DataException"/> naming the file and field.
    /// </summary>
    public void LoadCheckpoint(string dir)
    {
        var path = Path.Combine(dir, "optimizers.safetensors");
        if (!File.Exists(path)) throw new DataException("missing: a checkpoint holds its optimizer state there (the folder is not a checkpoint, or is incomplete)", path);
        Dictionary<string, Safetensors.Entry> tensors;
        Dictionary<string, string> meta;
        try { (tensors, meta) = Safetensors.Read(path); }
        catch (InvalidDataException e) { throw new DataException(Unprefixed(e.Message, path), path); }
        var steps = new long[_optimizers.Count];
        var claimed = new HashSet<string>();
        for (int i = 0; i < _optimizers.Count; i++)
        {
            var (name, opt) = _optimizers[i];
            foreach (var (k, v) in opt.State())
            {
                var key = $"{name}.{k}";
                if (!tensors.TryGetValue(key, out var e)) throw new DataException("missing (another algorithm's or config's checkpoint?)", path, key);
                if (e.Data.Length != v.Length) throw new DataException($"has {e.Data.Length} values, this agent's optimizer has {v.Length} (another config's checkpoint?)", path, key);
                int bad = Array.FindIndex(e.Data, x => !float.IsFinite(x));
                if (bad >= 0) throw new DataException($"value {bad} is {e.Data[bad]}; optimizer state must be finite", path, key);
                claimed.Add(key);
            }
            steps[i] = MetaLong(meta, $"{name}.steps", path);
        }
        foreach (var key in tensors.Keys)
            if (!claimed.Contains(key)) throw new DataException($"is not state of this agent's optimizers ({string.Join(", ", _optimizers.Select(o => o.Name))}; another algorithm's or config's checkpoint?)", path, key);
        long updates = MetaLong(meta, "updates", path);
        // Named counters; a checkpoint from before they had names stored its one counter as "extra" (checked even when unused).
        long? legacy = meta.ContainsKey("extra") ? MetaLong(meta, "extra", path) : null;
        var counters = CheckpointCounters.Select(c => (c.Set, Value: !meta.ContainsKey($"state.{c.Name}") && legacy is { } old
            ? old : MetaLong(meta, $"state.{c.Name}", path))).ToList();
        var names = CheckpointCounters.Select(c => $"state.{c.Name}").ToHashSet();
        foreach (var key in meta.Keys)
            if (key.StartsWith("state.", StringComparison.Ordinal) && !names.Contains(key))
                throw new DataException($"is not a counter of {Name} ({(names.Count == 0 ? "it has none" : string.Join(", ", names))}; another algorithm's checkpoint?)", path, key);
        var rng = ReadRngState(meta.TryGetValue("rng", out var rngJson) ? rngJson : throw new DataException("missing", path, "rng"), path, "rng");

        Load(dir);
        for (int i = 0; i < _optimizers.Count; i++)
        {
            var (name, opt) = _optimizers[i];
            foreach (var (k, v) in opt.State()) tensors[$"{name}.{k}"].Data.CopyTo(v, 0);
            opt.SetSteps(steps[i]);
        }
        Updates = updates;
        foreach (var (set, value) in counters) set(value);
        Rng.SetState(rng);
    }

    /// <summary>A non-negative integer of a checkpoint's metadata, or an error naming the file and key.</summary>
    private static long MetaLong(Dictionary<string, string> meta, string key, string path)
    {
        if (!meta.TryGetValue(key, out var text)) throw new DataException("missing", path, key);
        return long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v : throw new DataException($"must be an integer >= 0, got '{text}'", path, key);
    }

    private static string Unprefixed(string message, string path) => message.StartsWith(path + ": ", StringComparison.Ordinal) ? message[(path.Length + 2)..] : message;

    /// <summary>
    /// A generator state saved as JSON (<see cref="RngState"/>'s fields S0..S3, HasSpare, Spare), checked to be one a
    /// generator can be in (<see cref="Rng.Problem"/>); anything else is an error naming the file and field.
    /// </summary>
    internal static RngState ReadRngState(string json, string file, string field)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return ReadRngState(doc.RootElement, file, field);
        }
        catch (JsonException e) { throw new DataException($"not a generator state (JSON: {e.Message})", file, field); }
    }

    /// <inheritdoc cref="ReadRngState(string, string, string)"/>
    internal static RngState ReadRngState(JsonElement e, string file, string field)
    {
        const string Shape = "must be a generator state {S0, S1, S2, S3: integers; HasSpare: true/false; Spare: number}";
        if (e.ValueKind != JsonValueKind.Object) throw new DataException($"{Shape}, got {e.ValueKind}", file, field);
        foreach (var p in e.EnumerateObject())
            if (p.Name is not ("S0" or "S1" or "S2" or "S3" or "HasSpare" or "Spare")) throw new DataException($"{Shape}; '{p.Name}' is not one of them", file, field);
        ulong Word(string name) => e.TryGetProperty(name, out var w) && w.ValueKind == JsonValueKind.Number && w.TryGetUInt64(out var x)
            ? x : throw new DataException($"{Shape}; {name} is missing or not an integer in 0..2^64-1", file, field);
        var s = new RngState(Word("S0"), Word("S1"), Word("S2"), Word("S3"),
            e.TryGetProperty("HasSpare", out var h) && h.ValueKind is JsonValueKind.True or JsonValueKind.False ? h.GetBoolean()
                : throw new DataException($"{Shape}; HasSpare is missing or not true/false", file, field),
            e.TryGetProperty("Spare", out var sp) && sp.ValueKind == JsonValueKind.Number ? sp.GetDouble()
                : throw new DataException($"{Shape}; Spare is missing or not a number", file, field));
        if (Rng.Problem(s) is { } why) throw new DataException($"not a state a generator can be in: {why}", file, field);
        return s;
    }

    /// <summary>
    /// The agent.json format this OffRL writes: 1 (format_version; a file without it was written before versions, 0,
    /// and reads the same). <see cref="AlgorithmRegistry.Load"/> refuses a newer one.
    /// </summary>
    public const int FormatVersion = 1;

    /// <summary>Save the networks (safetensors), the preprocessing and the agent's description with its config (JSON) into a folder.</summary>
    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var (name, m) in Modules()) m.Save(Path.Combine(dir, name + ".safetensors"));
        Preprocessing.Save(Path.Combine(dir, "preprocessing.json"));
        var meta = new Dictionary<string, object>
        {
            ["format_version"] = FormatVersion, ["algo"] = Name, ["updates"] = Updates, ["observation_dim"] = ObservationDim,
            ["action_space"] = ActionSpace, ["config"] = JsonSerializer.SerializeToElement(Config, Config.GetType(), Module.JsonOptions),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "agent.json"), JsonSerializer.Serialize(meta, Module.JsonOptions));
    }

    /// <summary>Load networks and preprocessing saved by <see cref="Save"/> into an agent built with the same config (<see cref="AlgorithmRegistry.Load"/> builds it).</summary>
    /// <remarks>
    /// Every file <see cref="Save"/> writes must be there: a folder without a module's safetensors or without
    /// preprocessing.json is an incomplete checkpoint (acting without its normalizer would act on raw observations),
    /// refused naming the missing file. Nothing is applied unless every file reads.
    /// </remarks>
    public void Load(string dir)
    {
        var pre = Path.Combine(dir, "preprocessing.json");
        if (!File.Exists(pre))
            throw new DataException("missing: every saved agent has one (its observation normalization and action scaling); the checkpoint folder is incomplete", pre);
        Preprocessing loaded;
        try { loaded = Preprocessing.Load(pre).Checked(ObservationDim, ActionSpace is Box ? ActionDim : 0, pre); }
        catch (Exception e) when (e is JsonException or NotSupportedException or FormatException)
        {
            throw new DataException($"not a preprocessing file ({e.Message.ReplaceLineEndings(" ")})", pre);
        }
        var modules = Modules().ToList();
        foreach (var (name, _) in modules)
        {
            var file = Path.Combine(dir, name + ".safetensors");
            if (!File.Exists(file)) throw new DataException($"missing: {Name} saves its '{name}' network there; the checkpoint folder is incomplete", file);
        }
        var apply = new List<Action>(modules.Count);
        foreach (var (name, m) in modules) apply.Add(m.ReadParameters(Path.Combine(dir, name + ".safetensors")));
        foreach (var a in apply) a();
        Preprocessing = loaded;
    }
}

/// <summary>
/// An agent whose config is its own record type: <see cref="Config"/> is typed, so an algorithm reads its fields
/// without a cast. Every algorithm derives from this.
/// </summary>
public abstract class Agent<TConfig>(int observationDim, Space actionSpace, TConfig config, ulong seed)
    : Agent(observationDim, actionSpace, config, seed) where TConfig : AgentConfig
{
    public new TConfig Config => (TConfig)base.Config;
}
