using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>Network builders shared by the algorithms.</summary>
public static class Networks
{
    /// <summary>Twin (or N) Q networks as one ensemble: Q(s, a) for all members as [N, B, 1].</summary>
    public static EnsembleMlp Critic(int obs, int act, int[] hidden, Rng rng, int members = 2) =>
        new(members, new MlpConfig(obs + act, hidden, 1), rng);

    /// <summary>Q values [N, B, 1] of state-action pairs.</summary>
    public static Tensor Q(EnsembleMlp critic, Tensor s, Tensor a) => critic.Forward(Tensor.Concat(s, a, -1));

    /// <summary>Minimum over the ensemble members: [B, 1].</summary>
    public static Tensor MinQ(Tensor q)
    {
        int n = q.Shape[0], b = q.Shape[1];
        var m = q.Slice(0, 0, 1);
        for (int i = 1; i < n; i++) m = Tensor.Minimum(m, q.Slice(0, i, 1));
        return m.Reshape(b, 1);
    }

    /// <summary>A frozen copy of a module for target networks.</summary>
    public static T Target<T>(T source, Func<T> build) where T : Module
    {
        var t = build();
        t.CopyParametersFrom(source);
        t.SetRequiresGrad(false);
        return t;
    }

    /// <summary>Gaussian policy head: the MLP outputs mean and log-std (clamped) for a tanh-squashed Gaussian.</summary>
    public static TanhGaussian Policy(Mlp net, Tensor s, int act, float logStdMin = -5f, float logStdMax = 2f)
    {
        var h = net.Forward(s);
        return new TanhGaussian(h.Slice(-1, 0, act), h.Slice(-1, act, act).Clamp(logStdMin, logStdMax));
    }
}

/// <summary>A free-standing parameter as a module (SAC's log-temperature), so checkpoints include it.</summary>
public sealed class ParameterModule : Module
{
    public Tensor Value { get; }
    public ParameterModule(string name, Shape shape) => Value = Param(name, shape);
}
