namespace Vic.Disks.Vmdk;

/// <summary>
/// The fixed choices our writers make inside what the VMDK sparse format allows: 64 KiB grains
/// and 512-entry grain tables are what VMware products and QEMU create, so every reader copes.
/// </summary>
internal static class VmdkFormat
{
    public const int SectorSize = 512;
    public const int GrainSectors = 128;
    public const int GrainSize = GrainSectors * SectorSize;
    public const int GrainTableEntries = 512;
    public const int GrainTableSectors = GrainTableEntries * sizeof(uint) / SectorSize;
    public const int DescriptorOffset = 1;

    /// <summary>QEMU and VMware reserve 20 sectors (10 KiB) for the embedded descriptor.</summary>
    public const int DescriptorSectors = 20;

    /// <summary>Grain table entries are 32-bit sector numbers, so no extent may reach 2 TiB.</summary>
    public const long MaxSectors = uint.MaxValue;

    public static long DivRoundUp(long value, long divisor) => (value + divisor - 1) / divisor;

    public static long RoundUp(long value, long multiple) => DivRoundUp(value, multiple) * multiple;

    /// <summary>Checks a virtual disk size and returns it in sectors.</summary>
    public static long CapacitySectors(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityBytes);
        if (capacityBytes % SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, "the capacity must be a multiple of 512 bytes");
        }

        var sectors = capacityBytes / SectorSize;
        if (sectors > MaxSectors)
        {
            throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, "a sparse VMDK extent holds less than 2 TiB");
        }

        return sectors;
    }

    /// <summary>
    /// Reads exactly <paramref name="buffer"/>.Length bytes. Everything a reader looks at (header,
    /// tables, grains) lies inside a sound file, so a short read means a truncated one, and reading
    /// zeros instead would silently hand on a damaged disk.
    /// </summary>
    public static void ReadAt(Microsoft.Win32.SafeHandles.SafeFileHandle file, Span<byte> buffer, long offset)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var read = RandomAccess.Read(file, buffer[done..], offset + done);
            if (read == 0)
            {
                throw new InvalidDataException($"the VMDK file ends before byte {offset + buffer.Length}: it is truncated");
            }

            done += read;
        }
    }
}
