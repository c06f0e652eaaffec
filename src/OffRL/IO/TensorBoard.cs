using System.Buffers.Binary;
using System.Numerics;
using Google.Protobuf;

namespace OffRL.IO;

/// <summary>
/// TensorBoard event files (events.out.tfevents.*) with scalar summaries, readable by TensorBoard, tbparse and
/// TensorFlow's summary iterator. The file is TFRecord framing: each record is uint64 length, uint32 masked CRC-32C of
/// the length, the bytes, uint32 masked CRC-32C of the bytes (mask: rotate right 15, add 0xa282ead8). Each record holds
/// one tensorflow.Event protobuf: wall_time = 1 (double), step = 2 (int64), file_version = 3 (the first record,
/// "brain.Event:2"), summary = 5 { repeated value = 1 { tag = 1, simple_value = 2 (float) } }. Encoded with
/// Google.Protobuf's CodedOutputStream (no generated classes needed for these few fields).
/// The file is appended and flushed per event, as TensorBoard reads it while it grows; every record carries CRCs, so a
/// crash can leave at most one torn last record, which readers skip.
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    private readonly FileStream _file;
    private readonly MemoryStream _buffer = new();
    private static int s_files;

    /// <summary>The event file's full path.</summary>
    public string FilePath { get; }

    /// <summary>Start a new event file in the folder (created if needed); one file per run, as TensorBoard expects.</summary>
    public TensorBoardWriter(string dir)
    {
        Directory.CreateDirectory(dir);
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string host = System.Text.RegularExpressions.Regex.Replace(Environment.MachineName, "[^A-Za-z0-9_-]", "_");
        FilePath = Path.Combine(dir, $"events.out.tfevents.{now}.{host}.{Environment.ProcessId}.{Interlocked.Increment(ref s_files)}");
        _file = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        WriteEvent(0, "brain.Event:2", []);
    }

    /// <summary>One event with several scalars at a step (e.g. every metric of one evaluation).</summary>
    public void Scalars(long step, IReadOnlyList<KeyValuePair<string, float>> values) => WriteEvent(step, null, values);

    public void Scalar(long step, string tag, float value) => WriteEvent(step, null, [new(tag, value)]);

    private void WriteEvent(long step, string? fileVersion, IReadOnlyList<KeyValuePair<string, float>> values)
    {
        _buffer.SetLength(0);
        var o = new CodedOutputStream(_buffer, leaveOpen: true);
        o.WriteTag(1, WireFormat.WireType.Fixed64); o.WriteDouble(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        o.WriteTag(2, WireFormat.WireType.Varint); o.WriteInt64(step);
        if (fileVersion is not null) { o.WriteTag(3, WireFormat.WireType.LengthDelimited); o.WriteString(fileVersion); }
        if (values.Count > 0)
        {
            int summary = 0;
            foreach (var (tag, _) in values) { int v = ValueSize(tag); summary += 1 + CodedOutputStream.ComputeLengthSize(v) + v; }
            o.WriteTag(5, WireFormat.WireType.LengthDelimited); o.WriteLength(summary);
            foreach (var (tag, value) in values)
            {
                o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteLength(ValueSize(tag));
                o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(tag);
                o.WriteTag(2, WireFormat.WireType.Fixed32); o.WriteFloat(value);
            }
        }
        o.Flush();
        var data = _buffer.GetBuffer().AsSpan(0, (int)_buffer.Length);
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc(data));
        _file.Write(header); _file.Write(data); _file.Write(footer);
        _file.Flush();
    }

    // Summary.Value { tag = 1 (string), simple_value = 2 (float) }.
    private static int ValueSize(string tag) => 1 + CodedOutputStream.ComputeStringSize(tag) + 1 + 4;

    /// <summary>CRC-32C (Castagnoli) with TFRecord's mask.</summary>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    /// <summary>CRC-32C (Castagnoli): initial ~0, final complement; the CPU's CRC32 instruction through BitOperations.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint c = ~0u;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8) c = BitOperations.Crc32C(c, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++) c = BitOperations.Crc32C(c, data[i]);
        return ~c;
    }

    public void Dispose() { _file.Dispose(); _buffer.Dispose(); }
}

/// <summary>One scalar read back from an event file.</summary>
public readonly record struct TensorBoardScalar(long Step, string Tag, float Value, double WallTime);

/// <summary>Reads the scalar summaries of a TensorBoard event file, checking every record's CRCs.</summary>
public static class TensorBoardReader
{
    /// <summary>All scalars in file order. A torn last record (a crash while writing) is skipped; a bad CRC elsewhere is an error naming the record.</summary>
    public static List<TensorBoardScalar> ReadScalars(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var result = new List<TensorBoardScalar>();
        int pos = 0, record = 0;
        while (pos < bytes.Length)
        {
            if (pos + 12 > bytes.Length) break;   // torn header at the end
            var header = bytes.AsSpan(pos, 12);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) != TensorBoardWriter.MaskedCrc(header[..8]))
                throw new DataException($"record {record}: length CRC mismatch at byte {pos}", path);
            long len = (long)BinaryPrimitives.ReadUInt64LittleEndian(header);
            if (pos + 12 + len + 4 > bytes.Length) break;   // torn body at the end
            var data = bytes.AsSpan(pos + 12, (int)len);
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos + 12 + (int)len, 4)) != TensorBoardWriter.MaskedCrc(data))
                throw new DataException($"record {record}: data CRC mismatch at byte {pos}", path);
            ParseEvent(data.ToArray(), result);
            pos += 12 + (int)len + 4;
            record++;
        }
        return result;
    }

    private static void ParseEvent(byte[] data, List<TensorBoardScalar> into)
    {
        var input = new CodedInputStream(data);
        double wall = 0; long step = 0; byte[]? summary = null;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: wall = input.ReadDouble(); break;
                case 2: step = input.ReadInt64(); break;
                case 5: summary = input.ReadBytes().ToByteArray(); break;
                default: input.SkipLastField(); break;
            }
        }
        if (summary is null) return;
        var s = new CodedInputStream(summary);
        while ((tag = s.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) != 1) { s.SkipLastField(); continue; }
            var v = new CodedInputStream(s.ReadBytes().ToByteArray());
            string name = ""; float? value = null;
            uint t;
            while ((t = v.ReadTag()) != 0)
            {
                switch (WireFormat.GetTagFieldNumber(t))
                {
                    case 1: name = v.ReadString(); break;
                    case 2: value = v.ReadFloat(); break;
                    default: v.SkipLastField(); break;
                }
            }
            if (value is { } f) into.Add(new TensorBoardScalar(step, name, f, wall));
        }
    }
}
