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

namespace OffRL.Service;

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
        foreach (var url in Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (Token is null && !IsLoopback(url))
                throw new ArgumentException($"serve: {url} is not a loopback address; serving beyond this machine needs a token (--token or OFFRL_SERVE_TOKEN)");
    }

    private static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var u)) return false;
        if (u.Host == "localhost") return true;
        return System.Net.IPAddress.TryParse(u.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip);
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
            await app.StartAsync(ct);
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
        return Results.Json(new
        {
            status = problem is null ? "ok" : "unhealthy", problem, policy = _policyName, decisions = _log.DecisionCount, rewards = _log.RewardCount,
            learning = _options.Learn && _agent is null, endpoint = _agent is null ? "/decide" : "/act",
        }, statusCode: problem is null ? 200 : 503);
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
        using var doc = await ReadJson(http);
        if (doc is null) return Bad("body", "malformed JSON");
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
        if (!double.IsFinite(logp)) return Results.Json(new { error = $"the policy gave log-probability {logp}", field = (string?)null }, statusCode: 500);
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
        using var doc = await ReadJson(http);
        if (doc is null) return Bad("body", "malformed JSON");
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
        BanditDecision decision;
        lock (_gate) decision = _policy.Learner.Decide(c, _rng);
        var record = new DecisionRecord(Guid.CreateVersion7().ToString("N"), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), context, actions,
            decision.Index, decision.Probability, decision.Probabilities, _policyName);
        await _log.AppendDecision(record);
        return Results.Json(new { event_id = record.EventId, action = record.ActionId, index = decision.Index, probability = decision.Probability });
    }

    private async Task<IResult> Reward(HttpContext http)
    {
        using var doc = await ReadJson(http);
        if (doc is null) return Bad("body", "malformed JSON");
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

    private static async Task<JsonDocument?> ReadJson(HttpContext http)
    {
        try { return await JsonDocument.ParseAsync(http.Request.Body); }
        catch (JsonException) { return null; }
    }

    /// <summary>A JSON string's text; false when its bytes are not valid UTF-8.</summary>
    private static bool Text(JsonElement el, out string text)
    {
        try { text = el.GetString() ?? ""; return true; }
        catch (InvalidOperationException) { text = ""; return false; }
    }

    private static float[]? Numbers(JsonElement el, string field, int maxLength, out IResult? error)
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
