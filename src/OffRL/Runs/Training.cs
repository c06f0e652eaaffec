using OffRL.Algorithms;
using System.Text.Json;
using OffRL.Data;
using OffRL.Envs;

namespace OffRL.Runs;

/// <summary>
/// A run end to end, for any registered algorithm: the agent built from its spec and config, its own data preparation,
/// the preprocessing its config asks for (fitted once, saved with the model), then the <see cref="Trainer"/>.
/// </summary>
public static class Training
{
    /// <summary>
    /// Offline: the algorithm's data preparation, the preprocessing its config asks for fitted on the dataset
    /// (observation normalization, reward normalization, scale and bias; bounded continuous actions rescaled to [-1, 1]),
    /// applied once, saved with the model; trained and evaluated in <paramref name="env"/>.
    /// </summary>
    public static (Agent Agent, TrainResult Result) Offline(string algo, Dataset data, string env, TrainerConfig tc, JsonElement? overrides = null)
    {
        data = Recipes.FitToEnv(data, env);   // the one check of a dataset against its environment (guessed bounds replaced)
        var (agent, prepared) = Prepare(algo, data, tc.Seed, overrides);
        return (agent, Trainer.FitOffline(agent, prepared, env, tc));
    }

    /// <summary>
    /// Offline, then online (<c>offrl finetune</c>): the agent and data of an offline run (<see cref="Prepare"/>), trained
    /// on the data for <see cref="FineTuning.OfflineSteps"/> updates, then acting in <paramref name="env"/> for the rest
    /// of <paramref name="tc"/>'s steps with batches that mix the data and its own transitions
    /// (<see cref="Trainer.FitFineTune"/>).
    /// </summary>
    public static (Agent Agent, TrainResult Result) FineTune(string algo, Dataset data, string env, TrainerConfig tc, FineTuning schedule, JsonElement? overrides = null)
    {
        schedule.Validate();
        data = Recipes.FitToEnv(data, env);
        var (agent, prepared) = Prepare(algo, data, tc.Seed, overrides);
        if (agent.Config.OfflinePhaseUpdates() is { } own && own != schedule.OfflineSteps)
            throw new ArgumentException($"--offline-steps: {schedule.OfflineSteps}, but {agent.Name}'s offline phase is its own stages' {own} updates; leave --offline-steps out, or change the stages' fields");
        if (agent is IOnPolicy)
        {   // an on-policy learner goes on with its own rollouts, the data left behind (Uni-O4)
            if (tc.UpdatesPerStep != 1) throw new ArgumentException($"--utd: {agent.Name} learns online from whole rollouts, not per environment step");
            return (agent, Trainer.FitOnPolicy(agent, env, tc, new OfflinePrefix(prepared, schedule.OfflineSteps)));
        }
        return (agent, Trainer.FitFineTune(agent, prepared, env, tc, schedule));
    }

    /// <summary>
    /// A hybrid method's run (<see cref="LearningMode.Hybrid"/>; RLPD: <c>offrl train --algo rlpd --dataset D --env E</c>;
    /// H2O: also <c>--sim-env</c>): the agent and data as an offline run prepares them (<see cref="Prepare"/>), then acting
    /// from the first step in <paramref name="simEnv"/> (null: <paramref name="env"/>) and evaluated in
    /// <paramref name="env"/>, on the method's schedule (<see cref="IHybridSchedule"/>: its random steps, then its
    /// update-to-data ratio on batches that draw its offline ratio from the data; <see cref="Trainer.FitFineTune"/> with
    /// no offline phase). An on-policy learner with offline data (HNPG) runs <see cref="Trainer.FitOnPolicy"/> holding
    /// the prepared data. <paramref name="tc"/>'s steps are environment steps.
    /// </summary>
    public static (Agent Agent, TrainResult Result) Hybrid(string algo, Dataset data, string env, TrainerConfig tc, JsonElement? overrides = null, string? simEnv = null)
    {
        var spec = AlgorithmRegistry.Find(algo);
        if (spec.Mode != LearningMode.Hybrid)
            throw new ArgumentException($"--algo {spec.Name}: is not a hybrid method (online with a dataset in every batch): {AlgorithmRegistry.Names(LearningMode.Hybrid)}");
        data = Recipes.FitToEnv(data, env);
        var (agent, prepared) = Prepare(algo, data, tc.Seed, overrides);
        if (agent is IOnPolicy)
        {   // an on-policy learner with offline data (HNPG): its own rollouts, the prepared data handed over by Prepare (UseDataset)
            if (simEnv is not null) throw new ArgumentException($"--sim-env: {spec.Name} collects its rollouts in --env; a simulator apart is H2O's");
            return (agent, Trainer.FitOnPolicy(agent, env, tc));
        }
        var schedule = agent as IHybridSchedule ?? throw new InvalidOperationException($"{spec.Name}: a hybrid method's agent must say its schedule (IHybridSchedule)");
        if (simEnv is not null) EnvRegistry.Find(simEnv);   // an unknown name fails before anything runs
        return (agent, Trainer.FitFineTune(agent, prepared, env, tc with { UpdatesPerStep = schedule.UpdateToDataRatio },
            new FineTuning(OfflineSteps: 0, schedule.OfflineRatio, schedule.RandomSteps, schedule.CollectSteps, simEnv, schedule.OnlineCapacity(prepared.Count))));
    }

    /// <summary>
    /// The agent of an offline run and the data it learns from, as <see cref="Offline"/> makes them: the algorithm's own
    /// data preparation, then its config's preprocessing fitted (one place for every algorithm), set on the agent and
    /// applied. A preprocessing that cannot be fitted is a <see cref="DataException"/> naming the field and dataset.
    /// </summary>
    public static (Agent Agent, Dataset Data) Prepare(string algo, Dataset data, ulong seed = 0, JsonElement? overrides = null)
    {
        var spec = AlgorithmRegistry.Find(algo);
        if (spec.Mode == LearningMode.Online)
            throw new ArgumentException($"--algo {spec.Name}: learns online in an environment (pass --env, not --dataset); offline algorithms: {AlgorithmRegistry.Names(LearningMode.Offline)}");
        var kind = KindOf(data.ActionSpace, $"dataset '{data.Info.Source}'");
        if (kind != spec.Actions)
            throw new ArgumentException($"--algo {spec.Name}: needs {spec.Actions.ToString().ToLowerInvariant()} actions, the dataset's are {data.ActionSpace}; offline algorithms for these: {AlgorithmRegistry.Names(LearningMode.Offline, kind)}");
        var cfg = AlgorithmRegistry.Config(spec, overrides);
        data.RequireTransitions();
        if (cfg.History > 1) data = data.WithHistory(cfg.History);   // on the rows in their order, before any are left out
        if (cfg.QlearningRows) data = data.QlearningRows();
        if (spec.PrepareData is { } prepare) data = prepare(data, cfg);
        var pre = Preprocessing.Fit(data, cfg.Preprocessing(rescaleActions: data.ActionSpace is Box { IsBounded: true }));
        var agent = spec.Create(data.ObservationDim, AgentActionSpace(data.ActionSpace), cfg, seed);
        agent.Preprocessing = pre;
        var prepared = pre.Apply(data);
        if (cfg.ActionClip < 1f && pre.ActionLow is not null) prepared = ClipActions(prepared, cfg.ActionClip);
        agent.UseDataset(prepared);
        return (agent, prepared);
    }

    /// <summary>The dataset with its (rescaled) actions clipped to [-bound, bound] (<see cref="AgentConfig.ActionClip"/>).</summary>
    private static Dataset ClipActions(Dataset d, float bound)
    {
        var c = d.CopyColumns();
        var a = c.Actions.AsSpan();
        int clipped = 0;
        for (int i = 0; i < a.Length; i++)
            if (Math.Abs(a[i]) > bound) { a[i] = Math.Clamp(a[i], -bound, bound); clipped++; }
        if (c.NextActions is { } next)
            for (int i = 0; i < next.Length; i++) next[i] = Math.Clamp(next[i], -bound, bound);
        var info = d.Info with { Processing = new List<string>(d.Info.Processing) { $"actions clipped to [-{bound:G9}, {bound:G9}] ({clipped} values)" } };
        return new Dataset(c, d.ObservationSpace, d.ActionSpace, info);
    }

    /// <summary>Online: the agent acts in <paramref name="env"/> (continuous actions rescaled from [-1, 1] to its bounds).</summary>
    public static (Agent Agent, TrainResult Result) Online(string algo, string env, TrainerConfig tc, JsonElement? overrides = null)
    {
        var spec = AlgorithmRegistry.Find(algo);
        if (spec.Mode != LearningMode.Online)
            throw new ArgumentException($"--algo {spec.Name}: learns offline from a dataset (pass --dataset); online algorithms: {AlgorithmRegistry.Names(LearningMode.Online)}");
        using var probe = EnvRegistry.Make(env);
        var kind = KindOf(probe.ActionSpace, env);
        if (kind != spec.Actions)
            throw new ArgumentException($"--algo {spec.Name}: needs {spec.Actions.ToString().ToLowerInvariant()} actions, {env} has {probe.ActionSpace}; online algorithms for these: {AlgorithmRegistry.Names(LearningMode.Online, kind)}");
        var agent = OnlineAgent(spec, probe, AlgorithmRegistry.Config(spec, overrides), tc.Seed);
        return (agent, agent is IOnPolicy ? Trainer.FitOnPolicy(agent, env, tc) : Trainer.FitOnline(agent, env, tc));
    }

    /// <summary>An agent to act in <paramref name="env"/>: networks in [-1, 1], continuous actions rescaled to the env's bounds.</summary>
    public static Agent OnlineAgent(AlgorithmSpec spec, IEnv env, AgentConfig config, ulong seed)
    {
        var agent = spec.Create(env.ObservationSpace.Width * config.History, AgentActionSpace(env.ActionSpace), config, seed);
        if (env.ActionSpace is Box box) agent.Preprocessing = new Preprocessing { ActionLow = box.Low, ActionHigh = box.High };
        return agent;
    }

    /// <summary>Networks act in [-1, 1] for continuous actions; discrete spaces pass through.</summary>
    public static Space AgentActionSpace(Space s) => s is Box b ? Box.Uniform(b.Width, -1f, 1f) : s;

    private static ActionKind KindOf(Space s, string where) => s switch
    {
        Box => ActionKind.Continuous,
        Discrete => ActionKind.Discrete,
        _ => throw new ArgumentException($"{where}: unsupported action space {s}"),
    };
}
