using Google.Protobuf;

namespace OffRL.IO;

/// <summary>
/// An ONNX model being built (nodes, float/int64 initializers, one float input and one output, both [batch, n]) and
/// its encoding as an ONNX ModelProto, readable by onnxruntime, onnx and Netron. Encoded with Google.Protobuf's
/// CodedOutputStream from the schema's field numbers (onnx.proto: ModelProto ir_version 1, producer_name 2,
/// producer_version 3, graph 7, opset_import 8, metadata_props 14; GraphProto node 1, name 2, initializer 5, input 11,
/// output 12; NodeProto input 1, output 2, name 3, op_type 4, attribute 5; AttributeProto name 1, f 2, i 3, ints 8,
/// type 20; TensorProto dims 1, data_type 2, name 8, raw_data 9; ValueInfoProto name 1, type 2; TypeProto.Tensor
/// elem_type 1, shape 2; TensorShapeProto.Dimension dim_value 1, dim_param 2). IR version 8 with the default domain at
/// opset 17 (ONNX 1.12).
/// </summary>
public sealed class OnnxModel
{
    public const long IrVersion = 8, Opset = 17;
    private const int Float = 1, Int64 = 7;   // TensorProto.DataType

    private readonly List<byte[]> _nodes = [];
    private readonly List<byte[]> _initializers = [];
    private readonly HashSet<string> _names = [];
    private readonly Dictionary<string, string> _metadata = [];
    private int _next;

    /// <summary>A fresh value name with the given prefix.</summary>
    public string Name(string prefix)
    {
        string n;
        do n = $"{prefix}_{_next++}"; while (!_names.Add(n));
        return n;
    }

    /// <summary>Adds a node; attributes are (name, value) with value float, long, or long[]. Returns its first output.</summary>
    public string Node(string opType, string[] inputs, string? output = null, params (string Name, object Value)[] attributes)
    {
        output ??= Name(opType.ToLowerInvariant());
        _names.Add(output);
        _nodes.Add(Message(o =>
        {
            foreach (var i in inputs) Str(o, 1, i);
            Str(o, 2, output);
            Str(o, 3, $"{opType}_{_nodes.Count}");
            Str(o, 4, opType);
            foreach (var (name, value) in attributes) Bytes(o, 5, Attribute(name, value));
        }));
        return output;
    }

    /// <summary>A float tensor constant (weights, biases, normalizer statistics); returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        if (!_names.Add(name)) name = Name(name);
        var raw = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4 * i), values[i]);   // raw_data is little-endian
        _initializers.Add(TensorProto(name, Float, dims, raw));
        return name;
    }

    /// <summary>An int64 tensor constant (Slice's starts and ends, Reshape's shape).</summary>
    public string Initializer(string name, long[] values)
    {
        if (!_names.Add(name)) name = Name(name);
        var raw = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(8 * i), values[i]);
        _initializers.Add(TensorProto(name, Int64, [values.Length], raw));
        return name;
    }

    /// <summary>A metadata_props entry (how the model was made: algorithm, checkpoint, preprocessing).</summary>
    public void Metadata(string key, string value) => _metadata[key] = value;

    /// <summary>The model's bytes: graph input <paramref name="input"/> float [batch, inputWidth], output float or int64 [batch(, outputWidth)].</summary>
    public byte[] Encode(string graphName, string input, int inputWidth, string output, int outputWidth, bool outputIsInt64, string producerVersion)
    {
        _names.Add(input);
        var graph = Message(o =>
        {
            foreach (var n in _nodes) Bytes(o, 1, n);
            Str(o, 2, graphName);
            foreach (var t in _initializers) Bytes(o, 5, t);
            Bytes(o, 11, ValueInfo(input, Float, inputWidth));
            Bytes(o, 12, ValueInfo(output, outputIsInt64 ? Int64 : Float, outputWidth));
        });
        return Message(o =>
        {
            o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(IrVersion);
            Str(o, 2, "OffRL");
            Str(o, 3, producerVersion);
            Bytes(o, 7, graph);
            Bytes(o, 8, Message(op => { Str(op, 1, ""); op.WriteTag(2, WireFormat.WireType.Varint); op.WriteInt64(Opset); }));
            foreach (var (k, v) in _metadata) Bytes(o, 14, Message(e => { Str(e, 1, k); Str(e, 2, v); }));
        });
    }

    private static byte[] TensorProto(string name, int type, long[] dims, byte[] raw) => Message(o =>
    {
        foreach (var d in dims) { o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(d); }
        o.WriteTag(2, WireFormat.WireType.Varint); o.WriteInt32(type);
        Str(o, 8, name);
        Bytes(o, 9, raw);
    });

    /// <summary>ValueInfoProto for [batch, width] (width 0: [batch]), the batch dimension symbolic.</summary>
    private static byte[] ValueInfo(string name, int type, int width) => Message(o =>
    {
        Str(o, 1, name);
        var shape = Message(s =>
        {
            Bytes(s, 1, Message(d => Str(d, 2, "batch")));
            if (width > 0) Bytes(s, 1, Message(d => { d.WriteTag(1, WireFormat.WireType.Varint); d.WriteInt64(width); }));
        });
        var tensor = Message(t => { t.WriteTag(1, WireFormat.WireType.Varint); t.WriteInt32(type); Bytes(t, 2, shape); });
        Bytes(o, 2, Message(tp => Bytes(tp, 1, tensor)));
    });

    private static byte[] Attribute(string name, object value) => Message(o =>
    {
        Str(o, 1, name);
        switch (value)
        {
            case float f: o.WriteTag(2, WireFormat.WireType.Fixed32); o.WriteFloat(f); Type(o, 1); break;
            case long i: o.WriteTag(3, WireFormat.WireType.Varint); o.WriteInt64(i); Type(o, 2); break;
            case int i: o.WriteTag(3, WireFormat.WireType.Varint); o.WriteInt64(i); Type(o, 2); break;
            case long[] ints: foreach (var i in ints) { o.WriteTag(8, WireFormat.WireType.Varint); o.WriteInt64(i); } Type(o, 7); break;
            default: throw new ArgumentException($"onnx: attribute '{name}' of type {value.GetType().Name} is not supported");
        }
        static void Type(CodedOutputStream o, int t) { o.WriteTag(20, WireFormat.WireType.Varint); o.WriteInt32(t); }
    });

    private static byte[] Message(Action<CodedOutputStream> write)
    {
        using var ms = new MemoryStream();
        using (var o = new CodedOutputStream(ms, leaveOpen: true)) write(o);
        return ms.ToArray();
    }

    private static void Str(CodedOutputStream o, int field, string s) { o.WriteTag(field, WireFormat.WireType.LengthDelimited); o.WriteString(s); }

    private static void Bytes(CodedOutputStream o, int field, byte[] b) { o.WriteTag(field, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(b)); }
}
