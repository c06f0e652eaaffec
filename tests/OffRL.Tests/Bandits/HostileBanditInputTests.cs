using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using OffRL.Bandits;
using OffRL.Evaluation;
using OffRL.Serving;
using Xunit;

namespace OffRL.Tests.Bandits;

/// <summary>Hostile inputs to bandit logs, the decision service and decision-log conversion: one clear refusal, nothing of the user's changed.</summary>
public sealed class HostileBanditInputTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"offrl-hostile-{Guid.NewGuid():N}");

    public HostileBanditInputTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>A plain bandit CSV of <paramref name="rows"/> rows (actions 0..2, position 0) with one row's action and position replaced.</summary>
    private string BanditCsv(string name, int rows, int badRow, int action, int position)
    {
        var sb = new StringBuilder("action,position,reward,propensity,x0\n");
        for (int i = 0; i < rows; i++)
            sb.Append(i == badRow ? $"{action},{position},1,0.5,0.1\n" : $"{i % 3},0,{i % 2},0.5,{i * 0.01}\n");
        var path = PathOf(name);
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    private static async Task<(HttpStatusCode Code, JsonElement Body)> Post(HttpClient http, string path, string json)
    {
        using var resp = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return (resp.StatusCode, JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    // 1. Sizes are bounded before anything is allocated; the estimators' work follows the actions present.
    [Fact]
    public void Bandit_log_ids_beyond_the_table_limit_are_refused_at_their_row_and_dr_work_follows_the_actions_present()
    {
        // Action 999 999 (inside 0..MaxActions - 1) in a 600-row log: 600 x 1e6 cells would overflow int.
        var csv = BanditCsv("big-action.csv", 600, 41, 999_999, 0);
        var before = File.ReadAllBytes(csv);
        var e = Assert.Throws<DataException>(() => BanditOpeJob.ReadLogs(csv, "offrl"));
        Assert.Equal(csv, e.File);
        Assert.Equal("action", e.Field);
        Assert.Equal(43, e.Row);   // record 41 is line 43 (the header is line 1)
        Assert.Contains("action ids must be below 894784", e.Message);
        Assert.Equal(before, File.ReadAllBytes(csv));

        // Position 2000: beyond the longest slate.
        var pos = BanditCsv("big-position.csv", 60, 7, 1, 2000);
        e = Assert.Throws<DataException>(() => BanditFeedback.ReadCsv(pos));
        Assert.Equal(("position", 9L), (e.Field, e.Row));
        Assert.Contains("outside 0..999", e.Message);

        // Open Bandit Dataset files: the campaign file and item_context.csv beside it.
        var obdDir = Path.Combine(_dir, "obd");
        Directory.CreateDirectory(obdDir);
        var obd = Path.Combine(obdDir, "men.csv");
        var rowsObd = new StringBuilder("timestamp,item_id,position,click,propensity_score,user_feature_0\n");
        for (int i = 0; i < 300; i++) rowsObd.Append($"t,{i % 4},{1 + i % 3},{i % 2},0.25,{(i % 2 == 0 ? "a" : "b")}\n");
        File.WriteAllText(obd, rowsObd.ToString());
        File.WriteAllText(Path.Combine(obdDir, "item_context.csv"), "item_id,item_feature_0\n0,0.5\n1,0.1\n2000000,0.3\n");
        e = Assert.Throws<DataException>(() => BanditFeedback.ReadObd(obd));
        Assert.Equal((Path.Combine(obdDir, "item_context.csv"), "item_id", 4L), (e.File, e.Field, e.Row));
        File.WriteAllText(Path.Combine(obdDir, "item_context.csv"), "item_id,item_feature_0\n0,0.5\n1,0.1\n900000,0.3\n");
        e = Assert.Throws<DataException>(() => BanditFeedback.ReadObd(obd));
        Assert.Equal(("item_id", 4L), (e.Field, e.Row));
        Assert.Contains("BanditFeedback.MaxTableCells", e.Message);

        // Action 5000 in a 60-row log is accepted (60 x 5001 cells), and DR with a cross-fitted reward model takes
        // seconds: the model has one column per action present (3 here), not per id.
        var sparse = BanditCsv("sparse.csv", 60, 10, 5000, 0);
        var watch = Stopwatch.StartNew();
        var result = BanditOpeJob.Run(new BanditOpeJob.Request(sparse, Estimators: ["dm", "dr"], RewardModel: "logistic",
            Options: new BanditOpe.Options(BootstrapSamples: 50)));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"DR took {watch.Elapsed}");
        Assert.Equal(5001, result.Logs.Actions);
        Assert.All(result.Estimates, x => Assert.True(double.IsFinite(x.Estimate)));
        Assert.Equal(4, RewardModel.FeatureDim(result.Logs) - result.Logs.ContextDim);   // one-hot of the 4 actions present: 0, 1, 2, 5000
    }

    [Fact]
    public async Task Decision_log_with_more_action_ids_than_its_tables_allow_is_refused_at_a_row()
    {
        var db = PathOf("many-ids.db");
        using (var log = new DecisionLog(db, synchronousFull: false))
        {
            var tasks = new List<Task>();
            for (int i = 0; i < 800; i++)
            {
                var actions = new CandidateAction[1000];
                for (int k = 0; k < actions.Length; k++) actions[k] = new CandidateAction($"r{i}a{k}", [], k == 0 ? 1f : null);
                var probs = new float[1000];
                probs[0] = 1;
                tasks.Add(log.AppendDecision(new DecisionRecord($"e{i}", i, [0.5f], actions, 0, 1f, probs, "p")));
            }
            await Task.WhenAll(tasks);
        }
        var e = Assert.Throws<DataException>(() => DecisionLog.ToFeedback(db));
        Assert.Equal(db, e.File);
        Assert.Contains("BanditFeedback.MaxTableCells", e.Message);
        Assert.Equal("action", e.Field);
        Assert.Equal(800, e.Row);   // its chosen action is the 799 001st id; 800 rows allow ids below 671088
        Assert.Contains("action ids must be below 671088", e.Message);
    }

    // 2. A key given twice in one request body: 400 naming it, nothing recorded.
    [Fact]
    public async Task Duplicate_keys_in_a_request_body_are_refused_naming_the_field()
    {
        string policyPath = PathOf("p.json"), db = PathOf("dup.db");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb" }, 2, ["a", "b"]).Save(policyPath);
        await using var svc = await DecisionService.StartAsync(new DecisionServiceOptions { PolicyPath = policyPath, LogPath = db, Urls = "http://127.0.0.1:0" });
        using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
        var (code, body) = await Post(http, "/decide", """{"context":[1,2],"actions":["a","b"]}""");
        Assert.Equal(HttpStatusCode.OK, code);
        string first = body.GetProperty("event_id").GetString()!;
        (code, body) = await Post(http, "/decide", """{"context":[1,2],"actions":["a","b"]}""");
        string second = body.GetProperty("event_id").GetString()!;

        (code, body) = await Post(http, "/reward", $$"""{"event_id":"{{first}}","reward":1,"event_id":"{{second}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("event_id", body.GetProperty("field").GetString());
        Assert.Contains("given twice", body.GetProperty("error").GetString());
        (code, body) = await Post(http, "/decide", """{"context":[1,2],"actions":[{"id":"a","id":"b"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("actions[0].id", body.GetProperty("field").GetString());
        (code, body) = await Post(http, "/decide", """{"context":[1,2],"context":[3,4]}""");
        Assert.Equal("context", body.GetProperty("field").GetString());
        Assert.Equal(0, (await http.GetFromJsonElement("/health")).GetProperty("rewards").GetInt64());
        Assert.Equal(2, (await http.GetFromJsonElement("/health")).GetProperty("decisions").GetInt64());
    }

    // 3. Finite but absurd values that make the policy's output non-finite: 400 naming the field, never 500.
    [Fact]
    public async Task Absurd_observation_or_context_is_a_400_naming_the_field()
    {
        string ckpt = PathOf("ckpt"), db = PathOf("act.db");
        OffRL.Algorithms.AlgorithmRegistry.Create("td3bc", 4, OffRL.Box.Uniform(2, -1f, 1f), 0).Save(ckpt);
        await using (var svc = await DecisionService.StartAsync(new DecisionServiceOptions { PolicyPath = ckpt, LogPath = db, Urls = "http://127.0.0.1:0" }))
        {
            using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
            var (code, body) = await Post(http, "/act", """{"observation":[0.5,3e38,0,1],"episode_id":"e"}""");
            Assert.Equal(HttpStatusCode.BadRequest, code);
            Assert.Equal("observation[1]", body.GetProperty("field").GetString());
            Assert.Contains("max_abs_value", body.GetProperty("error").GetString());
        }
        // With the bound lifted, values that drive the network's output to NaN are still a 400 naming the field.
        await using (var svc = await DecisionService.StartAsync(new DecisionServiceOptions { PolicyPath = ckpt, LogPath = db, Urls = "http://127.0.0.1:0", MaxAbsValue = 3.5e38 }))
        {
            using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
            var (code, body) = await Post(http, "/act", """{"observation":[3e38,3e38,3e38,3e38],"episode_id":"e"}""");
            Assert.True(code == HttpStatusCode.BadRequest, body.ToString());
            Assert.Equal("observation[0]", body.GetProperty("field").GetString());
            Assert.Contains("non-finite", body.GetProperty("error").GetString());
            (code, _) = await Post(http, "/act", """{"observation":[0.5,0.1,0,1],"episode_id":"e"}""");
            Assert.Equal(HttpStatusCode.OK, code);
            Assert.Equal(1, (await http.GetFromJsonElement("/health")).GetProperty("decisions").GetInt64());
        }

        // A context or feature beyond max_abs_value is refused by name; one at the limit is decided, learned from, and
        // the (float, neural) policy stays healthy: nothing a request sends can poison it.
        string policyPath = PathOf("neural.json"), db2 = PathOf("decide.db");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb", Oracle = "neural", BatchSize = 1 }, 3, ["a", "b"]).Save(policyPath);
        await using (var svc = await DecisionService.StartAsync(new DecisionServiceOptions { PolicyPath = policyPath, LogPath = db2, Urls = "http://127.0.0.1:0" }))
        {
            using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
            var (code, body) = await Post(http, "/decide", """{"context":[1,0,-3e38],"actions":["a","b"]}""");
            Assert.Equal(HttpStatusCode.BadRequest, code);
            Assert.Equal("context[2]", body.GetProperty("field").GetString());
            Assert.Contains("max_abs_value", body.GetProperty("error").GetString());
            (code, body) = await Post(http, "/decide", """{"context":[1,0,1],"actions":[{"id":"q","features":[3e38,1]},"b"]}""");
            Assert.Equal(HttpStatusCode.BadRequest, code);
            Assert.Equal("actions[0].features[0]", body.GetProperty("field").GetString());
            Assert.Equal(0, (await http.GetFromJsonElement("/health")).GetProperty("decisions").GetInt64());
            for (int i = 0; i < 5; i++)
            {
                (code, body) = await Post(http, "/decide", """{"context":[1,0,-1e9],"actions":[{"id":"q","features":[1e9,-1e9]},"b"]}""");
                Assert.True(code == HttpStatusCode.OK, body.ToString());
                (code, body) = await Post(http, "/reward", $$"""{"event_id":"{{body.GetProperty("event_id").GetString()}}","reward":1}""");
                Assert.Equal(HttpStatusCode.OK, code);
            }
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
        }
    }

    // 4. Listening addresses it cannot serve: one ArgumentException starting "--urls: ".
    [Theory]
    [InlineData("https://127.0.0.1:5080", "TLS")]
    [InlineData("http://[::ffff:127.0.0.1]:5080", "http://127.0.0.1:5080")]
    [InlineData("http://127.0.0.1:99999", "port '99999'")]
    [InlineData("http://127.0.0.1:50x", "port '50x'")]
    [InlineData("http://127.0.0.1:5080/api", "path '/api'")]
    [InlineData("ftp://127.0.0.1:5080", "not an http://")]
    [InlineData("http://exa mple:5080", "host 'exa mple'")]
    [InlineData("http://10.0.0.1:5080", "token")]
    [InlineData(" ; ", "no address")]
    public void Urls_the_service_cannot_serve_are_refused_naming_the_option(string urls, string says)
    {
        var e = Assert.Throws<ArgumentException>(() => new DecisionServiceOptions { PolicyPath = "p.json", Urls = urls }.Validate());
        Assert.StartsWith("--urls: ", e.Message);
        Assert.Contains(says, e.Message);
        // Allowed: loopback in every spelling, and any address with a token.
        new DecisionServiceOptions { PolicyPath = "p.json", Urls = "http://127.0.0.1:0;http://localhost:5080;http://[::1]:5080" }.Validate();
        new DecisionServiceOptions { PolicyPath = "p.json", Urls = "http://*:5080", Token = "0123456789abcdef-token" }.Validate();
    }

    // 5. --log naming a file that is not a decision log: refused, the file's bytes unchanged, no lock files left.
    [Fact]
    public async Task Log_that_is_not_a_sqlite_decision_log_is_refused_and_left_unchanged()
    {
        string policyPath = PathOf("p.json");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb" }, 2, ["a", "b"]).Save(policyPath);
        var csv = PathOf("logs.csv");
        File.WriteAllText(csv, "action,reward,propensity\n0,1,0.5\n");
        var parquet = PathOf("logs.parquet");
        File.WriteAllBytes(parquet, [.. "PAR1"u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, .. "PAR1"u8]);
        var foreign = PathOf("other.db");
        using (var c = new SqliteConnection($"Data Source={foreign};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ann');";
            cmd.ExecuteNonQuery();
        }
        foreach (var file in new[] { csv, parquet, foreign })
        {
            var before = File.ReadAllBytes(file);
            var e = await Assert.ThrowsAsync<DataException>(() => DecisionService.StartAsync(new DecisionServiceOptions { PolicyPath = policyPath, LogPath = file, Urls = "http://127.0.0.1:0" }));
            Assert.Equal(file, e.File);
            Assert.Contains("not a SQLite decision log", e.Message);
            Assert.DoesNotContain('\n', e.Message);
            Assert.Equal(before, File.ReadAllBytes(file));
            foreach (var suffix in new[] { ".lock", ".lock.owner", "-wal", "-shm", "-journal" })
                Assert.False(File.Exists(file + suffix), $"{file}{suffix} was left behind");
        }
    }

    // 6. Converting a decision log to transitions accounts for every row.
    [Fact]
    public async Task Transitions_report_every_row_placed_or_left_out()
    {
        var db = PathOf("rl.db");
        using (var log = new DecisionLog(db, synchronousFull: false))
        {
            long ts = 0;
            async Task Step(string episode, int i, float? reward, bool terminal)
            {
                var id = $"{episode}-{i}";
                await log.AppendDecision(new DecisionRecord(id, ts++, [i, 1f], [new CandidateAction("action", [0.1f * i])], 0, 1f, [1f], "p") { LogProb = -0.5, Episode = episode });
                if (reward is { } r) await log.AppendReward(id, r, ts++, terminal);
            }
            // Episode A: terminal at its 3rd step, then 27 more rewarded steps under the same id (a client reusing it).
            for (int i = 0; i < 30; i++) await Step("A", i, 1f, i == 2);
            // Episode B: its 3rd step has no reward yet; two rewarded steps follow it.
            for (int i = 0; i < 5; i++) await Step("B", i, i == 2 ? null : 1f, false);
            // A bandit decision (no episode).
            await log.AppendDecision(new DecisionRecord("bandit", ts++, [0f, 0f], [new CandidateAction("x", [])], 0, 1f, [1f], "p"));
        }
        var before = File.ReadAllBytes(db);
        var data = DecisionLog.ToTransitions(db, null, out var report);
        Assert.Equal(36, report.Rows);
        Assert.Equal(30 + 2, report.Placed);
        Assert.Equal(report.Rows, report.Placed + report.LeftOut.Count);
        Assert.Equal(32, data.Count);
        Assert.Equal(3, data.EpisodeCount);   // A's first 3 steps, A's later 27 as a new episode, B's first 2
        Assert.Equal([33L, 34L, 35L, 36L], report.LeftOut.Select(s => s.Row));
        Assert.Equal(TransitionReport.Awaiting, report.LeftOut[0].Reason);
        Assert.Equal("B", report.LeftOut[0].Episode);
        Assert.StartsWith($"{TransitionReport.AfterGap} 33", report.LeftOut[1].Reason);
        Assert.Equal(TransitionReport.NotRl, report.LeftOut[3].Reason);
        Assert.Contains("after its terminal step at row 3", Assert.Single(report.Notes));
        Assert.Contains("placed 32 of 36 rows", report.Summary());
        Assert.Contains(report.Summary(), data.Info.Notes);
        Assert.Equal(before, File.ReadAllBytes(db));
    }
}

internal static class HttpJson
{
    public static async Task<JsonElement> GetFromJsonElement(this HttpClient http, string path) =>
        JsonDocument.Parse(await http.GetStringAsync(path)).RootElement.Clone();
}
