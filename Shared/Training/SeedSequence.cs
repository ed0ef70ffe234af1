namespace DataParallel.Shared.Training;

/// <summary>What a derived seed is for, so that the shuffle, the augmentation and the dropout of one step never share a stream.</summary>
public enum SeedPurpose : ulong { Shuffle = 1, Augment = 2, Dropout = 3, Init = 4 }

/// <summary>
/// Derives independent 64-bit seeds from (run seed, purpose, epoch, step, micro-batch) by SplitMix64
/// mixing. Every random choice of a run comes from here, which is what makes a step a pure function of
/// its coordinates, whoever computes it.
/// </summary>
public static class SeedSequence
{
    public static ulong Derive(long seed, SeedPurpose purpose, long epoch = 0, long step = 0, long microBatch = 0)
    {
        var h = Mix((ulong)seed);
        h = Mix(h ^ (ulong)purpose);
        h = Mix(h ^ (ulong)epoch);
        h = Mix(h ^ (ulong)step);
        h = Mix(h ^ (ulong)microBatch);
        return h;
    }

    /// <summary>A derived seed as libtorch's generators take it (a non-negative 64-bit integer).</summary>
    public static long ForTorch(ulong seed) => (long)(seed & long.MaxValue);

    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>A small, fast, fully specified generator (SplitMix64): the same seed gives the same stream on every machine and runtime.</summary>
public sealed class DeterministicRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64() => SeedSequence.Mix(_state += 0x9E3779B97F4A7C15UL) ;

    /// <summary>Uniform in [0, 1) with 53 bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public double NextDouble(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform in [0, bound) without modulo bias.</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound));
        var limit = ulong.MaxValue - ulong.MaxValue % (ulong)bound;
        ulong x;
        do x = NextUInt64(); while (x >= limit);
        return (int)(x % (ulong)bound);
    }
}
