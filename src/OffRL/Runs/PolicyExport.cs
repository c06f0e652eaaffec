using OffRL.Algorithms;
using OffRL.IO;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Runs;

/// <summary>Raised when a policy cannot be written in another format; names the operation that has no equivalent there.</summary>
public sealed class ExportException(string message) : Exception(message);

/// <summary>
/// An agent's deterministic policy as an ONNX graph that takes raw observations: input "observation" float
/// [batch, obs] -> the fitted normalizer ((s - mean) / std) -> the actor's forward pass -> for continuous actions the
/// map from [-1, 1] back to the environment's bounds, output "action" float [batch, act]; for discrete actions the
/// argmax of the action values, output "action" int64 [batch]. The actor's part is traced from the engine's own graph:
/// <see cref="Agent.PolicyOutput"/> runs once on a small batch, and each recorded op becomes its ONNX operator
/// (a linear layer becomes Gemm with transB = 1 and its fused activation; slices, clamps, elementwise and broadcast
/// arithmetic their namesakes), so a new algorithm exports without code here as long as its actor uses those ops.
/// </summary>
public static class PolicyExport
{
    /// <summary>Writes the ONNX model to <paramref name="path"/> (atomically).</summary>
    public static void WriteOnnx(Agent agent, string path, string? source = null) => AtomicFile.WriteAllBytes(path, Onnx(agent, source));

    /// <summary>The ONNX model's bytes.</summary>
    public static byte[] Onnx(Agent agent, string? source = null)
    {
        var model = new OnnxModel();
        var pre = agent.Preprocessing;
        const string input = "observation";
        string x = input;
        if (pre.ObservationMean is { } mean && pre.ObservationStd is { } std)
        {
            x = model.Node("Sub", [x, model.Initializer("observation_mean", mean, mean.Length)]);
            x = model.Node("Div", [x, model.Initializer("observation_std", std, std.Length)]);
            if (pre.ObservationClip is { } clip)
                x = model.Node("Clip", [x, model.Initializer("observation_clip_min", [-clip]), model.Initializer("observation_clip_max", [clip])]);
        }
        var names = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        foreach (var (module, m) in agent.NamedModules)
            foreach (var (name, p) in m.NamedParameters())
                names.TryAdd(p, $"{module}.{name}");

        bool discrete = agent.ActionSpace is Discrete;
        int width;
        string output;
        using (TensorScope.Begin())
        {
            // Traced with grad recording on (the parameters require grad, so every op records its inputs); nothing is updated.
            const int batch = 2;
            var obs = Tensor.Zeros(batch, agent.ObservationDim);
            obs.RequiresGrad = true;   // so that ops on the observation alone (a history's slices) are recorded too
            var y = agent.PolicyOutput(obs);
            if (y.Rank != 2 || y.Shape[0] != batch)
                throw new ExportException($"export: {agent.Name}'s policy output has shape {y.Shape}, expected [batch, n]");
            width = y.Shape[1];
            var tracer = new Tracer(model, names, obs, x);
            output = tracer.Emit(y);
        }

        if (discrete) output = model.Node("ArgMax", [output], "action", ("axis", 1L), ("keepdims", 0L));
        else if (pre.ActionLow is { } low && pre.ActionHigh is { } high)
        {   // low + (a + 1) * 0.5 * (high - low), in Preprocessing.UnscaleAction's order
            var range = new float[low.Length];
            for (int i = 0; i < range.Length; i++) range[i] = high[i] - low[i];
            var t = model.Node("Add", [output, model.Initializer("one", [1f])]);
            t = model.Node("Mul", [t, model.Initializer("half", [0.5f])]);
            t = model.Node("Mul", [t, model.Initializer("action_range", range, range.Length)]);
            output = model.Node("Add", [t, model.Initializer("action_low", low, low.Length)], "action");
        }
        else output = model.Node("Identity", [output], "action");

        model.Metadata("algorithm", agent.Name);
        model.Metadata("updates", agent.Updates.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (source is not null) model.Metadata("checkpoint", source);
        model.Metadata("action_space", agent.ActionSpace.ToString() ?? "");
        return model.Encode($"offrl_{agent.Name}_policy", input, agent.ObservationDim, output, discrete ? 0 : width, discrete, typeof(Tensor).Assembly.GetName().Version?.ToString() ?? "");
    }

    /// <summary>Turns recorded engine ops into ONNX nodes, each tensor once.</summary>
    private sealed class Tracer(OnnxModel model, Dictionary<Tensor, string> parameters, Tensor input, string inputName)
    {
        private readonly Dictionary<Tensor, string> _done = new(ReferenceEqualityComparer.Instance);

        public string Emit(Tensor t)
        {
            if (ReferenceEquals(t, input)) return inputName;
            if (_done.TryGetValue(t, out var known)) return known;
            string name;
            if (t.BackwardFn is null)
            {   // a leaf: a parameter, or a constant the forward pass made
                name = parameters.TryGetValue(t, out var p)
                    ? model.Initializer(p, t.Data, Dims(t))
                    : model.Initializer(model.Name("constant"), t.Data, Dims(t));
            }
            else name = Op(t, t.BackwardFn.Method.Name);
            _done[t] = name;
            return name;
        }

        private static long[] Dims(Tensor t)
        {
            var d = new long[t.Rank];
            for (int i = 0; i < d.Length; i++) d[i] = t.Shape[i];
            return d;
        }

        private string Op(Tensor o, string fn)
        {
            switch (fn)
            {
                case "LinearBackward":
                {
                    string[] ins = o.C is null ? [Emit(o.A!), Emit(o.B!)] : [Emit(o.A!), Emit(o.B!), Emit(o.C)];
                    if (o.A!.Rank != 2) throw new ExportException($"export: a linear layer on a rank-{o.A.Rank} input has no Gemm equivalent");
                    var y = model.Node("Gemm", ins, null, ("transB", 1L));
                    return Activation(y, (Activation)o.I0);
                }
                case "UnaryBackward": return Unary(o);
                case "BinaryBackward":
                {
                    string op = (BinKind)o.I0 switch
                    {
                        BinKind.Add => "Add", BinKind.Sub => "Sub", BinKind.Mul => "Mul", BinKind.Div => "Div", BinKind.Min => "Min", _ => "Max",
                    };
                    return model.Node(op, [Emit(o.A!), Emit(o.B!)]);
                }
                case "SliceBackward":
                {
                    int axis = o.I0, start = o.I1, len = o.Shape[axis];
                    // axis 0 of a batch of rows is the batch (a vector's, such as a bias, is its features)
                    if (axis == 0 && o.A!.Rank > 1) throw new ExportException("export: a slice of the batch dimension has no equivalent in a batch-size-free graph");
                    return model.Node("Slice", [Emit(o.A!), model.Initializer("starts", [start]), model.Initializer("ends", [(long)start + len]),
                        model.Initializer("axes", [(long)axis])]);
                }
                case "ConcatBackward":
                {
                    var ins = new string[o.Inputs!.Length];
                    for (int i = 0; i < ins.Length; i++) ins[i] = Emit(o.Inputs[i]);
                    return model.Node("Concat", ins, null, ("axis", (long)o.I0));
                }
                default:
                    throw new ExportException($"export: the engine op '{fn.Replace("Backward", "")}' has no ONNX translation yet (add one in PolicyExport)");
            }
        }

        private string Unary(Tensor o)
        {
            var x = Emit(o.A!);
            float p0 = o.F0, p1 = o.F1;
            return (UnaryKind)o.I0 switch
            {
                UnaryKind.Neg => model.Node("Neg", [x]),
                UnaryKind.Exp => model.Node("Exp", [x]),
                UnaryKind.Log => model.Node("Log", [x]),
                UnaryKind.Sqrt or UnaryKind.NormRoot => model.Node("Sqrt", [x]),
                UnaryKind.Abs => model.Node("Abs", [x]),
                UnaryKind.Square => model.Node("Mul", [x, x]),
                UnaryKind.Pow => model.Node("Pow", [x, model.Initializer("exponent", [p0])]),
                UnaryKind.Tanh => model.Node("Tanh", [x]),
                UnaryKind.Sigmoid => model.Node("Sigmoid", [x]),
                UnaryKind.Relu => model.Node("Relu", [x]),
                UnaryKind.LeakyRelu => model.Node("LeakyRelu", [x], null, ("alpha", p0)),
                UnaryKind.Elu => model.Node("Elu", [x], null, ("alpha", p0)),
                UnaryKind.Softplus => model.Node("Softplus", [x]),
                UnaryKind.Silu => model.Node("Mul", [x, model.Node("Sigmoid", [x])]),
                UnaryKind.Sin => model.Node("Sin", [x]),
                UnaryKind.Clamp => model.Node("Clip", [x, model.Initializer("min", [p0]), model.Initializer("max", [p1])]),
                UnaryKind.Affine => p1 == 0f
                    ? model.Node("Mul", [x, model.Initializer("scale", [p0])])
                    : model.Node("Add", [model.Node("Mul", [x, model.Initializer("scale", [p0])]), model.Initializer("shift", [p1])]),
                var k => throw new ExportException($"export: the engine op '{k}' has no ONNX translation yet (add one in PolicyExport)"),
            };
        }

        private string Activation(string x, Activation act) => act switch
        {
            Tensors.Activation.None => x,
            Tensors.Activation.Relu => model.Node("Relu", [x]),
            Tensors.Activation.Tanh => model.Node("Tanh", [x]),
            Tensors.Activation.Sigmoid => model.Node("Sigmoid", [x]),
            Tensors.Activation.LeakyRelu => model.Node("LeakyRelu", [x], null, ("alpha", 0.01f)),
            Tensors.Activation.Elu => model.Node("Elu", [x], null, ("alpha", 1f)),
            _ => throw new ExportException($"export: the fused activation '{act}' has no ONNX translation yet"),
        };
    }
}
