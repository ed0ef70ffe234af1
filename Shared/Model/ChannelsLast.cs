using static TorchSharp.torch;

namespace DataParallel.Shared.Model;

/// <summary>
/// The seed model's activations in channels-last (NHWC) memory: oneDNN convolves them without reordering to its
/// blocked layout and back, and libtorch's BatchNorm and average pooling have channels-last kernels that beat their
/// NCHW ones at 16 channels. One core, 64 images, forward and backward (bench/ReplicaBench): 15.3 ms instead of 20.4
/// (14.8 since conv1 takes re-strided images).
/// It is a setting of the run (<c>--layout</c>, in <c>TrainSettings</c> and the job every worker is given), because
/// it changes the bits: other convolution kernels, other reduction orders.
/// </summary>
public static class ChannelsLast
{
    /// <summary>
    /// The same values with NHWC strides. With one channel the two layouts are the same memory, so a contiguous
    /// tensor is only re-strided (a view: libtorch reads the strides, and would otherwise call it NCHW, to pick
    /// its kernels); otherwise a copy. Either way the autograd graph leads back to <paramref name="nchw"/>.
    /// </summary>
    public static Tensor Of(Tensor nchw)
    {
        if (nchw.dim() == 4 && nchw.shape[1] == 1 && nchw.is_contiguous())
        {
            var (h, w) = (nchw.shape[2], nchw.shape[3]);
            return nchw.as_strided(nchw.shape, [h * w, 1, w, 1]);
        }
        return nchw.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
    }
}
