using System.Text.Json;
using OffRL.IO;
using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>
/// A network part with named parameters and child modules, as torch.nn.Module: parameters are
/// registered by name, so they can be listed, copied (target networks), saved and loaded.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor Value)> _params = new();
    private readonly List<(string Name, Module Value)> _children = new();

    public bool Training { get; private set; } = true;

    private List<Tensor>? _flat;

    protected Tensor Param(string name, Shape shape)
    {
        var t = Tensor.Parameter(shape, name);
        _params.Add((name, t));
        _flat = null;
        return t;
    }

    protected T Child<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        _flat = null;
        return module;
    }

    /// <summary>All parameters with dotted names ("layers.0.weight"), in registration order.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedParameters(string prefix = "")
    {
        foreach (var (n, t) in _params) yield return (prefix + n, t);
        foreach (var (n, m) in _children)
            foreach (var p in m.NamedParameters(prefix + n + "."))
                yield return p;
    }

    /// <summary>All parameters in registration order (a cached list: do not modify).</summary>
    public IReadOnlyList<Tensor> Parameters()
    {
        if (_flat is not null) return _flat;
        var list = new List<Tensor>();
        foreach (var (_, t) in NamedParameters()) list.Add(t);
        return _flat = list;
    }

    public long ParameterCount
    {
        get { long n = 0; foreach (var (_, t) in NamedParameters()) n += t.Size; return n; }
    }

    /// <summary>Training mode (dropout active) or evaluation mode, for this module and its children.</summary>
    public void Train(bool on = true)
    {
        Training = on;
        foreach (var (_, m) in _children) m.Train(on);
    }

    public void Eval() => Train(false);

    public void ZeroGrad()
    {
        foreach (var t in Parameters()) t.ZeroGrad();
    }

    /// <summary>Freeze or unfreeze every parameter (a frozen critic in the actor's loss computes no weight gradients).</summary>
    public void SetRequiresGrad(bool on)
    {
        foreach (var t in Parameters()) t.RequiresGrad = on;
    }

    /// <summary>Copy every parameter value from a module of the same architecture (hard target update).</summary>
    public void CopyParametersFrom(Module source)
    {
        var dst = Parameters();
        var src = source.Parameters();
        if (dst.Count != src.Count) throw new ArgumentException($"copy parameters: {src.Count} source parameters, {dst.Count} here");
        for (int i = 0; i < dst.Count; i++)
        {
            if (dst[i].Shape != src[i].Shape) throw new ArgumentException($"copy parameters: '{dst[i].Name}' has shape {dst[i].Shape}, source has {src[i].Shape}");
            src[i].Data.CopyTo(dst[i].Data, 0);
        }
    }

    /// <summary>Save parameters as safetensors at <paramref name="path"/> and, when given, the config as JSON beside it (path + ".json").</summary>
    public void Save(string path, object? config = null)
    {
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["offrl_module"] = GetType().Name };
        Safetensors.Write(path, NamedParameters(), meta);
        if (config is not null)
            AtomicFile.WriteAllText(path + ".json", JsonSerializer.Serialize(config, config.GetType(), JsonOptions));
    }

    /// <summary>Load parameters saved by <see cref="Save"/>; names and shapes must match exactly and values be finite.</summary>
    public void Load(string path) => ReadParameters(path)();

    /// <summary>
    /// Read and check a parameter file for this module without changing it; the returned action copies the values in.
    /// A missing, extra or mis-shaped parameter, or a value that is not finite, is an error naming the file and parameter,
    /// so a folder of several modules can be checked whole before any is changed.
    /// </summary>
    public Action ReadParameters(string path)
    {
        var (tensors, _) = Safetensors.Read(path);
        var mine = NamedParameters().ToList();
        var targets = new List<(float[] From, float[] To)>(mine.Count);
        foreach (var (name, t) in mine)
        {
            if (!tensors.TryGetValue(name, out var e)) throw new InvalidDataException($"{path}: parameter '{name}' is missing");
            if (e.Shape != t.Shape) throw new InvalidDataException($"{path}: parameter '{name}' has shape {e.Shape}, the network expects {t.Shape}");
            int bad = Array.FindIndex(e.Data, x => !float.IsFinite(x));
            if (bad >= 0) throw new InvalidDataException($"{path}: parameter '{name}', value {bad} is {e.Data[bad]}; parameters must be finite");
            targets.Add((e.Data, t.Data));
        }
        if (tensors.Count != mine.Count)
        {
            var extra = tensors.Keys.Except(mine.Select(m => m.Name)).First();
            throw new InvalidDataException($"{path}: parameter '{extra}' does not belong to this network");
        }
        return () => { foreach (var (from, to) in targets) from.CopyTo(to, 0); };
    }

    /// <summary>Read a config saved next to a parameter file by <see cref="Save"/>.</summary>
    public static T LoadConfig<T>(string path)
    {
        var file = path + ".json";
        if (!File.Exists(file)) throw new FileNotFoundException($"config file not found: {file}", file);
        return JsonSerializer.Deserialize<T>(File.ReadAllText(file), JsonOptions)
            ?? throw new InvalidDataException($"{file}: empty config");
    }

    /// <summary>OffRL's JSON settings (<see cref="IO.ConfigFile.JsonOptions"/>).</summary>
    public static JsonSerializerOptions JsonOptions => IO.ConfigFile.JsonOptions;
}
