using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Vic.Registry;

/// <summary>
/// Reads a blob once, front to back. When the connection breaks it reopens the blob at the byte it
/// reached (HTTP <c>Range</c>), up to <see cref="RegistryOptions.BlobRetries"/> times; at the end it
/// checks the size and the sha256 against the descriptor, so no caller ever sees unverified content
/// as complete.
/// </summary>
internal sealed class ResumableBlobStream : ForwardReadStream
{
    private readonly Descriptor _descriptor;
    private readonly Func<long, CancellationToken, Task<Stream>> _reopen;
    private readonly RegistryOptions _options;
    private readonly ILogger _logger;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private Stream _current;
    private long _position;
    private int _attempts;
    private bool _verified;

    private ResumableBlobStream(Descriptor descriptor, Func<long, CancellationToken, Task<Stream>> reopen, RegistryOptions options, ILogger logger)
    {
        _descriptor = descriptor;
        _current = Null;
        _reopen = reopen;
        _options = options;
        _logger = logger;
    }

    /// <summary>Opens the blob, retrying the first request too: a drop may come before the first byte.</summary>
    public static async Task<ResumableBlobStream> OpenAsync(
        Descriptor descriptor,
        Func<long, CancellationToken, Task<Stream>> open,
        RegistryOptions options,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        var stream = new ResumableBlobStream(descriptor, open, options, logger);
        try
        {
            stream._current = await open(0, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.Unavailable)
        {
            await stream.ResumeAsync(ex, cancellationToken).ConfigureAwait(false);
        }

        return stream;
    }

    public override long Length => _descriptor.Size;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            int read;
            try
            {
                read = await _current.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0 && _position < _descriptor.Size)
                {
                    throw new IOException($"connection closed after {_position} of {_descriptor.Size} bytes");
                }
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
            {
                await ResumeAsync(ex, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (read == 0)
            {
                Verify();
                return 0;
            }

            _position += read;
            if (_position > _descriptor.Size)
            {
                throw new RegistryException(RegistryErrorKind.InvalidContent, $"blob {_descriptor.Digest} is longer than its {_descriptor.Size} bytes");
            }

            _hash.AppendData(buffer.Span[..read]);
            return read;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _current.Dispose();
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }

    private async Task ResumeAsync(Exception cause, CancellationToken cancellationToken)
    {
        while (true)
        {
            _attempts++;
            if (_attempts > _options.BlobRetries)
            {
                throw new RegistryException(
                    RegistryErrorKind.Unavailable,
                    $"download of {_descriptor.Digest} failed after {_options.BlobRetries} retries at byte {_position}: {cause.Message}",
                    cause);
            }

            RegistryClient.Log.BlobResumed(_logger, _descriptor.Digest, _position, cause.Message, _attempts);
            await _current.DisposeAsync().ConfigureAwait(false);
            await Task.Delay(_options.RetryDelay * (1 << Math.Min(_attempts - 1, 6)), cancellationToken).ConfigureAwait(false);
            try
            {
                _current = await _reopen(_position, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.Unavailable)
            {
                cause = ex;
                _current = Null;
            }
        }
    }

    private void Verify()
    {
        if (_verified)
        {
            return;
        }

        var actual = Digests.Format(_hash);
        if (actual != _descriptor.Digest)
        {
            throw new RegistryException(RegistryErrorKind.InvalidContent, $"blob digest mismatch: expected {_descriptor.Digest}, got {actual}");
        }

        _verified = true;
    }
}

/// <summary>A response body that disposes its response (and so frees the connection) with itself.</summary>
internal sealed class ResponseOwningStream(Stream inner, HttpResponseMessage response) : ForwardReadStream
{
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            response.Dispose();
        }

        base.Dispose(disposing);
    }
}
