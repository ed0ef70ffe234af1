using System.CommandLine.Parsing;

namespace DataParallel.Shared.Cluster;

/// <summary>Parsing and validation of HOST:PORT and port options, shared by both programs.</summary>
public static class Endpoints
{
    public static bool TryParse(string text, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1) return false;
        host = text[..colon].Trim('[', ']');
        return int.TryParse(text[(colon + 1)..], out port) && port is > 0 and <= 65535;
    }

    public static void ValidatePort(OptionResult result, string name, bool allowZero)
    {
        var value = result.GetValueOrDefault<int>();
        if (value < (allowZero ? 0 : 1) || value > 65535)
            result.AddError($"{name} must be between {(allowZero ? 0 : 1)} and 65535");
    }

    public static bool IsLoopback(string host) =>
        host is "localhost" || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip));
}
