using DataParallel.Coordinator.Training;

namespace DataParallel.Tests.Unit;

public sealed class WorkAssignmentTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void Units_are_handed_out_lowest_first_up_to_the_window()
    {
        var a = new WorkAssignment(5);
        Assert.Equal(new[] { 0, 1 }, a.Assign("w1", 2, T0));
        Assert.Equal(new[] { 2, 3 }, a.Assign("w2", 2, T0));
        Assert.Equal(new[] { 4 }, a.Assign("w1", 2, T0));
        Assert.Empty(a.Assign("w2", 2, T0));
        Assert.Equal(3, a.InFlightWith("w1"));
    }

    [Fact]
    public void A_lost_workers_unfinished_units_go_back_to_pending()
    {
        var a = new WorkAssignment(4);
        a.Assign("w1", 2, T0);
        a.Assign("w2", 2, T0);
        Assert.True(a.Complete(0, "w1"));
        Assert.Equal(new[] { 1 }, a.Release("w1"));
        Assert.Equal(1, a.PendingCount);
        Assert.Equal(new[] { 1 }, a.Assign("w2", 5, T0));
        Assert.True(a.Complete(1, "w2"));
        Assert.True(a.Complete(2, "w2"));
        Assert.True(a.Complete(3, "w2"));
        Assert.True(a.AllDone);
    }

    [Fact]
    public void The_first_result_of_a_duplicated_unit_wins()
    {
        var a = new WorkAssignment(2);
        a.Assign("slow", 1, T0);
        a.Assign("fast", 1, T0);
        Assert.True(a.Complete(1, "fast"));
        a.Duplicate(0, "fast", T0.AddSeconds(3));
        Assert.True(a.Complete(0, "fast"));
        Assert.False(a.Complete(0, "slow"));
        Assert.True(a.AllDone);
        Assert.Equal(0, a.InFlightWith("slow"));
    }

    [Fact]
    public void Releasing_a_worker_keeps_units_another_is_still_computing()
    {
        var a = new WorkAssignment(1);
        a.Assign("w1", 1, T0);
        a.Duplicate(0, "w2", T0);
        Assert.Empty(a.Release("w1"));
        Assert.Equal(0, a.PendingCount);
        Assert.Equal(new[] { 0 }, a.Release("w2"));
    }

    [Fact]
    public void Overdue_lists_single_copies_past_the_deadline()
    {
        var a = new WorkAssignment(3);
        a.Assign("w1", 2, T0);
        a.Assign("w2", 1, T0.AddSeconds(5));
        var overdue = a.Overdue(T0.AddSeconds(6), TimeSpan.FromSeconds(4));
        Assert.Equal(new[] { (0, "w1"), (1, "w1") }, overdue.Select(o => (o.Unit, o.Worker)));
        a.Duplicate(0, "w2", T0.AddSeconds(6));
        Assert.Equal(new[] { 1 }, a.Overdue(T0.AddSeconds(6), TimeSpan.FromSeconds(4)).Select(o => o.Unit));
    }

    [Fact]
    public void A_reopened_unit_is_computed_again()
    {
        var a = new WorkAssignment(1);
        a.Assign("w1", 1, T0);
        Assert.True(a.Complete(0, "w1"));
        a.Reopen(0);
        Assert.False(a.AllDone);
        Assert.Equal(new[] { 0 }, a.Assign("w2", 1, T0));
    }
}
