namespace DataParallel.Shared.Settings;

/// <summary>
/// The exit codes of both programs, in one table: the programs return them, the help text and the README print
/// <see cref="CoordinatorHelp"/> and <see cref="WorkerHelp"/>, and the tests compare against these names.
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Invalid input: options, a port in use, nothing to resume.</summary>
    public const int Usage = 1;
    /// <summary>Coordinator: a failure at run time (data, I/O, a unit failing again and again).</summary>
    public const int Failed = 2;
    /// <summary>Coordinator: non-finite gradients or parameters.</summary>
    public const int NonFinite = 3;
    /// <summary>Worker: the coordinator refused it (token, model, protocol), or the TLS handshake failed.</summary>
    public const int Refused = 3;
    /// <summary>Worker: no coordinator within --rejoin-timeout.</summary>
    public const int CoordinatorGone = 4;
    /// <summary>Coordinator: stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    public static readonly string CoordinatorHelp =
        $"Exit codes: {Ok} ok, {Usage} invalid input, {Failed} failure, {NonFinite} non-finite values, {Interrupted} interrupted.";

    public static readonly string WorkerHelp =
        $"Exit codes: {Ok} run finished, {Usage} invalid options, {Refused} refused by the coordinator, "
            + $"{CoordinatorGone} no coordinator within --rejoin-timeout.";
}
