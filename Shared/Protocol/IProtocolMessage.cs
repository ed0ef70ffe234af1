namespace DataParallel.Shared.Protocol;

/// <summary>
/// Every message that may cross a process boundary. The interface is bound to
/// <see cref="Serialization.ProtocolSerializer"/> in HOCON, so none of them ever travels as JSON.
/// </summary>
public interface IProtocolMessage;

public static class ProtocolInfo
{
    /// <summary>Raised whenever a message changes shape or meaning; workers of another version are refused.</summary>
    public const int Version = 3;
}
