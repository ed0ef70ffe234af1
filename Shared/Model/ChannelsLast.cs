using static TorchSharp.torch;

namespace DataParallel.Shared.Model;

/// <summary>
/// Opt-in (<c>DATAPARALLEL_CHANNELS_LAST=1</c> in the environment of every worker): the seed model computes on
/// channels-last (NHWC) tensors. Measured on one core: about 7% less CPU time per micro-batch, because oneDNN
/// no longer reorders NCHW to its blocked layout and back around each convolution. It changes the results
/// bit-wise (oneDNN picks other convolution kernels, and BatchNorm reduces in another order), so it is off by
/// default and all workers of a run must agree on it; the default run's sha256 holds only with it off.
/// </summary>
public static class ChannelsLast
{
    public const string Variable = "DATAPARALLEL_CHANNELS_LAST";

    public static bool Enabled { get; } = Environment.GetEnvironmentVariable(Variable) == "1";

    /// <summary>The same values with NHWC strides (a copy; the autograd graph leads back to <paramref name="nchw"/>).</summary>
    public static Tensor Of(Tensor nchw) => nchw.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
}
