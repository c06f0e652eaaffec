using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OffRL.Tensors;

namespace OffRL.IO;

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the raw
/// little-endian data. Files written here load in PyTorch (safetensors.torch.load_file) and HF tools.
/// </summary>
public static class Safetensors
{
    public sealed record Entry(Shape Shape, float[] Data);

    public static void Write(string path, IEnumerable<(string Name, Tensor Value)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        var seen = new HashSet<string>();
        foreach (var (name, t) in list)
        {
            if (!seen.Add(name)) throw new ArgumentException($"safetensors: duplicate tensor name '{name}'");
            long bytes = (long)t.Size * sizeof(float);
            var shape = new JsonArray();
            for (int i = 0; i < t.Rank; i++) shape.Add(t.Shape[i]);
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = shape,
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;   // align the data to 8 bytes with trailing spaces
        AtomicFile.Write(path, s =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            s.Write(len);
            s.Write(json);
            for (int i = json.Length; i < padded; i++) s.WriteByte((byte)' ');
            var b = new byte[4];
            foreach (var (_, t) in list)
            {
                if (BitConverter.IsLittleEndian) s.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
                else foreach (var f in t.Data) { BinaryPrimitives.WriteSingleLittleEndian(b, f); s.Write(b); }
            }
        });
    }

    /// <summary>A JSON array of integers, or an error naming where it was expected.</summary>
    private static long[] Integers(JsonNode? node, string where)
    {
        if (node is not JsonArray a) throw new InvalidDataException($"{where}: missing or not a list of integers");
        var r = new long[a.Count];
        for (int i = 0; i < a.Count; i++)
            r[i] = a[i] is JsonValue v && v.TryGetValue<long>(out var x) ? x : throw new InvalidDataException($"{where}: item {i} is not an integer");
        return r;
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    public static (Dictionary<string, Entry> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors: file not found: {path}", path);
        using var fs = File.OpenRead(path);
        Span<byte> len = stackalloc byte[8];
        if (fs.Read(len) != 8) throw new InvalidDataException($"{path}: too short for a safetensors header");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n > 100_000_000 || (long)n > fs.Length - 8) throw new InvalidDataException($"{path}: header length {n} is not plausible (file is {fs.Length} bytes)");
        var hb = new byte[n];
        fs.ReadExactly(hb);
        JsonObject header;
        try { _ = StrictUtf8.GetCharCount(hb); }
        catch (System.Text.DecoderFallbackException) { throw new InvalidDataException($"{path}: header is not UTF-8 text"); }
        try { header = JsonNode.Parse(hb) as JsonObject ?? throw new InvalidDataException($"{path}: header is not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: header is not valid JSON: {e.Message}"); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: header names a tensor twice ({e.Message})"); }
        long dataStart = 8 + (long)n, dataLength = fs.Length - dataStart;
        var result = new Dictionary<string, Entry>();
        var meta = new Dictionary<string, string>();
        var spans = new List<(long Begin, long End)>();
        foreach (var (name, node) in header)
        {
            string Where(string field) => $"{path}: tensor '{name}', field '{field}'";
            if (name == "__metadata__")
            {
                if (node is not JsonObject m) throw new InvalidDataException($"{path}: __metadata__ is not an object of strings");
                foreach (var (k, v) in m)
                    meta[k] = v is JsonValue sv && sv.TryGetValue<string>(out var str) ? str : throw new InvalidDataException($"{path}: __metadata__ '{k}' is not a string");
                continue;
            }
            if (node is not JsonObject o) throw new InvalidDataException($"{path}: tensor '{name}' is not an object with dtype, shape and data_offsets");
            var dtype = o["dtype"] is JsonValue dv && dv.TryGetValue<string>(out var d) ? d : null;
            if (dtype != "F32") throw new InvalidDataException($"{Where("dtype")}: {dtype ?? "missing"}; OffRL reads F32");
            var dims = Integers(o["shape"], Where("shape"));
            var offs = Integers(o["data_offsets"], Where("data_offsets"));
            if (offs.Length != 2) throw new InvalidDataException($"{Where("data_offsets")}: expected [begin, end], got {offs.Length} values");
            long b = offs[0], e = offs[1];
            long size = 1;
            foreach (var x in dims)
            {
                if (x < 0 || x > int.MaxValue) throw new InvalidDataException($"{Where("shape")}: dimension {x} is not a size");
                size = checked(size * x);
                if (size > int.MaxValue / 4) throw new InvalidDataException($"{Where("shape")}: [{string.Join(", ", dims)}] is too large");
            }
            if (b < 0 || e < b || e > dataLength)
                throw new InvalidDataException($"{Where("data_offsets")}: [{b}, {e}] is not inside the data section (0..{dataLength} bytes)");
            if (e - b != size * 4) throw new InvalidDataException($"{Where("data_offsets")}: spans {e - b} bytes but shape [{string.Join(", ", dims)}] needs {size * 4}");
            var shape = Shape.Of(Array.ConvertAll(dims, x => (int)x));
            var data = new float[shape.Size];
            fs.Position = dataStart + b;
            fs.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
            if (!BitConverter.IsLittleEndian)
                for (int i = 0; i < data.Length; i++) data[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(data[i])));
            result[name] = new Entry(shape, data);
            spans.Add((b, e));
        }
        // The data section is exactly the tensors, end to end (the format's rule: no holes, no overlaps), so a header
        // length or an offset that is off by a few bytes is an error, not a shifted read.
        spans.Sort();
        long at = 0;
        foreach (var (b, e) in spans)
        {
            if (b != at) throw new InvalidDataException($"{path}: the tensors' data_offsets leave a gap or overlap at byte {at} of the data section");
            at = e;
        }
        if (at != dataLength) throw new InvalidDataException($"{path}: the data section has {dataLength} bytes, the tensors cover {at}");
        return (result, meta);
    }
}
