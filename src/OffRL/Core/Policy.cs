namespace OffRL;

/// <summary>Anything that acts: maps an observation to an action (continuous vector, or one float holding the index).</summary>
public interface IPolicy
{
    int ObservationDim { get; }
    Space ActionSpace { get; }
    void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic);

    /// <summary>
    /// How many of the latest observations the policy takes as one input, oldest first (<see cref="Envs.ObservationHistory"/>):
    /// its <see cref="ObservationDim"/> is that many times the environment's. 1: the current observation.
    /// </summary>
    int History => 1;
}

/// <summary>A loss or diagnostic turned NaN or infinite: training stops and says which and when.</summary>
public sealed class TrainingDivergedException(string algorithm, string quantity, float value, long step)
    : Exception($"{algorithm}: {quantity} became {value} at update {step}; lower the learning rate or check the data (rewards, normalization)")
{
    public string Quantity { get; } = quantity;
    public long Step { get; } = step;
}
