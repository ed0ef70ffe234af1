namespace DataParallel.Shared.Protocol;

// Worker -> coordinator: first message after the worker's node is Up in the cluster. The nonce is the worker's
// challenge to the coordinator, which proves in JoinAccepted that it holds the token too.
public sealed record JoinRequest(string WorkerId, int ProtocolVersion, string ModelFingerprint, int Threads, string Host, byte[]? Nonce = null)
    : IProtocolMessage;

// Coordinator -> worker: prove you hold the join token (HMAC-SHA256 of the nonce), without sending it.
public sealed record JoinChallenge(string WorkerId, byte[] Nonce) : IProtocolMessage;

public sealed record JoinProof(string WorkerId, byte[] Proof) : IProtocolMessage;

/// <summary>What every worker needs to compute exactly what the coordinator expects.</summary>
public sealed record JobSpec(string RunId, long Seed, double Dropout, double AugmentDegrees, double AugmentTranslate, bool ChannelsLast = true)
    : IProtocolMessage;

/// <summary>
/// Coordinator -> worker: accepted, with the job and HMAC(token, worker's nonce) when the run has a token; and, for a
/// worker in another process, the coordinator's data port and the ticket that opens this worker's data channel there
/// (DataPort 0: none, the work comes through Akka.Remote).
/// </summary>
public sealed record JoinAccepted(string WorkerId, JobSpec Job, byte[]? Proof = null, int DataPort = 0, byte[]? Ticket = null) : IProtocolMessage;

public sealed record JoinRefused(string WorkerId, string Reason) : IProtocolMessage;

// Coordinator -> worker at the end of a run: exit cleanly.
public sealed record RunFinished(string RunId, string Reason) : IProtocolMessage;
