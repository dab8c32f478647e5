"""Normalization layers: batch normalization and local response normalization."""

from __future__ import annotations

from .base import Bool, Int, Layer, Number, Param, fmt_shape, np, numel


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

    def _stats(self, x, w):
        """Mean and variance per channel: the running buffers, or (without
        track_running_stats, as PyTorch does then) the batch's own statistics."""
        axes = tuple(a for a in range(x.ndim) if a != 1)
        if self.p["track_running_stats"]:
            shape = (1, -1, *(1,) * (x.ndim - 2))
            return w["running_mean"].reshape(shape), w["running_var"].reshape(shape), False
        return x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True), True

    def _affine(self, w, x):
        if not self.p["affine"]:
            return 1.0, 0.0
        shape = (1, -1, *(1,) * (x.ndim - 2))
        return w["weight"].reshape(shape), w["bias"].reshape(shape)

    def forward(self, xs, w, ctx):
        x = xs[0]
        mean, var, _ = self._stats(x, w)
        scale, shift = self._affine(w, x)
        return (x - mean) / np.sqrt(var + self.p["eps"]) * scale + shift

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        mean, var, batch = self._stats(x, w)
        scale, _ = self._affine(w, x)
        inv = 1 / np.sqrt(var + self.p["eps"])
        xhat = (x - mean) * inv
        axes = tuple(a for a in range(x.ndim) if a != 1)
        gx = g * scale
        if batch:  # statistics depend on x too (Ioffe and Szegedy 2015, section 3)
            m = x.size // x.shape[1]
            gx = inv / m * (m * gx - gx.sum(axis=axes, keepdims=True)
                            - xhat * (gx * xhat).sum(axis=axes, keepdims=True))
        else:
            gx = gx * inv
        grads = {}
        if self.p["affine"]:
            grads = {"weight": (g * xhat).sum(axis=axes), "bias": g.sum(axis=axes)}
        return [gx], grads


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

    def _window_sum(self, v, before, after):
        """Sum over channels c - before .. c + after (zero outside), for every c."""
        padded = np.pad(v, [(0, 0), (before, after)] + [(0, 0)] * (v.ndim - 2))
        csum = np.concatenate([np.zeros_like(padded[:, :1]), np.cumsum(padded, axis=1)], axis=1)
        width = before + after + 1
        return csum[:, width:] - csum[:, :-width]

    def _denominator(self, x):
        n = self.p["size"]
        total = self._window_sum(x * x, n // 2, (n - 1) // 2)  # PyTorch's padding of the window
        return self.p["k"] + self.p["alpha"] / n * total

    def forward(self, xs, w, ctx):
        x = xs[0]
        return x * self._denominator(x) ** -self.p["beta"]

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        n, beta = self.p["size"], self.p["beta"]
        if ctx.probe:  # channel c reaches the outputs whose window holds it
            return [np.abs(g) + self._window_sum(np.abs(g), (n - 1) // 2, n // 2)], {}
        d = self._denominator(x)
        inner = self._window_sum(g * x * d ** (-beta - 1), (n - 1) // 2, n // 2)
        return [g * d ** -beta - 2 * self.p["alpha"] * beta / n * x * inner], {}
