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
        try { header = JsonNode.Parse(hb)!.AsObject(); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: header is not valid JSON: {e.Message}"); }
        long dataStart = 8 + (long)n;
        var result = new Dictionary<string, Entry>();
        var meta = new Dictionary<string, string>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node!.AsObject()) meta[k] = v!.GetValue<string>();
                continue;
            }
            var o = node!.AsObject();
            var dtype = o["dtype"]?.GetValue<string>();
            if (dtype != "F32") throw new InvalidDataException($"{path}: tensor '{name}' has dtype {dtype}; OffRL reads F32");
            var dims = o["shape"]!.AsArray().Select(d => d!.GetValue<int>()).ToArray();
            var offs = o["data_offsets"]!.AsArray();
            long b = offs[0]!.GetValue<long>(), e = offs[1]!.GetValue<long>();
            var shape = Shape.Of(dims);
            if (e - b != (long)shape.Size * 4) throw new InvalidDataException($"{path}: tensor '{name}' spans {e - b} bytes but shape {shape} needs {shape.Size * 4}");
            if (dataStart + e > fs.Length) throw new InvalidDataException($"{path}: tensor '{name}' runs past the end of the file");
            var data = new float[shape.Size];
            fs.Position = dataStart + b;
            fs.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
            if (!BitConverter.IsLittleEndian)
                for (int i = 0; i < data.Length; i++) data[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(data[i])));
            result[name] = new Entry(shape, data);
        }
        return (result, meta);
    }
}
