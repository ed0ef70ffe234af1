using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using DataParallel.Shared.Native;

namespace DataParallel.Shared.Settings;

/// <summary>
/// Validation shared by both programs' command lines. A number must be finite and within a range that means
/// something (NaN passes every "&lt; 0" test, and Infinity overflows a TimeSpan), and a host must be a host name or
/// an IP literal: it goes into HOCON, where a quote or a space would change the configuration.
/// </summary>
public static class OptionRules
{
    /// <summary>libtorch threads per process: more than the cores of any machine this runs on.</summary>
    public const int MaxThreads = 1024;

    /// <summary>Workers in one run: far more than a cluster of this trainer would use, few enough to keep state tables small.</summary>
    public const int MaxWorkers = 1024;

    /// <summary>Timeouts: a day is longer than any run of this trainer waits for anything.</summary>
    public const double MaxSeconds = 86_400;

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static Option<int> Within(this Option<int> option, int min, int max, string? why = null)
    {
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<int>();
            if (value < min || value > max) r.AddError(OutOfRange(option.Name, min, max, why, value.ToString(C)));
        });
        return option;
    }

    public static Option<int?> Within(this Option<int?> option, int min, int max, string? why = null)
    {
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is { } value && (value < min || value > max))
                r.AddError(OutOfRange(option.Name, min, max, why, value.ToString(C)));
        });
        return option;
    }

    /// <summary>
    /// A finite number in [min, max], or [min, max) when <paramref name="maxExcluded"/>; with <paramref name="minExcluded"/>, (min, ...
    /// </summary>
    public static Option<double> Within(this Option<double> option, double min, double max, bool minExcluded = false, bool maxExcluded = false)
    {
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<double>();
            var fits = double.IsFinite(value)
                && (minExcluded ? value > min : value >= min)
                && (maxExcluded ? value < max : value <= max);
            if (!fits)
            {
                var range = string.Create(C, $"{(minExcluded ? '(' : '[')}{min}, {max}{(maxExcluded ? ')' : ']')}");
                r.AddError($"{option.Name} must be a number in {range}, not {value.ToString(C)}");
            }
        });
        return option;
    }

    /// <summary>A finite number above <paramref name="min"/> (or at least it, when <paramref name="inclusive"/>).</summary>
    public static Option<double> Above(this Option<double> option, double min, bool inclusive = false)
    {
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<double>();
            if (!double.IsFinite(value) || (inclusive ? value < min : value <= min))
                r.AddError(string.Create(C, $"{option.Name} must be a finite number {(inclusive ? "of at least" : "above")} {min}, not {value}"));
        });
        return option;
    }

    /// <summary>Seconds, more than zero and at most a day.</summary>
    public static Option<double> Seconds(this Option<double> option) => option.Within(0, MaxSeconds, minExcluded: true);

    /// <summary>For Option&lt;string&gt; and Option&lt;string?&gt; alike.</summary>
    public static Option<T> Host<T>(this Option<T> option) where T : class?
    {
        option.Validators.Add(r => CheckHost(r, option.Name));
        return option;
    }

    /// <summary>
    /// An IPv4 or IPv6 literal, or a DNS host name: labels of letters, digits and '-' (not at either end), 1 to 63
    /// characters each, separated by dots, at most 253 in all.
    /// </summary>
    public static bool IsHost(string text)
    {
        if (text.Length is 0 or > 253) return false;
        if (text.All(c => char.IsAsciiHexDigit(c) || c is '.' or ':') && IPAddress.TryParse(text, out _)) return true;
        return text.TrimEnd('.').Split('.').All(label =>
            label.Length is >= 1 and <= 63
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')
            && label[0] != '-' && label[^1] != '-');
    }

    /// <summary>A CPU list ("0", "2-3", "0,2") of CPUs that are online on this machine.</summary>
    public static Option<string?> CpuList(this Option<string?> option)
    {
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is not { } text) return;
            if (!CpuAffinity.TryParse(text, out var cpus))
                r.AddError($"{option.Name}: '{text}' is not a list of CPU ids below {CpuAffinity.MaxCpus}, such as 0, 2-3 or 0,2");
            else if (CpuAffinity.Online() is { } online && cpus.Except(online).ToList() is [var missing, ..])
                r.AddError($"{option.Name}: CPU {missing} is not online on this machine (online: {CpuAffinity.FormatRanges(online)})");
        });
        return option;
    }

    private static void CheckHost(OptionResult result, string name)
    {
        if (result.GetValueOrDefault<string?>() is { } host && !IsHost(host))
            result.AddError($"{name}: '{host}' is not a host name or an IP address");
    }

    private static string OutOfRange(string name, int min, int max, string? why, string value) =>
        string.Create(C, $"{name} must be between {min} and {max}{(why is null ? "" : $" ({why})")}, not {value}");
}
