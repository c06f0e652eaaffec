using System.Buffers.Binary;
using System.Text.Json;
using OffRL.IO;
using OffRL.Nn;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Nn;

public class PersistenceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "offrl-tests-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    [Fact]
    public void SaveLoadRoundTripIsBitExact()
    {
        var cfg = new MlpConfig(17, [32, 32], 6, Activation.Relu, Activation.Tanh, LayerNorm: true);
        var net = new Mlp(cfg, new Rng(1));
        var path = Path.Combine(_dir, "actor.safetensors");
        net.Save(path, cfg);
        var loadedCfg = Module.LoadConfig<MlpConfig>(path);
        Assert.Equal(cfg.Hidden, loadedCfg.Hidden);
        Assert.Equal(cfg with { Hidden = loadedCfg.Hidden }, loadedCfg);
        var other = new Mlp(loadedCfg, new Rng(999));
        other.Load(path);
        var a = net.NamedParameters().ToList();
        var b = other.NamedParameters().ToList();
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Name, b[i].Name);
            for (int j = 0; j < a[i].Value.Size; j++)
                Assert.Equal(BitConverter.SingleToInt32Bits(a[i].Value.Data[j]), BitConverter.SingleToInt32Bits(b[i].Value.Data[j]));
        }
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void FileFollowsTheSafetensorsLayout()
    {
        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var path = Path.Combine(_dir, "x.safetensors");
        Safetensors.Write(path, [("w", t)], new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, (8 + n) % 8);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var w = doc.RootElement.GetProperty("w");
        Assert.Equal("F32", w.GetProperty("dtype").GetString());
        Assert.Equal([2, 3], w.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0L, 24L], w.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal("v", doc.RootElement.GetProperty("__metadata__").GetProperty("k").GetString());
        Assert.Equal(8 + (int)n + 24, bytes.Length);
        Assert.Equal(6f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + (int)n + 20)));
    }

    /// <summary>A safetensors file with the given header (JSON) and data bytes.</summary>
    private string Raw(string name, string header, int dataBytes)
    {
        Directory.CreateDirectory(_dir);
        var h = System.Text.Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        var path = Path.Combine(_dir, name + ".safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("negative-offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", "data_offsets")]
    [InlineData("past-end", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "data_offsets")]
    [InlineData("shape-mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "needs 12")]
    [InlineData("negative-dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "shape")]
    [InlineData("no-shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", "shape")]
    [InlineData("text-shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", "shape")]
    [InlineData("int-dtype", "{\"w\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype")]
    [InlineData("not-object", "[1, 2]", "not a JSON object")]
    [InlineData("bad-metadata", "{\"__metadata__\":{\"k\":3}}", "__metadata__")]
    public void CorruptSafetensorsHeadersAreOneClearError(string name, string header, string expected)
    {
        var path = Raw(name, header, dataBytes: 8);
        var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Read(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void LoadingAMismatchedNetworkSaysWhichParameter()
    {
        var path = Path.Combine(_dir, "m.safetensors");
        new Mlp(new MlpConfig(4, [8], 2), new Rng(1)).Save(path);
        var wrong = new Mlp(new MlpConfig(4, [9], 2), new Rng(1));
        var ex = Assert.Throws<InvalidDataException>(() => wrong.Load(path));
        Assert.Contains("layers.0.weight", ex.Message);
        Assert.Contains("[8, 4]", ex.Message);
        var truncated = Path.Combine(_dir, "t.safetensors");
        File.WriteAllBytes(truncated, File.ReadAllBytes(path)[..40]);
        Assert.Throws<InvalidDataException>(() => new Mlp(new MlpConfig(4, [8], 2), new Rng(1)).Load(truncated));
    }
}
