using System.Buffers.Binary;
using System.IO.Compression;

namespace Vic.Disks.Vmdk;

/// <summary>
/// Produces the bytes of a streamOptimized VMDK in order, never looking back, so they can go to
/// a non-seekable stream: header (directory "at end"), descriptor, then for each non-zero grain
/// its LBA marker and zlib data, each grain table (marker + table) as soon as the grains it maps
/// are done, the grain directory (marker + directory), the footer (marker + header copy that
/// locates the directory) and the end-of-stream marker. Tables of all-zero regions are omitted
/// (directory entry 0), as VMware allocates them on demand. Memory: one grain, one table and the
/// directory (4 bytes per 32 MiB of capacity).
/// </summary>
internal sealed class StreamOptimizedEncoder : IDisposable
{
    private const int GrainMarkerSize = 12;

    private readonly long _capacity;
    private readonly StreamOptimizedOptions _options;
    private readonly SparseExtentHeader _header;
    private readonly uint[] _directory;
    private readonly uint[] _table = new uint[VmdkFormat.GrainTableEntries];
    private readonly MemoryStream _output = new();
    private long _tableIndex = -1;
    private long _lastGrain = -1;
    private long _sector;

    public StreamOptimizedEncoder(long capacityBytes, StreamOptimizedOptions options)
    {
        var sectors = VmdkFormat.CapacitySectors(capacityBytes);
        _capacity = capacityBytes;
        _options = options;
        GrainCount = VmdkFormat.DivRoundUp(sectors, VmdkFormat.GrainSectors);
        _directory = new uint[VmdkFormat.DivRoundUp(GrainCount, VmdkFormat.GrainTableEntries)];
        _header = new SparseExtentHeader
        {
            Version = 3,
            Flags = SparseExtentFlags.ValidNewlineDetection | SparseExtentFlags.CompressedGrains | SparseExtentFlags.Markers,
            CapacitySectors = (ulong)sectors,
            DescriptorOffset = VmdkFormat.DescriptorOffset,
            DescriptorSectors = VmdkFormat.DescriptorSectors,
            GrainDirectoryOffset = SparseExtentHeader.GrainDirectoryAtEnd,
            OverheadSectors = VmdkFormat.DescriptorOffset + VmdkFormat.DescriptorSectors,
            CompressAlgorithm = SparseExtentHeader.CompressionDeflate,
        };
    }

    public long GrainCount { get; }

    /// <summary>Bytes of the disk in the grain: a whole grain, except maybe the last.</summary>
    public int GrainLength(long grainIndex) =>
        (int)Math.Min(VmdkFormat.GrainSize, _capacity - (grainIndex * VmdkFormat.GrainSize));

    /// <summary>The header and descriptor.</summary>
    public ReadOnlyMemory<byte> Begin()
    {
        Start();
        Append(_header.ToBytes());
        var text = VmdkDescriptor.Build("streamOptimized", (long)_header.CapacitySectors, _options.ExtentFileName, _options.AdapterType);
        Append(VmdkDescriptor.ToSectors(text, VmdkFormat.DescriptorSectors));
        return Output();
    }

    /// <summary>
    /// The bytes for the next grain (indexes ascending; skipped ones are zeros), which may be
    /// preceded by the finished table of earlier grains; nothing when the grain is all zeros.
    /// </summary>
    public ReadOnlyMemory<byte> AddGrain(long grainIndex, ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(grainIndex, _lastGrain);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(grainIndex, GrainCount);
        if (data.Length != GrainLength(grainIndex))
        {
            throw new ArgumentException($"grain {grainIndex} must be {GrainLength(grainIndex)} bytes", nameof(data));
        }

        _lastGrain = grainIndex;
        Start();
        if (!data.ContainsAnyExcept((byte)0))
        {
            return Output();
        }

        if (grainIndex / VmdkFormat.GrainTableEntries != _tableIndex)
        {
            EndTable();
            _tableIndex = grainIndex / VmdkFormat.GrainTableEntries;
        }

        _table[grainIndex % VmdkFormat.GrainTableEntries] = SectorNumber();
        var start = (int)_output.Length;
        _output.Write(new byte[GrainMarkerSize]);
        using (var deflater = new ZLibStream(_output, _options.CompressionLevel, leaveOpen: true))
        {
            deflater.Write(data);
        }

        var marker = _output.GetBuffer().AsSpan(start, GrainMarkerSize);
        BinaryPrimitives.WriteUInt64LittleEndian(marker, (ulong)(grainIndex * VmdkFormat.GrainSectors));
        BinaryPrimitives.WriteUInt32LittleEndian(marker[8..], (uint)(_output.Length - start - GrainMarkerSize));
        PadToSector();
        return Output();
    }

    /// <summary>The last grain table, the grain directory, the footer and the end-of-stream marker.</summary>
    public ReadOnlyMemory<byte> Finish()
    {
        Start();
        EndTable();
        var directory = new byte[VmdkFormat.RoundUp(_directory.Length * sizeof(uint), VmdkFormat.SectorSize)];
        for (var i = 0; i < _directory.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(directory.AsSpan(i * sizeof(uint)), _directory[i]);
        }

        Append(new StreamMarker((ulong)(directory.Length / VmdkFormat.SectorSize), 0, StreamMarker.GrainDirectory).ToSector());
        var directorySector = SectorNumber();
        Append(directory);
        Append(new StreamMarker(1, 0, StreamMarker.Footer).ToSector());
        Append((_header with { GrainDirectoryOffset = directorySector }).ToBytes());
        Append(new StreamMarker(0, 0, StreamMarker.EndOfStream).ToSector());
        return Output();
    }

    public void Dispose() => _output.Dispose();

    /// <summary>Emits the table being filled, if it maps any grain, and records it in the directory.</summary>
    private void EndTable()
    {
        if (_tableIndex < 0)
        {
            return;
        }

        var bytes = new byte[VmdkFormat.GrainTableSectors * VmdkFormat.SectorSize];
        for (var i = 0; i < _table.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * sizeof(uint)), _table[i]);
        }

        Append(new StreamMarker(VmdkFormat.GrainTableSectors, 0, StreamMarker.GrainTable).ToSector());
        _directory[_tableIndex] = SectorNumber();
        Append(bytes);
        Array.Clear(_table);
        _tableIndex = -1;
    }

    private void Start()
    {
        _sector += _output.Length / VmdkFormat.SectorSize;
        _output.SetLength(0);
    }

    /// <summary>The sector where the next appended byte lands; grain table entries are 32-bit.</summary>
    private uint SectorNumber()
    {
        var sector = _sector + (_output.Length / VmdkFormat.SectorSize);
        return sector < VmdkFormat.MaxSectors
            ? (uint)sector
            : throw new IOException("the streamOptimized VMDK would pass 2 TiB, beyond what 32-bit grain table entries address");
    }

    private void Append(ReadOnlySpan<byte> sectors) => _output.Write(sectors);

    private void PadToSector()
    {
        var remainder = (int)(_output.Length % VmdkFormat.SectorSize);
        if (remainder != 0)
        {
            _output.Write(new byte[VmdkFormat.SectorSize - remainder]);
        }
    }

    private ReadOnlyMemory<byte> Output() => _output.GetBuffer().AsMemory(0, (int)_output.Length);
}
