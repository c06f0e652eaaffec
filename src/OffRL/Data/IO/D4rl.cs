using PureHDF;
using PureHDF.VOL.Native;
using OffRL.IO;

namespace OffRL.Data.IO;

/// <summary>
/// D4RL's HDF5 layout (Fu et al. 2020): observations [N, obs], actions [N, act], rewards [N], terminals [N],
/// timeouts [N], optional next_observations [N, obs] and infos/* (infos/action_log_probs becomes the behavior
/// log-probability column; the rest become extra columns named "infos/NAME"). Read and written with PureHDF.
/// OffRL also writes the spaces as JSON in the root attributes <c>observation_space</c> and <c>action_space</c> (as the
/// Parquet metadata holds them), so bounds survive a round trip; a file without them (D4RL's own) gets guessed spaces,
/// marked <see cref="DatasetInfo.SpacesGuessed"/>.
/// </summary>
public static class D4rl
{
    /// <summary>Root attributes holding the spaces as JSON.</summary>
    public const string ObservationSpaceAttribute = "observation_space", ActionSpaceAttribute = "action_space";

    public static Dataset Read(string path, bool truncateTail = false, Space? actionSpace = null) =>
        H5Read.Guard(path, () => ReadFile(path, truncateTail, actionSpace));

    private static Dataset ReadFile(string path, bool truncateTail, Space? actionSpace)
    {
        if (!File.Exists(path)) throw new DataException("file not found", path);
        NativeFile f;
        try { f = H5File.OpenRead(path); }
        catch (Exception e) { throw new DataException($"not a readable HDF5 file ({e.Message})", path); }
        using (f)
        {
            foreach (var key in new[] { "observations", "actions", "rewards", "terminals", "timeouts" })
                if (!f.LinkExists(key)) throw new DataException($"missing key '{key}' (a D4RL file has observations, actions, rewards, terminals, timeouts)", path, key);
            var (obs, od) = H5Read.Matrix(f, "observations", path);
            int n = obs.Length / Math.Max(1, od);
            var (act, ad) = H5Read.Matrix(f, "actions", path);
            var rew = H5Read.Vector(f, "rewards", path);
            var term = H5Read.Flags(f, "terminals", path);
            var tout = H5Read.Flags(f, "timeouts", path);
            float[]? next = null;
            if (f.LinkExists("next_observations"))
            {
                var (nx, nd) = H5Read.Matrix(f, "next_observations", path);
                if (nd != od) throw new DataException($"has width {nd}, observations have {od}", path, "next_observations");
                next = nx;
            }
            float[]? logp = null;
            var extras = new Dictionary<string, float[]>();
            if (f.LinkExists("infos"))
            {
                var infos = f.Group("infos");
                foreach (var child in infos.Children())
                {
                    if (child is not IH5Dataset) continue;
                    string name = "infos/" + child.Name;
                    var (v, _) = H5Read.Matrix(f, name, path);
                    if (child.Name == "action_log_probs" && v.Length == n) logp = v;
                    else extras[name] = v;
                }
            }
            var cols = new DatasetColumns
            {
                Observations = obs, Actions = act, Rewards = rew, Terminals = term, Timeouts = tout,
                NextObservations = next, BehaviorLogProbs = logp, Extras = extras,
            };
            string env = f.AttributeExists("env") ? SafeString(f, "env") : "";
            var info = new DatasetInfo(path, env);
            Space ospace, aspace;
            if (f.AttributeExists(ObservationSpaceAttribute) || f.AttributeExists(ActionSpaceAttribute))
            {
                ospace = DeclaredSpace(f, ObservationSpaceAttribute, path, od, "observations");
                aspace = actionSpace ?? DeclaredSpace(f, ActionSpaceAttribute, path, ad, "actions");
            }
            else
            {
                ospace = Box.Unbounded(od);
                aspace = actionSpace ?? GuessActionSpace(act, ad);
                if (actionSpace is null)
                {
                    info = info with { SpacesGuessed = true };
                    info.Processing.Add($"action space guessed from the actions as {aspace} (the file declares no spaces; an environment's replace it)");
                }
            }
            return new Dataset(cols, ospace, aspace, info, new Dataset.ValidationOptions(TruncateTail: truncateTail, File: path));
        }
    }

    /// <summary>A space declared in a root attribute: JSON as the Parquet metadata writes it, well formed, of the data's width.</summary>
    private static Space DeclaredSpace(NativeFile f, string attr, string path, int width, string dataKey)
    {
        if (!f.AttributeExists(attr)) throw new DataException($"root attribute is missing (a file that declares one space declares both: {ObservationSpaceAttribute}, {ActionSpaceAttribute})", path, attr);
        string json;
        try { json = f.Attribute(attr).Read<string>(); }
        catch (Exception e) { throw new DataException($"root attribute is not a string of JSON ({e.Message.ReplaceLineEndings(" ")})", path, attr); }
        Space? space;
        try { space = System.Text.Json.JsonSerializer.Deserialize<Space>(json, Nn.Module.JsonOptions); }
        catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException or InvalidOperationException or ArgumentException or FormatException)
        { throw new DataException($"root attribute is not a space in JSON ({e.Message.ReplaceLineEndings(" ")})", path, attr); }
        Space.Check(space, path, attr, "declared space");
        if (space!.Width != width) throw new DataException($"declares {space} of width {space.Width}, the '{dataKey}' dataset has width {width}", path, attr);
        return space;
    }

    private static string SafeString(NativeFile f, string attr)
    {
        try { return f.Attribute(attr).Read<string>(); } catch { return ""; }
    }

    /// <summary>Actions all inside [-1, 1] (as D4RL's MuJoCo tasks): Box(-1, 1); otherwise unbounded.</summary>
    private static Space GuessActionSpace(float[] act, int ad)
    {
        foreach (var v in act) if (v < -1f || v > 1f) return Box.Unbounded(ad);
        return Box.Uniform(ad, -1f, 1f);
    }

    public static void Write(Dataset d, string path)
    {
        int n = d.Count;
        var file = new H5File
        {
            ["observations"] = H5Read.ToMatrix(d.Observations, n, d.ObservationDim),
            ["actions"] = H5Read.ToMatrix(d.Actions, n, d.ActionDim),
            ["rewards"] = d.Rewards.ToArray(),
            ["terminals"] = d.Terminals.ToArray(),
            ["timeouts"] = d.Timeouts.ToArray(),
        };
        if (d.HasNextObservations) file["next_observations"] = H5Read.ToMatrix(d.NextObservations, n, d.ObservationDim);
        var infos = new H5Group();
        if (d.HasBehaviorLogProbs) infos["action_log_probs"] = d.BehaviorLogProbs.ToArray();
        foreach (var name in d.ExtraNames)
        {
            var key = name.StartsWith("infos/") ? name[6..] : name;
            infos[key] = H5Read.ToMatrix(d.Extra(name), n, d.ExtraWidth(name));
        }
        if (infos.Count > 0) file["infos"] = infos;
        if (d.Info.Env.Length > 0) file.Attributes["env"] = d.Info.Env;
        // Guessed spaces are not declared: the file reads back as guessed, as it was.
        if (!d.Info.SpacesGuessed)
        {
            file.Attributes[ObservationSpaceAttribute] = System.Text.Json.JsonSerializer.Serialize(d.ObservationSpace, Nn.Module.JsonOptions);
            file.Attributes[ActionSpaceAttribute] = System.Text.Json.JsonSerializer.Serialize(d.ActionSpace, Nn.Module.JsonOptions);
        }
        AtomicFile.Write(path, s => file.Write(s));
    }
}

/// <summary>Reading HDF5 datasets of any numeric type into float arrays, with errors that name the key.</summary>
internal static class H5Read
{
    /// <summary>Runs a read of an HDF5 file, turning what the HDF5 library throws on a damaged file into one error naming it.</summary>
    public static T Guard<T>(string file, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is not DataException) { throw new DataException($"could not be read as HDF5 ({e.Message.ReplaceLineEndings(" ")})", file); }
    }

    public static (float[] Values, int Width) Matrix(IH5Group g, string key, string file)
    {
        var ds = g.Dataset(key);
        var dims = ds.Space.Dimensions;
        if (dims.Length == 0 || dims.Length > 2) throw new DataException($"has rank {dims.Length}; expected [N] or [N, width]", file, key);
        int width = dims.Length == 2 ? checked((int)dims[1]) : 1;
        return (Floats(ds, key, file), width);
    }

    public static float[] Vector(IH5Group g, string key, string file)
    {
        var (v, w) = Matrix(g, key, file);
        if (w != 1) throw new DataException($"has width {w}; expected one value per row", file, key);
        return v;
    }

    public static bool[] Flags(IH5Group g, string key, string file)
    {
        var v = Vector(g, key, file);
        var b = new bool[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            if (v[i] != 0f && v[i] != 1f) throw new DataException($"value {v[i]} is not a flag (0 or 1)", file, key, i + 1);
            b[i] = v[i] != 0f;
        }
        return b;
    }

    /// <summary>
    /// A dataset's values as float32, converted exactly or refused: float32 as stored; float64 to the nearest float32
    /// (the one rounding OffRL does, as d3rlpy and CORL cast), refused beyond float32's range; signed and unsigned
    /// integers of 1, 2, 4 or 8 bytes by their signedness, refused beyond 2^24 where float32 stops being exact.
    /// </summary>
    public static float[] Floats(IH5Dataset ds, string key, string file)
    {
        var t = ds.Type;
        try
        {
            switch (t.Class)
            {
                case H5DataTypeClass.FloatingPoint when t.Size == 4: return ds.Read<float[]>();
                case H5DataTypeClass.FloatingPoint when t.Size == 8:
                {
                    var d = ds.Read<double[]>();
                    var f = new float[d.Length];
                    for (int i = 0; i < d.Length; i++)
                    {
                        f[i] = (float)d[i];
                        if (float.IsInfinity(f[i]) && double.IsFinite(d[i])) throw new DataException($"value {d[i]} is beyond float32's range", file, key, i / RowWidth(ds) + 1);
                    }
                    return f;
                }
                case H5DataTypeClass.FixedPoint or H5DataTypeClass.Enumerated when t.Size is 1 or 2 or 4 or 8:
                {
                    bool signed = t.Class == H5DataTypeClass.FixedPoint ? t.FixedPoint.IsSigned : false;
                    double[] v = (t.Size, signed) switch
                    {
                        (1, true) => Array.ConvertAll(ds.Read<sbyte[]>(), x => (double)x),
                        (1, false) => Array.ConvertAll(ds.Read<byte[]>(), x => (double)x),
                        (2, true) => Array.ConvertAll(ds.Read<short[]>(), x => (double)x),
                        (2, false) => Array.ConvertAll(ds.Read<ushort[]>(), x => (double)x),
                        (4, true) => Array.ConvertAll(ds.Read<int[]>(), x => (double)x),
                        (4, false) => Array.ConvertAll(ds.Read<uint[]>(), x => (double)x),
                        (8, true) => Array.ConvertAll(ds.Read<long[]>(), x => (double)x),
                        _ => Array.ConvertAll(ds.Read<ulong[]>(), x => (double)x),
                    };
                    var f = new float[v.Length];
                    for (int i = 0; i < v.Length; i++)
                    {
                        if (Math.Abs(v[i]) > 1 << 24) throw new DataException($"integer {v[i]:F0} is not exactly representable as float32 (|x| > 2^24)", file, key, i / RowWidth(ds) + 1);
                        f[i] = (float)v[i];
                    }
                    return f;
                }
            }
        }
        catch (Exception e) when (e is not DataException)
        {
            throw new DataException($"could not be read as numbers ({e.Message})", file, key);
        }
        throw new DataException($"has HDF5 type {t.Class} of {t.Size} bytes, which OffRL does not read (float32/64, integers of 1-8 bytes)", file, key);
    }

    private static int RowWidth(IH5Dataset ds) => ds.Space.Dimensions is { Length: 2 } d ? Math.Max(1, (int)d[1]) : 1;

    public static float[,] ToMatrix(ReadOnlySpan<float> v, int rows, int cols)
    {
        var m = new float[rows, cols];
        System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref m[0, 0], rows * cols).Clear();
        if (rows * cols > 0) v[..(rows * cols)].CopyTo(System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref m[0, 0], rows * cols));
        return m;
    }
}

/// <summary>
/// Minari datasets (Farama): an HDF5 file (data/main_data.hdf5 in a dataset folder) with one group per episode
/// ("episode_0", ...) holding observations [T+1, obs], actions [T, act], rewards [T], terminations [T] and
/// truncations [T]. Observation t+1 becomes the stored next observation of step t.
/// </summary>
public static class Minari
{
    public static Dataset Read(string path, Space? actionSpace = null) => H5Read.Guard(path, () => ReadFolder(path, actionSpace));

    private static Dataset ReadFolder(string path, Space? actionSpace)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "data", "main_data.hdf5") : path;
        if (!File.Exists(file)) throw new DataException("Minari data file not found (expected a dataset folder with data/main_data.hdf5, or the file)", file);
        using var f = H5File.OpenRead(file);
        var episodes = f.Children().Where(c => c.Name.StartsWith("episode_"))
            .Select(c => (Id: int.TryParse(c.Name.AsSpan(8), out var id) ? id : -1, c.Name))
            .OrderBy(e => e.Id).ToList();
        if (episodes.Count == 0) throw new DataException("no episode_N groups", file);
        var obs = new List<float>(); var next = new List<float>(); var act = new List<float>(); var rew = new List<float>();
        var term = new List<bool>(); var tout = new List<bool>();
        int od = -1, ad = -1;
        foreach (var (_, name) in episodes)
        {
            var g = f.Group(name);
            foreach (var key in new[] { "observations", "actions", "rewards", "terminations", "truncations" })
                if (!g.LinkExists(key)) throw new DataException($"missing key '{key}'", file, $"{name}/{key}");
            if (g.Get("observations") is not IH5Dataset)
                throw new DataException("is a group (dictionary observations); OffRL reads vector observations", file, $"{name}/observations");
            var (o, w) = H5Read.Matrix(g, "observations", file);
            var (a, aw) = H5Read.Matrix(g, "actions", file);
            var r = H5Read.Vector(g, "rewards", file);
            var te = H5Read.Flags(g, "terminations", file);
            var tr = H5Read.Flags(g, "truncations", file);
            int t = r.Length;
            if (o.Length != (t + 1) * w) throw new DataException($"has {o.Length / Math.Max(1, w)} rows; expected {t + 1} (one more than the {t} steps)", file, $"{name}/observations");
            if (a.Length != t * aw) throw new DataException($"has {a.Length / Math.Max(1, aw)} rows; expected {t}", file, $"{name}/actions");
            if (od >= 0 && (w != od || aw != ad)) throw new DataException($"has widths obs {w} / act {aw}, earlier episodes {od} / {ad}", file, name);
            od = w; ad = aw;
            obs.AddRange(o.AsSpan(0, t * w).ToArray());
            next.AddRange(o.AsSpan(w, t * w).ToArray());
            act.AddRange(a); rew.AddRange(r); term.AddRange(te);
            if (t > 0 && !te[t - 1] && !tr[t - 1]) tr[t - 1] = true;   // a stored episode is complete: its end is a truncation
            tout.AddRange(tr);
        }
        var cols = new DatasetColumns
        {
            Observations = obs.ToArray(), Actions = act.ToArray(), Rewards = rew.ToArray(), Terminals = term.ToArray(),
            Timeouts = tout.ToArray(), NextObservations = next.ToArray(),
        };
        var info = new DatasetInfo(file) { SpacesGuessed = actionSpace is null };
        if (actionSpace is null) info.Processing.Add("action bounds not read from the Minari file: unbounded until an environment gives them");
        return new Dataset(cols, Box.Unbounded(od), actionSpace ?? Box.Unbounded(ad), info, new Dataset.ValidationOptions(File: file));
    }
}
