namespace Vic.Disks.Vmdk;

/// <summary>
/// Writes a streamOptimized VMDK (the compressed, append-only format vSphere imports) to any
/// writable stream, front to back: the output need not be seekable (an HTTP upload, a pipe).
/// All-zero grains are omitted. See <see cref="StreamOptimizedEncoder"/> for the layout.
/// </summary>
public static class StreamOptimizedWriter
{
    /// <summary>
    /// Encodes the disk read sequentially from <paramref name="source"/>'s current position. A
    /// source shorter than <paramref name="capacityBytes"/> (a multiple of 512) is zero-padded; a
    /// longer one is refused rather than silently cut.
    /// </summary>
    public static void Write(Stream source, long capacityBytes, Stream output, StreamOptimizedOptions? options = null)
    {
        using var encoder = new StreamOptimizedEncoder(capacityBytes, options ?? new StreamOptimizedOptions());
        output.Write(encoder.Begin().Span);
        var grain = new byte[VmdkFormat.GrainSize];
        for (long index = 0; index < encoder.GrainCount; index++)
        {
            var data = grain.AsSpan(0, encoder.GrainLength(index));
            data[source.ReadAtLeast(data, data.Length, throwOnEndOfStream: false)..].Clear();
            output.Write(encoder.AddGrain(index, data).Span);
        }

        if (source.Read(grain, 0, 1) != 0)
        {
            throw new InvalidDataException($"the source holds more than the disk's {capacityBytes} bytes");
        }

        output.Write(encoder.Finish().Span);
    }

    /// <summary>Encodes a sparse VMDK's disk, visiting only its allocated grains.</summary>
    public static void Write(VmdkReader source, Stream output, StreamOptimizedOptions? options = null)
    {
        if (source.GrainSize != VmdkFormat.GrainSize)
        {
            source.Position = 0;
            Write((Stream)source, source.Length, output, options);
            return;
        }

        using var encoder = new StreamOptimizedEncoder(source.Length, options ?? new StreamOptimizedOptions());
        output.Write(encoder.Begin().Span);
        var grain = new byte[VmdkFormat.GrainSize];
        foreach (var index in source.AllocatedGrains())
        {
            source.ReadGrain(index, grain);
            output.Write(encoder.AddGrain(index, grain.AsSpan(0, encoder.GrainLength(index))).Span);
        }

        output.Write(encoder.Finish().Span);
    }

    /// <inheritdoc cref="Write(Stream, long, Stream, StreamOptimizedOptions?)"/>
    public static async Task WriteAsync(
        Stream source, long capacityBytes, Stream output, StreamOptimizedOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var encoder = new StreamOptimizedEncoder(capacityBytes, options ?? new StreamOptimizedOptions());
        await output.WriteAsync(encoder.Begin(), cancellationToken).ConfigureAwait(false);
        var grain = new byte[VmdkFormat.GrainSize];
        for (long index = 0; index < encoder.GrainCount; index++)
        {
            var data = grain.AsMemory(0, encoder.GrainLength(index));
            var read = await source.ReadAtLeastAsync(data, data.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            data.Span[read..].Clear();
            await output.WriteAsync(encoder.AddGrain(index, data.Span), cancellationToken).ConfigureAwait(false);
        }

        if (await source.ReadAsync(grain.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) != 0)
        {
            throw new InvalidDataException($"the source holds more than the disk's {capacityBytes} bytes");
        }

        await output.WriteAsync(encoder.Finish(), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="Write(VmdkReader, Stream, StreamOptimizedOptions?)"/>
    public static async Task WriteAsync(
        VmdkReader source, Stream output, StreamOptimizedOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (source.GrainSize != VmdkFormat.GrainSize)
        {
            source.Position = 0;
            await WriteAsync((Stream)source, source.Length, output, options, cancellationToken).ConfigureAwait(false);
            return;
        }

        using var encoder = new StreamOptimizedEncoder(source.Length, options ?? new StreamOptimizedOptions());
        await output.WriteAsync(encoder.Begin(), cancellationToken).ConfigureAwait(false);
        var grain = new byte[VmdkFormat.GrainSize];
        foreach (var index in source.AllocatedGrains())
        {
            source.ReadGrain(index, grain);
            await output.WriteAsync(encoder.AddGrain(index, grain.AsSpan(0, encoder.GrainLength(index))), cancellationToken).ConfigureAwait(false);
        }

        await output.WriteAsync(encoder.Finish(), cancellationToken).ConfigureAwait(false);
    }
}
