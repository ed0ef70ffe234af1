using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Serialization;

namespace DataParallel.Shared.Transport;

/// <summary>
/// One proven connection between the coordinator and one worker that carries the step's tensors (work out, results
/// back) beside Akka.Remote, which stays the control plane: joins, membership, failure detection, the end of a run.
/// Through Akka.Remote a message crosses four threads each way (the sender's dispatcher, its DotNetty loop, the
/// receiver's socket engine and loop); here the sender writes from its own thread and one thread per channel, blocked
/// in a read, hands each message to the receiving actor. Frames are the protocol's own encoding behind a 6-byte header
/// (payload length, 2-byte manifest); a frame too large, of an unknown manifest, that does not decode, or of a type
/// this side never takes from the channel closes it. A closed channel is simply not used: messages go through
/// Akka.Remote again, and whatever was lost in flight is what the scheduler already recovers from.
/// </summary>
public sealed class DataChannel : IDisposable
{
    /// <summary>The same bound as Akka.Remote's maximum-frame-size.</summary>
    public const int MaxFrameBytes = 32 * 1024 * 1024;
    /// <summary>Written but not yet taken by the peer past this, the peer is not reading: the channel closes.</summary>
    public const long MaxPendingBytes = 64L * 1024 * 1024;
    public const int HeaderBytes = 6;
    /// <summary>The reason given when the peer closed its end in order.</summary>
    public const string ClosedByPeer = "the peer closed it";

    private readonly Stream _stream;
    private readonly Socket _socket;
    private readonly ProtocolSerializer _serializer;
    private readonly Func<object, bool> _accepts;
    private readonly Action<IProtocolMessage> _deliver;
    private readonly Action<DataChannel, string> _closed;
    private readonly object _gate = new();
    private Task _writing = Task.CompletedTask;
    private long _pending;
    private readonly bool _blockingWrites;
    private int _isClosed;

    /// <param name="stream">The connection, authenticated already (TLS with the run's certificate, and the ticket).</param>
    /// <param name="accepts">Which messages this side takes from the peer; anything else closes the channel.</param>
    /// <param name="deliver">Called on the channel's reading thread with each message, in order.</param>
    /// <param name="closed">Called once, with the reason, when the channel closes for any reason but <see cref="Dispose"/>.</param>
    /// <param name="blockingWrites">
    /// Write on the caller's thread until the frame is in the socket's buffer (the socket must never have seen an
    /// asynchronous call, and its send timeout bounds the wait): for a worker, whose actor has nothing else to do.
    /// Otherwise (the coordinator) writes that cannot finish at once go on in the background.
    /// </param>
    public DataChannel(Stream stream, Socket socket, string peer, ProtocolSerializer serializer, Func<object, bool> accepts,
        Action<IProtocolMessage> deliver, Action<DataChannel, string> closed, bool blockingWrites = false)
    {
        (_stream, _socket, Peer, _serializer, _accepts, _deliver, _closed) = (stream, socket, peer, serializer, accepts, deliver, closed);
        _blockingWrites = blockingWrites;
        socket.NoDelay = true;
    }

    public string Peer { get; }

    public bool IsOpen => Volatile.Read(ref _isClosed) == 0;

    /// <summary>Starts the thread that reads and delivers the peer's messages.</summary>
    public void Start() => new Thread(ReadLoop) { IsBackground = true, Name = $"data channel {Peer}" }.Start();

    /// <summary>
    /// Queues the message for the peer; false if the channel is closed (send it another way). The write starts on the
    /// caller's thread and usually completes there (the socket's buffer takes it); otherwise it continues in the
    /// background, in order, so the coordinator never blocks on a slow worker. With blocking writes (a worker's
    /// channel) it completes on the caller's thread or fails within the socket's send timeout, closing the channel.
    /// </summary>
    public bool TrySend(IProtocolMessage message)
    {
        if (!IsOpen) return false;
        var frame = Frame(_serializer, message);
        lock (_gate)
        {
            if (!IsOpen) return false;
            if (_blockingWrites)
            {
                WriteBlocking(frame);
                return IsOpen;
            }
            if (Interlocked.Add(ref _pending, frame.Length) > MaxPendingBytes)
            {
                Close($"the peer has not taken {MaxPendingBytes / (1024 * 1024)} MiB written to it");
                return false;
            }
            _writing = _writing.IsCompleted ? WriteAsync(frame) : _writing.ContinueWith(_ => WriteAsync(frame), TaskScheduler.Default).Unwrap();
        }
        return true;
    }

    private async Task WriteAsync(byte[] frame)
    {
        if (!IsOpen) return;
        try
        {
            await _stream.WriteAsync(frame);
        }
        catch (Exception e)
        {
            Close($"writing failed: {e.GetBaseException().Message}");
        }
        finally
        {
            Interlocked.Add(ref _pending, -frame.Length);
        }
    }

    // Nothing waits in the background, so nothing is pending: the socket's send timeout is the bound.
    private void WriteBlocking(byte[] frame)
    {
        try
        {
            _stream.Write(frame);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            Close($"writing failed: {e.GetBaseException().Message}");
        }
    }

    /// <summary>A message as one frame: payload length (int32, little-endian), the 2-byte manifest, the payload.</summary>
    public static byte[] Frame(ProtocolSerializer serializer, IProtocolMessage message)
    {
        var manifest = serializer.Manifest(message);
        if (manifest.Length != 2) throw new ArgumentException($"manifest '{manifest}' is not 2 characters");
        // Encoded straight into the frame: no copy of the 52 kB of a parameter vector.
        var frame = serializer.Encode(message, HeaderBytes);
        BinaryPrimitives.WriteInt32LittleEndian(frame, frame.Length - HeaderBytes);
        frame[4] = (byte)manifest[0];
        frame[5] = (byte)manifest[1];
        return frame;
    }

    private void ReadLoop()
    {
        var header = new byte[HeaderBytes];
        try
        {
            while (IsOpen)
            {
                if (_stream.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false) < HeaderBytes)
                {
                    Close(ClosedByPeer);
                    return;
                }
                var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                if (length < 0 || length > MaxFrameBytes)
                {
                    Close($"the peer sent a frame of {length} bytes (at most {MaxFrameBytes})");
                    return;
                }
                var manifest = Encoding.ASCII.GetString(header, 4, 2);
                var payload = new byte[length];
                _stream.ReadExactly(payload);
                object message;
                try
                {
                    message = _serializer.FromBinary(payload, manifest);
                }
                catch (Exception e) when (e is WireFormatException or ArgumentException or OverflowException)
                {
                    Close($"the peer sent a frame that does not decode ({manifest}: {e.Message})");
                    return;
                }
                if (!_accepts(message) || message is not IProtocolMessage protocol)
                {
                    Close($"the peer sent a {message.GetType().Name}, which is never taken from this channel");
                    return;
                }
                _deliver(protocol);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
            Close(IsOpen ? $"reading failed: {e.GetBaseException().Message}" : "closed");
        }
    }

    private void Close(string reason)
    {
        if (Interlocked.Exchange(ref _isClosed, 1) != 0) return;
        Shut();
        _closed(this, reason);
    }

    private void Shut()
    {
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception) { /* already gone */ }
        try { _stream.Dispose(); } catch (Exception) { /* a pending write fails with it */ }
        _socket.Dispose();
    }

    /// <summary>Closes the channel without reporting it (its owner is done with it).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _isClosed, 1) == 0) Shut();
    }
}
