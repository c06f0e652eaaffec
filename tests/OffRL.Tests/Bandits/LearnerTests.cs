using OffRL.Bandits;
using OffRL.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace OffRL.Tests.Bandits;

public class LearnerTests(ITestOutputHelper output)
{
    private static readonly string[] Ridge = ["epsilon-greedy", "softmax", "squarecb", "linucb", "thompson"];

    private static SyntheticBandit Env(ulong seed, int min = 3) =>
        new(new SyntheticBanditConfig { ContextDim = 5, Actions = 6, Reward = "logistic", MinCandidates = min, Seed = seed });

    [Fact]
    public void Probabilities_are_positive_and_sum_to_one_over_changing_candidate_sets()
    {
        foreach (var algo in Ridge.Append("squarecb-neural"))
        {
            var cfg = new BanditLearnerConfig { Algo = algo.Split('-')[0] == "squarecb" ? "squarecb" : algo, Oracle = algo.EndsWith("neural") ? "neural" : "ridge", Hidden = [16] };
            var env = Env(1, min: 2);
            var learner = BanditLearner.Create(cfg, env.ContextDim, env.ActionDim);
            var rng = new Rng(3);
            for (int t = 0; t < 300; t++)
            {
                var c = env.Next(rng);
                var d = learner.Decide(c, rng);
                Assert.Equal(c.Count, d.Probabilities.Length);
                double s = 0;
                foreach (var p in d.Probabilities) { Assert.InRange(p, 1e-6f, 1f); s += p; }
                Assert.Equal(1.0, s, 4);
                Assert.Equal(d.Probabilities[d.Index], d.Probability);
                learner.Observe(c, d.Index, env.Pull(c, d.Index, rng));
            }
        }
    }

    [Fact]
    public void Regret_of_every_learner_decreases_on_the_synthetic_bandit()
    {
        const int steps = 3000;
        var uniform = BanditSimulation.Run(Env(7), BanditLearner.Create(new BanditLearnerConfig { Algo = "epsilon-greedy", Epsilon = 1 }, 5, 6), steps, new Rng(11));
        double uniformRate = uniform.RegretRate(0, steps);
        output.WriteLine($"uniform: regret/step {uniformRate:F4}");
        foreach (var (algo, oracle) in Ridge.Select(a => (a, "ridge")).Append(("squarecb", "neural")))
        {
            var learner = BanditLearner.Create(new BanditLearnerConfig { Algo = algo, Oracle = oracle, Hidden = [32], Seed = 5 }, 5, 6);
            var r = BanditSimulation.Run(Env(7), learner, steps, new Rng(11));
            double early = r.RegretRate(0, 300), late = r.RegretRate(steps - 1000, steps);
            output.WriteLine($"{algo}/{oracle}: regret/step first 300 {early:F4}, last 1000 {late:F4}, total {r.CumulativeRegret[^1]:F1}, mean reward {r.MeanReward:F3}");
            Assert.True(late < 0.6 * early, $"{algo}/{oracle}: late regret rate {late:F4} is not below 0.6 x early {early:F4}");
            Assert.True(late < 0.4 * uniformRate, $"{algo}/{oracle}: late regret rate {late:F4} is not below 0.4 x uniform {uniformRate:F4}");
        }
    }

    [Fact]
    public void Delayed_learner_with_zero_delay_matches_the_immediate_one()
    {
        foreach (var algo in Ridge)
        {
            var cfg = new BanditLearnerConfig { Algo = algo };
            var sim = BanditSimulation.Run(Env(3), BanditLearner.Create(cfg, 5, 6), 400, new Rng(9));
            // The plain loop: decide, pull, learn at once.
            var env = Env(3); var learner = BanditLearner.Create(cfg, 5, 6); var rng = new Rng(9);
            double cum = 0;
            for (int t = 0; t < 400; t++)
            {
                var c = env.Next(rng);
                var d = learner.Decide(c, rng);
                double best = double.NegativeInfinity;
                for (int k = 0; k < c.Count; k++) best = Math.Max(best, env.Expected(c, k));
                cum += best - env.Expected(c, d.Index);
                learner.Observe(c, d.Index, env.Pull(c, d.Index, rng));
                Assert.Equal(cum, sim.CumulativeRegret[t], 12);
            }
        }
    }

    [Fact]
    public void Batched_learner_with_delayed_feedback_learns_payment_routing_under_drift_and_outages()
    {
        const int steps = 6000;
        var cfg = new PaymentRoutingConfig { Seed = 4 };
        var uniform = BanditSimulation.Run(new PaymentRoutingSimulator(cfg), BanditLearner.Create(new BanditLearnerConfig { Algo = "epsilon-greedy", Epsilon = 1 }, 8, 4), steps, new Rng(2));
        var learner = BanditLearner.Create(new BanditLearnerConfig { Algo = "squarecb", BatchSize = 50 }, 8, 4);
        var r = BanditSimulation.Run(new PaymentRoutingSimulator(cfg), learner, steps, new Rng(2));
        double u = uniform.RegretRate(steps / 2, steps), l = r.RegretRate(steps / 2, steps);
        output.WriteLine($"payment routing: success rate uniform {uniform.MeanReward:F4}, squarecb (batch 50, mean lag 50) {r.MeanReward:F4}; regret/step second half uniform {u:F4}, squarecb {l:F4}");
        Assert.True(l < 0.5 * u, $"regret rate {l:F4} vs uniform {u:F4}");
        Assert.True(r.MeanReward > uniform.MeanReward);
    }

    [Fact]
    public void Recovering_bandit_learner_approaches_the_myopic_oracle()
    {
        const int steps = 4000;
        var cfg = new RecoveringBanditConfig();
        var uniform = BanditSimulation.Run(new RecoveringBandit(cfg), BanditLearner.Create(new BanditLearnerConfig { Algo = "epsilon-greedy", Epsilon = 1 }, 0, 20), steps, new Rng(1));
        var r = BanditSimulation.Run(new RecoveringBandit(cfg), BanditLearner.Create(new BanditLearnerConfig { Algo = "squarecb" }, 0, 20), steps, new Rng(1));
        // The myopic oracle: always the arm with the largest true expected reward now.
        var env = new RecoveringBandit(cfg); var rng = new Rng(1);
        double oracle = 0;
        for (int t = 0; t < steps; t++)
        {
            var c = env.Next(rng);
            int best = 0;
            for (int k = 1; k < c.Count; k++) if (env.Expected(c, k) > env.Expected(c, best)) best = k;
            oracle += env.Pull(c, best, rng);
        }
        oracle /= steps;
        output.WriteLine($"recovering: mean reward uniform {uniform.MeanReward:F4}, squarecb {r.MeanReward:F4}, myopic oracle {oracle:F4}; instantaneous regret/step first 300 {r.RegretRate(0, 300):F4}, last 1000 {r.RegretRate(steps - 1000, steps):F4} (uniform {uniform.RegretRate(steps - 1000, steps):F4})");
        Assert.True(r.MeanReward > uniform.MeanReward);
        Assert.True(r.MeanReward > 0.95 * oracle);
        Assert.True(r.RegretRate(steps - 1000, steps) < 0.5 * r.RegretRate(0, 300));
    }

    [Fact]
    public void One_sided_feedback_uses_the_known_reward_and_learns_only_from_approvals()
    {
        // Lending: "approve" repays (+1) with probability sigmoid(2 x0) and defaults (-3) otherwise; "decline" pays 0 and
        // its outcome is never seen. Approving is right when p > 0.75, i.e. x0 > 0.55.
        var learner = BanditLearner.Create(new BanditLearnerConfig { Algo = "squarecb" }, 1, 2);
        var rng = new Rng(5);
        var approve = new CandidateAction("approve", [1, 0]);
        var decline = new CandidateAction("decline", [0, 1], KnownReward: 0);
        double value = 0;
        int observed = 0;
        for (int t = 0; t < 4000; t++)
        {
            var x = new[] { (float)rng.NextNormal() };
            var c = new BanditContext(x, [approve, decline]);
            var d = learner.Decide(c, rng);
            double p = 1 / (1 + Math.Exp(-2 * x[0]));
            if (d.Index == 0)
            {
                float r = rng.NextDouble() < p ? 1 : -3;
                learner.Observe(c, 0, r);
                observed++;
                if (t >= 3000) value += r;
            }
            else learner.Observe(c, 1, 0); // ignored: the reward of declining is known
        }
        Assert.Equal(observed, ((RidgeOracle)learner.Oracle).Observations);
        // Learned decisions: decline at x0 = -1, approve at x0 = 2.
        var probs = new float[2];
        learner.Probabilities(new BanditContext([-1f], [approve, decline]), probs, rng);
        Assert.True(probs[1] > 0.8, $"decline probability at x0 = -1 is {probs[1]}");
        learner.Probabilities(new BanditContext([2f], [approve, decline]), probs, rng);
        Assert.True(probs[0] > 0.8, $"approve probability at x0 = 2 is {probs[0]}");
        // Approving everyone is worth E[4 sigmoid(2x) - 3] < 0 per applicant; the learner's last 1000 are positive.
        output.WriteLine($"one-sided: mean value over the last 1000 applicants {value / 1000:F3}");
        Assert.True(value > 0);
    }

    [Fact]
    public void Policy_file_round_trips_the_learned_state()
    {
        foreach (var (algo, oracle) in new[] { ("squarecb", "ridge"), ("linucb", "ridge"), ("epsilon-greedy", "ridge"), ("softmax", "neural") })
        {
            var env = Env(2, min: 6);
            var policy = new BanditPolicy(BanditLearner.Create(new BanditLearnerConfig { Algo = algo, Oracle = oracle, Hidden = [8] }, 5, 6), env.ActionIds.ToArray());
            BanditSimulation.Run(env, policy.Learner, 200, new Rng(1));
            var path = Path.Combine(Path.GetTempPath(), $"offrl-policy-{Guid.NewGuid():N}.json");
            policy.Save(path);
            BanditPolicy.Load(path).Save(path);   // saving what was loaded changes nothing
            var loaded = BanditPolicy.Load(path);
            File.Delete(path);
            Assert.Equal(policy.Learner.Config.Floor, loaded.Learner.Config.Floor);
            var c = env.Next(new Rng(4));
            var a = new float[c.Count]; var b = new float[c.Count];
            policy.Learner.Probabilities(c, a, new Rng(1));
            loaded.Learner.Probabilities(c, b, new Rng(1));
            for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i], 4);
            Assert.Equal(env.ActionIds, loaded.Arms);
        }
    }
}
