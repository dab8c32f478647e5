"""The rest of the convolutions of the lectures: depthwise, separable, locally
connected (unshared), tiled, deformable, and CoordConv's coordinate channels."""

from __future__ import annotations

from cnncalc.core.exchange import onnx_pads
from cnncalc.core.window import taps_symbol
from cnncalc.layers.base import (
    Bool,
    Int,
    Ints,
    K,
    Layer,
    Padding,
    PadSpec,
    Param,
    Saved,
    Step,
    fmt_shape,
    np,
    numel,
)
from cnncalc.layers.conv import _COMMON, Conv

_WINDOW = tuple(p for p in _COMMON if p.name not in ("groups",))


def _inner_conv(ndim, param_locs=None, **values):
    """A Conv with the given parameters (defaults filled), for delegation."""
    defaults = {"stride": (1,) * ndim, "dilation": (1,) * ndim, "groups": 1, "bias": True,
                "in_channels": None, "padding": PadSpec(pairs=((0, 0),) * ndim)}
    return Conv(ndim, {**defaults, **values}, param_locs=param_locs)


class DepthwiseConv(Conv):
    """Depthwise convolution (Keras DepthwiseConv2D; Howard et al. 2017, MobileNets, section 3.1).

    One kernel set per input channel, depth_multiplier output channels each: a
    convolution with groups = C_in and out_channels = C_in * depth_multiplier.
    Weight (C_in * dm, 1, *k) (PyTorch's grouped layout), bias (C_in * dm,).
    Parameters C_in * dm * prod(k) (+ C_in * dm bias); MACs out_elems * prod(k).
    """

    type_name = "depthwise_conv"
    torch_forms = ()  # nn.Conv2d with groups = C_in: not nn.Linear's form
    summary = "depthwise convolution (one kernel per channel; depth_multiplier)"
    primary = "kernel_size"
    params = (
        *_WINDOW,
        Param("depth_multiplier", Int(1), 1, "output channels per input channel"),
        Param("padding", Padding(), 0, "as for conv"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        channels = in_shapes[0][0]
        self.p = {**self.p, "groups": channels, "out_channels": channels * self.p["depth_multiplier"]}
        return super().bind(in_shapes, ref_shapes)

    def _channels(self, x):
        """One group per input channel, depth_multiplier filters each."""
        return x.shape[1], x.shape[1] * self.p["depth_multiplier"]

    # -- files (docs/onnx.md) --
    onnx_ops = ()  # written as Conv (inherited): read back as a conv with groups
    onnx_import_refusal = ("ONNX has no depthwise op: a depthwise convolution is a Conv with "
                           "group = C, read as a conv with groups")


class SeparableConv(Layer):
    """Depthwise-separable convolution (Keras SeparableConv2D; Chollet 2017, Xception).

    A depthwise convolution (kernel_size, stride, padding, dilation,
    depth_multiplier; no bias) then a pointwise 1x1 convolution to out_channels
    (with bias). For M inputs, N outputs and a K x K kernel (dm = 1) the
    parameters are M*K^2 + N*M (+ N), against N*M*K^2 for a full convolution.
    Tensors: depthwise_weight (M*dm, 1, *k), pointwise_weight (N, M*dm, 1, ...), bias (N,).
    MACs: out_positions * (M*dm * prod(k) + M*dm * N).
    """

    type_name = "separable_conv"
    erf_rule = "mean"  # the ERF's uniform protocol (depthwise, then a 1x1 pointwise)
    family = "convolution"
    bias_names = ("bias",)
    summary = "depthwise-separable convolution (depthwise then pointwise 1x1)"
    spatial = True
    primary = "out_channels"
    params = (
        Param("out_channels", Int(1), doc="channels after the pointwise convolution"),
        *_WINDOW,
        Param("depth_multiplier", Int(1), 1, "depthwise output channels per input channel"),
        Param("padding", Padding(), 0, "padding of the depthwise convolution"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.need_spatial()
        channels = self.check_in_channels()
        mid = channels * self.p["depth_multiplier"]
        self.depthwise = _inner_conv(
            self.ndim, out_channels=mid, kernel_size=self.p["kernel_size"], stride=self.p["stride"],
            dilation=self.p["dilation"], groups=channels, bias=False, padding=self.p["padding"],
            param_locs=self.param_locs).bound(in_shapes)
        self.pointwise = _inner_conv(self.ndim, out_channels=self.p["out_channels"],
                                     kernel_size=(1,) * self.ndim, bias=self.p["bias"]
                                     ).bound([self.depthwise.out_shape])
        self.out_shape = self.pointwise.out_shape
        self.pads, self.keff, self.stride = self.depthwise.pads, self.depthwise.keff, self.depthwise.stride
        return self.out_shape

    def param_shapes(self):
        shapes = {"depthwise_weight": self.depthwise.param_shapes()["weight"],
                  "pointwise_weight": self.pointwise.param_shapes()["weight"]}
        if self.p["bias"]:
            shapes["bias"] = (self.p["out_channels"],)
        return shapes

    def macs(self):
        return self.depthwise.macs() + self.pointwise.macs()

    def flops(self):
        return self.depthwise.flops() + self.pointwise.flops()

    def unit_maps(self):
        return self.depthwise.unit_maps()

    def windows(self):
        return self.depthwise.windows()

    def saved_for_backward(self):
        # two convolutions: the depthwise one keeps the input, the pointwise one its input
        return [Saved("input0", self.in_shapes[0], for_weight=True),
                Saved("depthwise_output", self.depthwise.out_shape, for_weight=True)]

    def workspace(self):
        return max(self.depthwise.workspace(), self.pointwise.workspace()) + numel(self.depthwise.out_shape)

    def explain(self):
        m, n = self.in_shape[0], self.p["out_channels"]
        mid = m * self.p["depth_multiplier"]
        taps = "·".join(map(str, self.p["kernel_size"]))
        steps = [s for s in self.depthwise.explain() if s.field == "output_shape"][:-1]
        steps.append(Step("output_shape", "[N, ...]: the pointwise convolution's channels", "",
                          fmt_shape(self.out_shape)))
        bias = " + N" if self.p["bias"] else ""
        f = "·".join("K" * self.ndim)
        steps.append(Step.calc("params", f"M·dm·{f} (depthwise) + N·M·dm (pointwise)" + bias
                               + f", M = C_in, N = out_channels, dm = depth_multiplier = "
                               f"{self.p['depth_multiplier']}",
                               f"{mid}·{taps} + {n}·{mid}" + (f" + {n}" if self.p["bias"] else "")))
        positions = "·".join(map(str, self.out_shape[1:]))
        steps.append(Step.calc("macs", f"positions · (M·dm·{f} + M·dm·N), dm = depth_multiplier",
                               f"{positions} · ({mid}·{taps} + {mid}·{n})"))
        dw, pw = self.depthwise, self.pointwise
        out_dw, out_pw = numel(dw.out_shape), numel(pw.out_shape)
        steps.append(Step.calc("flops", "depthwise (2·MACs - outputs) + pointwise (2·MACs - outputs"
                               + (" + outputs for the bias)" if self.p["bias"] else ")"),
                               f"(2·{dw.macs()} - {out_dw}) + (2·{pw.macs()} - {out_pw}"
                               + (f" + {out_pw})" if self.p["bias"] else ")")))
        return steps

    def probe_values(self, axis, values, shapes):
        return self.probe_padding(axis, values, shapes)

    def _split(self, x, w):
        """The tensors, asked for by the shapes this input implies, as the inner
        convolutions' tensors."""
        mid = x.shape[1] * self.p["depth_multiplier"]
        dw = K.Tensors(weight=w.take("depthwise_weight", (mid, 1, *self.p["kernel_size"])))
        pw = K.Tensors(weight=w.take("pointwise_weight", (self.p["out_channels"], mid, *(1,) * self.ndim)))
        if self.p["bias"]:
            pw["bias"] = w.take("bias", (self.p["out_channels"],))
        return dw, pw

    def _parts(self, x):
        """The executor's depthwise and pointwise convolutions for input ``x``, built from
        the parameters and the array (one group per input channel)."""
        channels = x.shape[1]
        depthwise = _inner_conv(
            self.ndim, out_channels=channels * self.p["depth_multiplier"],
            kernel_size=self.p["kernel_size"], stride=self.p["stride"], dilation=self.p["dilation"],
            groups=channels, bias=False, padding=self.p["padding"])
        pointwise = _inner_conv(self.ndim, out_channels=self.p["out_channels"],
                                kernel_size=(1,) * self.ndim, bias=self.p["bias"])
        return depthwise, pointwise

    def forward(self, xs, w, ctx):
        dw, pw = self._split(xs[0], w)
        depthwise, pointwise = self._parts(xs[0])
        return pointwise.forward([depthwise.forward(xs, dw, ctx)], pw, ctx)

    def backward(self, xs, w, out, g, ctx):
        dw, pw = self._split(xs[0], w)
        depthwise, pointwise = self._parts(xs[0])
        mid = depthwise.forward(xs, dw, ctx.quiet())
        (gmid,), gpw = pointwise.backward([mid], pw, out, g, ctx)
        gx, gdw = depthwise.backward(xs, dw, mid, gmid, ctx)
        grads = {"depthwise_weight": gdw["weight"], "pointwise_weight": gpw["weight"]}
        if self.p["bias"]:
            grads["bias"] = gpw["bias"]
        return gx, grads

    # -- files (docs/onnx.md) --
    onnx_import_refusal = ("ONNX has no separable op: it is written as two Convs (depthwise, "
                           "pointwise), read back as two conv layers")
    torch_refusal = ("torch.nn has no separable convolution module whose state_dict keys are "
                     "this layer's (depthwise_weight, pointwise_weight, bias); not written yet")

    def to_onnx(self, f, call):
        """A depthwise Conv (group = C) then a pointwise 1x1 Conv with the bias."""
        w = f.windows
        mid = call.name + ".depthwise"
        depthwise = call.node("Conv", [call.ins[0], call.weight("depthwise_weight")], mid, mid,
                              kernel_shape=[x.kernel for x in w], strides=[x.stride for x in w],
                              dilations=[x.dilation for x in w],
                              pads=onnx_pads([(x.pad_before, x.pad_after) for x in w]),
                              group=int(f.in_shapes[0][0]))
        inputs = [mid, call.weight("pointwise_weight")]
        if self.p["bias"]:
            inputs.append(call.weight("bias"))
        return [depthwise, call.node("Conv", inputs, name=call.name + ".pointwise",
                                     kernel_shape=[1] * self.ndim)]


class LocallyConnected(Conv):
    """Unshared convolution (Keras LocallyConnected1D/2D; Goodfellow et al. 2016, section 9.6).

    Every output position has its own kernels and bias. Weight (prod(out),
    out_channels, C_in * prod(k)) (position-major), bias (out_channels, *out).
    Parameters prod(out) * out_channels * (C_in * prod(k) + 1): Keras' example, a
    32x32x3 input with 64 filters 3x3, has 30*30 * 64 * (27 + 1) = 1,612,800;
    AlexNet's first layer without sharing 55*55 * 96 * (363 + 1) = 105,705,600.
    MACs as a convolution: out_elems * C_in * prod(k).
    """

    type_name = "locally_connected"
    aten_op = "?"  # no counter table covers it: not a torch.nn module (deform_conv: torchvision.ops)
    torch_forms = ()

    def aten_ops(self, form=""):
        return Layer.aten_ops(self, form)

    summary = "unshared convolution: its own weights and bias at every output position"
    params = (Param("out_channels", Int(1), doc="filters"), *_WINDOW,
              Param("padding", Padding(), 0, "as for conv"))

    def bind(self, in_shapes, ref_shapes=()):
        self.p = {**self.p, "groups": 1}
        return super().bind(in_shapes, ref_shapes)

    def param_shapes(self):
        positions = numel(self.out_shape[1:])
        shapes = {"weight": (positions, self.p["out_channels"], self.in_channels * numel(self.kernel))}
        if self.p["bias"]:
            shapes["bias"] = (self.p["out_channels"], *self.out_shape[1:])
        return shapes

    def explain(self):
        inherited = super().explain()
        steps = [s for s in inherited if s.field == "output_shape"]
        out = "·".join(map(str, self.out_shape[1:]))
        taps = "·".join(map(str, self.kernel))
        bias = self.p["bias"]
        f = taps_symbol(self.ndim)
        steps.append(Step.calc("params", f"positions · K · ({f}·C_in" + (" + 1)" if bias else ")"),
                               f"{out} · {self.p['out_channels']} · ({taps}·{self.in_channels}"
                               + (" + 1)" if bias else ")")))
        # the same products and sums as a convolution, with other weights at each position
        steps += [s for s in inherited if s.field in ("macs", "flops")]
        return steps

    def _local_tensors(self, x, w, out):
        """weight (positions, O, C * prod(k)), bias (O, *out): one set per output position."""
        o = self.p["out_channels"]
        weight = w.take("weight", (numel(out), o, x.shape[1] * numel(self.kernel)))
        return weight, (w.take("bias", (o, *out)) if self.p["bias"] else None)

    def forward(self, xs, w, ctx):
        x = xs[0]
        n, o = x.shape[0], self.p["out_channels"]
        _, cols, out = self._cols(x)  # (1, N * P, C * K), rows ordered (n, position)
        weight, bias = self._local_tensors(x, w, out)
        per_pos = cols.reshape(n, numel(out), -1).transpose(1, 0, 2)  # (P, N, C * K)
        y = ctx.mm(per_pos, weight.transpose(0, 2, 1))  # (P, N, O): each position its own
        y = y.transpose(1, 2, 0).reshape(n, o, *out)
        if bias is not None:
            y = y + bias[None]
        return y

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        n, c, nd = x.shape[0], x.shape[1], self.ndim
        padded, cols, sizes = self._cols(x)
        weight, bias = self._local_tensors(x, w, sizes)
        positions = numel(sizes)
        per_pos = cols.reshape(n, positions, -1).transpose(1, 0, 2)  # (P, N, CK)
        gy = g.reshape(n, g.shape[1], positions).transpose(2, 0, 1)  # (P, N, O)
        grads = {"weight": np.matmul(gy.transpose(0, 2, 1), per_pos)}  # (P, O, CK)
        if bias is not None:
            grads["bias"] = g.sum(axis=0)
        dcols = np.matmul(gy, weight)  # (P, N, CK)
        dcols = dcols.transpose(1, 0, 2).reshape(n, *sizes, *self.kernel, c)
        order = (0, 1 + 2 * nd, *range(1, 1 + nd), *range(1 + nd, 1 + 2 * nd))
        taps = dcols.transpose(order)
        return [self._input_gradient(taps, x, padded)], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ()
    onnx_import_refusal = "no ONNX op has unshared weights (a filter of its own at every position)"
    onnx_export_refusal = ("has no ONNX equivalent among the standard ops: its weights are "
                           "unshared (a filter of its own at every position)")
    torch_refusal = "torch.nn has no unshared (locally connected) convolution"
    to_onnx = Layer.to_onnx
    to_torch = Layer.to_torch


class TiledConv(Conv):
    """Tiled convolution (Goodfellow et al. 2016, section 9.5; Le et al. 2010).

    ``tiles`` = t per axis kernel sets are rotated through space: output position
    o uses set (o mod t) on each axis, so neighbours use different kernels and
    every t-th position shares one. Weight (prod(t), out_channels, C_in,
    *k), bias (out_channels,) shared. Parameters prod(t) * K * C_in * prod(k) (+ K);
    MACs as a convolution.
    """

    type_name = "tiled_conv"
    aten_op = "?"  # no counter table covers it: not a torch.nn module (deform_conv: torchvision.ops)
    torch_forms = ()

    def aten_ops(self, form=""):
        return Layer.aten_ops(self, form)

    summary = "tiled convolution: tiles kernel sets rotated through space"
    params = (Param("out_channels", Int(1), doc="filters"), *_WINDOW,
              Param("tiles", Ints(1), 2, "kernel sets per axis (t: period in output positions)"),
              Param("padding", Padding(), 0, "as for conv"))

    def bind(self, in_shapes, ref_shapes=()):
        self.p = {**self.p, "groups": 1}
        return super().bind(in_shapes, ref_shapes)

    def param_shapes(self):
        shapes = {"weight": (numel(self.p["tiles"]), self.p["out_channels"], self.in_channels,
                             *self.kernel)}
        if self.p["bias"]:
            shapes["bias"] = (self.p["out_channels"],)
        return shapes

    def explain(self):
        inherited = super().explain()
        steps = [s for s in inherited if s.field == "output_shape"]
        t = "·".join(map(str, self.p["tiles"]))
        taps = "·".join(map(str, self.kernel))
        bias = f" + {self.p['out_channels']}" if self.p["bias"] else ""
        steps.append(Step.calc("params", f"tiles · K · C_in · {taps_symbol(self.ndim)}"
                               + (" + K (shared biases)" if self.p["bias"] else ""),
                               f"{t} · {self.p['out_channels']} · {self.in_channels} · {taps}{bias}"))
        steps += [s for s in inherited if s.field in ("macs", "flops")]
        return steps

    def _tile_of_row(self, n, out):
        """For each column row (n, position), the index of its kernel set."""
        tiles = self.p["tiles"]
        grids = np.meshgrid(*(np.arange(o) % t for o, t in zip(out, tiles)), indexing="ij")
        index = np.ravel_multi_index(tuple(grids), tiles).reshape(-1)
        return np.tile(index, n)

    def _tile_weights(self, wt):
        """(sets, taps * C_in, O) in the channels-last column order."""
        nd = self.ndim
        return wt.transpose(0, *range(3, 3 + nd), 2, 1).reshape(wt.shape[0], -1, wt.shape[1])

    def _tensors(self, x, w):
        o = self.p["out_channels"]
        weight = w.take("weight", (numel(self.p["tiles"]), o, x.shape[1], *self.kernel))
        return weight, (w.take("bias", (o,)) if self.p["bias"] else None)

    def forward(self, xs, w, ctx):
        x = xs[0]
        weight, bias = self._tensors(x, w)
        _, cols, out = self._cols(x)
        cols = cols[0]  # (N * P, taps * C)
        tile = self._tile_of_row(x.shape[0], out)
        ws = self._tile_weights(weight)
        y = np.empty((cols.shape[0], self.p["out_channels"]), dtype=cols.dtype)
        for t in range(ws.shape[0]):  # one GEMM per kernel set, over its positions only
            rows = tile == t
            y[rows] = ctx.mm(cols[rows], ws[t])
        y = self._from_rows(y[None], x.shape[0], out)
        if bias is not None:
            y = y + bias.reshape(1, -1, *(1,) * self.ndim)
        return y

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        n, c, nd = x.shape[0], x.shape[1], self.ndim
        weight, bias = self._tensors(x, w)
        padded, cols, sizes = self._cols(x)
        cols = cols[0]
        tile = self._tile_of_row(n, sizes)
        ws = self._tile_weights(weight)
        gy = self._to_rows(g, 1)[0]  # (N * P, O)
        gw = np.zeros_like(ws)
        dcols = np.zeros_like(cols)
        for t in range(ws.shape[0]):
            rows = tile == t
            gw[t] = cols[rows].T @ gy[rows]
            dcols[rows] = gy[rows] @ ws[t].T
        o = self.p["out_channels"]
        gw = gw.reshape(ws.shape[0], *self.kernel, c, o).transpose(0, 2 + nd, 1 + nd, *range(1, 1 + nd))
        grads = {"weight": gw.reshape(weight.shape)}
        if bias is not None:
            grads["bias"] = g.sum(axis=(0, *range(2, 2 + nd)))
        dcols = dcols.reshape(n, *sizes, *self.kernel, c)
        taps = dcols.transpose(0, 1 + 2 * nd, *range(1, 1 + nd), *range(1 + nd, 1 + 2 * nd))
        return [self._input_gradient(taps, x, padded)], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ()
    onnx_import_refusal = "no ONNX op rotates kernel sets through space"
    onnx_export_refusal = ("has no ONNX equivalent among the standard ops: kernel sets rotate "
                           "through space")
    torch_refusal = "torch.nn has no tiled convolution"
    to_onnx = Layer.to_onnx
    to_torch = Layer.to_torch


class AddCoords(Layer):
    """CoordConv's coordinate channels (Liu et al. 2018, 'An intriguing failing of
    convolutional neural networks and the CoordConv solution', section 4).

    Appends one channel per spatial axis holding that axis's coordinate scaled to
    [-1, 1] (2 i / (L - 1) - 1; 0 on an axis of length 1), and with ``with_r`` the
    distance from the centre sqrt(sum of squares). [C, *S] -> [C + ndim (+1), *S].
    No parameters; the channels are constants (0 FLOPs: nothing depends on the input).
    """

    type_name = "add_coords"
    family = "convolution"
    summary = "CoordConv: append coordinate channels (with_r: and the radius)"
    spatial = True
    primary = "with_r"
    shape_rule = "[C + ndim (+ 1 with with_r), *S]"
    params = (Param("with_r", Bool(), False, "also append the distance from the centre"),)

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        extra = self.ndim + (1 if self.p["with_r"] else 0)
        self.out_shape = (self.in_shape[0] + extra, *sizes)
        return self.out_shape

    def coords(self, dtype, sizes):
        """(ndim (+1), *sizes) coordinate channels for spatial ``sizes``."""
        axes = [np.zeros(1) if L == 1 else np.linspace(-1.0, 1.0, L) for L in sizes]
        grids = list(np.meshgrid(*axes, indexing="ij"))
        if self.p["with_r"]:
            grids.append(np.sqrt(sum(gr * gr for gr in grids)))
        return np.stack(grids).astype(dtype)

    def forward(self, xs, w, ctx):
        x = xs[0]
        grid = self.coords(x.dtype, x.shape[2:])
        coords = np.broadcast_to(grid, (x.shape[0], *grid.shape))
        return np.concatenate([x, coords], axis=1)

    def backward(self, xs, w, out, g, ctx):
        return [g[:, : xs[0].shape[1]]], {}

    # -- files (docs/onnx.md) --
    onnx_import_refusal = ("ONNX has no op for it: exporters write the coordinate channels as "
                           "constants concatenated to the input, which the import does not fold")
    onnx_export_refusal = ("is not written as ONNX by this version of cnncalc: the coordinate "
                           "channels would be a stored constant and a Concat")
    torch_refusal = "torch.nn has no CoordConv module; not written yet"


class DeformConv(Conv):
    """Deformable convolution, 2-D (Dai et al. 2017, 'Deformable Convolutional
    Networks', equations (2)-(4); modulated: true for v2, Zhu et al. 2019, eq. (3)).

    y(p0) = sum_k w_k x(p0 + p_k + dp_k) [* m_k], x sampled bilinearly (zero
    outside the input). The offsets dp (2 per tap per offset group) and, for v2,
    the masks m = sigmoid(...) (1 per tap per offset group) come from an
    offset-predicting convolution with the same kernel, stride, padding and
    dilation, counted as part of this layer. Tensors: weight (out, in/groups,
    *k), bias (out,), offset_weight (3 or 2 * K * offset_groups, in, *k),
    offset_bias. MACs: the main contraction plus the offset convolution's.
    FLOPs add the sampling: per position and tap and offset group, 2 additions
    for the coordinates and 8 for the bilinear weights; per position, tap and
    input channel, 7 to interpolate (4 products, 3 additions) and 1 for the
    mask (v2). The receptive field depends on the data: cnncalc reports the
    regular grid's (the offsets are zero there) and lint flags it (CC112).
    """

    type_name = "deform_conv"
    aten_op = "?"  # no counter table covers it: not a torch.nn module (deform_conv: torchvision.ops)
    torch_forms = ()

    def aten_ops(self, form=""):
        return Layer.aten_ops(self, form)

    data_dependent_field = True
    bias_names = ("bias", "offset_bias")
    summary = "deformable convolution (v1; modulated: v2), its offset convolution included"
    params = (
        Param("out_channels", Int(1), doc="number of filters"),
        *_COMMON,
        Param("offset_groups", Int(1), 1, "groups of input channels sharing one offset field"),
        Param("modulated", Bool(), False, "v2: also predict a mask per tap"),
        Param("padding", Padding(), 0, "as for conv"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        if self.ndim != 2:
            raise self.fail("deform_conv is two-dimensional (Dai et al. 2017)", kind="shape",
                            help="use a [C, H, W] input")
        out = super().bind(in_shapes, ref_shapes)
        og = self.p["offset_groups"]
        if self.in_channels % og:
            raise self.fail(f"offset_groups={og} does not divide the {self.in_channels} input channels",
                            param="offset_groups", help="offset_groups must divide the input channels")
        taps = numel(self.kernel)
        self.n_offsets = (3 if self.p["modulated"] else 2) * taps * og
        self.offset_conv = _inner_conv(2, out_channels=self.n_offsets, kernel_size=self.kernel,
                                       stride=self.stride, dilation=self.dilation, bias=True,
                                       padding=self.p["padding"]).bound(in_shapes)
        return out

    def param_shapes(self):
        shapes = super().param_shapes()
        inner = self.offset_conv.param_shapes()
        shapes["offset_weight"], shapes["offset_bias"] = inner["weight"], inner["bias"]
        return shapes

    def macs(self):
        return super().macs() + self.offset_conv.macs()

    def bias_flops(self):
        return super().bias_flops() + self.offset_conv.bias_flops()

    def saved_for_backward(self):
        # torchvision.ops.deform_conv2d keeps input, offset and mask (and the weights);
        # the offsets' gradient needs the input even for a frozen layer
        out = [Saved("input0", self.in_shapes[0]),
               Saved("offset", (2 * numel(self.kernel) * self.p["offset_groups"], *self.out_shape[1:]))]
        if self.p["modulated"]:
            out.append(Saved("mask", (numel(self.kernel) * self.p["offset_groups"], *self.out_shape[1:])))
        return out

    def explain(self):
        steps = [s for s in super().explain() if s.field == "output_shape"]
        cin, g, k, n_off = self.in_channels, self.p["groups"], self.p["out_channels"], self.n_offsets
        taps = "·".join(map(str, self.kernel))
        per = f"{taps}·{cin}" + (f"/{g}" if g > 1 else "")
        out = "·".join(map(str, self.out_shape[1:]))
        bias = self.p["bias"]
        steps.append(Step.calc(
            "params", "(F·F·C_in/groups" + (" + 1" if bias else "") + ")·K + (F·F·C_in + 1)·offsets"
            f"  [offsets = {3 if self.p['modulated'] else 2}·F·F·offset_groups]",
            (f"({per} + 1)·{k}" if bias else f"{per}·{k}") + f" + ({taps}·{cin} + 1)·{n_off}"))
        steps.append(Step.calc("macs", "outputs · F·F·C_in/groups + offset outputs · F·F·C_in",
                               f"{out}·{k} · {per} + {out}·{n_off} · {taps}·{cin}"))
        og, mod = self.p["offset_groups"], self.p["modulated"]
        steps.append(Step.calc(
            "flops", "convolution + offset convolution + positions·taps·(10·offset_groups + "
            + ("8" if mod else "7") + "·C_in)" + (" + 3·positions·taps·offset_groups (mask sigmoid)" if mod else ""),
            f"{self.main_flops()} + {self.offset_conv.flops()} + {out}·{numel(self.kernel)}·({og}·10 + {cin}·"
            + ("8)" if mod else "7)") + (f" + 3·{out}·{numel(self.kernel)}·{og}" if mod else "")))
        steps.append(Step("receptive_field", "data-dependent: the offsets move every tap", "",
                          "the regular grid's extent is reported"))
        return steps

    def flops(self):
        positions, taps = numel(self.out_shape[1:]), numel(self.kernel)
        og, c = self.p["offset_groups"], self.in_channels
        sampling = positions * taps * (og * 10 + c * (7 + (1 if self.p["modulated"] else 0)))
        mask = positions * taps * og * 3 if self.p["modulated"] else 0  # sigmoid of each mask
        return self.main_flops() + self.offset_conv.flops() + sampling + mask

    def main_flops(self) -> int:
        """The main convolution's FLOPs alone, 2n - 1 + bias per output (``Conv.flops``
        would read this class's MACs, which include the offset convolution's)."""
        out = numel(self.out_shape)
        return 2 * Conv.macs(self) - out + (out if self.p["bias"] else 0)

    def workspace(self):
        return super().workspace() * 3 + self.offset_conv.workspace()


    def probe_layer(self, ndim, values, loc, input_names, shapes):
        """verify's per-axis probe measures the regular grid: a plain convolution."""
        keep = {p.name for p in Conv.params}
        return Conv(ndim, {k: v for k, v in values.items() if k in keep}, loc, self.param_locs,
                    input_names=input_names)

    def _offset_conv(self):
        """The executor's offset-predicting convolution, from the parameters: 2 (v2: 3)
        channels per tap and offset group, the layer's kernel, stride, padding, dilation."""
        n_offsets = (3 if self.p["modulated"] else 2) * numel(self.kernel) * self.p["offset_groups"]
        return _inner_conv(2, out_channels=n_offsets, kernel_size=self.kernel, stride=self.stride,
                           dilation=self.dilation, bias=True, padding=self.p["padding"])

    def _deform_tensors(self, x, w):
        """(weight, bias or None, the offset convolution's tensors), by the shapes the input implies."""
        weight, bias = self._tensors(x, w)
        n_offsets = self._offset_conv().p["out_channels"]
        offsets = K.Tensors(weight=w.take("offset_weight", (n_offsets, x.shape[1], *self.kernel)),
                            bias=w.take("offset_bias", (n_offsets,)))
        return weight, bias, offsets

    def _sample_points(self, x, offset_tensors, ctx):
        """Sampling rows/cols (N, og, K, Ho, Wo) and masks, from the offset convolution
        (whose output has the layer's output size: same kernel, stride, padding)."""
        n = x.shape[0]
        og, taps = self.p["offset_groups"], numel(self.kernel)
        raw = self._offset_conv().forward([x], offset_tensors, ctx)
        ho, wo = raw.shape[2:]
        if ctx.probe:  # the regular grid (what the receptive field reports)
            raw = np.zeros_like(raw)
        offsets = raw[:, : 2 * taps * og].reshape(n, og, taps, 2, ho, wo)
        mask = None
        if self.p["modulated"]:
            logits = raw[:, 2 * taps * og:].reshape(n, og, taps, ho, wo)
            mask = 1.0 if ctx.probe else 1 / (1 + np.exp(-logits))
        (pb_h, _), (pb_w, _) = self.exec_pads(x)
        ky, kx = np.meshgrid(np.arange(self.kernel[0]), np.arange(self.kernel[1]), indexing="ij")
        base_y = (np.arange(ho) * self.stride[0] - pb_h)[None, :, None] + \
            (ky.reshape(-1) * self.dilation[0])[:, None, None]
        base_x = (np.arange(wo) * self.stride[1] - pb_w)[None, None, :] + \
            (kx.reshape(-1) * self.dilation[1])[:, None, None]
        return base_y + offsets[:, :, :, 0], base_x + offsets[:, :, :, 1], mask, raw

    def _gather(self, x, py, px):
        """Bilinear samples (N, C, K, Ho, Wo) of x at (py, px) per offset group; zero outside."""
        n, c, h, wdt = x.shape
        og = self.p["offset_groups"]
        y0, x0 = np.floor(py).astype(np.int64), np.floor(px).astype(np.int64)
        fy, fx = py - y0, px - x0
        xg = x.reshape(n, og, c // og, h, wdt)
        total = 0
        corners = []
        for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                               (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < wdt)
            yc, xc = np.clip(yy, 0, h - 1), np.clip(xx, 0, wdt - 1)
            nidx = np.arange(n)[:, None, None, None, None]
            gidx = np.arange(og)[None, :, None, None, None]
            vals = xg[nidx, gidx, :, yc, xc]  # (N, og, K, Ho, Wo, C/og)
            vals = vals * (weight * inside)[..., None]
            total = total + vals
            corners.append((yc, xc, inside, dy, dx))
        sampled = np.moveaxis(total, -1, 2)  # (N, og, C/og, K, Ho, Wo)
        return sampled.reshape(n, c, *sampled.shape[3:]), (y0, x0, fy, fx, corners)

    def forward(self, xs, w, ctx):
        x = xs[0]
        n, c = x.shape[:2]
        og, g, o = self.p["offset_groups"], self.p["groups"], self.p["out_channels"]
        weight, bias, offsets = self._deform_tensors(x, w)
        py, px, mask, _ = self._sample_points(x, offsets, ctx)
        out = py.shape[-2:]
        sampled, _ = self._gather(x, py, px)  # (N, C, K, Ho, Wo)
        if mask is not None:
            sampled = (sampled.reshape(n, og, c // og, *sampled.shape[2:]) * mask[:, :, None]
                       ).reshape(sampled.shape)
        cols = sampled.reshape(n, g, c // g, -1, *out)
        cols = cols.transpose(1, 0, 4, 5, 2, 3).reshape(g, -1, (c // g) * numel(self.kernel))
        wg = weight.reshape(g, o // g, -1).transpose(0, 2, 1)  # (G, C/G * K, O/G)
        y = self._from_rows(ctx.mm(cols, wg), n, out)
        if bias is not None:
            y = y + bias.reshape(1, -1, 1, 1)
        return y

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        n, c, h, wdt = x.shape
        og, groups, o = self.p["offset_groups"], self.p["groups"], self.p["out_channels"]
        taps = numel(self.kernel)
        weight, bias, offsets = self._deform_tensors(x, w)
        quiet = ctx.quiet()
        py, px, mask, raw = self._sample_points(x, offsets, quiet)
        ho, wo = raw.shape[2:]
        sampled, (y0, x0, fy, fx, corners) = self._gather(x, py, px)
        modulated = sampled
        if mask is not None:
            modulated = (sampled.reshape(n, og, c // og, taps, ho, wo) * mask[:, :, None]).reshape(sampled.shape)
        cols = modulated.reshape(n, groups, c // groups, taps, ho, wo)
        cols = cols.transpose(1, 0, 4, 5, 2, 3).reshape(groups, -1, (c // groups) * taps)
        wg = weight.reshape(groups, o // groups, -1).transpose(0, 2, 1)
        gy = self._to_rows(g, groups)  # (G, M, O/G)
        grads = {"weight": np.matmul(cols.transpose(0, 2, 1), gy).transpose(0, 2, 1).reshape(weight.shape)}
        if bias is not None:
            grads["bias"] = g.sum(axis=(0, 2, 3))
        dcols = np.matmul(gy, wg.transpose(0, 2, 1))  # (G, M, C/G * K)
        dmod = dcols.reshape(groups, n, ho, wo, c // groups, taps).transpose(1, 0, 4, 5, 2, 3)
        dmod = dmod.reshape(n, og, c // og, taps, ho, wo)
        s5 = sampled.reshape(n, og, c // og, taps, ho, wo)
        dsampled = dmod if mask is None else dmod * mask[:, :, None]
        # through the bilinear sampling: to x, and to the coordinates
        gx = np.zeros((n, og, c // og, h, wdt), dtype=x.dtype)
        xg = x.reshape(n, og, c // og, h, wdt)
        dpy = np.zeros_like(py)
        dpx = np.zeros_like(px)
        nidx = np.arange(n)[:, None, None, None, None]
        gidx = np.arange(og)[None, :, None, None, None]
        for yc, xc, inside, dy, dx in corners:
            wy = fy if dy else 1 - fy
            wx = fx if dx else 1 - fx
            contrib = np.moveaxis(dsampled, 2, -1) * (wy * wx * inside)[..., None]  # (N,og,K,Ho,Wo,C/og)
            np.add.at(gx, (nidx, gidx, slice(None), yc, xc), contrib)  # index order puts C/og last
            vals = xg[nidx, gidx, :, yc, xc] * inside[..., None]  # (N, og, K, Ho, Wo, C/og)
            weighted = (np.moveaxis(dsampled, 2, -1) * vals).sum(axis=-1)
            dpy += weighted * (1 if dy else -1) * wx
            dpx += weighted * (1 if dx else -1) * wy
        graw = np.zeros_like(raw)
        graw[:, : 2 * taps * og] = np.stack([dpy, dpx], axis=3).reshape(n, 2 * taps * og, ho, wo)
        if mask is not None:
            dmask = (dmod * s5).sum(axis=2)  # (N, og, K, Ho, Wo)
            graw[:, 2 * taps * og:] = (dmask * mask * (1 - mask)).reshape(n, taps * og, ho, wo)
        if ctx.probe:
            graw = np.zeros_like(raw)
        (gx_off,), goff = self._offset_conv().backward([x], offsets, raw, graw, quiet)
        grads["offset_weight"], grads["offset_bias"] = goff["weight"], goff["bias"]
        return [gx.reshape(x.shape) + gx_off], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ()
    onnx_import_refusal = ("ONNX's DeformConv (opset 19) takes the offsets as an input; this "
                           "layer computes them with its own offset convolution, a pattern not read yet")
    onnx_export_refusal = ("has no ONNX equivalent among the standard ops of opset 18 (DeformConv "
                           "needs opset 19 and an offset convolution written beside it: not yet)")
    torch_refusal = "torch.nn has no deformable convolution (torchvision.ops.DeformConv2d is not torch.nn)"
    to_onnx = Layer.to_onnx
    to_torch = Layer.to_torch

