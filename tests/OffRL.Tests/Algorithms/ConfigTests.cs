using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.IO;
using OffRL.Nn;
using OffRL.Tensors;
using Xunit;
using OffRL.Runs;

namespace OffRL.Tests.Algorithms;

/// <summary>
/// Every shared config field reaches the code that uses it, from a config file and from --set (parsed by the same
/// <see cref="ConfigFile"/> calls the CLI makes), and every algorithm describes itself through the registry.
/// </summary>
public class ConfigTests
{
    private static readonly Dataset Pendulum = Recipes.Collect(null, "pendulum", 800, seed: 3);

    private static JsonElement? Set(params string[] pairs) => ConfigFile.Overrides(null, pairs);

    /// <summary>An agent that learns nothing and records what the trainer's sampler gave it.</summary>
    private sealed record ProbeConfig : TdConfig;

    private sealed class ProbeAgent(ProbeConfig config) : Agent(3, Box.Uniform(1, -1f, 1f), config, 0)
    {
        public readonly List<int> Sizes = [];
        public readonly HashSet<float> Discounts = [];
        public readonly List<int> Rows = [];
        protected override string DefaultName => "probe";

        protected override void UpdateCore(TransitionBatch b)
        {
            Sizes.Add(b.Size);
            for (int i = 0; i < b.Size; i++) { Discounts.Add(b.Discount[i]); Rows.Add(b.Rows[i]); }
        }

        protected override void ActCore(Tensor s, Span<float> action, bool deterministic) => action[0] = 0;
        protected internal override Tensor PolicyOutput(Tensor s) => Tensor.Zeros(s.Shape[0], 1);
        protected override IEnumerable<(string, Module)> Modules() => [];
    }

    [Fact]
    public void SharedFieldsArriveFromAConfigFileAndFromSet()
    {
        var yaml = Path.Combine(Directory.CreateTempSubdirectory("offrl-config").FullName, "td3bc.yaml");
        File.WriteAllText(yaml, "batch_size: 32\ngamma: 0.9\nalpha: 5.0\n");
        // --config first, then --set, as `offrl train --config td3bc.yaml --set ...` combines them
        var overrides = ConfigFile.Overrides(yaml, ["tau=0.5", "hidden=[16,16]", "normalize_observations=false", "gamma=0.95"]);
        var agent = AlgorithmRegistry.Create("td3bc", 3, Box.Uniform(1, -1f, 1f), 0, overrides);
        var c = Assert.IsType<Td3BcConfig>(agent.Config);
        Assert.Equal((32, 0.95f, 0.5f, 5f, false), (c.BatchSize, c.Gamma, c.Tau, c.Alpha, c.NormalizeObservations));
        Assert.Equal([16, 16], c.Hidden);
    }

    private static readonly OffRL.Data.Preprocessing PendulumBounds = new() { ActionLow = [-2f], ActionHigh = [2f] };

    [Fact]
    public void TheSamplerFieldChoosesHowTheTrainerDrawsBatches()
    {
        ProbeAgent Run(string sampler, params string[] more)
        {
            var cfg = (ProbeConfig)ConfigFile.Apply(new ProbeConfig { BatchSize = 64, Gamma = 0.9f, NormalizeObservations = false }, Set([$"sampler={sampler}", .. more]));
            var agent = new ProbeAgent(cfg) { Preprocessing = PendulumBounds };
            Trainer.FitOffline(agent, Pendulum, "pendulum", new TrainerConfig(Steps: 20, EvalEvery: 20, EvalEpisodes: 1, Progress: false));
            return agent;
        }
        // n_step 3: gamma^3 bootstraps, fewer steps only where an episode ends first.
        var nstep = Run("n_step", "n_step=3");
        Assert.Contains(nstep.Discounts, d => Math.Abs(d - 0.729) < 1e-6);
        Assert.All(nstep.Discounts, d => Assert.Contains(new[] { 0.9, 0.81, 0.729 }, g => Math.Abs(d - g) < 1e-6));
        // return_weighted at a low temperature: nearly every row from the episode with the highest return.
        int best = Array.IndexOf(Pendulum.EpisodeReturns(), Pendulum.EpisodeReturns().Max());
        var weighted = Run("return_weighted", "weight_temperature=0.01");
        Assert.True(weighted.Rows.Count(r => Pendulum.EpisodeOf(r) == best) > 0.95 * weighted.Rows.Count);
        var uniform = Run("uniform");
        Assert.True(uniform.Rows.Count(r => Pendulum.EpisodeOf(r) == best) < 0.5 * uniform.Rows.Count);
        // A field that would reach nothing is refused: n_step without the n_step sampler; a dataset sampler online.
        Assert.Contains("only sampler n_step reads it", Assert.Throws<ArgumentException>(() => ConfigFile.Apply(new ProbeConfig(), Set("n_step=3")).Validate()).Message);
        var online = new ProbeAgent(new ProbeConfig { Sampler = SamplerKind.ReturnWeighted, NormalizeObservations = false }) { Preprocessing = PendulumBounds };
        Assert.Contains("offline-only", Assert.Throws<ArgumentException>(() => Trainer.FitOnline(online, "pendulum", new TrainerConfig(Steps: 30, Progress: false))).Message);
    }

    [Fact]
    public void TheTrainersSamplerUsesTheAgentsBatchSizeAndDiscount()
    {
        var offline = new ProbeAgent(new ProbeConfig { BatchSize = 48, Gamma = 0.9f, NormalizeObservations = false });
        offline.Preprocessing = PendulumBounds;   // evaluated in pendulum, whose torque is in [-2, 2]
        Trainer.FitOffline(offline, Pendulum, "pendulum", new TrainerConfig(Steps: 3, EvalEvery: 3, EvalEpisodes: 1, Progress: false));
        Assert.Equal([48, 48, 48], offline.Sizes);
        Assert.Equal([0.9f], offline.Discounts);   // pendulum episodes end by timeout only: gamma on every row

        var online = new ProbeAgent(new ProbeConfig { BatchSize = 7, Gamma = 0.5f, NormalizeObservations = false });
        online.Preprocessing = PendulumBounds;
        Trainer.FitOnline(online, "pendulum", new TrainerConfig(Steps: 30, StartSteps: 20, ReplayCapacity: 100, EvalEvery: 30, EvalEpisodes: 1, Progress: false));
        Assert.All(online.Sizes, s => Assert.Equal(7, s));
        Assert.Equal([0.5f], online.Discounts);
    }

    [Fact]
    public void BatchSizeOtherThanTheDefaultTrainsEveryContinuousAlgorithm()
    {
        // TD3+BC and AWAC once sized their noise from the config while the sampler used another batch size.
        foreach (var algo in new[] { "td3bc", "awac", "iql", "bc", "cql" })
        {
            var (agent, res) = Training.Offline(algo, Pendulum, "pendulum", new TrainerConfig(Steps: 4, EvalEvery: 4, EvalEpisodes: 1, Progress: false),
                Set("batch_size=64", "hidden=[8,8]"));
            Assert.Equal(64, agent.Config.BatchSize);
            Assert.Equal(4, agent.Updates);
            Assert.True(double.IsFinite(res.Final.ReturnMean));
        }
    }

    [Fact]
    public void TauSetsThePolyakRateOfTheTargets()
    {
        var batch = RandomBatches.Of(seed: 1);
        float Gap(string tau)
        {
            var agent = AlgorithmRegistry.Create("td3bc", 3, Box.Uniform(1, -1f, 1f), 0, Set("tau=" + tau, "policy_freq=1", "hidden=[8]"));
            agent.Update(batch);
            var m = agent.NamedModules.ToDictionary(x => x.Name, x => x.Module);
            float gap = 0;
            foreach (var ((_, online), (_, target)) in m["critic"].NamedParameters().Zip(m["critic_target"].NamedParameters()))
                for (int i = 0; i < online.Size; i++) gap = MathF.Max(gap, MathF.Abs(online.Data[i] - target.Data[i]));
            return gap;
        }
        Assert.Equal(0f, Gap("1"));          // tau = 1: the target is a copy after every update
        Assert.True(Gap("0.005") > 1e-6f);   // the default only moves it a little
    }

    [Theory]
    [InlineData("td3bc")]
    [InlineData("iql")]
    [InlineData("cql")]
    [InlineData("awac")]
    [InlineData("sac")]
    public void NumCriticsSizesTheCriticEnsembleAndEveryMemberLearns(string algo)
    {
        var yaml = Path.Combine(Directory.CreateTempSubdirectory("offrl-config").FullName, "c.yaml");
        File.WriteAllText(yaml, "num_critics: 5\n");
        string[] sets = algo == "td3bc" ? ["hidden=[8]", "policy_freq=1"] : ["hidden=[8]"];
        var agent = AlgorithmRegistry.Create(algo, 3, Box.Uniform(1, -1f, 1f), 0, ConfigFile.Overrides(yaml, sets));
        Assert.Equal(5, ((CriticEnsembleConfig)agent.Config).NumCritics);
        var critics = agent.NamedModules.Where(m => m.Name.StartsWith("critic")).ToList();
        Assert.Equal(2, critics.Count);   // online and target
        var before = critics[0].Module.NamedParameters().Select(x => x.Value.ToArray()).ToList();
        foreach (var (_, m) in critics)
            foreach (var (_, w) in m.NamedParameters()) Assert.Equal(5, w.Shape[0]);   // [members, ...] for every layer
        agent.Update(RandomBatches.Of(seed: 2));
        // every member's weights moved: the loss reaches all five
        var w0 = critics[0].Module.NamedParameters().First().Value;
        int per = w0.Size / 5;
        for (int e = 0; e < 5; e++)
        {
            bool moved = false;
            for (int i = e * per; i < (e + 1) * per; i++) moved |= w0.Data[i] != before[0][i];
            Assert.True(moved, $"{algo}: critic member {e} did not move");
        }
        Assert.True(agent.Metrics.ContainsKey("critic_loss"));
    }

    [Fact]
    public void HiddenSizesShapeEveryNetwork()
    {
        var agent = AlgorithmRegistry.Create("iql", 3, Box.Uniform(1, -1f, 1f), 0, Set("hidden=[24,12]"));
        foreach (var (name, module) in agent.NamedModules)
        {
            var widths = module.NamedParameters().Where(p => p.Name.EndsWith("weight") && p.Value.Shape.Rank >= 2).Select(p => p.Value.Shape[p.Value.Shape.Rank - 1]).ToList();
            Assert.True(widths.Contains(24) && widths.Contains(12), $"{name}: layer widths {string.Join(",", widths)}");
        }
    }

    [Fact]
    public void CriticHiddenShapesTheCriticsAloneAndUnsetFollowsHidden()
    {
        static List<int> Widths(Agent agent, string module) => agent.NamedModules.Single(m => m.Name == module).Module.NamedParameters()
            .Where(p => p.Name.EndsWith("weight") && p.Value.Shape.Rank >= 2).Select(p => p.Value.Shape.Rank == 2 ? p.Value.Shape[0] : p.Value.Shape[2]).ToList();   // Linear [out, in]; ensemble [members, in, out]
        var split = AlgorithmRegistry.Create("cql", 3, Box.Uniform(1, -1f, 1f), 0, Set("hidden=[24,24,24]", "critic_hidden=[12,12]"));
        Assert.Equal([24, 24, 24, 2], Widths(split, "actor"));
        Assert.Equal([12, 12, 1], Widths(split, "critic"));
        Assert.Equal([12, 12, 1], Widths(split, "critic_target"));
        split.Update(RandomBatches.Of(seed: 1));
        var same = AlgorithmRegistry.Create("sac", 3, Box.Uniform(1, -1f, 1f), 0, Set("hidden=[24,24]"));
        Assert.Equal([24, 24, 1], Widths(same, "critic"));
    }

    [Fact]
    public void NormalizeObservationsDecidesThePreprocessing()
    {
        var tc = new TrainerConfig(Steps: 1, EvalEvery: 1, EvalEpisodes: 1, Progress: false);
        var (on, _) = Training.Offline("bc", Pendulum, "pendulum", tc, Set("hidden=[8]"));
        var (off, _) = Training.Offline("bc", Pendulum, "pendulum", tc, Set("hidden=[8]", "normalize_observations=false"));
        Assert.NotNull(on.Preprocessing.ObservationMean);
        Assert.Null(off.Preprocessing.ObservationMean);
        var ex = Assert.Throws<ArgumentException>(() => Training.Online("sac", "pendulum", tc, Set("normalize_observations=true")));
        Assert.Contains("normalize_observations", ex.Message);
    }

    [Fact]
    public void RewardPreprocessingIsAConfigFieldAppliedToWhatTheSamplerDraws()
    {
        var ret = Pendulum.EpisodeReturns();
        float scale = (float)(1000.0 / (ret.Max() - ret.Min()));
        // IQL's default: the authors' return-range normalization, r * 1000 / (max - min episode return)
        var (iql, data) = Training.Prepare("iql", Pendulum, overrides: Set("hidden=[8]"));
        Assert.Equal(scale, iql.Preprocessing.RewardScale, 4);
        for (int i = 0; i < Pendulum.Count; i++) Assert.Equal(scale * Pendulum.Rewards[i], data.Rewards[i], 3);
        var scaled = new HashSet<float>(data.Rewards.ToArray());
        var batch = Trainer.Sampler(iql, new DatasetSource(data), new Rng(1)).Sample();
        Assert.All(batch.Rew, r => Assert.Contains(r, scaled));                        // the sampler draws the scaled rewards
        var dir = Directory.CreateTempSubdirectory("offrl-reward-scale").FullName;
        iql.Save(dir);
        Assert.Equal(iql.Preprocessing.RewardScale, AlgorithmRegistry.Load(dir).Preprocessing.RewardScale);   // saved with the model

        var (_, none) = Training.Prepare("iql", Pendulum, overrides: Set("reward_normalization=none"));
        Assert.Equal(Pendulum.Rewards[5], none.Rewards[5]);
        var yaml = Path.Combine(dir, "td3bc.yaml");
        File.WriteAllText(yaml, "reward_normalization: return_range\nreward_scale: 2\nreward_bias: -1\n");
        var (_, td3) = Training.Prepare("td3bc", Pendulum, overrides: ConfigFile.Overrides(yaml, null));
        Assert.Equal(2 * scale * Pendulum.Rewards[5] - 1, td3.Rewards[5], 3);
        Assert.Equal(Pendulum.Rewards[5], Training.Prepare("td3bc", Pendulum).Data.Rewards[5]);   // TD3+BC's default: none
    }

    [Fact]
    public void AnUnfittableRewardNormalizationIsOneClearErrorAndNothingIsWritten()
    {
        var cols = Pendulum.CopyColumns();
        Array.Fill(cols.Rewards, -1f);   // every episode returns -200
        var flat = Pendulum.With(cols, "constant rewards");
        var dir = Path.Combine(Directory.CreateTempSubdirectory("offrl-unfittable").FullName, "run");
        var ex = Assert.Throws<DataException>(() => Training.Offline("iql", flat, "pendulum", new TrainerConfig(Steps: 1, OutDir: dir, Progress: false)));
        Assert.Contains("reward_normalization", ex.Message);
        Assert.Contains(Pendulum.Info.Source, ex.Message);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void OnlineLearnersStoreActionsInTheirNetworksRange()
    {
        using var env = OffRL.Envs.EnvRegistry.Make("pendulum");   // torque in [-2, 2]
        var sac = Training.OnlineAgent(AlgorithmRegistry.Find("sac"), env, AlgorithmRegistry.Config(AlgorithmRegistry.Find("sac"), Set("hidden=[8]")), 0);
        Dataset? stored = null, asEnv = null;
        Trainer.FitOnlineWithCallback(sac, "pendulum", new TrainerConfig(Steps: 400, StartSteps: 300, EvalEvery: 400, EvalEpisodes: 1, Progress: false),
            (_, buffer) =>
            {
                stored = buffer.ToDataset(env.ObservationSpace, env.ActionSpace);
                asEnv = buffer.ToDataset(env.ObservationSpace, env.ActionSpace, actionsFrom: sac.Preprocessing);
                return false;
            });
        float MaxAbs(Dataset d) => d.Actions.ToArray().Max(MathF.Abs);
        Assert.InRange(MaxAbs(stored!), 0.95f, 1f);    // random and policy actions alike, in [-1, 1]
        Assert.InRange(MaxAbs(asEnv!), 1.9f, 2f);      // mapped back for datasets (medium-replay)
    }

    [Fact]
    public void CqlRunsTheAuthorsProtocolAndTheOtherReferencesSettingsReachTheUpdate()
    {
        var c = new CqlConfig();
        Assert.Equal((1e-4, 1e-4, false, 5f), (c.ActorLr, c.AlphaLr, c.BackupEntropy, c.CqlAlpha));
        Assert.True(new SacConfig().BackupEntropy);
        static float After(string metric, string algo, params string[] pairs)
        {
            string[] small = algo == "cql" ? ["hidden=[8]", "sampled_actions=2"] : ["hidden=[8]"];
            var agent = AlgorithmRegistry.Create(algo, 3, Box.Uniform(1, -1f, 1f), 0, Set([.. pairs, .. small]));
            return agent.Update(RandomBatches.Of(seed: 4))[metric];
        }
        Assert.NotEqual(After("critic_loss", "sac"), After("critic_loss", "sac", "backup_entropy=false"));
        Assert.NotEqual(After("critic_loss", "cql"), After("critic_loss", "cql", "backup_entropy=true"));
        Assert.NotEqual(After("cql_gap", "cql"), After("cql_gap", "cql", "cql_temperature=0.5"));
        Assert.NotEqual(After("critic_loss", "cql"), After("critic_loss", "cql", "cql_alpha=1"));
        Assert.NotEqual(After("actor_loss", "cql"), After("actor_loss", "cql", "bc_steps=10"));            // CORL's BC warm-up
        Assert.NotEqual(After("actor_loss", "iql"), After("actor_loss", "iql", "deterministic_actor=true"));   // CORL's iql_deterministic
        // CORL's CQL protocol (its preset): actor against the critics before their step, learnable log-std offset, inits.
        Assert.NotEqual(After("actor_loss", "cql"), After("actor_loss", "cql", "actor_before_critic=true"));
        Assert.NotEqual(After("actor_loss", "cql"), After("actor_loss", "cql", "log_std_offset=-1"));
        Assert.NotEqual(After("actor_loss", "sac"), After("actor_loss", "sac", "log_std_min=1"));
        Assert.NotEqual(After("critic_loss", "cql"), After("critic_loss", "cql", "orthogonal_critic_init=true"));
        Assert.NotEqual(After("critic_loss", "cql"), After("critic_loss", "cql", "critic_output_gain=0.01"));
        Assert.NotEqual(After("actor_loss", "cql"), After("actor_loss", "cql", "actor_output_gain=0.01"));
        Assert.NotEqual(After("actor_loss", "iql"), After("actor_loss", "iql", "log_std_min=1"));
        Assert.NotEqual(After("actor_loss", "awac"), After("actor_loss", "awac", "log_std_min=1"));
        Assert.NotEqual(After("actor_loss", "awac"), After("actor_loss", "awac", "tanh_mean=false"));
    }

    [Fact]
    public void TopFractionReachesEpisodeSelectionOnBcAndPbc()
    {
        var bc = AlgorithmRegistry.Find("bc");
        var half = bc.PrepareData!(Pendulum, AlgorithmRegistry.Config(bc, Set("top_fraction=0.5")));
        Assert.Equal(2, half.EpisodeCount);                                            // 4 episodes
        var pbc = AlgorithmRegistry.Find("pbc");
        Assert.Equal(1, pbc.PrepareData!(Pendulum, pbc.Defaults).EpisodeCount);   // 10% of 4 episodes, at least one
        Assert.Same(Pendulum, bc.PrepareData!(Pendulum, bc.Defaults));
    }

    [Theory]
    [InlineData("td3bc", "tau=-1", "tau")]
    [InlineData("iql", "batch_size=0", "batch_size")]
    [InlineData("sac", "gamma=1.5", "gamma")]
    [InlineData("td3bc", "policy_freq=0", "policy_freq")]
    [InlineData("iql", "hidden=[]", "hidden")]
    [InlineData("iql", "temperature=1", "temperature")]
    [InlineData("iql", "beta=\"high\"", "beta")]
    [InlineData("td3bc", "alpha=-100", "alpha")]
    [InlineData("iql", "beta=NaN", "beta")]
    [InlineData("iql", "actor_lr=Infinity", "actor_lr")]
    [InlineData("cql", "hidden=[256,0]", "hidden")]
    [InlineData("sac", "critic_hidden=[0]", "critic_hidden")]
    [InlineData("sac", "num_critics=0", "num_critics")]
    [InlineData("td3bc", "num_critics=1", "num_critics")]
    public void OutOfRangeOrUnknownFieldsAreOneClearError(string algo, string pair, string field)
    {
        var ex = Assert.Throws<ArgumentException>(() => AlgorithmRegistry.Create(algo, 3, Box.Uniform(1, -1f, 1f), 0, Set(pair)));
        Assert.Contains(field, ex.Message);
        // The library API (a record made in C#, given to the agent's constructor) refuses the same value with the same
        // message, whenever the value can be written in the record at all.
        var spec = AlgorithmRegistry.Find(algo);
        AgentConfig record;
        try { record = ConfigFile.Apply(spec.Defaults, Set(pair)); }
        catch (ArgumentException) { return; }   // unknown field or wrong type: no record to make
        Assert.Equal(ex.Message, Assert.Throws<ArgumentException>(() => spec.Create(3, Box.Uniform(1, -1f, 1f), record, 0)).Message);
    }

    [Fact]
    public void AnEnumFieldTakesItsValuesAsFilesWriteThemAndListsThemWhenGivenAnother()
    {
        var iql = AlgorithmRegistry.Find("iql");
        IqlConfig Set(string pair) => (IqlConfig)AlgorithmRegistry.Config(iql, ConfigFile.Overrides(null, [pair]));
        Assert.Equal(RewardNormalization.None, Set("reward_normalization=none").RewardNormalization);
        Assert.Equal(RewardNormalization.ReturnRange, Set("reward_normalization=return-range").RewardNormalization);
        Assert.Equal(ReturnSegments.Corl, Set("return_segments=CORL").ReturnSegments);
        foreach (var bad in new[] { "bogus", "1", "5" })
        {
            var e = Assert.Throws<ArgumentException>(() => Set($"reward_normalization={bad}"));
            Assert.Equal($"config: field 'reward_normalization' of IqlConfig must be one of none, return_range, got '{bad}'", e.Message);
        }
        // offrl list --fields: the default and the values as a config file writes them.
        var fields = AlgorithmRegistry.Fields(iql).ToDictionary(f => f.Field);
        Assert.Equal(("return_range", "{none, return_range}"), (fields["reward_normalization"].Default, fields["reward_normalization"].Range));
        Assert.Equal(("episodes", "{episodes, corl}"), (fields["return_segments"].Default, fields["return_segments"].Range));
        Assert.Equal(("uniform", "{uniform, n_step, return_weighted, advantage_weighted}"), (fields["sampler"].Default, fields["sampler"].Range));
        Assert.Equal("1", fields["n_step"].Default);   // a run of capitals ends a word before a lower-case letter: NStep -> n_step
    }

    [Fact]
    public void EveryAlgorithmDescribesItselfAndRoundTripsThroughACheckpoint()
    {
        Assert.Equal(35, AlgorithmRegistry.All.Count(s => s.ConfigType.Assembly == typeof(Agent).Assembly));   // plug-ins registered by other tests come on top
        foreach (var spec in AlgorithmRegistry.All)
        {
            Space actions = spec.Actions == ActionKind.Discrete ? new Discrete(2) : Box.Uniform(1, -1f, 1f);
            var agent = spec.Create(3, actions, AlgorithmRegistry.Config(spec, Set("hidden=[8]")), 0);
            Assert.Equal(spec.Name, agent.Name);
            Assert.IsType(spec.ConfigType, agent.Config);
            var dir = Directory.CreateTempSubdirectory("offrl-spec-" + spec.Name).FullName;
            agent.Save(dir);
            var back = AlgorithmRegistry.Load(dir);
            Assert.Equal(spec.Name, back.Name);
            Assert.Equal(JsonSerializer.Serialize(agent.Config, agent.Config.GetType()), JsonSerializer.Serialize(back.Config, back.Config.GetType()));
            float[] o = [0.1f, -0.2f, 0.3f], a1 = new float[1], a2 = new float[1];
            agent.Act(o, a1, true); back.Act(o, a2, true);
            Assert.Equal(a1, a2);
        }
        Assert.Contains("cql-discrete", Assert.Throws<ArgumentException>(() => AlgorithmRegistry.Find("nope")).Message);
    }

    [Fact]
    public void CqlLagrangeCheckpointsKeepLogAlphaPrime()
    {
        var batch = RandomBatches.Of(seed: 2);
        var cql = AlgorithmRegistry.Create("cql", 3, Box.Uniform(1, -1f, 1f), 0, Set("lagrange=true", "hidden=[8]", "sampled_actions=2", "alpha_prime_lr=0.1"));
        for (int i = 0; i < 3; i++) cql.Update(batch);
        float LogAlphaPrime(Agent a) => a.NamedModules.Single(m => m.Name == "alpha_prime").Module.Parameters()[0].Data[0];
        Assert.NotEqual(0f, LogAlphaPrime(cql));
        var dir = Directory.CreateTempSubdirectory("offrl-cql-lagrange").FullName;
        cql.SaveCheckpoint(dir);
        var back = AlgorithmRegistry.Load(dir);
        back.LoadCheckpoint(dir);
        Assert.Equal(LogAlphaPrime(cql), LogAlphaPrime(back));
    }

    [Fact]
    public void ArchitectureMdHoldsTheRegistrysTable()
    {
        var doc = File.ReadAllText(Path.Combine(RepoRoot(), "ARCHITECTURE.md")).ReplaceLineEndings("\n");
        Assert.Contains(AlgorithmRegistry.MarkdownTable().ReplaceLineEndings("\n"), doc);
    }

    internal static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "OffRL.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("OffRL.sln not found above the test folder");
    }
}
