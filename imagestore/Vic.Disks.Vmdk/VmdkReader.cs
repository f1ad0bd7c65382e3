using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Vic.Disks.Vmdk;

/// <summary>
/// A read-only, seekable view of the virtual disk inside a hosted sparse VMDK: monolithicSparse
/// (ours, QEMU's, VMware's) or streamOptimized (compressed grains, directory in the footer).
/// Unallocated grains read as zeros. The grain tables are loaded when opened; memory follows the
/// allocated tables. Not thread-safe.
/// </summary>
[SuppressMessage("Naming", "CA1710", Justification = "Named for the VMDK role it plays; being a Stream is how it is used.")]
public sealed class VmdkReader : Stream
{
    private readonly SafeFileHandle _file;
    private readonly GrainTables _tables;
    private readonly long _capacity;
    private readonly byte[] _grain;
    private long _cachedGrain = -1;
    private long _position;
    private bool _disposed;

    private VmdkReader(SafeFileHandle file)
    {
        _file = file;
        var sector = new byte[VmdkFormat.SectorSize];
        if (RandomAccess.GetLength(file) < sector.Length)
        {
            throw new InvalidDataException("not a VMDK sparse extent (shorter than its header)");
        }

        VmdkFormat.ReadAt(file, sector, 0);
        Header = SparseExtentHeader.Read(sector);
        if (Header.GrainDirectoryOffset == SparseExtentHeader.GrainDirectoryAtEnd)
        {
            Header = ReadFooter(file);
        }

        if (Header.GrainSectors is 0 or > 2048 || (Header.GrainSectors & (Header.GrainSectors - 1)) != 0
            || Header.GrainTableEntries is 0 or > 4096 || Header.CapacitySectors is 0 or > VmdkFormat.MaxSectors)
        {
            throw new InvalidDataException("the VMDK header has an impossible grain size, table size or capacity");
        }

        if (Header.Flags.HasFlag(SparseExtentFlags.CompressedGrains) && Header.CompressAlgorithm != SparseExtentHeader.CompressionDeflate)
        {
            throw new InvalidDataException($"unsupported VMDK compression algorithm {Header.CompressAlgorithm}");
        }

        _capacity = (long)Header.CapacitySectors * VmdkFormat.SectorSize;
        GrainSize = (int)Header.GrainSectors * VmdkFormat.SectorSize;
        _grain = new byte[GrainSize];
        Descriptor = ReadDescriptor(file, Header);
        _tables = ReadTables(file, Header);
    }

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> when a grain the tables point to starts past the
    /// end of the file: an extent cut short (a copy or a disk that stopped half way).
    /// </summary>
    public void VerifyGrainsInFile()
    {
        var sectors = RandomAccess.GetLength(_file) / VmdkFormat.SectorSize;
        foreach (var index in _tables.TableIndexes)
        {
            foreach (var sector in _tables.GetTable(index)!)
            {
                // 0 is an unallocated grain and 1 a zeroed one: neither is in the file. An uncompressed
                // grain must lie whole within it; a compressed one's length is in its own marker.
                if (sector > 1 && (long)sector + (Compressed ? 1 : (long)Header.GrainSectors) > sectors)
                {
                    throw new InvalidDataException($"a grain at sector {sector} lies past the end of the file ({sectors} sectors): the extent is cut short");
                }
            }
        }
    }

    /// <summary>The effective header: the footer's for a streamOptimized file that has one.</summary>
    public SparseExtentHeader Header { get; }

    /// <summary>The embedded descriptor, if the file has one.</summary>
    public VmdkDescriptor? Descriptor { get; }

    /// <summary>The grain size in bytes (64 KiB in files from us, QEMU and VMware).</summary>
    public int GrainSize { get; }

    public long GrainCount => _tables.GrainCount;

    public override bool CanRead => !_disposed;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => false;

    public override long Length => _capacity;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    private bool Compressed => Header.Flags.HasFlag(SparseExtentFlags.CompressedGrains);

    public static VmdkReader Open(string path)
    {
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            return new VmdkReader(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Whether the grain has data in the file (it may still hold zeros).</summary>
    public bool IsGrainAllocated(long grainIndex) => GrainSector(grainIndex) != 0;

    /// <summary>The grains that have data in the file, ascending, without touching the others.</summary>
    public IEnumerable<long> AllocatedGrains()
    {
        foreach (var index in _tables.TableIndexes)
        {
            var first = (long)index * _tables.EntriesPerTable;
            for (var grain = first; grain < Math.Min(first + _tables.EntriesPerTable, GrainCount); grain++)
            {
                if (IsGrainAllocated(grain))
                {
                    yield return grain;
                }
            }
        }
    }

    /// <summary>Reads a whole grain into the first <see cref="GrainSize"/> bytes of <paramref name="destination"/>.</summary>
    public void ReadGrain(long grainIndex, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((ulong)grainIndex, (ulong)GrainCount, nameof(grainIndex));
        var target = destination[..GrainSize];
        var sector = GrainSector(grainIndex);
        if (sector == 0)
        {
            target.Clear();
        }
        else if (Compressed)
        {
            LoadCompressedGrain(grainIndex, sector).CopyTo(target);
        }
        else
        {
            VmdkFormat.ReadAt(_file, target, (long)sector * VmdkFormat.SectorSize);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var total = (int)Math.Clamp(_capacity - _position, 0, buffer.Length);
        var done = 0;
        while (done < total)
        {
            var grain = _position / GrainSize;
            var inGrain = (int)(_position % GrainSize);
            var target = buffer.Slice(done, Math.Min(total - done, GrainSize - inGrain));
            var sector = GrainSector(grain);
            if (sector == 0)
            {
                target.Clear();
            }
            else if (Compressed)
            {
                LoadCompressedGrain(grain, sector).Slice(inGrain, target.Length).CopyTo(target);
            }
            else
            {
                VmdkFormat.ReadAt(_file, target, ((long)sector * VmdkFormat.SectorSize) + inGrain);
            }

            done += target.Length;
            _position += target.Length;
        }

        return total;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _capacity + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException("cannot seek before the start of the disk");
        }

        return _position = target;
    }

    public override void Flush()
    {
    }

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("the VMDK reader is read-only");

    public override void SetLength(long value) => throw new NotSupportedException("the VMDK reader is read-only");

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _file.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>The grain's sector in the file, 0 when it reads as zeros.</summary>
    private uint GrainSector(long grain)
    {
        var sector = _tables.Get(grain);
        return sector == 1 && Header.Flags.HasFlag(SparseExtentFlags.ZeroedGrainTableEntry) ? 0 : sector;
    }

    private ReadOnlySpan<byte> LoadCompressedGrain(long grain, uint sector)
    {
        if (_cachedGrain != grain)
        {
            _cachedGrain = -1;
            DecompressGrain(grain, sector);
            _cachedGrain = grain;
        }

        return _grain;
    }

    /// <summary>A compressed grain: [lba (8, with markers)] size (4), zlib data, padding to a sector.</summary>
    private void DecompressGrain(long grain, uint sector)
    {
        var offset = (long)sector * VmdkFormat.SectorSize;
        var markers = Header.Flags.HasFlag(SparseExtentFlags.Markers);
        var prefix = markers ? 12 : 4;
        Span<byte> head = stackalloc byte[12];
        VmdkFormat.ReadAt(_file, head, offset);
        var size = BinaryPrimitives.ReadUInt32LittleEndian(head[(prefix - 4)..]);
        if (markers && BinaryPrimitives.ReadUInt64LittleEndian(head) != (ulong)grain * Header.GrainSectors)
        {
            throw new InvalidDataException($"compressed grain {grain} carries the LBA of another grain");
        }

        if (size == 0 || size > (2 * GrainSize) + 1024)
        {
            throw new InvalidDataException($"compressed grain {grain} has an impossible size {size}");
        }

        var compressed = new byte[size];
        VmdkFormat.ReadAt(_file, compressed, offset + prefix);
        using var inflater = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
        var read = inflater.ReadAtLeast(_grain, _grain.Length, throwOnEndOfStream: false);

        // The last grain of a disk whose size is not a whole number of grains may be shorter.
        _grain.AsSpan(read).Clear();
    }

    private static SparseExtentHeader ReadFooter(SafeFileHandle file)
    {
        // The file ends with: footer marker, footer (a second header), end-of-stream marker.
        var length = RandomAccess.GetLength(file);
        var tail = new byte[3 * VmdkFormat.SectorSize];
        if (length < 4 * VmdkFormat.SectorSize || length % VmdkFormat.SectorSize != 0)
        {
            throw new InvalidDataException("the streamOptimized VMDK has no footer");
        }

        VmdkFormat.ReadAt(file, tail, length - tail.Length);
        var footerMarker = StreamMarker.Read(tail);
        var endMarker = StreamMarker.Read(tail.AsSpan(2 * VmdkFormat.SectorSize));
        if (footerMarker.Type != StreamMarker.Footer || endMarker != default)
        {
            throw new InvalidDataException("the streamOptimized VMDK does not end with a footer and an end-of-stream marker");
        }

        var footer = SparseExtentHeader.Read(tail.AsSpan(VmdkFormat.SectorSize));
        if (footer.GrainDirectoryOffset == SparseExtentHeader.GrainDirectoryAtEnd)
        {
            throw new InvalidDataException("the streamOptimized VMDK's footer does not locate its grain directory");
        }

        return footer;
    }

    private static VmdkDescriptor? ReadDescriptor(SafeFileHandle file, SparseExtentHeader header)
    {
        if (header.DescriptorOffset == 0 || header.DescriptorSectors is 0 or > 2048)
        {
            return null;
        }

        var bytes = new byte[(int)header.DescriptorSectors * VmdkFormat.SectorSize];
        VmdkFormat.ReadAt(file, bytes, (long)header.DescriptorOffset * VmdkFormat.SectorSize);
        var end = bytes.AsSpan().IndexOf((byte)0);
        return VmdkDescriptor.Parse(Encoding.UTF8.GetString(bytes, 0, end < 0 ? bytes.Length : end));
    }

    private static GrainTables ReadTables(SafeFileHandle file, SparseExtentHeader header)
    {
        var grains = VmdkFormat.DivRoundUp((long)header.CapacitySectors, (long)header.GrainSectors);
        var tables = new GrainTables(grains, (int)header.GrainTableEntries);
        var directory = new byte[tables.TableCount * sizeof(uint)];
        VmdkFormat.ReadAt(file, directory, (long)header.GrainDirectoryOffset * VmdkFormat.SectorSize);
        var bytes = new byte[tables.EntriesPerTable * sizeof(uint)];
        for (var index = 0; index < tables.TableCount; index++)
        {
            var sector = BinaryPrimitives.ReadUInt32LittleEndian(directory.AsSpan(index * sizeof(uint)));
            if (sector == 0)
            {
                continue;
            }

            VmdkFormat.ReadAt(file, bytes, (long)sector * VmdkFormat.SectorSize);
            var entries = new uint[tables.EntriesPerTable];
            for (var i = 0; i < entries.Length; i++)
            {
                entries[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * sizeof(uint)));
            }

            // An all-zero table (reserved by a monolithicSparse writer) costs no memory.
            if (entries.AsSpan().ContainsAnyExcept(0u))
            {
                tables.SetTable(index, entries);
            }
        }

        return tables;
    }
}
