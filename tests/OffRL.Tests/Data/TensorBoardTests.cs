using System.Buffers.Binary;
using System.Text;
using OffRL.Data;
using OffRL.IO;
using Xunit;

namespace OffRL.Tests.Data;

public class TensorBoardTests : IDisposable
{
    private readonly string _dir = Fixtures.TempDir();
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    [Fact]
    public void Crc32CMatchesTheCastagnoliCheckValue()
    {
        // The standard check value of CRC-32C (iSCSI, RFC 3720): CRC of the ASCII digits "123456789".
        Assert.Equal(0xE3069283u, TensorBoardWriter.Crc32C(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, TensorBoardWriter.Crc32C([]));
        // RFC 3720 B.4: 32 bytes of zeros -> 0x8A9136AA.
        Assert.Equal(0x8A9136AAu, TensorBoardWriter.Crc32C(new byte[32]));
    }

    [Fact]
    public void EventFileFollowsTheTfRecordAndEventLayout()
    {
        string path;
        using (var w = new TensorBoardWriter(_dir))
        {
            path = w.FilePath;
            w.Scalars(10, [new("eval/return_mean", -312.5f), new("train/critic_loss", 0.25f)]);
            w.Scalar(20, "eval/return_mean", -150f);
        }
        Assert.StartsWith("events.out.tfevents.", Path.GetFileName(path));
        var bytes = File.ReadAllBytes(path);
        // First record: the file_version event. Header = uint64 length + masked CRC of those 8 bytes.
        long len = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(TensorBoardWriter.MaskedCrc(bytes.AsSpan(0, 8)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        var data = bytes.AsSpan(12, (int)len);
        Assert.Equal(TensorBoardWriter.MaskedCrc(data), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12 + (int)len)));
        Assert.Equal(0x09, data[0]);                 // field 1 (wall_time), wire type 1 (64-bit)
        double wall = BinaryPrimitives.ReadDoubleLittleEndian(data[1..]);
        Assert.InRange(wall, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Equal(new byte[] { 0x10, 0x00 }, data.Slice(9, 2).ToArray());   // field 2 (step) = 0
        Assert.Equal(0x1A, data[11]);                // field 3 (file_version), length-delimited
        Assert.Equal("brain.Event:2", Encoding.UTF8.GetString(data.Slice(13, data[12])));
        // The mask is rotate-right-15 plus 0xa282ead8.
        uint crc = TensorBoardWriter.Crc32C(bytes.AsSpan(0, 8));
        Assert.Equal(((crc >> 15) | (crc << 17)) + 0xa282ead8u, TensorBoardWriter.MaskedCrc(bytes.AsSpan(0, 8)));

        var scalars = TensorBoardReader.ReadScalars(path);
        Assert.Equal(3, scalars.Count);
        Assert.Equal((10L, "eval/return_mean", -312.5f), (scalars[0].Step, scalars[0].Tag, scalars[0].Value));
        Assert.Equal((10L, "train/critic_loss", 0.25f), (scalars[1].Step, scalars[1].Tag, scalars[1].Value));
        Assert.Equal((20L, "eval/return_mean", -150f), (scalars[2].Step, scalars[2].Tag, scalars[2].Value));
    }

    [Fact]
    public void TornLastRecordIsSkippedAndCorruptionIsNamed()
    {
        string path;
        using (var w = new TensorBoardWriter(_dir))
        {
            path = w.FilePath;
            for (int s = 1; s <= 3; s++) w.Scalar(s, "x", s);
        }
        var bytes = File.ReadAllBytes(path);
        var torn = Path.Combine(_dir, "events.out.tfevents.torn");
        File.WriteAllBytes(torn, bytes[..^3]);
        Assert.Equal([1f, 2f], TensorBoardReader.ReadScalars(torn).Select(s => s.Value));
        var bad = (byte[])bytes.Clone();
        bad[^10] ^= 0xFF;   // inside the last record's event bytes
        var corrupt = Path.Combine(_dir, "events.out.tfevents.bad");
        File.WriteAllBytes(corrupt, bad);
        var ex = Assert.Throws<DataException>(() => TensorBoardReader.ReadScalars(corrupt));
        Assert.Contains("record 3", ex.Message);
        Assert.Contains(corrupt, ex.Message);
    }
}
