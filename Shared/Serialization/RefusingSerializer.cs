using Akka.Actor;
using System.Runtime.Serialization;
using Akka.Serialization;

namespace DataParallel.Shared.Serialization;

/// <summary>
/// Takes the place of Akka's JSON serializer (same identifier, 1), which would instantiate whatever type a peer names
/// in its manifest. Nothing of ours travels as JSON: the protocol has its own binary serializer and Akka's internal
/// messages have theirs. So a message that would need JSON is refused at both ends, with the type in the error.
/// </summary>
public sealed class RefusingSerializer(ExtendedActorSystem system) : Serializer(system)
{
    /// <summary>Akka creates the serializer bound as "json" with its settings section, which this one has no use for.</summary>
    public RefusingSerializer(ExtendedActorSystem system, Akka.Configuration.Config _) : this(system) { }

    public const int JsonIdentifier = 1;

    public override int Identifier => JsonIdentifier;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) =>
        throw new SerializationException($"{obj.GetType()} is not a protocol message; this cluster sends no JSON");

    public override object FromBinary(byte[] bytes, Type? type) =>
        throw new SerializationException($"refused a JSON payload ({bytes.Length} bytes) from a peer: this cluster accepts none");
}
