"""Normalization layers: batch normalization and local response normalization."""

from __future__ import annotations

from .base import Bool, Int, Layer, Number, Param, fmt_shape, numel


class BatchNorm(Layer):
    """Batch normalization (Ioffe and Szegedy 2015; PyTorch BatchNorm1d/2d/3d).

    Normalizes each channel (axis 0 of the per-sample shape: [C], [C, L],
    [C, H, W] or [C, D, H, W]). Params: weight, bias (C,) if affine. Buffers:
    running_mean, running_var (C,) if track_running_stats (PyTorch's
    num_batches_tracked step counter is not counted: it holds no statistics).
    FLOPs at inference: 2 per element, y = x * scale + shift, with
    scale = weight / sqrt(running_var + eps) and shift = bias - running_mean * scale
    precomputed from parameters and buffers (work on parameters alone is not
    counted for any layer).
    """

    type_name = "batchnorm"
    family = "normalization"
    summary = "batch normalization over the channel axis (BatchNorm1d/2d/3d)"
    spatial = True
    alias_any_rank = True
    params = (
        Param("eps", Number(0, open_min=True), 1e-5, "added to the variance"),
        Param("momentum", Number(0, 1), 0.1, "running-statistics update rate (training)"),
        Param("affine", Bool(), True, "learnable weight and bias per channel"),
        Param("track_running_stats", Bool(), True, "keep running_mean and running_var buffers"),
        Param("num_features", Int(1), None, "inferred from the input; checked if given"),
    )

    def setup(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        rank = getattr(self, "alias_rank", None)
        shape = self.in_shape
        if rank is not None and not (len(shape) == rank + 1 or (rank == 1 and len(shape) == 1)):
            raise self.fail(
                f"batchnorm{rank}d expects a {'[C] or [C, L]' if rank == 1 else f'rank-{rank + 1} [C, ...]'} "
                f"input, got {fmt_shape(shape)}",
                help="write batchnorm: the rank is taken from the input", kind="shape",
            )
        self.channels = self.check_in_channels("num_features")
        self.out_shape = tuple(shape)
        return self.out_shape

    def param_shapes(self):
        return {"weight": (self.channels,), "bias": (self.channels,)} if self.p["affine"] else {}

    def buffer_shapes(self):
        if not self.p["track_running_stats"]:
            return {}
        return {"running_mean": (self.channels,), "running_var": (self.channels,)}

    def flops(self):
        return 2 * numel(self.out_shape)


class LRN(Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012, section 3.3).

    PyTorch's LocalResponseNorm: b_c = a_c / (k + alpha/n * sum a^2 over the n
    channels centred on c)^beta. The paper writes (k + alpha * sum)^beta with
    k=2, n=5, alpha=1e-4, beta=0.75; in PyTorch's form that alpha is 5e-4.
    FLOPs per element: n + 4 (a square, n - 1 additions of the window, a scale,
    an addition of k, a power, a division).
    """

    type_name = "lrn"
    family = "normalization"
    summary = "local response normalization across channels (AlexNet)"
    primary = "size"
    params = (
        Param("size", Int(1), 5, "n: channels in the window"),
        Param("alpha", Number(), 1e-4, "scale (PyTorch divides it by size)"),
        Param("beta", Number(), 0.75, "exponent"),
        Param("k", Number(), 1.0, "additive constant"),
    )

    def setup(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    def flops(self):
        return (self.p["size"] + 4) * numel(self.out_shape)
