namespace DataParallel.Shared.Model;

/// <summary>The architecture fingerprint of the model this build trains; workers with another one are refused.</summary>
public static class SeedNetFingerprint
{
    private static readonly Lazy<string> Lazy = new(() =>
    {
        using var model = new SeedNet();
        return StateLayout.Of(model).Fingerprint;
    });

    public static string Value => Lazy.Value;
}
