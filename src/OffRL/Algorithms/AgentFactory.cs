using System.Text.Json;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Nn;

namespace OffRL.Algorithms;

/// <summary>Builds agents by name with their configs (defaults from the papers, overridable from YAML/JSON).</summary>
public static class AgentFactory
{
    public static readonly string[] OfflineAlgorithms = ["bc", "pbc", "td3bc", "iql", "cql", "awac", "cql-discrete"];
    public static readonly string[] OnlineAlgorithms = ["sac", "td3", "dqn"];

    /// <summary>The agent and its config; config fields come from a JSON object (null: the defaults).</summary>
    public static (Agent Agent, object Config, bool NormalizeObservations) Create(string algo, int obs, Space actionSpace, ulong seed, JsonElement? overrides = null, long steps = 0)
    {
        T Cfg<T>(T defaults) => overrides is { } o ? Merge(defaults, o) : defaults;
        switch (algo.ToLowerInvariant())
        {
            case "bc": { var c = Cfg(new BcConfig()); return (new Bc(obs, actionSpace, c, seed), c, c.NormalizeObservations); }
            case "pbc": { var c = Cfg(new BcConfig(TopFraction: 0.1)); return (new Bc(obs, actionSpace, c, seed), c, c.NormalizeObservations); }
            case "td3bc": { var c = Cfg(new Td3BcConfig()); return (new Td3Bc(obs, actionSpace, c, seed), c, c.NormalizeObservations); }
            case "iql": { var c = Cfg(new IqlConfig(CosineActorLrSteps: steps > 0 ? steps : null)); return (new Iql(obs, actionSpace, c, seed), c, c.NormalizeObservations); }
            case "cql": { var c = Cfg(new CqlConfig()); return (new Cql(obs, actionSpace, c, seed), c, c.NormalizeObservations); }
            case "awac": { var c = Cfg(new AwacConfig()); return (new Awac(obs, actionSpace, c, seed), c, c.NormalizeObservations); }
            case "sac": { var c = Cfg(new SacConfig()); return (new Sac(obs, actionSpace, c, seed), c, false); }
            case "dqn": { var c = Cfg(new DqnConfig()); return (new Dqn(obs, actionSpace, c, seed), c, c.NormalizeObservations); }
            case "cql-discrete": { var c = Cfg(new DqnConfig(CqlAlpha: 1f)); return (new Dqn(obs, actionSpace, c, seed), c, c.NormalizeObservations); }
            case "td3": { var c = Cfg(new Td3BcConfig(BehaviorCloning: false, NormalizeObservations: false)); return (new Td3Bc(obs, actionSpace, c, seed), c, false); }
            default: throw new ArgumentException($"unknown algorithm '{algo}' (offline: {string.Join(", ", OfflineAlgorithms)}; online: {string.Join(", ", OnlineAlgorithms)}; discrete actions: dqn, cql-discrete)");
        }
    }

    /// <summary>Rebuild a trained agent from a folder written by <see cref="Agent.Save"/> (agent.json names the algorithm and config).</summary>
    public static Agent Load(string dir, ulong seed = 0)
    {
        var metaPath = Path.Combine(dir, "agent.json");
        if (!File.Exists(metaPath)) throw new DataException("not a checkpoint folder (agent.json is missing)", dir);
        using var meta = JsonDocument.Parse(File.ReadAllText(metaPath));
        var root = meta.RootElement;
        var (agent, _, _) = Create(root.GetProperty("algo").GetString()!, root.GetProperty("observation_dim").GetInt32(),
            root.GetProperty("action_space").Deserialize<Space>(Module.JsonOptions)!, seed, root.GetProperty("config"));
        agent.Load(dir);
        return agent;
    }

    /// <summary>Record defaults with the given JSON fields replaced (unknown fields are an error naming the field).</summary>
    public static T Merge<T>(T defaults, JsonElement o)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(defaults, Module.JsonOptions))!.AsObject();
        foreach (var p in o.EnumerateObject())
        {
            static string Norm(string n) => n.Replace("_", "").Replace("-", "").ToLowerInvariant();   // policy_freq = PolicyFreq
            var key = node.Select(kv => kv.Key).FirstOrDefault(k => Norm(k) == Norm(p.Name))
                ?? throw new ArgumentException($"config: '{p.Name}' is not a field of {typeof(T).Name} (fields: {string.Join(", ", node.Select(kv => kv.Key))})");
            node[key] = System.Text.Json.Nodes.JsonNode.Parse(p.Value.GetRawText());
        }
        return node.Deserialize<T>(Module.JsonOptions) ?? defaults;
    }

    /// <summary>
    /// Offline training end to end: preprocessing fitted on the dataset (normalization when the config asks, actions
    /// rescaled to [-1, 1]), the agent trained and evaluated in the dataset's environment.
    /// </summary>
    public static (Agent Agent, TrainResult Result) TrainOffline(string algo, Dataset data, string env, TrainerConfig tc, JsonElement? overrides = null)
    {
        if (data.ActionSpace is Discrete)
        {
            if (algo == "cql") algo = "cql-discrete";
            if (algo != "cql-discrete") throw new ArgumentException($"{algo}: needs continuous actions; for discrete actions use cql-discrete");
            var (dagent, dcfg, dnorm) = Create(algo, data.ObservationDim, data.ActionSpace, tc.Seed, overrides, tc.Steps);
            var dpre = Preprocessing.Fit(data, new PreprocessingConfig(NormalizeObservations: dnorm));
            dagent.Preprocessing = dpre;
            return (dagent, Trainer.FitOffline(dagent, dpre.Apply(data), env, tc, dcfg));
        }
        var box = data.ActionSpace as Box ?? throw new ArgumentException($"{algo}: unsupported action space {data.ActionSpace}");
        var (agent, cfg, normalize) = Create(algo, data.ObservationDim, Box.Uniform(box.Width, -1f, 1f), tc.Seed, overrides, tc.Steps);
        if (algo == "pbc") data = Bc.Select(data, ((BcConfig)cfg).TopFraction);
        var pre = Preprocessing.Fit(data, new PreprocessingConfig(NormalizeObservations: normalize, RescaleActions: box.IsBounded));
        agent.Preprocessing = pre;
        var result = Trainer.FitOffline(agent, pre.Apply(data), env, tc, cfg);
        return (agent, result);
    }
}
