using System.Text.Json;

namespace OffRL.Envs;

/// <summary>
/// One of OffRL's environments over a line protocol (<c>offrl env serve</c>): JSON Lines in, JSON Lines out, so a
/// program in another language steps the very environment OffRL trains and evaluates in (the PyTorch references of
/// the online methods; Python has no MuJoCo bindings here). The first line out describes the environment:
/// <c>{"env", "observation_dim", "action_dim", "action_low", "action_high", "max_episode_steps"}</c> (actions are in the
/// environment's own range), and where the environment has them the normalized score's reference returns
/// (<c>"score_random"</c>, <c>"score_expert"</c>). Then one answer per request line:
/// <list type="bullet">
/// <item><c>{"reset": SEED}</c> (or <c>null</c>: the next episode of the environment's generator) -> <c>{"observation": [...]}</c></item>
/// <item><c>{"step": [a_1, ..., a_k]}</c> -> <c>{"observation": [...], "reward": r, "terminated": b, "truncated": b}</c>
/// (truncated: the time limit)</item>
/// </list>
/// Numbers are written in their shortest round-trip form, so a float32 crosses exactly. A request the server cannot
/// follow gets <c>{"error": "line N: ..."}</c> naming what is wrong, and the server goes on; the end of input ends it.
/// </summary>
public static class EnvServer
{
    /// <summary>Serves <paramref name="env"/> until <paramref name="input"/> ends; returns the number of requests refused.</summary>
    public static int Serve(IEnv env, string name, int maxEpisodeSteps, TextReader input, TextWriter output)
    {
        var box = env.ActionSpace as Box;
        int obsDim = env.ObservationSpace.Width, actDim = env.ActionSpace.Width;
        var obs = new float[obsDim];
        var act = new float[actDim];
        var buffer = new MemoryStream();
        var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        void Flush()
        {
            w.Flush();
            output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            output.Flush();
            buffer.SetLength(0);
            w.Reset(buffer);
        }
        void Floats(string key, ReadOnlySpan<float> values)
        {
            w.WriteStartArray(key);
            foreach (var v in values) w.WriteNumberValue(v);
            w.WriteEndArray();
        }
        w.WriteStartObject();
        w.WriteString("env", name);
        w.WriteNumber("observation_dim", obsDim);
        w.WriteNumber("action_dim", actDim);
        if (box is not null) { Floats("action_low", box.Low); Floats("action_high", box.High); }
        else w.WriteNumber("actions", ((Discrete)env.ActionSpace).N);
        w.WriteNumber("max_episode_steps", maxEpisodeSteps);
        if (NormalizedScore.TryGet(name, out var reference))
        {
            // the returns a normalized score is measured between (100 (return - random) / (expert - random))
            w.WriteNumber("score_random", reference.Random);
            w.WriteNumber("score_expert", reference.Expert);
        }
        w.WriteEndObject();
        Flush();

        int refused = 0, lineNo = 0;
        bool running = false;
        string? line;
        while ((line = input.ReadLine()) is not null)
        {
            lineNo++;
            if (line.Length == 0) continue;
            string? error = null;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("reset", out var seed))
                {
                    ulong? s = seed.ValueKind == JsonValueKind.Null ? null
                        : seed.TryGetUInt64(out var v) ? v : throw new FormatException($"'reset' must be a whole number >= 0 or null, got {seed.GetRawText()}");
                    env.Reset(s, obs);
                    running = true;
                    w.WriteStartObject(); Floats("observation", obs); w.WriteEndObject();
                }
                else if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("step", out var a))
                {
                    if (!running) throw new FormatException("'step' before 'reset' (or after the episode ended): reset first");
                    if (a.ValueKind != JsonValueKind.Array || a.GetArrayLength() != actDim)
                        throw new FormatException($"'step' must be an array of {actDim} numbers, got {a.GetRawText()}");
                    int i = 0;
                    foreach (var x in a.EnumerateArray())
                    {
                        if (x.ValueKind != JsonValueKind.Number || !float.IsFinite(act[i] = x.GetSingle()))
                            throw new FormatException($"'step' value {i} is not a finite number: {x.GetRawText()}");
                        i++;
                    }
                    var r = env.Step(act, obs);
                    running = !r.Done;
                    w.WriteStartObject();
                    Floats("observation", obs);
                    w.WriteNumber("reward", r.Reward);
                    w.WriteBoolean("terminated", r.Terminated);
                    w.WriteBoolean("truncated", r.Truncated);
                    w.WriteEndObject();
                }
                else throw new FormatException($"expected {{\"reset\": SEED}} or {{\"step\": [...]}}, got {(line.Length > 80 ? line[..80] + "..." : line)}");
            }
            catch (Exception e) when (e is JsonException or FormatException or ArgumentException or InvalidOperationException)
            {
                error = $"line {lineNo}: {e.Message}";
            }
            if (error is not null)
            {
                refused++;
                w.Reset(buffer);
                buffer.SetLength(0);
                w.WriteStartObject(); w.WriteString("error", error); w.WriteEndObject();
            }
            Flush();
        }
        return refused;
    }
}
