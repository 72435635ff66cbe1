using System.Net;
using System.Net.Sockets;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a real server, which a test can cut (open connections dropped, new ones
/// refused) and restore on the same port: an outage without stopping the shared PostgreSQL. It counts round trips.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    readonly IPEndPoint target;
    readonly List<TcpClient> open = [];
    TcpListener? listener;
    CancellationTokenSource running = new();
    long roundTrips;

    public int Port { get; }

    /// <summary>
    /// Round trips so far, on every connection: each time a client sends after the server has answered (or first, on a new
    /// connection) is one, however many bytes or statements it sends.
    /// </summary>
    public long RoundTrips => Interlocked.Read(ref roundTrips);

    public TcpProxy(int targetPort)
    {
        target = new IPEndPoint(IPAddress.Loopback, targetPort);
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Restore();
    }

    public void Restore()
    {
        running = new CancellationTokenSource();
        listener = new TcpListener(IPAddress.Loopback, Port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        _ = AcceptAsync(listener, running.Token);
    }

    public void Cut()
    {
        running.Cancel();
        listener?.Stop();
        lock (open)
        {
            foreach (var client in open) client.Dispose();
            open.Clear();
        }
    }

    async Task AcceptAsync(TcpListener server, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TcpClient inbound;
            try { inbound = await server.AcceptTcpClientAsync(cancellationToken); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            var outbound = new TcpClient();
            try { await outbound.ConnectAsync(target, cancellationToken); }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }
            // Each write goes on at once, as it would without the proxy in between.
            inbound.NoDelay = outbound.NoDelay = true;
            lock (open) open.AddRange([inbound, outbound]);
            var conversation = new Conversation();
            _ = PumpAsync(inbound, outbound, conversation, fromClient: true, cancellationToken);
            _ = PumpAsync(outbound, inbound, conversation, fromClient: false, cancellationToken);
        }
    }

    /// <summary>Whether the server has spoken since the client last did: the client's next write starts a round trip.</summary>
    sealed class Conversation
    {
        public int ServerAnswered = 1;
    }

    async Task PumpAsync(TcpClient from, TcpClient to, Conversation conversation, bool fromClient, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.GetStream().ReadAsync(buffer, cancellationToken)) > 0)
            {
                if (!fromClient) Volatile.Write(ref conversation.ServerAnswered, 1);
                else if (Interlocked.Exchange(ref conversation.ServerAnswered, 0) == 1) Interlocked.Increment(ref roundTrips);
                await to.GetStream().WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException) { }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }
}
