using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using OffRL;
using OffRL.Bandits;
using OffRL.Serving;
using OffRL.Tensors;

/// <summary>
/// Decision-service benchmarks, loopback only and bounded in count and time:
/// serve-load: sustained decisions/s and p50/p99 latency of POST /decide (each followed by POST /reward) with a linear
///   (SquareCB on ridge) and an MLP (SquareCB on a 64x64 network) policy, 16 concurrent clients, the server in-process;
/// serve-crash: `offrl serve` as a child process killed (SIGKILL) during load, restarted on the same log, and every
///   decision and reward a client got a 200 for looked up in the log.
/// </summary>
static class ServeBenchmarks
{
    private const int ContextDim = 10, Arms = 10;

    private static string Body(Rng rng)
    {
        var sb = new StringBuilder("{\"context\":[");
        for (int i = 0; i < ContextDim; i++) sb.Append(i == 0 ? "" : ",").Append(rng.NextNormal().ToString("F4", System.Globalization.CultureInfo.InvariantCulture));
        sb.Append("]}");
        return sb.ToString();
    }

    private static string PolicyFile(string algoOracle, string dir)
    {
        var parts = algoOracle.Split('/');
        var path = Path.Combine(dir, $"policy-{parts[1]}.json");
        BanditPolicy.Create(new BanditLearnerConfig { Algo = parts[0], Oracle = parts[1], Hidden = [64, 64], BatchSize = 32 }, ContextDim,
            Enumerable.Range(0, Arms).Select(i => $"arm{i}").ToArray()).Save(path);
        return path;
    }

    private sealed class Load
    {
        public readonly List<double> LatencyMs = [];
        public readonly List<string> AckedDecisions = [], AckedRewards = [];
        public long Errors;
    }

    /// <summary>Clients post /decide then /reward (for a share of decisions) until the count or the time runs out, or the server dies.</summary>
    private static async Task<Load> Drive(string url, int clients, int total, double seconds, double rewardShare, CancellationToken stop)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = clients, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", Token);   // measured as deployed: with its bearer token
        var load = new Load();
        int issued = 0;
        var sw = Stopwatch.StartNew();
        async Task Client(int id)
        {
            var rng = new Rng((ulong)id + 100);
            var lat = new List<double>(); var acked = new List<string>(); var rewarded = new List<string>();
            while (!stop.IsCancellationRequested && Interlocked.Increment(ref issued) <= total && sw.Elapsed.TotalSeconds < seconds)
            {
                try
                {
                    long t0 = Stopwatch.GetTimestamp();
                    using var resp = await http.PostAsync("/decide", new StringContent(Body(rng), Encoding.UTF8, "application/json"), stop);
                    var text = await resp.Content.ReadAsStringAsync(stop);
                    if (resp.StatusCode != HttpStatusCode.OK) { Interlocked.Increment(ref load.Errors); continue; }
                    lat.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    string ev = JsonDocument.Parse(text).RootElement.GetProperty("event_id").GetString()!;
                    acked.Add(ev);
                    if (rng.NextDouble() < rewardShare)
                    {
                        using var r = await http.PostAsync("/reward", new StringContent($"{{\"event_id\":\"{ev}\",\"reward\":{rng.NextInt(2)}}}", Encoding.UTF8, "application/json"), stop);
                        if (r.StatusCode == HttpStatusCode.OK) rewarded.Add(ev); else Interlocked.Increment(ref load.Errors);
                    }
                }
                catch (Exception) when (!stop.IsCancellationRequested) { Interlocked.Increment(ref load.Errors); await Task.Delay(5); }
                catch (OperationCanceledException) { break; }
            }
            lock (load) { load.LatencyMs.AddRange(lat); load.AckedDecisions.AddRange(acked); load.AckedRewards.AddRange(rewarded); }
        }
        await Task.WhenAll(Enumerable.Range(0, clients).Select(Client));
        return load;
    }

    private static double Percentile(List<double> v, double q)
    {
        var s = v.ToArray();
        Array.Sort(s);
        return s.Length == 0 ? double.NaN : s[Math.Min(s.Length - 1, (int)(q * s.Length))];
    }

    /// <summary>
    /// Decisions/s and latency under 16 clients, linear and MLP policies, on a SQLite log; with OFFRL_LOAD_PG set to a
    /// PostgreSQL server URL (postgres://user@host:port/database) also on PostgreSQL logs with one and with two instances
    /// sharing the log (the clients split between them).
    /// </summary>
    public static Dictionary<string, double> LoadTest()
    {
        var f = new Dictionary<string, double>();
        var dir = Directory.CreateTempSubdirectory("offrl-serve-load").FullName;
        var pg = Environment.GetEnvironmentVariable("OFFRL_LOAD_PG");
        try
        {
            var setups = new List<(string Name, string Kind, Func<string, string> Log, int Instances)>
            {
                ("linear", "squarecb/ridge", n => Path.Combine(dir, $"{n}.db"), 1),
                ("mlp", "squarecb/neural", n => Path.Combine(dir, $"{n}.db"), 1),
            };
            if (pg is not null)
            {
                setups.Add(("pg_linear", "squarecb/ridge", n => NewPgDatabase(pg, n), 1));
                setups.Add(("pg2_linear", "squarecb/ridge", n => NewPgDatabase(pg, n), 2));
            }
            foreach (var (name, kind, logOf, instances) in setups)
            {
                var log = logOf(name);
                var policy = PolicyFile(kind, dir);
                var services = Enumerable.Range(0, instances).Select(i => DecisionService.StartAsync(new DecisionServiceOptions
                    { PolicyPath = policy, LogPath = log, Urls = "http://127.0.0.1:0", Token = Token, Seed = (ulong)i }).GetAwaiter().GetResult()).ToList();
                try
                {
                    Task<Load>[] Run(int total, double seconds) =>
                        services.Select(svc => Drive(svc.Url, 16 / instances, total / instances, seconds, 1.0, CancellationToken.None)).ToArray();
                    Task.WaitAll(Run(2000, 5)); // warm-up
                    var sw = Stopwatch.StartNew();
                    var loads = Run(40_000, 15).Select(t => t.GetAwaiter().GetResult()).ToArray();
                    double s = sw.Elapsed.TotalSeconds;
                    var latency = loads.SelectMany(l => l.LatencyMs).ToList();
                    f[$"{name}_decisions_per_s"] = loads.Sum(l => l.AckedDecisions.Count) / s;
                    f[$"{name}_rewards_per_s"] = loads.Sum(l => l.AckedRewards.Count) / s;
                    f[$"{name}_decide_p50_ms"] = Percentile(latency, 0.50);
                    f[$"{name}_decide_p99_ms"] = Percentile(latency, 0.99);
                    f[$"{name}_errors"] = loads.Sum(l => l.Errors);
                }
                finally { foreach (var svc in services) svc.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
        return f;
    }

    /// <summary>A fresh database on the server of <paramref name="url"/> (postgres://user@host:port/db), its URL returned.</summary>
    private static string NewPgDatabase(string url, string name)
    {
        var u = new Uri(url);
        var db = $"offrl_bench_{name}_{Guid.NewGuid().ToString("N")[..8]}";
        using var source = Npgsql.NpgsqlDataSource.Create(new Npgsql.NpgsqlConnectionStringBuilder
            { Host = u.Host, Port = u.Port, Username = u.UserInfo.Split(':')[0], Database = u.AbsolutePath.Trim('/') is { Length: > 0 } d ? d : "postgres" });
        using var cmd = source.CreateCommand($"CREATE DATABASE {db}");
        cmd.ExecuteNonQuery();
        return $"{u.Scheme}://{u.UserInfo}@{u.Host}:{u.Port}/{db}";
    }

    private static string CliDll()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "OffRL.sln"))) d = d.Parent;
        var dll = d is null ? null : Path.Combine(d.FullName, "src", "OffRL.Cli", "bin", "Release", "net10.0", "OffRL.Cli.dll");
        if (dll is null || !File.Exists(dll)) throw new FileNotFoundException("build the CLI first: dotnet build -c Release src/OffRL.Cli", dll);
        return dll;
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private const string Token = "offrl-bench-token-0123456789";

    private static Process StartServer(string dll, string policy, string db, string url)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["OFFRL_SERVE_TOKEN"] = Token;
        foreach (var a in new[] { dll, "serve", "--policy", policy, "--log", db, "--urls", url }) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { }; p.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"server: {e.Data}"); };
        p.BeginOutputReadLine(); p.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < 60)
        {
            if (p.HasExited) throw new InvalidOperationException($"server exited with {p.ExitCode}");
            try { if (http.GetAsync(url + "/health").GetAwaiter().GetResult().IsSuccessStatusCode) return p; }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            Thread.Sleep(100);
        }
        p.Kill(true);
        throw new TimeoutException("server did not come up in 60 s");
    }

    /// <summary>
    /// kill -9 under load, then every acknowledged decision and reward looked up in the log. With OFFRL_CRASH_LOG set to
    /// a PostgreSQL URL two instances share that log, both under load, and one of them is killed while the other keeps
    /// serving; otherwise one instance on a SQLite file.
    /// </summary>
    public static Dictionary<string, double> CrashTest()
    {
        var f = new Dictionary<string, double>();
        var dll = CliDll();
        var dir = Directory.CreateTempSubdirectory("offrl-serve-crash").FullName;
        try
        {
            var policy = PolicyFile("squarecb/ridge", dir);
            var shared = Environment.GetEnvironmentVariable("OFFRL_CRASH_LOG");
            var db = shared ?? Path.Combine(dir, "decisions.db");
            bool two = shared is not null && DecisionLogs.IsPostgres(shared);
            string[] urls = two ? [$"http://127.0.0.1:{FreePort()}", $"http://127.0.0.1:{FreePort()}"] : [$"http://127.0.0.1:{FreePort()}"];
            int rounds = 3;
            long acked = 0, ackedRewards = 0, missing = 0, missingRewards = 0;
            for (int round = 0; round < rounds; round++)
            {
                var servers = urls.Select(u => StartServer(dll, policy, db, u)).ToArray();
                using var cts = new CancellationTokenSource();
                var driving = urls.Select(u => Drive(u, 8 / urls.Length, int.MaxValue, 30, 0.5, cts.Token)).ToArray();
                Thread.Sleep(2500 + 500 * round);
                servers[0].Kill(entireProcessTree: true);   // SIGKILL in the middle of the load (the other instance, if any, keeps serving)
                servers[0].WaitForExit();
                Thread.Sleep(300);
                cts.Cancel();
                var loads = driving.Select(d => d.GetAwaiter().GetResult()).ToArray();
                foreach (var other in servers.Skip(1)) { other.Kill(entireProcessTree: true); other.WaitForExit(); }
                // Restart on the same log (proves it opens after the crash), then look up every acknowledged event.
                var again = StartServer(dll, policy, db, urls[0]);
                again.Kill(entireProcessTree: true); again.WaitForExit();
                var logged = new Dictionary<string, bool>();
                using (var log = DecisionLogs.Open(db))
                    foreach (var (d, r, _) in log.Steps()) logged[d.EventId] = r is not null;
                foreach (var load in loads)
                {
                    foreach (var e in load.AckedDecisions) if (!logged.ContainsKey(e)) missing++;
                    foreach (var e in load.AckedRewards) if (!logged.TryGetValue(e, out bool has) || !has) missingRewards++;
                    acked += load.AckedDecisions.Count; ackedRewards += load.AckedRewards.Count;
                }
                Console.WriteLine($"round {round + 1}: {(two ? "one of two instances" : "the instance")} killed; {loads.Sum(l => l.AckedDecisions.Count)} acknowledged decisions, " +
                    $"{loads.Sum(l => l.AckedRewards.Count)} rewards; log holds {logged.Count} decisions");
            }
            f["instances"] = urls.Length;
            f["rounds"] = rounds;
            f["acknowledged_decisions"] = acked;
            f["acknowledged_rewards"] = ackedRewards;
            f["missing_decisions"] = missing;
            f["missing_rewards"] = missingRewards;
        }
        finally { Directory.Delete(dir, recursive: true); }
        return f;
    }
}

/// <summary>In-process decisions/s of each learner (no HTTP, no log): context 10, 10 arms, after 2000 learned rewards.</summary>
static class BanditBenchmarks
{
    public static Dictionary<string, double> Decide()
    {
        var f = new Dictionary<string, double>();
        var env = new SyntheticBandit(new SyntheticBanditConfig { ContextDim = 10, Actions = 10 });
        foreach (var (algo, oracle) in new[] { ("epsilon-greedy", "ridge"), ("softmax", "ridge"), ("squarecb", "ridge"), ("linucb", "ridge"), ("thompson", "ridge"), ("squarecb", "neural") })
        {
            var learner = BanditLearner.Create(new BanditLearnerConfig { Algo = algo, Oracle = oracle, BatchSize = 32 }, 10, 10);
            var rng = new Rng(1);
            BanditSimulation.Run(env, learner, 2000, rng);
            var c = env.Next(rng);
            f[$"{algo}_{oracle}_decisions_per_s"] = Benchmarks.Rate(() => learner.Decide(c, rng), 1.0);
        }
        return f;
    }
}
