using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OffRL.Bandits;
using OffRL.Tensors;

namespace OffRL.Service;

public sealed record DecisionServiceOptions
{
    public required string PolicyPath { get; init; }
    /// <summary>SQLite decision log (created when missing, appended to otherwise).</summary>
    public string LogPath { get; init; } = "decisions.db";
    public string Urls { get; init; } = "http://127.0.0.1:5080";
    /// <summary>Keep learning from rewards as they arrive (and replay the log's rewards at start).</summary>
    public bool Learn { get; init; } = true;
    /// <summary>synchronous=FULL (survives machine crashes) or NORMAL (survives process crashes, faster).</summary>
    public bool SynchronousFull { get; init; } = true;
    public ulong Seed { get; init; } = 0;
    public Action<string>? Log { get; init; }
}

/// <summary>
/// The decision service: POST /decide {context, actions} -> {event_id, action, index, probability}; POST /reward
/// {event_id, reward}; GET /health. Every decision is committed to the durable log before it is answered, so what a
/// client was told is never lost; rewards are committed before they are acknowledged and then fed to the learner.
/// Bad requests get 400 with the field at fault, unknown event ids 404, a second reward for one event 409.
/// </summary>
public sealed class DecisionService : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DecisionLog _log;
    private readonly BanditPolicy _policy;
    private readonly DecisionServiceOptions _options;
    private readonly Rng _rng;
    private readonly object _gate = new();
    private readonly string _policyName;

    public string Url { get; private set; } = "";
    public BanditPolicy Policy => _policy;

    private DecisionService(WebApplication app, DecisionLog log, BanditPolicy policy, DecisionServiceOptions options)
    {
        _app = app; _log = log; _policy = policy; _options = options;
        _rng = new Rng(options.Seed);
        _policyName = $"{policy.Learner.Name}@{Path.GetFileName(options.PolicyPath)}";
    }

    public static async Task<DecisionService> StartAsync(DecisionServiceOptions options, CancellationToken ct = default)
    {
        var policy = BanditPolicy.Load(options.PolicyPath);
        var log = new DecisionLog(options.LogPath, options.SynchronousFull);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("OFFRL_SERVE_DEBUG") == "1") builder.Logging.AddConsole();
        builder.WebHost.UseUrls(options.Urls);
        var app = builder.Build();
        var service = new DecisionService(app, log, policy, options);
        service.Replay();
        app.MapPost("/decide", (Func<HttpContext, Task<IResult>>)service.Decide);
        app.MapPost("/reward", (Func<HttpContext, Task<IResult>>)service.Reward);
        app.MapGet("/health", () => Results.Json(new
        {
            status = "ok", policy = service._policyName, decisions = log.DecisionCount, rewards = log.RewardCount, learning = options.Learn,
        }));
        await app.StartAsync(ct);
        service.Url = app.Urls.First();
        options.Log?.Invoke($"serving {service._policyName} on {service.Url}; log {options.LogPath} ({log.DecisionCount} decisions, {log.RewardCount} rewards)");
        return service;
    }

    /// <summary>Rebuild the learner's state from the log: every rewarded decision is learned again, in order.</summary>
    private void Replay()
    {
        if (!File.Exists(_options.LogPath) || _log.DecisionCount == 0) return;
        long n = 0, learned = 0;
        foreach (var (d, r) in DecisionLog.ReadAll(_options.LogPath))
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

    private async Task<IResult> Decide(HttpContext http)
    {
        using var doc = await ReadJson(http);
        if (doc is null) return Bad("body", "malformed JSON");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return Bad("body", "expected a JSON object {context, actions}");
        if (!root.TryGetProperty("context", out var ctxEl)) return Bad("context", "is missing");
        var context = Numbers(ctxEl, "context", out var err);
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
            actions = new CandidateAction[actEl.GetArrayLength()];
            var seen = new HashSet<string>();
            int i = 0;
            foreach (var a in actEl.EnumerateArray())
            {
                string field = $"actions[{i}]";
                string? id; float[]? features = null; float? known = null;
                if (a.ValueKind == JsonValueKind.String) id = a.GetString();
                else if (a.ValueKind == JsonValueKind.Object)
                {
                    id = a.TryGetProperty("id", out var idEl) && idEl.ValueKind == JsonValueKind.String ? idEl.GetString() : null;
                    if (id is null) return Bad(field + ".id", "is missing or not a string");
                    if (a.TryGetProperty("features", out var fEl))
                    {
                        features = Numbers(fEl, field + ".features", out err);
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
        if (!root.TryGetProperty("event_id", out var idEl) || idEl.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(idEl.GetString()))
            return Bad("event_id", "is missing or not a non-empty string");
        if (!root.TryGetProperty("reward", out var rEl)) return Bad("reward", "is missing");
        if (rEl.ValueKind != JsonValueKind.Number || !rEl.TryGetSingle(out float reward) || !float.IsFinite(reward)) return Bad("reward", "must be a finite number");
        string eventId = idEl.GetString()!;
        var (status, decision) = await _log.AppendReward(eventId, reward, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        switch (status)
        {
            case RewardStatus.UnknownEvent: return Results.Json(new { error = $"unknown event_id '{eventId}'", field = "event_id" }, statusCode: 404);
            case RewardStatus.AlreadyRewarded: return Results.Json(new { error = $"event '{eventId}' already has a reward", field = "event_id" }, statusCode: 409);
        }
        if (_options.Learn)
            lock (_gate) _policy.Learner.Observe(new BanditContext(decision!.Context, decision.Actions), decision.Chosen, reward);
        return Results.Json(new { event_id = eventId, status = "recorded" });
    }

    private static async Task<JsonDocument?> ReadJson(HttpContext http)
    {
        try { return await JsonDocument.ParseAsync(http.Request.Body); }
        catch (JsonException) { return null; }
    }

    private static float[]? Numbers(JsonElement el, string field, out IResult? error)
    {
        error = null;
        if (el.ValueKind != JsonValueKind.Array) { error = Bad(field, "must be an array of numbers"); return null; }
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
