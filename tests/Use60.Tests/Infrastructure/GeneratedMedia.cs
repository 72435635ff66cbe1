using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// A recording's worth of deterministic pseudo-random bytes (xorshift64*, so incompressible), made as they are read: any size
/// without holding it. Not seekable, like an HTTP response, unless asked to be (a seek starts over and skips ahead: for a client
/// that reads a body twice, to sign it and to send it). The same seed and length always give the same bytes.
/// </summary>
public sealed class GeneratedMedia(long length, ulong seed = 60, bool seekable = false) : Stream
{
    ulong state = Start(seed);
    ulong pending;
    int pendingBytes;
    long position;

    static ulong Start(ulong seed) => seed * 0x9E3779B97F4A7C15UL | 1;

    public override bool CanRead => true;
    public override bool CanSeek => seekable;
    public override bool CanWrite => false;
    public override long Length => seekable ? length : throw new NotSupportedException();

    public override long Position
    {
        get => position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var count = (int)Math.Min(buffer.Length, length - position);
        var i = 0;
        for (; i < count && pendingBytes > 0; i++) buffer[i] = TakePending();
        for (; count - i >= 8; i += 8) BinaryPrimitives.WriteUInt64LittleEndian(buffer[i..], Next());
        for (; i < count; i++)
        {
            if (pendingBytes == 0) (pending, pendingBytes) = (Next(), 8);
            buffer[i] = TakePending();
        }
        position += count;
        return count;
    }

    ulong Next()
    {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545F4914F6CDD1DUL;
    }

    byte TakePending()
    {
        var value = (byte)pending;
        pending >>= 8;
        pendingBytes--;
        return value;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin)
    {
        if (!seekable) throw new NotSupportedException();
        var target = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => position + offset, _ => length + offset };
        (state, pending, pendingBytes, position) = (Start(seed), 0, 0, 0);
        var skip = new byte[64 * 1024];
        while (position < Math.Min(target, length)) ReadExactly(skip.AsSpan(0, (int)Math.Min(skip.Length, Math.Min(target, length) - position)));
        return position;
    }

    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>The SHA-256 of the first <paramref name="length"/> bytes of seed <paramref name="seed"/>.</summary>
    public static byte[] Sha256(long length, ulong seed = 60)
    {
        using var media = new GeneratedMedia(length, seed);
        return SHA256.HashData(media);
    }

    public static byte[] Bytes(long length, ulong seed = 60)
    {
        var bytes = new byte[length];
        new GeneratedMedia(length, seed).ReadExactly(bytes);
        return bytes;
    }

    /// <summary>
    /// <c>GET /media/{length}?seed=S&amp;dropAfter=N</c> on a loopback server: the provider's media URL. It announces the full
    /// Content-Length and streams the bytes; with <c>dropAfter</c> it cuts the connection after that many, as a provider
    /// that fails mid-file does.
    /// </summary>
    public static void MapServer(WebApplication app) =>
        app.MapGet("/media/{length:long}", async (long length, ulong? seed, long? dropAfter, HttpContext context) =>
        {
            context.Response.ContentType = "video/mp4";
            context.Response.ContentLength = length;
            await using var media = new GeneratedMedia(length, seed ?? 60);
            var buffer = new byte[64 * 1024];
            long sent = 0;
            while (sent < length)
            {
                var count = (int)Math.Min(buffer.Length, Math.Min(length, dropAfter ?? long.MaxValue) - sent);
                if (count <= 0)
                {
                    await context.Response.Body.FlushAsync();
                    // A reset discards what the client has not read yet: give it the bytes sent so far before the connection drops,
                    // so the drop comes where the test put it (a busy machine reads late).
                    await Task.Delay(TimeSpan.FromMilliseconds(500));
                    context.Abort();
                    return;
                }
                media.ReadExactly(buffer, 0, count);
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, count), context.RequestAborted);
                sent += count;
            }
        });
}
