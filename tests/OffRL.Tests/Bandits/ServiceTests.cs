using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OffRL.Bandits;
using OffRL.Serving;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Bandits;

public class ServiceTests
{
    private static string Temp(string ext) => Path.Combine(Path.GetTempPath(), $"offrl-svc-{Guid.NewGuid():N}{ext}");

    private static async Task<(HttpStatusCode Code, JsonElement Body)> Post(HttpClient http, string path, string json)
    {
        using var resp = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await resp.Content.ReadAsStringAsync();
        if (text.Length == 0) throw new InvalidOperationException($"{path}: {(int)resp.StatusCode} with an empty body for {json}");
        return (resp.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Decide_reward_log_dataset_round_trip_on_loopback_survives_restart()
    {
        string policyPath = Temp(".json"), db = Temp(".db"), parquet = Temp(".parquet");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb" }, 3, ["a", "b", "c"]).Save(policyPath);
        var options = new DecisionServiceOptions { PolicyPath = policyPath, LogPath = db, Urls = "http://127.0.0.1:0", Seed = 1 };
        var sent = new Dictionary<string, (string Action, float P, float R)>();
        var rng = new Rng(3);
        try
        {
            await using (var svc = await DecisionService.StartAsync(options))
            {
                Assert.StartsWith("http://127.0.0.1:", svc.Url);
                using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
                for (int i = 0; i < 60; i++)
                {
                    float x0 = (float)rng.NextNormal();
                    // Actions by id (one-hot from the policy's arms) or as objects with features.
                    string actions = i % 2 == 0 ? "[\"a\",\"b\",\"c\"]" : "[{\"id\":\"a\"},{\"id\":\"c\",\"features\":[0,0,1]}]";
                    var (code, body) = await Post(http, "/decide", $"{{\"context\":[{x0},1,-0.5],\"actions\":{actions}}}");
                    Assert.Equal(HttpStatusCode.OK, code);
                    string id = body.GetProperty("event_id").GetString()!, action = body.GetProperty("action").GetString()!;
                    float p = body.GetProperty("probability").GetSingle();
                    Assert.InRange(p, 1e-6f, 1f);
                    float r = action == "a" ? 1 : 0;
                    (code, _) = await Post(http, "/reward", $"{{\"event_id\":\"{id}\",\"reward\":{r}}}");
                    Assert.Equal(HttpStatusCode.OK, code);
                    sent[id] = (action, p, r);
                }
                // Rejections name the field.
                var bad = new (string Path, string Json, HttpStatusCode Code, string Field)[]
                {
                    ("/decide", "{\"context\":[1,2", HttpStatusCode.BadRequest, "body"),
                    ("/decide", "{\"actions\":[\"a\"]}", HttpStatusCode.BadRequest, "context"),
                    ("/decide", "{\"context\":[1,2],\"actions\":[\"a\"]}", HttpStatusCode.BadRequest, "context"),
                    ("/decide", "{\"context\":[1,\"x\",3],\"actions\":[\"a\"]}", HttpStatusCode.BadRequest, "context[1]"),
                    ("/decide", "{\"context\":[1,2,3],\"actions\":[\"a\",\"zzz\"]}", HttpStatusCode.BadRequest, "actions[1].features"),
                    ("/decide", "{\"context\":[1,2,3],\"actions\":[{\"id\":\"q\",\"features\":[1,2]}]}", HttpStatusCode.BadRequest, "actions[0].features"),
                    ("/decide", "{\"context\":[1,2,3],\"actions\":[\"a\",\"a\"]}", HttpStatusCode.BadRequest, "actions[1].id"),
                    ("/decide", "{\"context\":[1,2,3],\"actions\":[]}", HttpStatusCode.BadRequest, "actions"),
                    ("/reward", "not json", HttpStatusCode.BadRequest, "body"),
                    ("/reward", "{\"reward\":1}", HttpStatusCode.BadRequest, "event_id"),
                    ("/reward", $"{{\"event_id\":\"{sent.Keys.First()}\"}}", HttpStatusCode.BadRequest, "reward"),
                    ("/reward", $"{{\"event_id\":\"{sent.Keys.First()}\",\"reward\":\"high\"}}", HttpStatusCode.BadRequest, "reward"),
                    ("/reward", "{\"event_id\":\"no-such-event\",\"reward\":1}", HttpStatusCode.NotFound, "event_id"),
                    ("/reward", $"{{\"event_id\":\"{sent.Keys.First()}\",\"reward\":1}}", HttpStatusCode.Conflict, "event_id"),
                };
                foreach (var (path, json, expected, field) in bad)
                {
                    var (code, body) = await Post(http, path, json);
                    Assert.True(expected == code, $"{path} {json}: {code}, expected {expected}");
                    Assert.Equal(field, body.GetProperty("field").GetString());
                }
                var health = await http.GetFromJsonAsync<JsonElement>("/health");
                Assert.Equal(60, health.GetProperty("decisions").GetInt64());
                Assert.Equal(60, health.GetProperty("rewards").GetInt64());
            }
            // Log -> dataset: every acknowledged decision with its propensity and reward.
            var (logs, ids) = DecisionLog.ToFeedback(db);
            Assert.Equal(60, logs.Count);
            Assert.Equal(["a", "b", "c"], ids);
            int row = 0;
            foreach (var (d, r) in DecisionLog.ReadAll(db))
            {
                var (action, p, rew) = sent[d.EventId];
                Assert.Equal(action, d.ActionId);
                Assert.Equal(p, d.Probability);
                Assert.Equal(rew, r);
                Assert.Equal(action, ids[logs.Action[row]]);
                Assert.Equal(p, logs.Propensity[row]);
                Assert.Equal(1.0, d.Probabilities.Sum(), 4);
                row++;
            }
            Assert.Equal(60, DecisionLog.ExportParquet(db, parquet));
            var exported = (await Parquet.Serialization.ParquetSerializer.DeserializeAsync<DecisionLog.ExportRow>(parquet)).Data;
            Assert.Equal(60, exported.Count);
            Assert.Equal(sent.Keys.OrderBy(k => k), exported.Select(e => e.event_id).OrderBy(k => k));
            // Restart on the same log: nothing lost, the learner is rebuilt from the logged rewards (it learned "a" is best).
            await using (var svc = await DecisionService.StartAsync(options))
            {
                using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
                var health = await http.GetFromJsonAsync<JsonElement>("/health");
                Assert.Equal(60, health.GetProperty("decisions").GetInt64());
                Assert.Equal(60, ((RidgeOracle)svc.Policy.Learner.Oracle).Observations);
                var probs = new float[3];
                svc.Policy.Learner.Probabilities(new BanditContext([0, 1, -0.5f], JointFeatures.Arms(["a", "b", "c"])), probs, new Rng(0));
                Assert.True(probs[0] > probs[1] && probs[0] > probs[2], $"a should be preferred: {string.Join(", ", probs)}");
            }
        }
        finally
        {
            foreach (var f in new[] { policyPath, db, db + "-wal", db + "-shm", parquet }) File.Delete(f);
        }
    }

    [Fact]
    public async Task TokenLimitsRewardRangeHealthAndOneServerPerLog()
    {
        string policyPath = Temp(".json"), db = Temp(".db");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb" }, 2, ["a", "b"]).Save(policyPath);
        const string token = "0123456789abcdef-test-token";
        var options = new DecisionServiceOptions
        {
            PolicyPath = policyPath, LogPath = db, Urls = "http://127.0.0.1:0", Token = token, MaxCandidates = 3, MaxBodyBytes = 4096,
            RewardMin = -10, RewardMax = 10,
        };
        try
        {
            // Beyond loopback without a token: refused before anything starts.
            Assert.Contains("token", Assert.Throws<ArgumentException>(() => new DecisionServiceOptions { PolicyPath = policyPath, Urls = "http://0.0.0.0:0" }.Validate()).Message);
            await using (var svc = await DecisionService.StartAsync(options))
            {
                using var anonymous = new HttpClient { BaseAddress = new Uri(svc.Url) };
                var (code, body) = await Post(anonymous, "/decide", "{\"context\":[1,2]}");
                Assert.Equal(HttpStatusCode.Unauthorized, code);
                Assert.Equal("authorization", body.GetProperty("field").GetString());
                anonymous.DefaultRequestHeaders.Authorization = new("Bearer", "wrong-token-0123456789");
                Assert.Equal(HttpStatusCode.Unauthorized, (await Post(anonymous, "/reward", "{}")).Code);
                Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);   // /health needs no token

                using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
                http.DefaultRequestHeaders.Authorization = new("Bearer", token);
                (code, body) = await Post(http, "/decide", "{\"context\":[1,2]}");
                Assert.Equal(HttpStatusCode.OK, code);
                string id = body.GetProperty("event_id").GetString()!;
                var bad = new (string Path, string Json, HttpStatusCode Code, string Field)[]
                {
                    ("/decide", "{\"context\":[1,2],\"actions\":[\"a\",\"b\",\"c\",\"d\"]}", HttpStatusCode.BadRequest, "actions"),
                    ("/decide", "{\"context\":[" + string.Join(",", Enumerable.Repeat("1", 3000)) + "]}", HttpStatusCode.RequestEntityTooLarge, "body"),
                    ("/reward", $"{{\"event_id\":\"{id}\",\"reward\":3e38}}", HttpStatusCode.BadRequest, "reward"),
                    ("/reward", $"{{\"event_id\":\"{id}\",\"reward\":-11}}", HttpStatusCode.BadRequest, "reward"),
                };
                foreach (var (path, json, expected, field) in bad)
                {
                    (code, body) = await Post(http, path, json);
                    Assert.True(expected == code, $"{path} {json[..Math.Min(60, json.Length)]}: {code}, expected {expected}");
                    Assert.Equal(field, body.GetProperty("field").GetString());
                }
                Assert.Equal(HttpStatusCode.OK, (await Post(http, "/reward", $"{{\"event_id\":\"{id}\",\"reward\":1}}")).Code);
                // An action id that is not UTF-8: a 400 naming the field, never an empty 500.
                var raw = Encoding.UTF8.GetBytes("{\"context\":[1,2],\"actions\":[\"X\"]}");
                raw[Array.IndexOf(raw, (byte)'X')] = 0xC3;
                using (var resp = await http.PostAsync("/decide", new ByteArrayContent(raw) { Headers = { ContentType = new("application/json") } }))
                {
                    var text = await resp.Content.ReadAsStringAsync();
                    Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
                    Assert.NotEqual("", text);
                }

                // A second service on the same log is refused, naming the holder.
                var second = await Assert.ThrowsAsync<IOException>(() => DecisionService.StartAsync(options with { Urls = "http://127.0.0.1:0" }));
                Assert.Contains($"pid {Environment.ProcessId}", second.Message);

                // /health is healthy while the policy decides, 503 once it cannot (here: its state made NaN).
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
                var state = svc.Policy.Learner.Oracle.State();
                foreach (var v in state.Values) Array.Fill(v, float.NaN);
                svc.Policy.Learner.Oracle.Restore(state);
                var sick = await http.GetAsync("/health");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, sick.StatusCode);
                Assert.Contains("unhealthy", await sick.Content.ReadAsStringAsync());
            }
            // Clip mode records the clipped reward.
            await using (var svc = await DecisionService.StartAsync(options with { OutOfRange = OutOfRangeReward.Clip, LogPath = db + "2" }))
            {
                using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
                http.DefaultRequestHeaders.Authorization = new("Bearer", token);
                var (_, body) = await Post(http, "/decide", "{\"context\":[1,2]}");
                string id = body.GetProperty("event_id").GetString()!;
                Assert.Equal(HttpStatusCode.OK, (await Post(http, "/reward", $"{{\"event_id\":\"{id}\",\"reward\":3e38}}")).Code);
            }
            Assert.Equal((float?)10f, DecisionLog.ReadAll(db + "2").Single().Reward);
        }
        finally
        {
            foreach (var f in new[] { policyPath, db, db + "-wal", db + "-shm", db + "2", db + "2-wal", db + "2-shm" }) File.Delete(f);
        }
    }

    /// <summary>
    /// Issue 24: a trained RL checkpoint served at POST /act; its steps are logged with the behavior log-probability,
    /// become transitions, and that log-probability is the exploration policy's own (what `offrl ope rl` divides by).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rl_checkpoint_served_at_act_logs_steps_that_become_transitions(bool discrete)
    {
        string ckpt = Temp(""), db = Temp(".db");
        OffRL.Space space = discrete ? new OffRL.Discrete(3) : OffRL.Box.Uniform(2, -1f, 1f);
        var agent = OffRL.Algorithms.AlgorithmRegistry.Create(discrete ? "dqn" : "td3bc", 4, space, 0);
        agent.Save(ckpt);
        var options = new DecisionServiceOptions { PolicyPath = ckpt, LogPath = db, Urls = "http://127.0.0.1:0", Seed = 5, ExplorationSigma = 0.2, Epsilon = 0.1 };
        var rng = new Rng(9);
        try
        {
            await using (var svc = await DecisionService.StartAsync(options))
            {
                Assert.True(svc.ServesRl);
                using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
                var (code, body) = await Post(http, "/decide", """{"context": [1, 2, 3, 4], "actions": ["a"]}""");
                Assert.Equal(HttpStatusCode.BadRequest, code);
                Assert.Contains("/act", body.GetProperty("error").GetString());
                (code, body) = await Post(http, "/act", """{"observation": [1, 2, 3], "episode_id": "e0"}""");
                Assert.Equal("observation", body.GetProperty("field").GetString());
                (code, body) = await Post(http, "/act", """{"observation": [1, 2, 3, 4]}""");
                Assert.Equal("episode_id", body.GetProperty("field").GetString());
                for (int e = 0; e < 3; e++)
                    for (int t = 0; t < 5; t++)
                    {
                        var obs = new float[4];
                        rng.FillNormal(obs);
                        (code, body) = await Post(http, "/act", JsonSerializer.Serialize(new { observation = obs, episode_id = $"ep{e}" }));
                        Assert.Equal(HttpStatusCode.OK, code);
                        Assert.True(double.IsFinite(body.GetProperty("log_prob").GetDouble()));
                        var id = body.GetProperty("event_id").GetString()!;
                        bool last = e < 2 && t == 4;   // episodes 0 and 1 end; episode 2 is cut
                        (code, _) = await Post(http, "/reward", JsonSerializer.Serialize(new { event_id = id, reward = 1.0 + t, terminal = last }));
                        Assert.Equal(HttpStatusCode.OK, code);
                    }
            }
            var data = DecisionLog.ToTransitions(db);
            Assert.Equal(15, data.Count);
            Assert.Equal(3, data.EpisodeCount);
            Assert.True(data.HasBehaviorLogProbs);
            Assert.Equal(2, data.Terminals.ToArray().Count(x => x));
            Assert.True(data.Timeouts[14]);
            // The logged log-probability is the behavior policy's own for the logged action.
            var served = OffRL.Algorithms.AlgorithmRegistry.Load(ckpt, 5);
            OffRL.Evaluation.IProbabilisticPolicy behavior = discrete
                ? new OffRL.Evaluation.EpsilonGreedyPolicy(served, 0.1, 5) : new OffRL.Evaluation.GaussianPolicy(served, 0.2, 5);
            for (int i = 0; i < data.Count; i++)
                Assert.Equal(behavior.LogProb(data.Observation(i), data.Action(i)), data.BehaviorLogProbs[i], 4);
            // OPE of the served policy on its own served data runs end to end.
            var ope = new OffRL.Evaluation.OpeData(data, behavior, 0.99);
            Assert.All(ope.LogRatio, lr => Assert.True(Math.Abs(lr) < 1e-4, $"log ratio {lr}"));
        }
        finally
        {
            foreach (var f in new[] { db, db + "-wal", db + "-shm", db + ".lock" }) try { File.Delete(f); } catch { }
            try { Directory.Delete(ckpt, true); } catch { }
        }
    }
}
