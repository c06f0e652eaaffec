namespace OffRL;

/// <summary>
/// Progress reported as lines on a writer, at once and in order (unlike <see cref="Progress{T}"/>, which posts each
/// report to the thread pool, so lines can arrive late or out of order).
/// </summary>
public sealed class LineProgress(TextWriter writer) : IProgress<string>
{
    public void Report(string value) => writer.WriteLine(value);
}
