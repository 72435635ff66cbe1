using System.Collections.Concurrent;
using System.Text;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// Reads what an in-process app logs (Serilog writes to the console): the console is teed once for the test process, and each
/// tap sees the lines written while it is open. Other tests' apps write there too, so a test looks for lines only it can cause.
/// </summary>
public sealed class ConsoleTap : IDisposable
{
    static readonly object Gate = new();
    static Tee? tee;

    readonly ConcurrentQueue<string> lines = new();

    public IReadOnlyList<string> Lines => [.. lines];

    public static ConsoleTap Start()
    {
        var tap = new ConsoleTap();
        lock (Gate)
        {
            if (tee is null)
            {
                tee = new Tee(Console.Out);
                Console.SetOut(tee);
            }
            tee.Taps.Add(tap);
        }
        return tap;
    }

    public void Dispose()
    {
        lock (Gate) tee?.Taps.Remove(this);
    }

    sealed class Tee(TextWriter inner) : TextWriter
    {
        readonly StringBuilder line = new();
        public readonly List<ConsoleTap> Taps = [];

        public override Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            lock (Gate)
            {
                inner.Write(value);
                if (value == '\n')
                {
                    var text = line.ToString().TrimEnd('\r');
                    line.Clear();
                    foreach (var tap in Taps) tap.lines.Enqueue(text);
                }
                else line.Append(value);
            }
        }

        public override void Write(string? value)
        {
            lock (Gate)
                foreach (var c in value ?? "") Write(c);
        }

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

        public override void Flush() => inner.Flush();
    }
}
