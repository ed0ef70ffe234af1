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
/// thread that creates it), and everything else runs on the thread pool. Bandwidth is not limited.
/// </summary>
public sealed class DelayRelay : IDisposable
{
    private const int CloneNewNet = 0x40000000;
    private readonly Socket _listener;
    private readonly TimeSpan _delay;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _open = new();
    private long _bytes;

    private DelayRelay(Socket listener, IPEndPoint target, TimeSpan delay)
    {
        _listener = listener;
        _target = target;
        _delay = delay;
    }

    /// <summary>Bytes forwarded so far, both directions together.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <param name="netns">The namespace's name (<c>ip netns</c>), or null for this process's own.</param>
    public static DelayRelay Start(string? netns, IPEndPoint listen, IPEndPoint target, TimeSpan oneWayDelay)
    {
        var started = new TaskCompletionSource<DelayRelay>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            DelayRelay relay;
            try
            {
                if (netns is not null) Enter(netns);
                var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                listener.Bind(listen);
                listener.Listen(64);
                relay = new DelayRelay(listener, target, oneWayDelay);
                started.SetResult(relay);
            }
            catch (Exception e)
            {
                started.SetException(new InvalidOperationException($"relay {listen} -> {target} in {netns ?? "this namespace"}: {e.Message}", e));
                return;
            }
            relay.AcceptLoop();
        }) { IsBackground = true, Name = $"relay {listen}" };
        thread.Start();
        return started.Task.GetAwaiter().GetResult();
    }

    private static void Enter(string netns)
    {
        using var handle = File.OpenHandle($"/run/netns/{netns}");
        if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
            throw new InvalidOperationException($"setns({netns}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Runs on the thread inside the namespace, which also makes each upstream socket.</summary>
    private void AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client, upstream;
            try
            {
                client = _listener.Accept();
                upstream = new Socket(_target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            client.NoDelay = upstream.NoDelay = true;
            lock (_open) { _open.Add(client); _open.Add(upstream); }
            _ = Task.Run(() => Connect(client, upstream));
        }
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
        _listener.Dispose();
        lock (_open) foreach (var s in _open) s.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);
}
