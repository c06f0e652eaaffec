using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OffRL.Algorithms;
using OffRL.Bandits;
using OffRL.Evaluation;
using OffRL.Tensors;

namespace OffRL.Serving;

/// <summary>What to do with a reward outside [RewardMin, RewardMax]: refuse it (400) or clip it into the range and record the clipped value.</summary>
public enum OutOfRangeReward { Reject, Clip }

public sealed record DecisionServiceOptions
{
    /// <summary>A bandit policy file, or a trained RL checkpoint folder (offrl train --out), served through POST /act.</summary>
    public required string PolicyPath { get; init; }
    /// <summary>RL policies, continuous actions: std of the Gaussian exploration around the policy's action (logged with its log-density).</summary>
    [FieldRange("(0, inf)")]
    public double ExplorationSigma { get; init; } = 0.1;
    /// <summary>RL policies, discrete actions: epsilon of the epsilon-greedy behavior (logged with its probabilities).</summary>
    [FieldRange("[0, 1]")]
    public double Epsilon { get; init; } = 0.05;
    /// <summary>
    /// The durable decision log: a SQLite file (created when missing, appended to otherwise; one service at a time, a
    /// second is refused), or a PostgreSQL URL postgres://user:password@host:port/database (Npgsql), which several
    /// instances share.
    /// </summary>
    public string LogPath { get; init; } = "decisions.db";
    /// <summary>Address to listen on: loopback by default; any other address needs a <see cref="Token"/>.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5080";
    /// <summary>Bearer token every endpoint but /health requires (Authorization: Bearer TOKEN); null: none (loopback only).</summary>
    public string? Token { get; init; }
    /// <summary>Keep learning from rewards as they arrive (and replay the log's rewards at start).</summary>
    public bool Learn { get; init; } = true;
    /// <summary>synchronous=FULL (survives machine crashes) or NORMAL (survives process crashes, faster).</summary>
    public bool SynchronousFull { get; init; } = true;
    public ulong Seed { get; init; } = 0;
    /// <summary>Largest request body in bytes (larger: 413).</summary>
    [FieldRange("[64, 1073741824]")]
    public long MaxBodyBytes { get; init; } = 1 << 20;
    /// <summary>Most candidate actions in one /decide request.</summary>
    [FieldRange("[1, 1000000]")]
    public int MaxCandidates { get; init; } = 1000;
    /// <summary>Longest context or feature vector in a request (the policy's own widths must fit in it).</summary>
    [FieldRange("[1, 1000000]")]
    public int MaxContextWidth { get; init; } = 4096;
    /// <summary>
    /// Largest magnitude of a context, observation or feature value in a request (400 beyond): values far off any
    /// trained scale make a float network's output, and then what it learns from the reward, non-finite.
    /// </summary>
    [FieldRange("(0, 3.5e38]")]
    public double MaxAbsValue { get; init; } = 1e9;
    /// <summary>Smallest and largest reward accepted by /reward; outside them <see cref="OutOfRange"/> decides.</summary>
    public float RewardMin { get; init; } = -1e6f;
    public float RewardMax { get; init; } = 1e6f;
    public OutOfRangeReward OutOfRange { get; init; } = OutOfRangeReward.Reject;
    public Action<string>? Log { get; init; }

    public void Validate()
    {
        FieldRange.Check(this);
        if (!(RewardMin < RewardMax)) throw new ArgumentException($"serve: reward_min {RewardMin} must be below reward_max {RewardMax}");
        if (Token is { Length: < 16 }) throw new ArgumentException("serve: the token must have at least 16 characters");
        var urls = (Urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0) throw new ArgumentException("--urls: no address given (expected http://HOST:PORT, e.g. http://127.0.0.1:5080)");
        foreach (var url in urls)
            if (!CheckUrl(url) && Token is null)
                throw new ArgumentException($"--urls: {url} is not a loopback address; serving beyond this machine needs a token (--token or OFFRL_SERVE_TOKEN)");
    }

    /// <summary>
    /// Checks one listening address as Kestrel would take it, refusing with one ArgumentException ("--urls: ...") what it
    /// cannot serve: another scheme than http (https: OffRL serves plain http behind a TLS proxy), a path, query or user,
    /// a port outside 0..65535, a malformed host, an IPv4-mapped IPv6 address. True when the address is loopback.
    /// </summary>
    public static bool CheckUrl(string url)
    {
        int colon = url.IndexOf("://", StringComparison.Ordinal);
        string scheme = colon < 0 ? "" : url[..colon].ToLowerInvariant();
        if (scheme == "https")
            throw new ArgumentException($"--urls: {url}: OffRL serves plain http; put a TLS-terminating proxy (nginx, Caddy, a load balancer) in front of it and point it at http://127.0.0.1:PORT");
        if (scheme != "http") throw new ArgumentException($"--urls: {url} is not an http:// address (expected http://HOST:PORT, e.g. http://127.0.0.1:5080)");
        string rest = url[(colon + 3)..];
        int slash = rest.IndexOfAny(['/', '?', '#']);
        string authority = slash < 0 ? rest : rest[..slash];
        if (slash >= 0 && rest[slash..] != "/")
            throw new ArgumentException($"--urls: {url} has a path '{rest[slash..]}'; give the scheme, host and port only (http://HOST:PORT)");
        if (authority.Contains('@')) throw new ArgumentException($"--urls: {url} has a user name; give the scheme, host and port only (http://HOST:PORT)");
        int portAt = authority.LastIndexOf(':');
        if (portAt >= 0 && authority.IndexOf(']', portAt) >= 0) portAt = -1;   // a colon inside [IPv6] is not the port's
        string host = portAt < 0 ? authority : authority[..portAt];
        if (portAt >= 0)
        {
            string port = authority[(portAt + 1)..];
            if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int p) || p > 65535)
                throw new ArgumentException($"--urls: {url}: port '{port}' is not a number in 0..65535");
        }
        if (host is "*" or "+") return false;   // every interface
        if (host.Length == 0) throw new ArgumentException($"--urls: {url} has no host (expected http://HOST:PORT, e.g. http://127.0.0.1:5080)");
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        bool bracketed = host.StartsWith('[') && host.EndsWith(']');
        if (System.Net.IPAddress.TryParse(bracketed ? host[1..^1] : host, out var ip) && (bracketed || ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
        {
            if (ip.IsIPv4MappedToIPv6)
                throw new ArgumentException($"--urls: {url}: {host} is an IPv4-mapped IPv6 address; give the IPv4 address itself (http://{ip.MapToIPv4()}{(portAt < 0 ? "" : authority[portAt..])})");
            return System.Net.IPAddress.IsLoopback(ip);
        }
        if (bracketed || Uri.CheckHostName(host) != UriHostNameType.Dns)
            throw new ArgumentException($"--urls: {url}: host '{host}' is not an IP address or host name");
        return false;   // a host name other than localhost: Kestrel listens on every interface
    }
}

/// <summary>
/// The decision service: POST /decide {context, actions} -> {event_id, action, index, probability}; POST /reward
/// {event_id, reward}; GET /health. Serving a trained RL checkpoint instead: POST /act {observation, episode_id}
/// -> {event_id, action, log_prob}, the action drawn from the policy with logged exploration (Gaussian around
/// continuous actions, epsilon-greedy for discrete ones), and POST /reward {event_id, reward, terminal}; the log is the
/// same, and `offrl dataset convert LOG.db out.parquet` turns its steps into transitions with behavior log-probabilities
/// for `offrl ope rl` and the next training run. Every decision is committed to the durable log before it is answered, so what a
/// client was told is never lost; rewards are committed before they are acknowledged and then fed to the learner.
/// Bad requests get 400 with the field at fault, unknown event ids 404, a second reward for one event 409, a body over
/// the limit 413, a missing or wrong token 401; /health answers 503 when the policy cannot decide.
/// </summary>
public sealed class DecisionService : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly IDecisionLog _log;
    private readonly BanditPolicy _policy;
    private readonly Agent? _agent;
    private readonly IProbabilisticPolicy? _behavior;
    private readonly DecisionServiceOptions _options;
    private readonly Rng _rng;
    private readonly object _gate = new();
    private readonly string _policyName;

    public string Url { get; private set; } = "";
    public BanditPolicy Policy => _policy;

    private DecisionService(WebApplication app, IDecisionLog log, BanditPolicy? policy, Agent? agent, DecisionServiceOptions options)
    {
        _app = app; _log = log; _policy = policy!; _agent = agent; _options = options;
        _rng = new Rng(options.Seed);
        if (agent is not null)
            _behavior = agent.ActionSpace is Discrete ? new EpsilonGreedyPolicy(agent, options.Epsilon, options.Seed) : new GaussianPolicy(agent, options.ExplorationSigma, options.Seed);
        _policyName = $"{(agent is not null ? agent.Name : policy!.Learner.Name)}@{Path.GetFileName(options.PolicyPath.TrimEnd('/', '\\'))}";
    }

    /// <summary>True when the service serves a trained RL checkpoint (POST /act) rather than a bandit policy (POST /decide).</summary>
    public bool ServesRl => _agent is not null;

    public static async Task<DecisionService> StartAsync(DecisionServiceOptions options, CancellationToken ct = default)
    {
        options.Validate();
        BanditPolicy? policy = null;
        Agent? agent = null;
        if (Directory.Exists(options.PolicyPath)) agent = AlgorithmRegistry.Load(options.PolicyPath, options.Seed);
        else policy = BanditPolicy.Load(options.PolicyPath);
        int contextDim = agent?.ObservationDim ?? policy!.Learner.ContextDim, actionDim = agent?.ActionDim ?? policy!.Learner.ActionDim;
        if (contextDim > options.MaxContextWidth || actionDim > options.MaxContextWidth)
            throw new ArgumentException($"serve: the policy's widths (context {contextDim}, action features {actionDim}) exceed max_context_width {options.MaxContextWidth}");
        var log = DecisionLogs.Open(options.LogPath, options.SynchronousFull);
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            if (Environment.GetEnvironmentVariable("OFFRL_SERVE_DEBUG") == "1") builder.Logging.AddConsole();
            builder.WebHost.UseUrls(options.Urls);
            builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes);
            var app = builder.Build();
            var service = new DecisionService(app, log, policy, agent, options);
            if (agent is null) service.Replay();
            app.Use(service.Guard);
            app.MapPost("/decide", (Func<HttpContext, Task<IResult>>)service.Decide);
            app.MapPost("/act", (Func<HttpContext, Task<IResult>>)service.Act);
            app.MapPost("/reward", (Func<HttpContext, Task<IResult>>)service.Reward);
            app.MapGet("/health", service.Health);
            try { await app.StartAsync(ct); }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
            {
                await app.DisposeAsync();
                throw new IOException($"--urls: cannot listen on {options.Urls} ({e.Message.ReplaceLineEndings(" ")})", e);
            }
            service.Url = app.Urls.First();
            options.Log?.Invoke($"serving {service._policyName} on {service.Url}; log {log.Describe} ({log.DecisionCount} decisions, {log.RewardCount} rewards)" +
                (options.Token is null ? "" : "; bearer token required"));
            return service;
        }
        catch { log.Dispose(); throw; }
    }

    /// <summary>
    /// Before every endpoint: the bearer token (all but /health), and a JSON answer for anything unexpected (never an
    /// empty 500); a body over the size limit is a 413 naming the limit.
    /// </summary>
    private async Task Guard(HttpContext http, Func<Task> next)
    {
        if (_options.Token is { } token && http.Request.Path != "/health")
        {
            var header = http.Request.Headers.Authorization.ToString();
            var given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..].Trim() : "";
            if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(token)))
            {
                await Results.Json(new { error = "missing or wrong bearer token (Authorization: Bearer TOKEN)", field = "authorization" }, statusCode: 401).ExecuteAsync(http);
                return;
            }
        }
        try { await next(); }
        catch (BadHttpRequestException e) when (e.StatusCode == 413)
        {
            if (!http.Response.HasStarted)
                await Results.Json(new { error = $"request body is larger than {_options.MaxBodyBytes} bytes", field = "body" }, statusCode: 413).ExecuteAsync(http);
        }
        catch (Exception e) when (!http.Response.HasStarted && e is not OperationCanceledException)
        {
            _options.Log?.Invoke($"error on {http.Request.Path}: {e.GetType().Name}: {e.Message}");
            await Results.Json(new { error = $"internal error: {e.Message}", field = (string?)null }, statusCode: 500).ExecuteAsync(http);
        }
    }

    /// <summary>GET /health: 200 while the policy gives a valid distribution for a probe request, 503 when it cannot.</summary>
    private IResult Health()
    {
        string? problem = Unhealthy();
        return Results.Json(new
        {
            status = problem is null ? "ok" : "unhealthy", problem, policy = _policyName, decisions = _log.DecisionCount, rewards = _log.RewardCount,
            learning = _options.Learn && _agent is null, endpoint = _agent is null ? "/decide" : "/act",
        }, statusCode: problem is null ? 200 : 503);
    }

    /// <summary>Why the policy cannot decide for a probe request, or null when it can.</summary>
    private string? Unhealthy()
    {
        string? problem = null;
        try
        {
            lock (_gate)
            {
                if (_agent is null) _policy.CheckDecides();
                else
                {   // the policy acts on a probe observation with finite actions
                    var a = new float[_agent.ActionDim];
                    _agent.Act(new float[_agent.ObservationDim], a, deterministic: true);
                    foreach (var x in a) if (!float.IsFinite(x)) throw new InvalidOperationException($"the policy's action for a zero observation is {x}");
                }
            }
        }
        catch (Exception e) { problem = e.Message; }
        return problem;
    }


    /// <summary>Rebuild the learner's state from the log: every rewarded decision is learned again, in order.</summary>
    private void Replay()
    {
        if (_log.DecisionCount == 0) return;
        long n = 0, learned = 0;
        foreach (var (d, r, _) in _log.Steps())
        {
            n++;
            if (!_options.Learn || r is null) continue;
            _policy.Learner.Observe(new BanditContext(d.Context, d.Actions), d.Chosen, r.Value);
            learned++;
        }
        _policy.Learner.Flush();
        _policy.Learner.AdvanceClock(n);
        _options.Log?.Invoke($"replayed {n} logged decisions, learned from {learned} rewards");
    }

    private static IResult Bad(string field, string message) => Results.Json(new { error = message, field }, statusCode: 400);

    /// <summary>POST /act {observation, episode_id}: an action of the served RL policy with exploration, logged before the answer.</summary>
    private async Task<IResult> Act(HttpContext http)
    {
        if (_agent is null) return Bad("body", "this service serves a bandit policy: POST /decide {context, actions}");
        var (parsed, bad) = await ReadJson(http);
        if (bad is not null) return bad;
        using var doc = parsed!;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return Bad("body", "expected a JSON object {observation, episode_id}");
        if (!root.TryGetProperty("observation", out var obsEl)) return Bad("observation", "is missing");
        var obs = Numbers(obsEl, "observation", _options.MaxContextWidth, out var err);
        if (err is not null) return err;
        if (obs!.Length != _agent.ObservationDim) return Bad("observation", $"has {obs.Length} values, the policy expects {_agent.ObservationDim}");
        if (!root.TryGetProperty("episode_id", out var epEl) || epEl.ValueKind != JsonValueKind.String || !Text(epEl, out var episode) || episode.Length is 0 or > 64)
            return Bad("episode_id", "is missing or not a non-empty UTF-8 string of at most 64 characters");
        var action = new float[_agent.ActionDim];
        double logp;
        float[] probabilities;
        try
        {
            lock (_gate)
            {
                logp = _behavior!.Sample(obs, action, _rng);
                if (_agent.ActionSpace is Discrete dsc)
                {
                    probabilities = new float[dsc.N];
                    _behavior.Probabilities(obs, probabilities);
                }
                else probabilities = [1f];
            }
        }
        catch (Exception e) when (e is ArithmeticException or InvalidOperationException)
        {
            return NonFinite([("observation", obs)], $"makes the policy fail ({e.Message.ReplaceLineEndings(" ")})");
        }
        if (!double.IsFinite(logp) || !AllFinite(action) || !AllFinite(probabilities))
            return NonFinite([("observation", obs)], $"makes the policy's output non-finite (log-probability {logp.ToString(CultureInfo.InvariantCulture)})");
        CandidateAction[] actions;
        int chosen;
        float probability;
        if (_agent.ActionSpace is Discrete d)
        {
            actions = new CandidateAction[d.N];
            for (int i = 0; i < d.N; i++) actions[i] = new CandidateAction(i.ToString(CultureInfo.InvariantCulture), []);
            chosen = (int)action[0];
            probability = probabilities[chosen];
        }
        else { actions = [new CandidateAction("action", action)]; chosen = 0; probability = 1f; }
        var record = new DecisionRecord(Guid.CreateVersion7().ToString("N"), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), obs, actions,
            chosen, probability, probabilities, _policyName) { LogProb = logp, Episode = episode };
        await _log.AppendDecision(record);
        return _agent.ActionSpace is Discrete
            ? Results.Json(new { event_id = record.EventId, action = chosen, log_prob = logp })
            : Results.Json(new { event_id = record.EventId, action, log_prob = logp });
    }

    private async Task<IResult> Decide(HttpContext http)
    {
        if (_agent is not null) return Bad("body", "this service serves an RL policy: POST /act {observation, episode_id}");
        var (parsed, bad) = await ReadJson(http);
        if (bad is not null) return bad;
        using var doc = parsed!;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return Bad("body", "expected a JSON object {context, actions}");
        if (!root.TryGetProperty("context", out var ctxEl)) return Bad("context", "is missing");
        var context = Numbers(ctxEl, "context", _options.MaxContextWidth, out var err);
        if (err is not null) return err;
        if (context!.Length != _policy.Learner.ContextDim) return Bad("context", $"has {context.Length} values, the policy expects {_policy.Learner.ContextDim}");
        CandidateAction[] actions;
        if (!root.TryGetProperty("actions", out var actEl))
        {
            if (_policy.Arms.Length == 0) return Bad("actions", "is missing (this policy has no default arm list)");
            actions = JointFeatures.Arms(_policy.Arms);
        }
        else
        {
            if (actEl.ValueKind != JsonValueKind.Array || actEl.GetArrayLength() == 0) return Bad("actions", "must be a non-empty array of ids or {id, features, known_reward} objects");
            if (actEl.GetArrayLength() > _options.MaxCandidates) return Bad("actions", $"has {actEl.GetArrayLength()} candidates, the limit is {_options.MaxCandidates} (max_candidates)");
            actions = new CandidateAction[actEl.GetArrayLength()];
            var seen = new HashSet<string>();
            int i = 0;
            foreach (var a in actEl.EnumerateArray())
            {
                string field = $"actions[{i}]";
                string? id; float[]? features = null; float? known = null;
                if (a.ValueKind == JsonValueKind.String)
                {
                    if (!Text(a, out id)) return Bad(field, "is not valid UTF-8 text");
                }
                else if (a.ValueKind == JsonValueKind.Object)
                {
                    if (!a.TryGetProperty("id", out var idEl) || idEl.ValueKind != JsonValueKind.String) return Bad(field + ".id", "is missing or not a string");
                    if (!Text(idEl, out id)) return Bad(field + ".id", "is not valid UTF-8 text");
                    if (a.TryGetProperty("features", out var fEl))
                    {
                        features = Numbers(fEl, field + ".features", _options.MaxContextWidth, out err);
                        if (err is not null) return err;
                    }
                    if (a.TryGetProperty("known_reward", out var kEl))
                    {
                        if (kEl.ValueKind != JsonValueKind.Number || !float.IsFinite(kEl.GetSingle())) return Bad(field + ".known_reward", "must be a finite number");
                        known = kEl.GetSingle();
                    }
                }
                else return Bad(field, "must be an id string or an object");
                if (string.IsNullOrEmpty(id)) return Bad(field + ".id", "must not be empty");
                if (id.Length > 256) return Bad(field + ".id", $"has {id.Length} characters, at most 256");
                if (!seen.Add(id)) return Bad(field + ".id", $"'{id}' appears twice");
                features ??= _policy.ArmFeatures(id);
                if (features is null) return Bad(field + ".features", $"are missing and '{id}' is not one of the policy's arms");
                if (features.Length != _policy.Learner.ActionDim) return Bad(field + ".features", $"has {features.Length} values, the policy expects {_policy.Learner.ActionDim}");
                actions[i++] = new CandidateAction(id, features, known);
            }
        }
        var c = new BanditContext(context, actions);
        var inputs = new (string, float[])[actions.Length + 1];
        inputs[0] = ("context", context);
        for (int i = 0; i < actions.Length; i++) inputs[i + 1] = ($"actions[{i.ToString(CultureInfo.InvariantCulture)}].features", actions[i].Features);
        BanditDecision decision;
        try
        {
            lock (_gate) decision = _policy.Learner.Decide(c, _rng);
        }
        catch (Exception e) when (e is ArithmeticException or InvalidOperationException or ArgumentException)
        {
            if (Unhealthy() is { } problem)   // the policy fails on any request, not this one's fault
                return Results.Json(new { error = $"the policy cannot decide ({problem})", field = (string?)null }, statusCode: 503);
            return NonFinite(inputs, $"makes the policy fail ({e.Message.ReplaceLineEndings(" ")})");
        }
        if (!AllFinite(decision.Probabilities) || !(decision.Probability > 0 && decision.Probability <= 1))
            return NonFinite(inputs, "makes the policy's probabilities non-finite");
        var record = new DecisionRecord(Guid.CreateVersion7().ToString("N"), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), context, actions,
            decision.Index, decision.Probability, decision.Probabilities, _policyName);
        await _log.AppendDecision(record);
        return Results.Json(new { event_id = record.EventId, action = record.ActionId, index = decision.Index, probability = decision.Probability });
    }

    private async Task<IResult> Reward(HttpContext http)
    {
        var (parsed, bad) = await ReadJson(http);
        if (bad is not null) return bad;
        using var doc = parsed!;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return Bad("body", "expected a JSON object {event_id, reward}");
        if (!root.TryGetProperty("event_id", out var idEl) || idEl.ValueKind != JsonValueKind.String || !Text(idEl, out var eventId) || eventId.Length == 0 || eventId.Length > 64)
            return Bad("event_id", "is missing or not a non-empty UTF-8 string of at most 64 characters");
        if (!root.TryGetProperty("reward", out var rEl)) return Bad("reward", "is missing");
        if (rEl.ValueKind != JsonValueKind.Number || !rEl.TryGetDouble(out double raw) || !double.IsFinite(raw)) return Bad("reward", "must be a finite number");
        if (raw < _options.RewardMin || raw > _options.RewardMax)
        {
            if (_options.OutOfRange == OutOfRangeReward.Reject)
                return Bad("reward", $"{raw.ToString(CultureInfo.InvariantCulture)} is outside the accepted range [{_options.RewardMin}, {_options.RewardMax}] (reward_min, reward_max)");
            raw = Math.Clamp(raw, _options.RewardMin, _options.RewardMax);
        }
        float reward = (float)raw;
        bool? terminal = null;
        if (root.TryGetProperty("terminal", out var tEl))
        {
            if (tEl.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) return Bad("terminal", "must be true or false");
            terminal = tEl.GetBoolean();
        }
        var (status, decision) = await _log.AppendReward(eventId, reward, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), terminal);
        switch (status)
        {
            case RewardStatus.UnknownEvent: return Results.Json(new { error = $"unknown event_id '{eventId}'", field = "event_id" }, statusCode: 404);
            case RewardStatus.AlreadyRewarded: return Results.Json(new { error = $"event '{eventId}' already has a reward", field = "event_id" }, statusCode: 409);
        }
        if (_options.Learn && _agent is null)
            lock (_gate) _policy.Learner.Observe(new BanditContext(decision!.Context, decision.Actions), decision.Chosen, reward);
        return Results.Json(new { event_id = eventId, status = "recorded" });
    }

    private static bool AllFinite(float[] v)
    {
        foreach (var x in v) if (!float.IsFinite(x)) return false;
        return true;
    }

    /// <summary>
    /// 400 for a request whose values drive the policy's output out of the finite numbers: names the request value of
    /// the largest magnitude (field[i]), the likeliest culprit, and what the values should be.
    /// </summary>
    private static IResult NonFinite(ReadOnlySpan<(string Field, float[] Values)> inputs, string what)
    {
        string field = inputs[0].Field;
        float worst = -1;
        foreach (var (name, values) in inputs)
            for (int i = 0; i < values.Length; i++)
                if (Math.Abs(values[i]) > worst) { worst = Math.Abs(values[i]); field = $"{name}[{i.ToString(CultureInfo.InvariantCulture)}]"; }
        return Bad(field, $"{what}: the request's largest value is {worst.ToString("G4", CultureInfo.InvariantCulture)} here; give values on the scale the policy was trained on");
    }

    /// <summary>JSON options of request bodies: a key given twice in one object is refused (never "the last one wins").</summary>
    private static readonly JsonDocumentOptions RequestJson = new() { AllowDuplicateProperties = false };

    /// <summary>The request body as a JSON document, or the 400 to answer: malformed JSON, or a key given twice (named with its path).</summary>
    private static async Task<(JsonDocument? Doc, IResult? Error)> ReadJson(HttpContext http)
    {
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer);
        var body = new ReadOnlyMemory<byte>(buffer.GetBuffer(), 0, (int)buffer.Length);
        try { return (JsonDocument.Parse(body, RequestJson), null); }
        catch (JsonException e)
        {
            if (DuplicateKey(body.Span) is { } path) return (null, Bad(path, "is given twice in the request; give each field once"));
            return (null, Bad("body", $"malformed JSON ({e.Message.ReplaceLineEndings(" ")})"));
        }
    }

    /// <summary>The path (event_id, actions[0].id) of the first key that appears twice in one object of the document, or null.</summary>
    private static string? DuplicateKey(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        var open = new List<Container>();
        string key = "";
        try
        {
            while (reader.Read())
            {
                var t = reader.TokenType;
                if (t == JsonTokenType.PropertyName)
                {
                    key = reader.GetString()!;
                    if (!open[^1].Keys!.Add(key)) return Child(open[^1].Path, key);
                    continue;
                }
                if (t is JsonTokenType.EndObject or JsonTokenType.EndArray) { open.RemoveAt(open.Count - 1); continue; }
                // A value: its path is its key in an object or its index in an array.
                string path = open.Count == 0 ? "" : open[^1].Keys is null ? $"{open[^1].Path}[{(open[^1].Next++).ToString(CultureInfo.InvariantCulture)}]" : Child(open[^1].Path, key);
                if (t is JsonTokenType.StartObject or JsonTokenType.StartArray) open.Add(new Container(path, t == JsonTokenType.StartObject ? [] : null));
            }
        }
        catch (JsonException) { }
        return null;
    }

    /// <summary>An open object (its keys so far) or array (its next index) while <see cref="DuplicateKey"/> reads.</summary>
    private sealed class Container(string path, HashSet<string>? keys)
    {
        public string Path { get; } = path;
        public HashSet<string>? Keys { get; } = keys;
        public int Next { get; set; }
    }

    private static string Child(string parent, string key) => parent.Length == 0 ? key : $"{parent}.{key}";

    /// <summary>A JSON string's text; false when its bytes are not valid UTF-8.</summary>
    private static bool Text(JsonElement el, out string text)
    {
        try { text = el.GetString() ?? ""; return true; }
        catch (InvalidOperationException) { text = ""; return false; }
    }

    private float[]? Numbers(JsonElement el, string field, int maxLength, out IResult? error)
    {
        error = null;
        if (el.ValueKind != JsonValueKind.Array) { error = Bad(field, "must be an array of numbers"); return null; }
        if (el.GetArrayLength() > maxLength) { error = Bad(field, $"has {el.GetArrayLength()} values, the limit is {maxLength} (max_context_width)"); return null; }
        var v = new float[el.GetArrayLength()];
        int i = 0;
        foreach (var x in el.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetSingle(out v[i]) || !float.IsFinite(v[i]))
            {
                error = Bad($"{field}[{i.ToString(CultureInfo.InvariantCulture)}]", "must be a finite number");
                return null;
            }
            if (Math.Abs(v[i]) > _options.MaxAbsValue)
            {
                error = Bad($"{field}[{i.ToString(CultureInfo.InvariantCulture)}]", $"{v[i].ToString("G6", CultureInfo.InvariantCulture)} is beyond +-{_options.MaxAbsValue.ToString("G6", CultureInfo.InvariantCulture)} (max_abs_value); give values on the scale the policy was trained on");
                return null;
            }
            i++;
        }
        return v;
    }

    /// <summary>Save the learner's current state as a policy file (e.g. at shutdown).</summary>
    public void SavePolicy(string path)
    {
        if (_agent is not null) throw new InvalidOperationException("serve: an RL checkpoint is served as trained (no online learning to save)");
        lock (_gate) { _policy.Learner.Flush(); _policy.Save(path); }
    }

    public Task WaitForShutdownAsync(CancellationToken ct = default) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _log.Dispose();
    }
}
