using System.Net;
using System.Text;
using System.Text.Json;
using OffRL.Bandits;
using OffRL.Serving;
using Xunit;
using Xunit.Abstractions;

namespace OffRL.Tests.Bandits;

/// <summary>
/// Issue 24: one contract, two backends. The same requests against a service on a SQLite log and on a PostgreSQL log
/// (a private server, <see cref="PostgresServer"/>): every acknowledged decision and reward reads back, rewards are
/// idempotent, a restart replays the log into the learner; PostgreSQL also shares one log between two instances.
/// </summary>
[Collection("postgres")]
public class DecisionLogBackendTests(PostgresServer pg)
{
    private static async Task<(HttpStatusCode Code, JsonElement Body)> Post(HttpClient http, string path, string json)
    {
        using var resp = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return (resp.StatusCode, JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>A fresh log of the backend; a PostgreSQL test with no server to run is reported skipped, with the reason.</summary>
    private string Log(string backend)
    {
        if (backend == "sqlite") return Path.Combine(Path.GetTempPath(), $"offrl-contract-{Guid.NewGuid():N}.db");
        Skip.If(pg.Unavailable is not null, $"no PostgreSQL server: {pg.Unavailable}");
        return pg.NewDatabase();
    }

    [SkippableTheory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Same_contract_on_both_backends(string backend)
    {
        var log = Log(backend);
        string policy = Path.Combine(Path.GetTempPath(), $"offrl-contract-{Guid.NewGuid():N}.json");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb" }, 2, ["a", "b", "c"]).Save(policy);
        var options = new DecisionServiceOptions { PolicyPath = policy, LogPath = log, Urls = "http://127.0.0.1:0", Seed = 2 };
        var acknowledged = new Dictionary<string, float>();
        try
        {
            await using (var svc = await DecisionService.StartAsync(options))
            {
                using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
                for (int i = 0; i < 40; i++)
                {
                    var (code, body) = await Post(http, "/decide", $$"""{"context": [{{i % 3}}, 1]}""");
                    Assert.Equal(HttpStatusCode.OK, code);
                    var id = body.GetProperty("event_id").GetString()!;
                    if (i % 4 == 3) continue;   // some rewards never arrive
                    (code, _) = await Post(http, "/reward", $$"""{"event_id": "{{id}}", "reward": {{i % 2}}}""");
                    Assert.Equal(HttpStatusCode.OK, code);
                    acknowledged[id] = i % 2;
                }
                var first = acknowledged.Keys.First();
                Assert.Equal(HttpStatusCode.Conflict, (await Post(http, "/reward", $$"""{"event_id": "{{first}}", "reward": 1}""")).Code);
                Assert.Equal(HttpStatusCode.NotFound, (await Post(http, "/reward", """{"event_id": "nope", "reward": 1}""")).Code);
            }
            // Restart on the same log: everything acknowledged is there and replayed into the learner.
            await using (var svc = await DecisionService.StartAsync(options))
            {
                using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
                var health = JsonDocument.Parse(await http.GetStringAsync("/health")).RootElement;
                Assert.Equal(40, health.GetProperty("decisions").GetInt64());
                Assert.Equal(acknowledged.Count, health.GetProperty("rewards").GetInt64());
            }
            using var read = DecisionLogs.Open(log);
            var steps = read.Steps().ToList();
            Assert.Equal(40, steps.Count);
            foreach (var (id, r) in acknowledged) Assert.Equal(r, steps.Single(s => s.Decision.EventId == id).Reward);
        }
        finally
        {
            File.Delete(policy);
            if (backend == "sqlite") foreach (var f in new[] { log, log + "-wal", log + "-shm", log + ".lock" }) try { File.Delete(f); } catch { }
        }
    }

    [SkippableFact]
    public async Task Two_instances_share_one_postgres_log()
    {
        var log = Log("postgres");
        string policy = Path.Combine(Path.GetTempPath(), $"offrl-contract-{Guid.NewGuid():N}.json");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb" }, 2, ["a", "b"]).Save(policy);
        var options = new DecisionServiceOptions { PolicyPath = policy, LogPath = log, Urls = "http://127.0.0.1:0", Seed = 3 };
        try
        {
            await using var a = await DecisionService.StartAsync(options);
            await using var b = await DecisionService.StartAsync(options with { Seed = 4 });
            using var ha = new HttpClient { BaseAddress = new Uri(a.Url) };
            using var hb = new HttpClient { BaseAddress = new Uri(b.Url) };
            var ids = new List<string>();
            var tasks = Enumerable.Range(0, 40).Select(async i =>
            {
                var (code, body) = await Post(i % 2 == 0 ? ha : hb, "/decide", """{"context": [0.5, -1]}""");
                Assert.Equal(HttpStatusCode.OK, code);
                lock (ids) ids.Add(body.GetProperty("event_id").GetString()!);
            });
            await Task.WhenAll(tasks);
            // A decision made by one instance is rewarded through the other, once.
            foreach (var (id, i) in ids.Select((id, i) => (id, i)))
                Assert.Equal(HttpStatusCode.OK, (await Post(i % 2 == 0 ? hb : ha, "/reward", $$"""{"event_id": "{{id}}", "reward": 1}""")).Code);
            Assert.Equal(HttpStatusCode.Conflict, (await Post(ha, "/reward", $$"""{"event_id": "{{ids[1]}}", "reward": 0}""")).Code);
            using var read = DecisionLogs.Open(log);
            var steps = read.Steps().ToList();
            Assert.Equal(40, steps.Count);
            Assert.All(steps, s => Assert.Equal(1f, s.Reward));
        }
        finally { File.Delete(policy); }
    }

    [Fact]
    public void Unreachable_postgres_is_one_clear_error_after_retries()
    {
        var saved = PostgresDecisionLog.Backoff;
        PostgresDecisionLog.Backoff = [TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20)];
        try
        {
            var ex = Assert.Throws<DataException>(() => DecisionLogs.Open("postgres://nobody@127.0.0.1:1/offrl"));
            Assert.Contains("cannot reach PostgreSQL after 3 attempts", ex.Message);
            Assert.Contains("127.0.0.1:1", ex.Message);
        }
        finally { PostgresDecisionLog.Backoff = saved; }
    }
}

/// <summary>
/// Issue 24: two `offrl serve` processes on one PostgreSQL log under load, one killed with SIGKILL: every decision
/// and reward either instance acknowledged is in the log. Uses the CLI that `dotnet test OffRL.sln` builds.
/// </summary>
[Collection("postgres")]
public class SharedLogCrashTests(PostgresServer pg, ITestOutputHelper output)
{
    private const string Token = "offrl-test-token-0123456789";

    [SkippableFact]
    public async Task Killing_one_of_two_instances_loses_nothing_acknowledged()
    {
        Skip.If(pg.Unavailable is not null, $"no PostgreSQL server: {pg.Unavailable}");
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OffRL.sln"))) root = root.Parent;
        var cli = root is null ? null : Path.Combine(root.FullName, "src", "OffRL.Cli", "bin", "Release", "net10.0", "OffRL.Cli.dll");
        Skip.If(cli is null || !File.Exists(cli), "the CLI is not built (dotnet build -c Release OffRL.sln)");
        var log = pg.NewDatabase();
        string policy = Path.Combine(Path.GetTempPath(), $"offrl-crash-{Guid.NewGuid():N}.json");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb" }, 2, ["a", "b"]).Save(policy);
        var servers = new List<System.Diagnostics.Process>();
        try
        {
            var urls = new List<string>();
            for (int i = 0; i < 2; i++)
            {
                int port;
                using (var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; l.Stop(); }
                var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in new[] { cli, "serve", "--policy", policy, "--log", log, "--urls", $"http://127.0.0.1:{port}", "--seed", i.ToString() }) psi.ArgumentList.Add(a);
                psi.Environment["OFFRL_SERVE_TOKEN"] = Token;
                var p = System.Diagnostics.Process.Start(psi)!;
                p.OutputDataReceived += (_, _) => { }; p.ErrorDataReceived += (_, _) => { };
                p.BeginOutputReadLine(); p.BeginErrorReadLine();
                servers.Add(p);
                urls.Add($"http://127.0.0.1:{port}");
            }
            foreach (var url in urls)
            {
                using var probe = new HttpClient();
                for (int t = 0; ; t++)
                {
                    try { if ((await probe.GetAsync(url + "/health")).IsSuccessStatusCode) break; } catch (HttpRequestException) { }
                    Assert.True(t < 300, $"{url} did not start");
                    await Task.Delay(100);
                }
            }
            var decisions = new System.Collections.Concurrent.ConcurrentBag<string>();
            var rewards = new System.Collections.Concurrent.ConcurrentBag<string>();
            using var stop = new CancellationTokenSource();
            async Task Client(string url)
            {
                using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(5) };
                http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        using var d = await http.PostAsync("/decide", new StringContent("""{"context": [0.1, 0.2]}""", Encoding.UTF8, "application/json"));
                        if (!d.IsSuccessStatusCode) continue;
                        var id = JsonDocument.Parse(await d.Content.ReadAsStringAsync()).RootElement.GetProperty("event_id").GetString()!;
                        decisions.Add(id);
                        using var r = await http.PostAsync("/reward", new StringContent($$"""{"event_id": "{{id}}", "reward": 1}""", Encoding.UTF8, "application/json"));
                        if (r.IsSuccessStatusCode) rewards.Add(id);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { }   // the killed instance stops answering
                }
            }
            var clients = urls.SelectMany(u => Enumerable.Range(0, 3).Select(_ => Client(u))).ToArray();
            // By progress, not by the clock (the suite's other tests share the cores): 40 decisions, then the kill, then 20 more.
            async Task Until(int count, TimeSpan within)
            {
                var end = DateTime.UtcNow + within;
                while (decisions.Count < count && DateTime.UtcNow < end) await Task.Delay(50);
            }
            await Until(40, TimeSpan.FromSeconds(60));
            servers[0].Kill(entireProcessTree: true);   // SIGKILL under load; the other instance keeps serving
            await Until(decisions.Count + 20, TimeSpan.FromSeconds(60));
            stop.Cancel();
            await Task.WhenAll(clients);
            Assert.True(decisions.Count > 50, $"only {decisions.Count} decisions acknowledged");
            using var read = DecisionLogs.Open(log);
            var logged = read.Steps().ToDictionary(s => s.Decision.EventId, s => s.Reward is not null);
            Assert.All(decisions, id => Assert.True(logged.ContainsKey(id), $"acknowledged decision {id} is missing"));
            Assert.All(rewards, id => Assert.True(logged[id], $"acknowledged reward of {id} is missing"));
            output.WriteLine($"{decisions.Count} acknowledged decisions, {rewards.Count} rewards, all in the log ({logged.Count} logged)");
        }
        finally
        {
            foreach (var p in servers) { try { if (!p.HasExited) p.Kill(true); p.WaitForExit(); } catch { } p.Dispose(); }
            File.Delete(policy);
        }
    }
}
