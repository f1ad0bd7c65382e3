using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Win32.SafeHandles;

namespace Vic.Disks.Vmdk;

/// <summary>
/// Writes a monolithicSparse VMDK, the single-file format QEMU and VMware hosted products open
/// directly, through a seekable, write-only stream of the virtual disk.
/// </summary>
/// <remarks>
/// Layout (as VMware and QEMU create it): header, descriptor (sectors 1-20), redundant grain
/// directory and tables, grain directory and tables, then 64 KiB grains from the next grain
/// boundary, appended in the order they are first written. All grain tables are reserved up front
/// (readers and writers such as QEMU expect every directory entry to point at one); tables that
/// stay empty are never written, so they cost file size but no disk blocks. A grain is allocated
/// on its first non-zero write; zeros written to an unallocated grain allocate nothing. Writes go
/// straight to the grain in the file, so partial and repeated writes need no read-back: the parts
/// of a grain never written are holes that read as zeros. The tables and header are written by
/// <see cref="Flush()"/> and on dispose, the header last: a crash before the first flush leaves no VMDK.
/// Not thread-safe.
/// </remarks>
[SuppressMessage("Naming", "CA1710", Justification = "Named for the VMDK role it plays; being a Stream is how it is used.")]
public sealed class MonolithicSparseWriter : Stream
{
    private const int RedundantDirectoryOffset = VmdkFormat.DescriptorOffset + VmdkFormat.DescriptorSectors;

    private readonly SafeFileHandle _file;
    private readonly long _capacity;
    private readonly SparseExtentHeader _header;
    private readonly byte[] _descriptor;
    private readonly GrainTables _tables;
    private readonly HashSet<int> _dirtyTables = [];
    private readonly long _directorySectors;
    private readonly long _firstRedundantTable;
    private readonly long _firstTable;
    private long _nextGrainSector;
    private long _position;
    private bool _directoriesWritten;
    private bool _disposed;

    private MonolithicSparseWriter(SafeFileHandle file, long capacitySectors, string fileName, VmdkAdapterType adapterType)
    {
        _file = file;
        _capacity = capacitySectors * VmdkFormat.SectorSize;
        _tables = new GrainTables(VmdkFormat.DivRoundUp(capacitySectors, VmdkFormat.GrainSectors), VmdkFormat.GrainTableEntries);
        long tableSectors = (long)_tables.TableCount * VmdkFormat.GrainTableSectors;
        _directorySectors = VmdkFormat.DivRoundUp(_tables.TableCount * sizeof(uint), VmdkFormat.SectorSize);
        _firstRedundantTable = RedundantDirectoryOffset + _directorySectors;
        var directory = _firstRedundantTable + tableSectors;
        _firstTable = directory + _directorySectors;
        _nextGrainSector = VmdkFormat.RoundUp(_firstTable + tableSectors, VmdkFormat.GrainSectors);
        _header = new SparseExtentHeader
        {
            Version = 1,
            Flags = SparseExtentFlags.ValidNewlineDetection | SparseExtentFlags.RedundantGrainTable,
            CapacitySectors = (ulong)capacitySectors,
            DescriptorOffset = VmdkFormat.DescriptorOffset,
            DescriptorSectors = VmdkFormat.DescriptorSectors,
            RedundantGrainDirectoryOffset = RedundantDirectoryOffset,
            GrainDirectoryOffset = (ulong)directory,
            OverheadSectors = (ulong)_nextGrainSector,
            CompressAlgorithm = SparseExtentHeader.CompressionNone,
        };
        var text = VmdkDescriptor.Build("monolithicSparse", capacitySectors, fileName, adapterType);
        _descriptor = VmdkDescriptor.ToSectors(text, VmdkFormat.DescriptorSectors);
    }

    public override bool CanRead => false;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed;

    /// <summary>The capacity of the virtual disk; it never grows.</summary>
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

    /// <summary>Grains (64 KiB each) holding data so far.</summary>
    public long AllocatedGrains { get; private set; }

    /// <summary>Creates (or truncates) <paramref name="path"/> for a disk of <paramref name="capacityBytes"/>, a multiple of 512.</summary>
    public static MonolithicSparseWriter Create(string path, long capacityBytes, VmdkAdapterType adapterType = VmdkAdapterType.LsiLogic)
    {
        var sectors = VmdkFormat.CapacitySectors(capacityBytes);
        var file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        try
        {
            var writer = new MonolithicSparseWriter(file, sectors, Path.GetFileName(path), adapterType);
            RandomAccess.SetLength(file, writer._nextGrainSector * VmdkFormat.SectorSize);
            return writer;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
        {
            return;
        }

        if (_position > _capacity - buffer.Length)
        {
            throw new IOException($"a write of {buffer.Length} bytes at {_position} goes past the end of the {_capacity}-byte disk");
        }

        while (!buffer.IsEmpty)
        {
            var grain = _position / VmdkFormat.GrainSize;
            var inGrain = (int)(_position % VmdkFormat.GrainSize);
            var chunk = buffer[..Math.Min(buffer.Length, VmdkFormat.GrainSize - inGrain)];
            var sector = _tables.Get(grain);
            if (sector == 0 && chunk.ContainsAnyExcept((byte)0))
            {
                sector = Allocate(grain);
            }

            if (sector != 0)
            {
                RandomAccess.Write(_file, chunk, ((long)sector * VmdkFormat.SectorSize) + inGrain);
            }

            buffer = buffer[chunk.Length..];
            _position += chunk.Length;
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // Local file writes: completing synchronously beats a thread-pool hop per call.
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

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

    /// <summary>Writes the grain tables, descriptor and header, leaving a complete VMDK; writing may go on.</summary>
    public override void Flush()
    {
        if (!_disposed)
        {
            WriteMetadata();
        }
    }

    /// <summary>As <see cref="Flush()"/>, and with <paramref name="flushToDisk"/> also makes the file durable.</summary>
    public void Flush(bool flushToDisk)
    {
        Flush();
        if (flushToDisk && !_disposed)
        {
            RandomAccess.FlushToDisk(_file);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("the VMDK writer is write-only");

    public override void SetLength(long value) => throw new NotSupportedException("the capacity of a VMDK is fixed when it is created");

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            try
            {
                WriteMetadata();
            }
            finally
            {
                _disposed = true;
                _file.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private uint Allocate(long grain)
    {
        if (_nextGrainSector + VmdkFormat.GrainSectors > VmdkFormat.MaxSectors)
        {
            throw new IOException("the VMDK file would pass 2 TiB, beyond what 32-bit grain table entries address");
        }

        var sector = (uint)_nextGrainSector;
        _nextGrainSector += VmdkFormat.GrainSectors;
        _tables.Set(grain, sector);
        _dirtyTables.Add((int)(grain / VmdkFormat.GrainTableEntries));
        AllocatedGrains++;
        return sector;
    }

    private void WriteMetadata()
    {
        if (!_directoriesWritten)
        {
            RandomAccess.Write(_file, _descriptor, VmdkFormat.DescriptorOffset * VmdkFormat.SectorSize);
            RandomAccess.Write(_file, Directory(_firstRedundantTable), RedundantDirectoryOffset * VmdkFormat.SectorSize);
            RandomAccess.Write(_file, Directory(_firstTable), (long)_header.GrainDirectoryOffset * VmdkFormat.SectorSize);
            _directoriesWritten = true;
        }

        var bytes = new byte[VmdkFormat.GrainTableSectors * VmdkFormat.SectorSize];
        foreach (var index in _dirtyTables)
        {
            var table = _tables.GetTable(index)!;
            for (var i = 0; i < table.Length; i++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * sizeof(uint)), table[i]);
            }

            var offset = (long)index * VmdkFormat.GrainTableSectors;
            RandomAccess.Write(_file, bytes, (_firstRedundantTable + offset) * VmdkFormat.SectorSize);
            RandomAccess.Write(_file, bytes, (_firstTable + offset) * VmdkFormat.SectorSize);
        }

        _dirtyTables.Clear();

        // Grains are written sparsely; the file must still reach the end of the last one.
        var end = _nextGrainSector * VmdkFormat.SectorSize;
        if (RandomAccess.GetLength(_file) < end)
        {
            RandomAccess.SetLength(_file, end);
        }

        RandomAccess.Write(_file, _header.ToBytes(), 0);
    }

    /// <summary>A grain directory whose tables are laid out one after another from <paramref name="firstTable"/>.</summary>
    private byte[] Directory(long firstTable)
    {
        var bytes = new byte[_directorySectors * VmdkFormat.SectorSize];
        for (var i = 0; i < _tables.TableCount; i++)
        {
            var sector = firstTable + ((long)i * VmdkFormat.GrainTableSectors);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * sizeof(uint)), (uint)sector);
        }

        return bytes;
    }
}
