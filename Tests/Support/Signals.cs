using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace DataParallel.Tests.Support;

/// <summary>Real signals and process-tree lookups, for the fault tests.</summary>
public static partial class Signals
{
    public const int SIGINT = 2;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    public static void Send(int pid, int signal)
    {
        if (kill(pid, signal) != 0) throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>The direct children of a process (all its threads' children).</summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        var result = new List<int>();
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var text = File.ReadAllText(Path.Combine(task, "children"));
                result.AddRange(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
            }
            catch (IOException) { }
        }
        return result.Distinct().ToList();
    }

    /// <summary>The child process whose command line contains <paramref name="text"/>.</summary>
    public static int ChildWith(int pid, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var child in Children(pid))
            {
                try
                {
                    if (File.ReadAllText($"/proc/{child}/cmdline").Replace('\0', ' ').Contains(text)) return child;
                }
                catch (IOException) { }
            }
            Thread.Sleep(100);
        }
        throw new TimeoutException($"no child of {pid} with '{text}' in its command line");
    }

    public static bool Alive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ");

    /// <summary>The port in a line such as "coordinator listening at akka.tcp://dataparallel@127.0.0.1:41234".</summary>
    public static int ListeningPort(ProgramProcess coordinator, TimeSpan timeout)
    {
        if (!coordinator.WaitForOutput("coordinator listening at", timeout))
            throw new TimeoutException($"the coordinator did not start listening\n{coordinator.Stdout}\n{coordinator.Stderr}");
        return int.Parse(ListeningLine().Match(coordinator.Stdout).Groups[1].Value);
    }

    /// <summary>
    /// The certificate an --external coordinator made for its run (it prints it in "start each with: ..."): a worker
    /// on this machine needs it to reach the run at all.
    /// </summary>
    public static string RunCertificate(ProgramProcess coordinator, TimeSpan timeout)
    {
        if (!coordinator.WaitForOutput("start each with:", timeout))
            throw new TimeoutException($"the coordinator did not say how to start workers\n{coordinator.Stdout}\n{coordinator.Stderr}");
        return CertificateInLine().Match(coordinator.Stdout).Groups[1].Value;
    }

    [GeneratedRegex(@"start each with: .* --tls-certificate (\S+)")]
    private static partial Regex CertificateInLine();

    [GeneratedRegex(@"coordinator listening at akka(?:\.ssl)?\.tcp://\S+@[^:]+:(\d+)")]
    private static partial Regex ListeningLine();

    /// <summary>
    /// A process that a non-interactive shell starts in the background has SIGINT ignored (POSIX), and so does
    /// everything it starts, this test host and its coordinators included. .NET leaves an ignored SIGINT ignored
    /// rather than handle it, so a coordinator under test would never see its Ctrl-C. Before starting programs,
    /// the test host gives SIGINT its default back, only if it was ignored: the programs then handle it themselves.
    /// </summary>
    public static void UnignoreInterrupt()
    {
        var previous = new byte[256]; // struct sigaction; on Linux its first field is the handler
        if (sigaction(SIGINT, IntPtr.Zero, previous) == 0 && BitConverter.ToInt64(previous, 0) == SignalIgnore)
            signal(SIGINT, IntPtr.Zero); // SIG_DFL
    }

    private const long SignalIgnore = 1; // SIG_IGN

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    [DllImport("libc", SetLastError = true)]
    private static extern int sigaction(int signum, IntPtr act, byte[] oldact);

    [DllImport("libc")]
    private static extern IntPtr signal(int signum, IntPtr handler);
}
