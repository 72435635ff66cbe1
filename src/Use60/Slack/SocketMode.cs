using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace Use60.Slack;

/// <summary>
/// Socket Mode (SLACK_APP_TOKEN set): Slack's callbacks arrive over a WebSocket opened with
/// apps.connections.open instead of public HTTP. Each envelope is acknowledged by its envelope_id, carrying
/// the same answer the HTTP endpoint would give, and goes through the same receiver, inbox and listeners.
/// The socket is reopened after a disconnect message, a dropped connection or a failure, with backoff.
/// </summary>
public sealed class SocketModeClient(IOptions<SlackOptions> options, SlackApi api, SlackReceiver receiver, TimeProvider clock,
    ILogger<SocketModeClient> logger) : BackgroundService
{
    static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>How many connections were opened; tests watch it to see a reconnect.</summary>
    public int Connections => connections;

    int connections;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (string.IsNullOrWhiteSpace(options.Value.AppToken)) return;
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var url = await api.OpenSocketAsync(options.Value.AppToken.Trim(), stoppingToken);
                using var socket = new ClientWebSocket();
                await socket.ConnectAsync(new Uri(url), stoppingToken);
                Interlocked.Increment(ref connections);
                failures = 0;
                await RunAsync(socket, stoppingToken);
                continue; // a clean end (disconnect message, server closed): reconnect at once
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is WebSocketException or SlackApiException or IOException or JsonException)
            {
                failures++;
                logger.LogWarning("Socket Mode connection failed ({Reason}); reconnecting", e.Message);
            }
            var backoff = TimeSpan.FromSeconds(Math.Min(Math.Pow(2, failures - 1), MaxBackoff.TotalSeconds));
            await Task.Delay(backoff, clock, stoppingToken).ContinueWith(_ => { }, CancellationToken.None);
        }
    }

    async Task RunAsync(ClientWebSocket socket, CancellationToken stoppingToken)
    {
        using var sending = new SemaphoreSlim(1, 1);
        var inFlight = new List<Task>();
        while (socket.State == WebSocketState.Open)
        {
            var text = await ReceiveAsync(socket, stoppingToken);
            if (text is null) break;
            var message = JsonNode.Parse(text) as JsonObject;
            switch (message?["type"]?.GetValue<string>())
            {
                case "hello":
                    logger.LogInformation("Socket Mode connected to Slack");
                    break;
                case "disconnect":
                    logger.LogInformation("Slack asked to reconnect the Socket Mode connection ({Reason})", message["reason"]?.GetValue<string>());
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "reconnecting", stoppingToken);
                    await Task.WhenAll(inFlight);
                    return;
                case { } type when message["envelope_id"]?.GetValue<string>() is { } envelopeId:
                    // Envelopes are handled side by side: a slow one must not hold back the next one's ack.
                    inFlight.RemoveAll(t => t.IsCompleted);
                    inFlight.Add(HandleAsync(socket, sending, type, envelopeId, message["payload"] as JsonObject ?? [], stoppingToken));
                    break;
            }
        }
        await Task.WhenAll(inFlight);
    }

    async Task HandleAsync(ClientWebSocket socket, SemaphoreSlim sending, string type, string envelopeId, JsonObject payload,
        CancellationToken stoppingToken)
    {
        try
        {
            JsonObject? answer = type switch
            {
                "events_api" => await receiver.EventAsync(payload, stoppingToken),
                "slash_commands" => await receiver.CommandAsync(payload, stoppingToken),
                "interactive" when payload["type"]?.GetValue<string>() == "block_suggestion" => await receiver.OptionsAsync(payload, stoppingToken),
                "interactive" => await receiver.InteractionAsync(payload, stoppingToken),
                _ => null,
            };
            var ack = new JsonObject { ["envelope_id"] = envelopeId };
            if (answer is not null) ack["payload"] = answer;
            await sending.WaitAsync(stoppingToken);
            try
            {
                await socket.SendAsync(Encoding.UTF8.GetBytes(ack.ToJsonString()), WebSocketMessageType.Text, true, stoppingToken);
            }
            finally
            {
                sending.Release();
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // Unacknowledged, Slack sends the envelope again; the inbox makes sure it is handled once.
            logger.LogWarning(e, "Socket Mode envelope {EnvelopeId} ({Type}) was not acknowledged", envelopeId, type);
        }
    }

    static async Task<string?> ReceiveAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close) return null;
            message.Write(buffer, 0, result.Count);
            if (message.Length > SlackFeature.MaxBodyBytes) throw new WebSocketException("A Socket Mode message was larger than 1 MiB.");
            if (result.EndOfMessage) return Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length);
        }
    }
}
