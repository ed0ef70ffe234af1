namespace DataParallel.Shared.Protocol;

// Worker -> coordinator: first message after the worker's node is Up in the cluster.
public sealed record JoinRequest(string WorkerId, int ProtocolVersion, string ModelFingerprint, int Threads, string Host) : IProtocolMessage;

// Coordinator -> worker: prove you hold the join token (HMAC-SHA256 of the nonce), without sending it.
public sealed record JoinChallenge(string WorkerId, byte[] Nonce) : IProtocolMessage;

public sealed record JoinProof(string WorkerId, byte[] Proof) : IProtocolMessage;

/// <summary>What every worker needs to compute exactly what the coordinator expects.</summary>
public sealed record JobSpec(string RunId, long Seed, double Dropout, double AugmentDegrees, double AugmentTranslate) : IProtocolMessage;

public sealed record JoinAccepted(string WorkerId, JobSpec Job) : IProtocolMessage;

public sealed record JoinRefused(string WorkerId, string Reason) : IProtocolMessage;

// Coordinator -> worker at the end of a run: exit cleanly.
public sealed record RunFinished(string RunId, string Reason) : IProtocolMessage;
