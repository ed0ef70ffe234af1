using DataParallel.Shared.Native;
using DataParallel.Shared.Settings;

namespace DataParallel.Tests.Unit;

public sealed class OptionRulesTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("fe80::1", true)]
    [InlineData("localhost", true)]
    [InlineData("worker-3.cluster.example.org", true)]
    [InlineData("example.org.", true)]
    [InlineData("", false)]
    [InlineData("a\"b", false)]
    [InlineData("a b", false)]
    [InlineData("-leading", false)]
    [InlineData("trailing-", false)]
    [InlineData("under_score", false)]
    [InlineData("a..b", false)]
    [InlineData("host\n", false)]
    [InlineData("::1%lo", false)]
    public void A_host_is_a_name_or_an_IP_literal(string host, bool valid) => Assert.Equal(valid, OptionRules.IsHost(host));

    [Fact]
    public void A_host_name_longer_than_DNS_allows_is_refused()
    {
        Assert.True(OptionRules.IsHost(new string('a', 63)));
        Assert.False(OptionRules.IsHost(new string('a', 64)));
        Assert.False(OptionRules.IsHost(string.Join('.', Enumerable.Repeat(new string('a', 50), 6))));
    }

    [Fact]
    public void Cpu_lists_stay_below_the_affinity_mask_and_are_never_expanded_beyond_it()
    {
        Assert.True(CpuAffinity.TryParse("0,2-3", out var cpus));
        Assert.Equal([0, 2, 3], cpus);
        Assert.True(CpuAffinity.TryParse("1023", out _));
        Assert.False(CpuAffinity.TryParse("1024", out _));
        Assert.False(CpuAffinity.TryParse("0-2000000000", out _));
        Assert.Equal("0-3,8,10-11", CpuAffinity.FormatRanges([11, 0, 1, 2, 3, 8, 10]));
    }

    [Fact]
    public void The_online_cpus_include_the_one_running_this_test()
    {
        var online = CpuAffinity.Online();
        Assert.NotNull(online);
        Assert.Contains(Thread.GetCurrentProcessorId(), online);
    }
}
