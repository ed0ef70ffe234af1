using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace DataParallel.Tests.Support;

/// <summary>
/// A TCP forwarder that holds every chunk of data for a fixed time in each direction: latency for a kernel
/// without netem. It listens inside a network namespace and connects to a target in the same namespace; the
/// sockets are made on a thread that has entered the namespace (a socket belongs to the namespace of the
/// thread that creates it), and everything else runs on the thread pool. Bandwidth is not limited. The relay
/// listens on the target's port at another address, so it looks for the target's listening socket by port.
/// </summary>
public sealed class DelayRelay : IDisposable
{
    private const int CloneNewNet = 0x40000000;
    private readonly IPEndPoint _listen;
    private readonly TimeSpan _delay;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _open = new();
    private long _bytes;

    private DelayRelay(IPEndPoint listen, IPEndPoint target, TimeSpan delay)
    {
        _listen = listen;
        _target = target;
        _delay = delay;
    }

    /// <summary>Bytes forwarded so far, both directions together.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <param name="netns">The namespace's name (<c>ip netns</c>), or null for this process's own.</param>
    public static DelayRelay Start(string? netns, IPEndPoint listen, IPEndPoint target, TimeSpan oneWayDelay)
    {
        var relay = new DelayRelay(listen, target, oneWayDelay);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                if (netns is not null) Enter(netns);
                started.SetResult();
            }
            catch (Exception e)
            {
                started.SetException(new InvalidOperationException($"relay {listen} -> {target} in {netns ?? "this namespace"}: {e.Message}", e));
                return;
            }
            relay.Serve();
        }) { IsBackground = true, Name = $"relay {listen}" };
        thread.Start();
        started.Task.GetAwaiter().GetResult();
        return relay;
    }

    private static void Enter(string netns)
    {
        using var handle = File.OpenHandle($"/run/netns/{netns}");
        if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
            throw new InvalidOperationException($"setns({netns}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>
    /// Runs on the thread inside the namespace, which also makes each upstream socket. The relay listens only while
    /// its target does: a machine whose program has exited refuses connections, where a relay that accepted them
    /// and then closed them would look like a failed TLS handshake (on which Akka.Remote shuts the connecting node
    /// down).
    /// </summary>
    private void Serve()
    {
        Socket? listener = null;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var up = TargetListening();
                if (up && listener is null)
                {
                    listener = new Socket(_listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    listener.Bind(_listen);
                    listener.Listen(64);
                }
                else if (!up && listener is not null)
                {
                    listener.Dispose();
                    listener = null;
                }
                if (listener is null || !listener.Poll(TimeSpan.FromMilliseconds(5), SelectMode.SelectRead))
                {
                    if (listener is null) Thread.Sleep(5);
                    continue;
                }
                var client = listener.Accept();
                var upstream = new Socket(_target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                client.NoDelay = upstream.NoDelay = true;
                lock (_open) { _open.Add(client); _open.Add(upstream); }
                _ = Task.Run(() => Connect(client, upstream));
            }
        }
        finally
        {
            listener?.Dispose();
        }
    }

    /// <summary>Whether a socket listens on the target port, read from this thread's namespace's socket tables.</summary>
    private bool TargetListening()
    {
        var port = $":{_target.Port:X4} ";
        foreach (var table in new[] { "/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6" })
        {
            if (!File.Exists(table)) continue;
            // "  sl  local_address rem_address   st ...": state 0A is LISTEN.
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 3 && fields[3] == "0A" && (fields[1] + " ").EndsWith(port, StringComparison.Ordinal)) return true;
            }
        }
        return false;
    }

    private async Task Connect(Socket client, Socket upstream)
    {
        try
        {
            await upstream.ConnectAsync(_target, _stop.Token);
            await Task.WhenAll(Pump(client, upstream), Pump(upstream, client));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException) { }
        finally
        {
            client.Dispose();
            upstream.Dispose();
            lock (_open) { _open.Remove(client); _open.Remove(upstream); }
        }
    }

    /// <summary>One direction: what is read now is written <c>delay</c> later, in order; a close travels with the same delay.</summary>
    private async Task Pump(Socket from, Socket to)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Data)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            try
            {
                await foreach (var (due, data) in queue.Reader.ReadAllAsync(_stop.Token))
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, _stop.Token);
                    if (data.Length == 0) { to.Shutdown(SocketShutdown.Send); return; }
                    await to.SendAsync(data, SocketFlags.None, _stop.Token);
                    Interlocked.Add(ref _bytes, data.Length);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                from.Dispose(); // the other end is gone: stop reading too
            }
        });
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                var due = Stopwatch.GetTimestamp() + (long)(_delay.TotalSeconds * Stopwatch.Frequency);
                queue.Writer.TryWrite((due, buffer.AsSpan(0, n).ToArray()));
                if (n == 0) break;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            to.Dispose();
        }
        queue.Writer.TryComplete();
        await writer;
    }

    public void Dispose()
    {
        _stop.Cancel();
        lock (_open) foreach (var s in _open) s.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);
}
