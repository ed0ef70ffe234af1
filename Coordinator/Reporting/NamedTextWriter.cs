using System.Text;
using DataParallel.Shared.IO;

namespace DataParallel.Coordinator.Reporting;

/// <summary>
/// Standard output or error, redirected to a file on a full disk or to /dev/full: a write that fails throws a
/// <see cref="FileIoException"/> naming the stream ("standard output: cannot write: No space left on device"),
/// so the line that reports it can say what was lost, like any other file of the run.
/// </summary>
public sealed class NamedTextWriter(TextWriter inner, string name) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value) => Guard(() => inner.Write(value));
    public override void Write(string? value) => Guard(() => inner.Write(value));
    public override void Write(char[] buffer, int index, int count) => Guard(() => inner.Write(buffer, index, count));
    public override void WriteLine(string? value) => Guard(() => inner.WriteLine(value));
    public override void Flush() => Guard(inner.Flush);

    private void Guard(Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (FileIoException.IsIo(e))
        {
            throw FileIoException.Writing(name, e);
        }
    }
}
