using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using OffRL.Algorithms;
using OffRL.Bandits;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.IO;
using OffRL.Nn;
using OffRL.Tensors;
using PureHDF;
using Xunit;
using Xunit.Abstractions;
using OffRL.Serving;

namespace OffRL.Tests.Data;

/// <summary>
/// Property tests of every reader: FsCheck draws a corruption of a valid file (truncate, flip header bytes, drop or
/// retype a column, null a cell, change a width, duplicate a name, add an alias chain, put NaN or a value out of range)
/// and the reader must give a clear error naming the file, or exactly the valid file's values; never an unhandled
/// exception, never a silent difference. OFFRL_FUZZ_RUNS sets the cases per format (CI: 200);
/// <c>bench/fuzz.sh</c> runs a longer campaign and prints the counts this suite writes to OFFRL_FUZZ_REPORT.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Fixtures.TempDir();
    private readonly List<string> _problems = [];
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    private static int Runs => int.TryParse(Environment.GetEnvironmentVariable("OFFRL_FUZZ_RUNS"), out var n) && n > 0 ? n : 200;

    private enum Outcome { ClearError, Same, Unhandled, SilentDifference }

    /// <summary>Reads a mutated file and classifies what the reader did.</summary>
    private Outcome Classify<T>(string path, Func<string, T> read, Func<T, bool> sameAsValid, string mutation, List<string> problems)
    {
        try
        {
            var v = read(path);
            if (sameAsValid(v)) return Outcome.Same;
            problems.Add($"silent difference: {mutation}");
            return Outcome.SilentDifference;
        }
        catch (Exception e) when (e is DataException or InvalidDataException or ArgumentException or IOException or FormatException)
        {
            // Clear: one line that names the file (by its path or its name).
            string msg = e.Message;
            if (!msg.Contains('\n') && (msg.Contains(path) || msg.Contains(Path.GetFileName(path)) || e is DataException { File: not null } d && d.File == path)) return Outcome.ClearError;
            problems.Add($"unclear error ({e.GetType().Name}: {msg}) for {mutation}");
            return Outcome.Unhandled;
        }
        catch (Exception e)
        {
            problems.Add($"unhandled {e.GetType().Name}: {e.Message} for {mutation}");
            return Outcome.Unhandled;
        }
    }

    /// <summary>Runs <see cref="Runs"/> FsCheck cases of one format; fails listing every problem; reports the counts.</summary>
    private void Campaign<TMut>(string format, Gen<TMut> mutations, Func<TMut, string, string> apply, Func<string, Outcome> check)
    {
        var counts = new Dictionary<Outcome, int>();
        var problems = _problems;
        int tried = 0;
        var prop = Prop.ForAll(mutations.ToArbitrary(), m =>
        {
            var path = Path.Combine(_dir, $"{format}-{tried++}{Path.GetExtension(format)}");
            var description = apply(m, path);
            var o = check(path + "|" + description);
            counts[o] = counts.GetValueOrDefault(o) + 1;
            try { File.Delete(path); } catch { }
            return o is Outcome.ClearError or Outcome.Same;
        });
        // Every case runs (no shrinking stops the count early): failures are collected, then asserted together.
        try { Check.One(Config.Quick.WithMaxTest(Runs).WithQuietOnSuccess(true).WithReplay(1234UL, 0x9E3779B97F4A7C15UL), prop); } catch { }
        string line = $"{format}: {tried} inputs, {counts.GetValueOrDefault(Outcome.ClearError)} clear errors, {counts.GetValueOrDefault(Outcome.Same)} same values, " +
                      $"{counts.GetValueOrDefault(Outcome.Unhandled)} unhandled, {counts.GetValueOrDefault(Outcome.SilentDifference)} silent differences";
        output.WriteLine(line);
        if (Environment.GetEnvironmentVariable("OFFRL_FUZZ_REPORT") is { Length: > 0 } report) File.AppendAllText(report, line + "\n");
        Assert.True(problems.Count == 0, line + "\n" + string.Join("\n", problems.Distinct().Take(20)));
        Assert.Equal(0, counts.GetValueOrDefault(Outcome.Unhandled) + counts.GetValueOrDefault(Outcome.SilentDifference));
    }

    private static bool SameDataset(Dataset a, Dataset b) =>
        a.Count == b.Count && a.ObservationDim == b.ObservationDim && a.ActionDim == b.ActionDim
        && a.Observations.SequenceEqual(b.Observations) && a.Actions.SequenceEqual(b.Actions) && a.Rewards.SequenceEqual(b.Rewards)
        && a.Terminals.SequenceEqual(b.Terminals) && a.Timeouts.SequenceEqual(b.Timeouts)
        && a.HasBehaviorLogProbs == b.HasBehaviorLogProbs && (!a.HasBehaviorLogProbs || a.BehaviorLogProbs.SequenceEqual(b.BehaviorLogProbs));

    private static string Part(string tagged, out string path)
    {
        int bar = tagged.IndexOf('|');
        path = tagged[..bar];
        return tagged[(bar + 1)..];
    }

    // ---------------- CSV datasets ----------------

    private static readonly string[] CsvHeader = ["obs_0", "obs_1", "act_0", "reward", "terminal", "timeout"];

    private static List<string[]> CsvCells()
    {
        var d = Fixtures.Small();
        var rows = new List<string[]>();
        for (int i = 0; i < d.Count; i++)
            rows.Add([F(d.Observation(i)[0]), F(d.Observation(i)[1]), F(d.Action(i)[0]), F(d.Rewards[i]), d.Terminals[i] ? "1" : "0", d.Timeouts[i] ? "1" : "0"]);
        return rows;
        static string F(float x) => x.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void CsvDatasetCorruptionsAreClearErrorsOrTheSameValues()
    {
        var valid = Fixtures.Small();
        var kinds = new[] { "drop", "duplicate-name", "empty-cell", "retype", "nan", "inf", "extra-field", "missing-field", "unclosed-quote", "header-only", "blank-lines", "flag-2", "huge" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, 8)).Zip(Gen.Choose(0, 5));
        Campaign("dataset.csv", gen, (m, path) =>
        {
            var ((kind, row), col) = m;
            var header = (string[])CsvHeader.Clone();
            var cells = CsvCells();
            // Observation columns are found by their prefix (dropping one is a narrower dataset) and timeout is optional
            // (dropping it is a dataset without timeouts): drop a required one.
            int dropCol = new[] { 2, 3, 4 }[col % 3];
            switch (kind)
            {
                case "drop": header = header.Where((_, j) => j != dropCol).ToArray(); cells = cells.Select(r => r.Where((_, j) => j != dropCol).ToArray()).ToList(); break;
                case "duplicate-name": header[col] = header[(col + 1) % header.Length]; break;
                case "empty-cell": cells[row][col] = ""; break;
                case "retype": cells[row][col] = "abc"; break;
                case "nan": cells[row][col] = "NaN"; break;
                case "inf": cells[row][col] = "-Infinity"; break;
                case "extra-field": cells[row] = [.. cells[row], "1"]; break;
                case "missing-field": cells[row] = cells[row][..^1]; break;
                case "unclosed-quote": cells[row][col] = "\"1"; break;
                case "header-only": cells.Clear(); break;
                case "flag-2": cells[row][4 + col % 2] = "2"; break;
                case "huge": cells[row][col] = "1e39"; break;
            }
            var sb = new StringBuilder(string.Join(",", header)).Append('\n');
            foreach (var r in cells) { sb.Append(string.Join(",", r)).Append('\n'); if (kind == "blank-lines") sb.Append('\n'); }
            File.WriteAllText(path, sb.ToString());
            return $"{kind} row {row} col {col}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, p => CsvImport.Read(p, new CsvMapping()), d => SameDataset(d, valid), what, _problems);
        });
    }

    // ---------------- Parquet datasets ----------------

    [Fact]
    public void ParquetCorruptionsAreClearErrorsOrTheSameValues()
    {
        var valid = Fixtures.Small();
        var validPath = Path.Combine(_dir, "valid.parquet");
        ParquetFormat.Write(valid, validPath);
        var bytes = File.ReadAllBytes(validPath);
        var kinds = new[] { "truncate", "null-list", "width", "step", "null-logp", "drop", "retype", "nan", "rewrite" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, 8)).Zip(Gen.Choose(1, bytes.Length - 1));
        Campaign("dataset.parquet", gen, (m, path) =>
        {
            var ((kind, row), cut) = m;
            if (kind == "truncate") { File.WriteAllBytes(path, bytes[..cut]); return $"truncate at {cut}/{bytes.Length}"; }
            var res = Parquet.Serialization.ParquetSerializer.DeserializeAsync<ParquetFormat.Row>(validPath).GetAwaiter().GetResult();
            var rows = res.Data;
            var meta = res.CustomMetadata;
            switch (kind)
            {
                case "null-list": rows[row].observation = null!; break;
                case "width": rows[row].action = [0.1f, 0.2f]; break;
                case "step": rows[row].step += 5; break;
                case "null-logp": for (int i = 0; i < rows.Count; i++) rows[i].behavior_log_prob = i == row ? null : -1f; break;
                case "nan": rows[row].reward = float.NaN; break;
                case "drop":
                    // Without its reward column (written as another record type).
                    Parquet.Serialization.ParquetSerializer.SerializeAsync(rows.Select(r => new NoReward
                        { episode = r.episode, step = r.step, observation = r.observation, action = r.action, terminal = r.terminal, timeout = r.timeout }).ToList(),
                        path, null, meta).GetAwaiter().GetResult();
                    return "drop reward";
                case "retype":
                    Parquet.Serialization.ParquetSerializer.SerializeAsync(rows.Select(r => new DoubleReward
                        { episode = r.episode, step = r.step, observation = r.observation, action = r.action, reward = r.reward, terminal = r.terminal, timeout = r.timeout }).ToList(),
                        path, null, meta).GetAwaiter().GetResult();
                    return "reward as double";
            }
            Parquet.Serialization.ParquetSerializer.SerializeAsync(rows, path, null, meta).GetAwaiter().GetResult();
            return $"{kind} row {row}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, ParquetFormat.Read, d => SameDataset(d, valid), what, _problems);
        });
    }

    private sealed class NoReward
    {
        public int episode { get; set; }
        public int step { get; set; }
        public float[] observation { get; set; } = [];
        public float[] action { get; set; } = [];
        public bool terminal { get; set; }
        public bool timeout { get; set; }
    }

    private sealed class DoubleReward
    {
        public int episode { get; set; }
        public int step { get; set; }
        public float[] observation { get; set; } = [];
        public float[] action { get; set; } = [];
        public double reward { get; set; }
        public bool terminal { get; set; }
        public bool timeout { get; set; }
    }

    // ---------------- HDF5 (D4RL layout) ----------------

    [Fact]
    public void Hdf5CorruptionsAreClearErrorsOrTheSameValues()
    {
        var valid = Fixtures.Small();
        var validPath = Path.Combine(_dir, "valid.hdf5");
        D4rl.Write(valid, validPath);
        var bytes = File.ReadAllBytes(validPath);
        var kinds = new[] { "truncate", "drop", "rows", "flag", "nan", "rank", "int-overflow", "signed" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, 4)).Zip(Gen.Choose(1, bytes.Length - 1));
        var keys = new[] { "observations", "actions", "rewards", "terminals", "timeouts" };
        Campaign("dataset.hdf5", gen, (m, path) =>
        {
            var ((kind, k), cut) = m;
            if (kind == "truncate") { File.WriteAllBytes(path, bytes[..cut]); return $"truncate at {cut}/{bytes.Length}"; }
            int n = valid.Count;
            var obs = new float[n, 2]; var act = new float[n, 1];
            for (int i = 0; i < n; i++) { obs[i, 0] = valid.Observation(i)[0]; obs[i, 1] = valid.Observation(i)[1]; act[i, 0] = valid.Action(i)[0]; }
            var file = new H5File
            {
                ["observations"] = obs, ["actions"] = act, ["rewards"] = valid.Rewards.ToArray(),
                ["terminals"] = valid.Terminals.ToArray(), ["timeouts"] = valid.Timeouts.ToArray(),
            };
            switch (kind)
            {
                case "drop": file.Remove(keys[k]); break;
                case "rows": file["rewards"] = valid.Rewards[..^1].ToArray(); break;
                case "flag": file["terminals"] = valid.Terminals.ToArray().Select(t => t ? (byte)2 : (byte)0).ToArray(); break;
                case "nan": obs[k, 1] = float.NaN; break;
                case "rank": file["rewards"] = new float[n, 2, 1]; break;
                case "int-overflow": file["rewards"] = Enumerable.Range(0, n).Select(i => i == k ? long.MaxValue : 1L).ToArray(); break;
                case "signed": file["terminals"] = Enumerable.Range(0, n).Select(i => i == k ? (sbyte)-1 : (sbyte)0).ToArray(); break;
            }
            file.Write(path);
            return $"{kind} {k}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, p => D4rl.Read(p), d => SameDataset(d, valid), what, _problems);
        });
    }

    // ---------------- well-formed but wrong: spaces, widths, environment ----------------

    /// <summary>
    /// Files that parse but mean nothing: bounds NaN, beyond ±1e6, reversed or of different lengths; discrete counts below 1
    /// or beyond the limit; spaces whose kind or width is not the data's; extras names repeated or widths that overflow;
    /// bounds other than the environment's; actions outside its range. Every one must be a clear error (read and fitted
    /// to pendulum, whose torque is in [-2, 2]); a file read without one is a silent difference.
    /// </summary>
    [Fact]
    public void WellFormedButWrongSpacesAreClearErrors()
    {
        var valid = OffRL.Runs.Recipes.Collect(null, "pendulum", 40, 7);
        var validPath = Path.Combine(_dir, "valid-semantics.parquet");
        ParquetFormat.Write(valid, validPath);
        var res = Parquet.Serialization.ParquetSerializer.DeserializeAsync<ParquetFormat.Row>(validPath).GetAwaiter().GetResult();
        var meta0 = res.CustomMetadata![ParquetFormat.MetadataKey];
        var kinds = new[] { "nan-bound", "huge-bound", "reversed", "lengths", "inf-low-as-high", "discrete-0", "discrete-huge", "discrete-kind",
            "obs-width", "act-width", "extras-dup", "extras-overflow", "extras-count", "env-bounds", "env-range", "env-discrete", "hdf5-bounds", "hdf5-width" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, valid.Count - 1)).Zip(Gen.Choose(1, 1 << 30));
        Campaign("semantics.parquet", gen, (m, path) =>
        {
            var ((kind, row), big) = m;
            var meta = JsonNode(meta0);
            string Key(string snake) => meta.Select(kv => kv.Key).First(k => string.Equals(k, snake.Replace("_", ""), StringComparison.OrdinalIgnoreCase));
            var act = meta[Key("action_space")]!.AsObject();
            var rows = Parquet.Serialization.ParquetSerializer.DeserializeAsync<ParquetFormat.Row>(validPath).GetAwaiter().GetResult().Data;
            float bound = 1e6f + big;
            switch (kind)
            {
                case "nan-bound": act["Low"] = new System.Text.Json.Nodes.JsonArray("NaN"); break;
                case "huge-bound": act["High"] = new System.Text.Json.Nodes.JsonArray(bound * 1e20f); break;
                case "reversed": act["Low"] = new System.Text.Json.Nodes.JsonArray(2f); act["High"] = new System.Text.Json.Nodes.JsonArray(-2f); break;
                case "lengths": act["High"] = new System.Text.Json.Nodes.JsonArray(2f, 2f); break;
                case "inf-low-as-high": act["Low"] = new System.Text.Json.Nodes.JsonArray("Infinity"); break;
                case "discrete-0": meta[Key("action_space")] = new System.Text.Json.Nodes.JsonObject { ["type"] = "discrete", ["N"] = 0 }; break;
                case "discrete-huge": meta[Key("action_space")] = new System.Text.Json.Nodes.JsonObject { ["type"] = "discrete", ["N"] = big + (1 << 20) }; break;
                case "discrete-kind": meta[Key("action_space")] = new System.Text.Json.Nodes.JsonObject { ["type"] = "discrete", ["N"] = 2 + big % 5 }; break;
                case "obs-width": meta[Key("observation_space")]!["Low"]!.AsArray().Add(-1f); meta[Key("observation_space")]!["High"]!.AsArray().Add(1f); break;
                case "act-width": act["Low"]!.AsArray().Add(-2f); act["High"]!.AsArray().Add(2f); break;
                case "extras-dup": meta[Key("extra_names")] = new System.Text.Json.Nodes.JsonArray("a", "a"); meta[Key("extra_widths")] = new System.Text.Json.Nodes.JsonArray(1, 1); break;
                case "extras-overflow": meta[Key("extra_names")] = new System.Text.Json.Nodes.JsonArray("a", "b"); meta[Key("extra_widths")] = new System.Text.Json.Nodes.JsonArray(int.MaxValue - big % 7, big); break;
                case "extras-count": meta[Key("extra_names")] = new System.Text.Json.Nodes.JsonArray("a"); meta[Key("extra_widths")] = new System.Text.Json.Nodes.JsonArray(1, 2); break;
                case "env-bounds":
                    act["Low"] = new System.Text.Json.Nodes.JsonArray(-3f); act["High"] = new System.Text.Json.Nodes.JsonArray(3f); break;
                case "env-range":
                    // Undeclared bounds (as a CSV file's) with one action far outside pendulum's range.
                    act["Low"] = new System.Text.Json.Nodes.JsonArray("-Infinity"); act["High"] = new System.Text.Json.Nodes.JsonArray("Infinity");
                    meta[Key("info")]![Key2(meta[Key("info")]!.AsObject(), "spaces_guessed")] = true;
                    rows[row].action = [50f + big % 100];
                    break;
                case "env-discrete": meta[Key("action_space")] = new System.Text.Json.Nodes.JsonObject { ["type"] = "discrete", ["N"] = 3 }; for (int i = 0; i < rows.Count; i++) rows[i].action = [i % 3]; break;
                case "hdf5-bounds" or "hdf5-width":
                {
                    var h = new H5File
                    {
                        ["observations"] = new float[valid.Count, 3], ["actions"] = new float[valid.Count, 1], ["rewards"] = valid.Rewards.ToArray(),
                        ["terminals"] = valid.Terminals.ToArray(), ["timeouts"] = valid.Timeouts.ToArray(),
                    };
                    h.Attributes["observation_space"] = "{\"type\":\"box\",\"Low\":[-1,-1,-8],\"High\":[1,1,8]}";
                    h.Attributes["action_space"] = kind == "hdf5-width" ? "{\"type\":\"box\",\"Low\":[-2,-2],\"High\":[2,2]}" : $"{{\"type\":\"box\",\"Low\":[-2],\"High\":[{(big % 2 == 0 ? "\"NaN\"" : "-3")}]}}";
                    h.Write(path);
                    return kind;
                }
            }
            var kv = new Dictionary<string, string>(res.CustomMetadata) { [ParquetFormat.MetadataKey] = meta.ToJsonString() };
            Parquet.Serialization.ParquetSerializer.SerializeAsync(rows, path, null, kv).GetAwaiter().GetResult();
            return $"{kind} row {row} value {big}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            var file = what.StartsWith("hdf5") ? Path.ChangeExtension(path, ".hdf5") : path;
            if (file != path) File.Move(path, file);
            try { return Classify(file, p => OffRL.Runs.Recipes.FitToEnv(DatasetFile.Read(p), "pendulum"), _ => false, what, _problems); }
            finally { if (file != path) File.Move(file, path); }
        });
    }

    /// <summary>
    /// Bandit logs whose ids, positions and propensities are numbers of the right type but not ones a log can hold
    /// (an id or position past the declared limits or negative, a propensity outside (0, 1]): each a clear error
    /// naming the file, never a table sized by the bad value.
    /// </summary>
    [Fact]
    public void WellFormedButWrongBanditIdsAreClearErrors()
    {
        var kinds = new[] { "action-huge", "action-negative", "position-huge", "position-negative", "propensity-zero", "propensity-above-one", "propensity-negative" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, 4)).Zip(Gen.Choose(0, int.MaxValue - OffRL.Evaluation.BanditFeedback.MaxActions));
        Campaign("ids.csv", gen, (m, path) =>
        {
            var ((kind, row), big) = m;
            var lines = new List<string> { "action,position,reward,propensity,x0" };
            for (int i = 0; i < 5; i++)
            {
                string a = "1", pos = "0", prop = "0.5";
                if (i == row)
                    switch (kind)
                    {
                        case "action-huge": a = (OffRL.Evaluation.BanditFeedback.MaxActions + (long)big).ToString(); break;
                        case "action-negative": a = (-1L - big).ToString(); break;
                        case "position-huge": pos = (OffRL.Evaluation.BanditFeedback.MaxPositions + (long)big).ToString(); break;
                        case "position-negative": pos = (-1L - big).ToString(); break;
                        case "propensity-zero": prop = "0"; break;
                        case "propensity-above-one": prop = (1.0 + 1.0 / (1 + big % 1000)).ToString(System.Globalization.CultureInfo.InvariantCulture); break;
                        case "propensity-negative": prop = (-0.5 - big % 7).ToString(System.Globalization.CultureInfo.InvariantCulture); break;
                    }
                lines.Add($"{a},{pos},{i % 2},{prop},0.{i}");
            }
            File.WriteAllText(path, string.Join("\n", lines) + "\n");
            return $"{kind} row {row} value {big}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, p => OffRL.Evaluation.BanditFeedback.ReadCsv(p), _ => false, what, _problems);
        });
    }

    /// <summary>
    /// Generator states as checkpoints store them (S0..S3, HasSpare, Spare): xoshiro's forbidden all-zero state, a
    /// cached normal that is not finite, missing or mistyped fields are clear errors naming the file and field; a valid
    /// state reads back exactly (a resumed run must never hang or draw from a broken generator).
    /// </summary>
    [Fact]
    public void WellFormedButWrongGeneratorStatesAreClearErrors()
    {
        var kinds = new[] { "valid", "all-zero", "spare-nan", "spare-inf", "missing-word", "word-text", "word-negative", "not-object" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, 3)).Zip(Gen.Choose(1, int.MaxValue));
        var expected = new Dictionary<string, OffRL.Tensors.RngState>();
        Campaign("rng.json", gen, (m, path) =>
        {
            var ((kind, word), seed) = m;
            var valid = new OffRL.Tensors.Rng((ulong)seed).GetState();
            var o = new System.Text.Json.Nodes.JsonObject
            {
                ["S0"] = valid.S0, ["S1"] = valid.S1, ["S2"] = valid.S2, ["S3"] = valid.S3, ["HasSpare"] = true, ["Spare"] = 0.25,
            };
            string key = $"S{word}";
            switch (kind)
            {
                case "all-zero": foreach (var k in new[] { "S0", "S1", "S2", "S3" }) o[k] = 0UL; break;
                case "spare-nan": o["Spare"] = "NaN"; break;
                case "spare-inf": o["Spare"] = "Infinity"; break;
                case "missing-word": o.Remove(key); break;
                case "word-text": o[key] = "zero"; break;
                case "word-negative": o[key] = -1L - seed; break;
            }
            File.WriteAllText(path, kind == "not-object" ? "[1, 2, 3]" : o.ToJsonString());
            if (kind == "valid") expected[path] = valid with { HasSpare = true, Spare = 0.25 };
            return $"{kind} word {word} seed {seed}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, p => OffRL.Algorithms.Agent.ReadRngState(File.ReadAllText(p), p, "rng"),
                s => expected.TryGetValue(path, out var e) && s == e, what, _problems);
        });
    }

    private static string Key2(System.Text.Json.Nodes.JsonObject o, string snake) =>
        o.Select(kv => kv.Key).FirstOrDefault(k => string.Equals(k, snake.Replace("_", ""), StringComparison.OrdinalIgnoreCase)) ?? "SpacesGuessed";

    // ---------------- safetensors ----------------

    [Fact]
    public void SafetensorsCorruptionsAreClearErrorsOrTheSameValues()
    {
        var net = new Mlp(3, [4], 2, new Rng(1));
        var validPath = Path.Combine(_dir, "valid.safetensors");
        net.Save(validPath);
        var bytes = File.ReadAllBytes(validPath);
        int headerEnd = 8 + (int)BitConverter.ToUInt64(bytes, 0);
        var expected = net.NamedParameters().Select(p => p.Value.Data.ToArray()).ToList();
        var kinds = new[] { "truncate", "flip-header", "length", "drop-data" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, headerEnd - 1)).Zip(Gen.Choose(1, 255));
        Campaign("model.safetensors", gen, (m, path) =>
        {
            var ((kind, at), value) = m;
            var b = (byte[])bytes.Clone();
            switch (kind)
            {
                case "truncate": b = b[..Math.Max(1, at * (bytes.Length - 1) / Math.Max(1, headerEnd - 1))]; break;
                case "flip-header": b[Math.Max(8, at)] ^= (byte)value; break;
                case "length": b[at % 8] ^= (byte)value; break;
                case "drop-data": b = b[..(bytes.Length - 4 * (1 + at % 4))]; break;
            }
            File.WriteAllBytes(path, b);
            return $"{kind} at {at} ^ {value}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, p =>
            {
                var fresh = new Mlp(3, [4], 2, new Rng(99));
                fresh.Load(p);
                return fresh.NamedParameters().Select(x => x.Value.Data.ToArray()).ToList();
            }, got => got.Count == expected.Count && got.Zip(expected).All(z => z.First.SequenceEqual(z.Second)), what, _problems);
        });
    }

    // ---------------- config files (YAML) ----------------

    [Fact]
    public void ConfigFileCorruptionsAreClearErrorsOrTheSameValues()
    {
        var spec = AlgorithmRegistry.Find("td3bc");
        string[] lines = ["tau: 0.01", "batch_size: 64", "hidden: [32, 32]", "alpha: 2.0", "policy_freq: 3"];
        var validPath = Path.Combine(_dir, "valid.yaml");
        File.WriteAllText(validPath, string.Join("\n", lines));
        string Json(AgentConfig c) => JsonSerializer.Serialize(c, c.GetType(), ConfigFile.JsonOptions);
        var expected = Json(AlgorithmRegistry.Config(spec, ConfigFile.Overrides(validPath, null)));
        var kinds = new[] { "duplicate", "alias-chain", "unknown", "retype", "nan", "negative", "zero", "reorder", "tab", "truncate", "list-retype" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, lines.Length - 1)).Zip(Gen.Choose(2, 12));
        Campaign("run.yaml", gen, (m, path) =>
        {
            var ((kind, i), depth) = m;
            var l = lines.ToList();
            string key = l[i].Split(':')[0];
            switch (kind)
            {
                case "duplicate": l.Add(l[i]); break;
                case "alias-chain":
                    l.Add("x0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]");
                    for (int d = 1; d <= depth; d++) l.Add($"x{d}: &x{d} [{string.Join(", ", Enumerable.Repeat($"*x{d - 1}", 10))}]");
                    break;
                case "unknown": l[i] = key + "_typo: 1"; break;
                case "retype": l[i] = key + ": abc"; break;
                case "nan": l[i] = key + ": .nan"; break;
                case "negative": l[i] = key + ": -5"; break;
                case "zero": l[i == 3 ? 0 : i] = (i == 3 ? "tau" : key) + ": 0"; break;   // alpha 0 is valid (pure BC)
                case "reorder": l.Reverse(); break;
                case "tab": l[i] = "\t" + l[i]; break;
                case "truncate": l[i] = l[i][..Math.Max(1, l[i].Length - depth)]; break;
                case "list-retype": l[2] = "hidden: [32, x]"; break;
            }
            File.WriteAllText(path, string.Join("\n", l));
            return $"{kind} line {i + 1} depth {depth}: {string.Join(" | ", l).Replace("\n", " ")[..Math.Min(120, string.Join(" | ", l).Length)]}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, p => Json(ConfigFile.Naming(p, null, () => AlgorithmRegistry.Config(spec, ConfigFile.Overrides(p, null)))),
                got => got == expected, what, _problems);
        });
    }

    // ---------------- bandit policy files ----------------

    [Fact]
    public void BanditPolicyCorruptionsAreClearErrorsOrTheSameValues()
    {
        var policy = BanditPolicy.Create(new BanditLearnerConfig { Algo = "squarecb" }, 2, ["a", "b", "c"]);
        var rng = new Rng(5);
        for (int t = 0; t < 30; t++)
        {
            var c = new BanditContext([rng.Normal(), rng.Normal()], JointFeatures.Arms(policy.Arms));
            var d = policy.Learner.Decide(c, rng);
            policy.Learner.Observe(c, d.Index, d.Index == 0 ? 1 : 0);
        }
        policy.Learner.Flush();
        var validPath = Path.Combine(_dir, "valid.json");
        policy.Save(validPath);
        var text = File.ReadAllText(validPath);
        var root = JsonNode(text);
        string Probe(BanditPolicy p)
        {
            var probs = new float[3];
            p.Learner.Probabilities(new BanditContext([0.5f, -1f], JointFeatures.Arms(["a", "b", "c"])), probs, new Rng(0));
            return string.Join(",", probs) + "|" + string.Join(",", p.Arms) + "|" + p.Learner.Decisions;
        }
        var expected = Probe(BanditPolicy.Load(validPath));
        var topFields = root.Select(kv => kv.Key).ToArray();
        var configFields = root["config"]!.AsObject().Where(kv => kv.Value is System.Text.Json.Nodes.JsonValue v && v.GetValueKind() == JsonValueKind.Number).Select(kv => kv.Key).ToArray();
        var kinds = new[] { "truncate", "drop-field", "config-nan", "config-negative", "duplicate-arm", "state-nan", "state-width", "format", "dims", "indent" };
        var gen = Gen.Elements(kinds).Zip(Gen.Choose(0, 100)).Zip(Gen.Choose(1, text.Length - 1));
        Campaign("policy.json", gen, (m, path) =>
        {
            var ((kind, i), cut) = m;
            var node = JsonNode(text);
            switch (kind)
            {
                case "truncate": File.WriteAllText(path, text[..cut]); return $"truncate at {cut}";
                case "drop-field": node.Remove(topFields[i % topFields.Length]); break;
                case "config-nan": node["config"]![configFields[i % configFields.Length]] = "NaN"; break;
                case "config-negative": node["config"]![configFields[i % configFields.Length]] = -3; break;
                case "duplicate-arm": node["arms"]![1] = "a"; break;
                case "state-nan":
                {
                    var state = node["state"]!.AsObject().First();
                    var arr = state.Value!.AsArray();
                    arr[i % arr.Count] = "NaN";
                    break;
                }
                case "state-width":
                {
                    var arr = node["state"]!.AsObject().First().Value!.AsArray();
                    arr.RemoveAt(arr.Count - 1);
                    break;
                }
                case "format": node["format"] = "something-else"; break;
                case "dims": node["context_dim"] = i % 2 == 0 ? -1 : 5; break;
                case "indent": File.WriteAllText(path, JsonNode(text).ToJsonString(new JsonSerializerOptions { WriteIndented = true })); return "re-indented";
            }
            File.WriteAllText(path, node.ToJsonString());
            return $"{kind} {i}";
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, p => Probe(BanditPolicy.Load(p)), got => got == expected, what, _problems);
        });
    }

    // ---------------- decision logs (SQLite) ----------------

    [Fact]
    public void DecisionLogCorruptionsAreClearErrorsOrTheSameValues()
    {
        var validPath = Path.Combine(_dir, "valid.db");
        using (var log = new DecisionLog(validPath))
        {
            var rng = new Rng(9);
            var arms = JointFeatures.Arms(["a", "b", "c"]);
            for (int i = 0; i < 12; i++)
            {
                var record = new DecisionRecord($"e{i}", i, [rng.Normal(), rng.Normal()], arms, i % 3, 0.25f + 0.05f * (i % 3), [0.3f, 0.3f, 0.4f], "p");
                log.AppendDecision(record).GetAwaiter().GetResult();
                if (i % 4 != 3) log.AppendReward($"e{i}", i % 2, i).GetAwaiter().GetResult();
            }
        }
        var bytes = File.ReadAllBytes(validPath);
        var (valid, validIds) = DecisionLog.ToFeedback(validPath);
        string[] updates =
        [
            "UPDATE decisions SET probability = 2 WHERE seq = {0}",
            "UPDATE decisions SET probability = 0 WHERE seq = {0}",
            "UPDATE decisions SET chosen = 7 WHERE seq = {0}",
            "UPDATE decisions SET chosen = -1 WHERE seq = {0}",
            "UPDATE decisions SET context = '[1, 2' WHERE seq = {0}",
            "UPDATE decisions SET context = '[1, 2, 3]' WHERE seq = {0}",
            "UPDATE decisions SET actions = '[]' WHERE seq = {0}",
            "UPDATE decisions SET actions = 'null' WHERE seq = {0}",
            "UPDATE decisions SET probability = 'abc' WHERE seq = {0}",
            "UPDATE rewards SET reward = 'x' WHERE event_id = 'e{1}'",
            "DROP TABLE rewards",
            "ALTER TABLE decisions RENAME COLUMN context TO ctx",
        ];
        var gen = Gen.Choose(0, updates.Length).Zip(Gen.Choose(1, 12)).Zip(Gen.Choose(1, bytes.Length - 1));
        Campaign("decisions.db", gen, (m, path) =>
        {
            var ((k, seq), cut) = m;
            if (k == updates.Length) { File.WriteAllBytes(path, bytes[..cut]); return $"truncate at {cut}/{bytes.Length}"; }
            File.WriteAllBytes(path, bytes);
            var sql = string.Format(System.Globalization.CultureInfo.InvariantCulture, updates[k], seq, (seq - 1) % 12);
            using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
            {
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = sql;
                cmd.ExecuteNonQuery();
            }
            return sql;
        }, tagged =>
        {
            var what = Part(tagged, out var path);
            return Classify(path, DecisionLog.ToFeedback, got => got.ActionIds.SequenceEqual(validIds) && got.Logs.Count == valid.Count
                && got.Logs.Action.SequenceEqual(valid.Action) && got.Logs.Reward.SequenceEqual(valid.Reward)
                && got.Logs.Propensity.SequenceEqual(valid.Propensity) && got.Logs.Context.SequenceEqual(valid.Context), what, _problems);
        });
    }

    private static System.Text.Json.Nodes.JsonObject JsonNode(string text) => System.Text.Json.Nodes.JsonNode.Parse(text)!.AsObject();
}
