"""Resampling and shape layers: upsample, pad, crop, flatten, reshape."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from cnncalc.core.exchange import TorchCode, ax, onnx_axes, onnx_pairs, torch_args, torch_pad
from cnncalc.core.rf import linear_map, nearest_map, shift_map
from cnncalc.core.window import centre_crop_padding, crop_out, pad_out, upsample_axis
from cnncalc.layers.base import (
    Bool,
    Choice,
    Int,
    IntList,
    K,
    Layer,
    Names,
    Number,
    OutputSize,
    Padding,
    PadSpec,
    Param,
    Scale,
    fmt_axes,
    fmt_shape,
    np,
    numel,
)

_LINEAR_MODES = {"linear": None, "bilinear": 2, "trilinear": 3}


class Upsample(Layer):
    """Upsampling (PyTorch nn.Upsample / F.interpolate).

    Output size per axis: floor(L * scale_factor), or ``size``. ``nearest`` copies
    input floor(o * r) (PyTorch's legacy nearest rule); the linear modes take
    src = (o + 1/2) r - 1/2 (align_corners=False) or o (L - 1)/(O - 1)
    (align_corners=True) and interpolate floor(src) and floor(src) + 1, where
    r = 1/scale_factor if given, else L/O (PyTorch's area_pixel_compute_scale).
    ``linear`` works on any rank (n-linear); ``bilinear`` needs 2-D, ``trilinear`` 3-D.
    FLOPs per output element: 0 for nearest; 3 (2^ndim - 1) for n-linear
    (2^ndim - 1 lerps of a + t (b - a)).
    """

    type_name = "upsample"
    torch_class = "Upsample"
    torch_call = "F.interpolate"
    torch_forms = ("functional",)
    erf_rule = "copy"  # weights from PyTorch's source indices (erf_taps)

    def erf_taps(self, axis, k=0):
        """The uniform protocol keeps upsampling's own definition: nearest copies its source
        (weight 1); the linear modes weigh floor(src) by 1 - lambda and the next unit by
        lambda, PyTorch's source rule with its clamps (:meth:`sources`)."""
        i0, i1, lam = self.sources(self.in_shape[1:])[axis]
        rows = []
        for a, b, t in zip(i0.tolist(), i1.tolist(), lam.tolist()):
            if self.p["mode"] == "nearest" or a == b:
                rows.append([(a, 1.0)])
            else:
                rows.append([(a, 1.0 - t), (b, t)])
        return rows
    shape_rule = "[C, floor(L·scale_factor) per axis] (or size)"
    family = "resampling"
    summary = "upsampling by scale_factor or to size (nearest, linear, bilinear, trilinear)"
    spatial = True
    primary = "scale_factor"
    params = (
        Param("scale_factor", Scale(), None, "output/input size ratio per axis"),
        Param("size", OutputSize(), None, "output size per axis (instead of scale_factor)"),
        Param("mode", Choice("nearest", "linear", "bilinear", "trilinear"), "nearest", "interpolation"),
        Param("align_corners", Bool(), False, "linear modes: align the corner pixels' centres"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        scale, size, mode = self.p["scale_factor"], self.p["size"], self.p["mode"]
        if (scale is None) == (size is None):
            raise self.fail(
                "upsample needs exactly one of scale_factor and size",
                help="e.g. upsample: {scale_factor: 2}", kind="spec",
            )
        want = _LINEAR_MODES.get(mode)
        if want is not None and want != self.ndim:
            raise self.fail(
                f"mode {mode} is for {want}-D inputs; this network is {self.ndim}-D",
                help="use mode: linear (n-linear on any rank) or nearest", param="mode", kind="value",
            )
        aligned = mode != "nearest" and self.p["align_corners"]
        axes = [upsample_axis(L, None if scale is None else scale[i],
                              None if size is None else size[i], aligned)
                for i, L in enumerate(sizes)]
        outs = tuple(o for o, _ in axes)
        if min(outs) < 1:
            raise self.fail(
                f"scale_factor {fmt_axes(scale)} makes input {fmt_axes(sizes)} empty",
                help="use a larger scale_factor", param="scale_factor",
            )
        self.ratios = tuple(r for _, r in axes)
        self.out_shape = (self.in_shape[0], *outs)
        return self.out_shape

    def flops(self):
        if self.p["mode"] == "nearest":
            return 0
        return numel(self.out_shape) * 3 * (2 ** self.ndim - 1)

    def unit_maps(self):
        if self.p["mode"] == "nearest":
            return [nearest_map(r) for r in self.ratios]
        return [linear_map(r, self.p["align_corners"]) for r in self.ratios]

    def plan(self, sizes):
        """Per axis (output size, source ratio r) for input ``sizes``: floor(L * scale_factor)
        or ``size``; r = 1/scale_factor if given, else L/O; (L - 1)/(O - 1) with align_corners
        (PyTorch's area_pixel_compute_scale). The executor's own reading of the parameters: the
        output length is counted (cnncalc.core.kernels.scaled_length), never taken from the
        analyzer's rule (cnncalc.core.window.upsample_axis)."""
        scale, size = self.p["scale_factor"], self.p["size"]
        result = []
        for i, L in enumerate(sizes):
            if scale is not None:
                out, ratio = K.scaled_length(L, scale[i]), 1 / Fraction(scale[i])
            else:
                out = L if size[i] is None else size[i]
                ratio = Fraction(L, out)
            if self.p["mode"] != "nearest" and self.p["align_corners"]:
                ratio = Fraction(L - 1, out - 1) if out > 1 else Fraction(0)
            result.append((out, ratio))
        return result

    def probe_values(self, axis, values, shapes):
        """verify's probe along ``axis``: n-linear is linear along each axis; an output
        ``size`` becomes its ratio to the network's input, so that the probe keeps the
        network's source positions at any length (align_corners depends on the length
        itself and is kept as written)."""
        if values.get("mode") in ("bilinear", "trilinear"):
            values["mode"] = "linear"
        if values.get("size") is not None and not (self.p["mode"] != "nearest" and self.p["align_corners"]):
            values["scale_factor"] = (Fraction(shapes.output[1 + axis], shapes.inputs[0][1 + axis]),)
            values["size"] = None
        return values

    def sources(self, sizes):
        """Per axis: (i0, i1, lambda) with out = (1 - lambda) x[i0] + lambda x[i1]
        (nearest: lambda = 0), by PyTorch's area_pixel_compute_source_index."""
        result = []
        for size, (out, r) in zip(sizes, self.plan(sizes)):
            o = np.arange(out, dtype=np.float64)
            ratio = r.numerator / r.denominator
            if self.p["mode"] == "nearest":
                i0 = np.minimum(np.floor(o * ratio).astype(np.int64), size - 1)
                result.append((i0, i0, np.zeros(out)))
                continue
            src = o * ratio if self.p["align_corners"] else np.maximum((o + 0.5) * ratio - 0.5, 0)
            i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
            i1 = np.minimum(i0 + 1, size - 1)
            result.append((i0, i1, src - i0))
        return result

    def forward(self, xs, w, ctx):
        y = xs[0]
        for axis, (i0, i1, lam) in enumerate(self.sources(y.shape[2:]), start=2):
            if self.p["mode"] == "nearest":
                y = K.take_axis(y, i0, axis)
                continue
            shape = [1] * y.ndim
            shape[axis] = -1
            lam = lam.reshape(shape).astype(y.dtype)
            y = K.take_axis(y, i0, axis) * (1 - lam) + K.take_axis(y, i1, axis) * lam
        return y

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        shapes = [x.shape]
        for axis in range(2, 2 + self.ndim):  # the shapes after each axis is resampled
            shapes.append(shapes[-1][:axis] + (g.shape[axis],) + shapes[-1][axis + 1:])
        for axis, (i0, i1, lam) in reversed(list(enumerate(self.sources(x.shape[2:]), start=2))):
            shape = [1] * g.ndim
            shape[axis] = -1
            lam = lam.reshape(shape).astype(g.dtype)
            size = shapes[axis - 2][axis]
            if self.p["mode"] == "nearest":
                g = K.take_axis_adjoint(g, i0, axis, size)
                continue
            g = (K.take_axis_adjoint(g * (1 - lam), i0, axis, size)
                 + K.take_axis_adjoint(g * lam, i1, axis, size))
        return [g], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("Resize", "Upsample")
    onnx_opset = 18  # Resize's axes attribute (sizes of the spatial axes, the batch symbolic)

    @classmethod
    def from_onnx(cls, v):
        """Resize (scales or sizes inputs) and the older Upsample (asymmetric, floor):
        nearest as PyTorch's (asymmetric coordinates, floor rounding); linear with
        half_pixel / pytorch_half_pixel (align_corners false) or align_corners."""
        a = v.attrs
        mode = a.get("mode", "nearest")
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        nearest = a.get("nearest_mode", "round_prefer_floor")
        scales = sizes = None
        if v.op == "Upsample":
            scales = v.const(1, "scales") if v.n_inputs > 1 else a.get("scales")
            ctm, nearest = "asymmetric", "floor"
        else:
            if v.has(2):
                scales = v.const(2, "scales")
            if v.has(3):
                sizes = v.const(3, "sizes")
            if scales is not None and len(scales) == 0:
                scales = None
            if "axes" in a:  # opset 18: scales or sizes of the listed axes only
                axes = [int(x) % v.rank for x in a["axes"]]
                if sorted(axes) != list(range(2, v.rank)) or len(axes) != v.rank - 2:
                    raise v.fail(f"axes {a['axes']}: cnncalc resizes every spatial axis")
                order = sorted(range(len(axes)), key=lambda i: axes[i])
                if scales is not None and len(scales) == len(axes):
                    scales = [1.0, 1.0, *(scales[i] for i in order)]
                if sizes is not None and len(sizes) == len(axes):
                    sizes = [v.batch, v.x.shape[0], *(sizes[i] for i in order)]
        if scales is not None:
            scales = [float(s) for s in scales]
            if len(scales) != v.rank or scales[:2] != [1.0, 1.0]:
                raise v.fail(f"scales {scales}: cnncalc resizes spatial axes only")
            values = [int(s) if float(s).is_integer() else float(s) for s in scales[2:]]
            geometry = {"scale_factor": values[0] if len(set(values)) == 1 else values}
        elif sizes is not None:
            sizes = [int(s) for s in sizes]
            if len(sizes) != v.rank or sizes[1] != v.x.shape[0]:
                raise v.fail(f"sizes {sizes}: cnncalc resizes spatial axes only")
            geometry = {"size": onnx_axes(sizes[2:])}
        else:
            raise v.fail("Resize without constant scales or sizes")
        if mode == "nearest":
            if ctm != "asymmetric" or nearest != "floor":
                raise v.fail(f"nearest with coordinate_transformation_mode {ctm} and nearest_mode "
                             f"{nearest}; cnncalc's nearest is PyTorch's (asymmetric, floor)")
            return geometry
        if mode == "linear":
            if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
                raise v.fail(f"linear with coordinate_transformation_mode {ctm}; cnncalc maps "
                             "half_pixel, pytorch_half_pixel and align_corners")
            name = {1: "linear", 2: "bilinear", 3: "trilinear"}[v.ndim]
            return {**geometry, "mode": name, "align_corners": True if ctm == "align_corners" else None}
        raise v.fail(f"Resize mode {mode}; cnncalc maps nearest and linear")

    def to_onnx(self, f, call):
        """Resize by scales (scale_factor) or to sizes; nearest as PyTorch's (asymmetric,
        floor), linear with half_pixel or align_corners."""
        if self.p["scale_factor"] is not None:
            geometry = ["", call.floats(call.name + ".scales",
                                        [1.0, 1.0, *(float(s) for s in self.p["scale_factor"])])]
        else:  # the spatial sizes only (opset 18's axes): the batch stays symbolic
            geometry = ["", "", call.ints(call.name + ".sizes", f.out_shape[1:])]
        if self.p["mode"] == "nearest":
            attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        else:
            attrs = dict(mode="linear", coordinate_transformation_mode="align_corners"
                         if self.p["align_corners"] else "half_pixel")
        if self.p["scale_factor"] is None:
            attrs["axes"] = list(range(2, 2 + len(f.out_shape) - 1))
        return [call.node("Resize", [call.ins[0], *geometry], **attrs)]

    def to_torch(self, f, call):
        """F.interpolate."""
        if self.p["scale_factor"] is not None:
            geometry = {"scale_factor": ax(float(s) for s in self.p["scale_factor"])}
        else:
            geometry = {"size": ax(f.out_shape[1:])}
        mode = self.p["mode"]
        align = None if mode == "nearest" else self.p["align_corners"]
        return TorchCode(f"F.interpolate({call.ins[0]}, {torch_args(**geometry, mode=mode, align_corners=align)})")

    def aten_ops(self, form=""):
        # ATen's upsample_nearest*, upsample_linear1d, upsample_bilinear2d, upsample_trilinear3d
        mode = self.p["mode"]
        if mode == "linear":
            mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[self.ndim]
        size = numel(self.out_shape[1:]) if self.p["size"] is not None else 0
        return [self.torch_op(f"upsample_{mode}", form, size=size)]


class Pad(Layer):
    """Explicit padding (PyTorch's nn.ZeroPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d).

    Output size per axis: L + before + after. ``reflect`` needs padding < L,
    ``circular`` padding <= L (PyTorch's checks). No FLOPs.
    """

    type_name = "pad"
    aten_op = "constant_pad_nd"
    torch_call = "F.pad"
    erf_rule = "copy"  # the ERF's uniform protocol: a shift (zero padding)

    def erf_refusal(self):
        """Reflect, replicate and circular padding copy input units to the border: the
        unclipped shift map does not hold them (not linearised)."""
        if self.p["mode"] != "zeros":
            return f"pad mode '{self.p['mode']}' (the uniform protocol takes zero padding only)"
        return None
    shape_rule = "[C, L + before + after per axis]"
    family = "shape"
    summary = "padding by explicit pixels (zeros, reflect, replicate, circular)"
    spatial = True
    primary = "padding"
    params = (
        Param("padding", Padding(("valid",)), doc="pixels: int, per axis, or [before, after] pairs"),
        Param("mode", Choice("zeros", "reflect", "replicate", "circular"), "zeros", "what fills the border"),
        Param("value", Number(), 0, "fill value for mode zeros (constant padding)"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        self.pads = self.p["padding"].pairs
        mode = self.p["mode"]
        for size, (b, a) in zip(sizes, self.pads):
            if (mode == "reflect" and max(b, a) >= size) or (mode == "circular" and max(b, a) > size):
                limit = "smaller than" if mode == "reflect" else "at most"
                raise self.fail(
                    f"{mode} padding {max(b, a)} must be {limit} the input size {size}",
                    help="use mode: zeros or replicate, or less padding", param="padding",
                )
        self.out_shape = (self.in_shape[0], *(pad_out(L, b, a) for L, (b, a) in zip(sizes, self.pads)))
        return self.out_shape

    def unit_maps(self):
        return [shift_map(-b) for b, _ in self.pads]

    _NUMPY_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}

    def sources(self, sizes):
        """Per axis, the input index each output position copies (-1: the fill value)."""
        result = []
        for size, (b, a) in zip(sizes, self.p["padding"].pairs):
            mode = self._NUMPY_MODE[self.p["mode"]]
            if mode == "constant":
                result.append(np.pad(np.arange(size), (b, a), constant_values=-1))
            else:
                result.append(np.pad(np.arange(size), (b, a), mode=mode))
        return result

    def forward(self, xs, w, ctx):
        x = xs[0]
        if self.p["mode"] == "zeros":
            return K.pad(x, self.p["padding"].pairs, self.p["value"])
        y = x
        for axis, index in enumerate(self.sources(x.shape[2:]), start=2):
            y = K.take_axis(y, index, axis)
        return y

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        if self.p["mode"] == "zeros":
            return [K.unpad(g, self.p["padding"].pairs, x.shape[2:])], {}
        for axis, index in reversed(list(enumerate(self.sources(x.shape[2:]), start=2))):
            g = K.take_axis_adjoint(g, index, axis, x.shape[axis])
        return [g], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("Pad",)
    onnx_modes: ClassVar[dict[str, str]] = {"zeros": "constant", "reflect": "reflect",
                                            "replicate": "edge", "circular": "wrap"}

    @classmethod
    def from_onnx(cls, v):
        """Pad of the spatial axes (pads as an attribute before opset 11, else an input)."""
        rank = v.rank
        if "pads" in v.attrs:
            pads = list(v.attrs["pads"])
            value = v.attrs.get("value", 0.0)
        else:
            pads = [int(p) for p in v.const(1, "pads")]
            c = v.const(2, "constant_value") if v.n_inputs > 2 else None
            value = 0.0 if c is None else float(c)
        if v.has(3):
            raise v.fail("Pad with axes: give pads for every axis")
        if any(pads[i] or pads[i + rank] for i in (0, 1)):
            raise v.fail(f"pads {pads} pad the batch or channel axis; cnncalc pads spatial axes")
        if any(p < 0 for p in pads):
            raise v.fail(f"negative pads {pads} (cropping); cnncalc's crop does that")
        mode = {o: m for m, o in cls.onnx_modes.items()}.get(v.attrs.get("mode", "constant"))
        if mode is None:
            raise v.fail(f"Pad mode {v.attrs.get('mode')}")
        pairs = list(zip(pads[2:rank], pads[rank + 2:]))
        return {"padding": onnx_pairs(pairs), "mode": None if mode == "zeros" else mode,
                "value": None if value == 0 else value}

    def to_onnx(self, f, call):
        """Pad with pads for every axis (batch and channels 0) and the value as an input."""
        pairs = self.p["padding"].pairs
        pads = [0, 0, *(b for b, _ in pairs), 0, 0, *(a for _, a in pairs)]
        mode = self.onnx_modes[self.p["mode"]]
        inputs = [call.ins[0], call.ints(call.name + ".pads", pads)]
        if mode == "constant" and self.p["value"]:
            inputs.append(call.floats(call.name + ".value", float(self.p["value"])))
        return [call.node("Pad", inputs, mode=mode)]

    def to_torch(self, f, call):
        """F.pad (the last axis first)."""
        mode = {"zeros": "constant"}.get(self.p["mode"], self.p["mode"])
        value = self.p["value"] if mode == "constant" and self.p["value"] else None
        return TorchCode(f"F.pad({call.ins[0]}, {torch_pad(self.p['padding'].pairs)!r}, "
                         f"{torch_args(mode=mode, value=value)})")


class Crop(Layer):
    """Cropping (Keras Cropping2D), or a centre crop to another layer's size.

    ``cropping``: pixels removed (int, per axis, or [before, after] pairs), output
    L - before - after. ``like: NAME``: crop to NAME's spatial size, centred:
    before = (L - L_ref) // 2, the odd pixel after (U-Net's cropped skip
    connections, Ronneberger et al. 2015, Fig. 1). No FLOPs.
    """

    type_name = "crop"
    aten_op = "slice"
    torch_call = "x[...]"
    erf_rule = "copy"  # the ERF's uniform protocol: a shift
    view = True  # a view of the input: no new storage
    shape_rule = "[C, L - before - after per axis] (like: the other layer's size, centred)"
    family = "shape"
    summary = "cropping by pixels, or a centre crop to another layer's size (like: NAME)"
    spatial = True
    primary = "cropping"
    params = (
        Param("cropping", Padding(()), None, "pixels removed: int, per axis, or [before, after] pairs"),
        Param("like", Names(), None, "centre crop to this layer's spatial size"),
    )
    ref_params = ("like",)

    def tiling_problems(self) -> list[str]:
        """A centre crop (like:) that cannot be centred: an odd difference of sizes
        puts the extra pixel after (cnncalc sizes, cnncalc/core/window.py)."""
        if self.p["like"] is None:
            return []
        return [f"{size} - {size - b - a} is odd: the crop is off-centre"
                for size, (b, a) in zip(self.in_shape[1:], self.pads) if (b + a) % 2]

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        cropping, like = self.p["cropping"], self.p["like"]
        if (cropping is None) == (like is None):
            raise self.fail("crop needs exactly one of cropping and like",
                            help="e.g. crop: 4, or crop: {like: enc1}", kind="spec")
        if like is not None:
            if len(like) != 1:
                raise self.fail("like takes one layer name", param="like", kind="value")
            ref = ref_shapes[0]
            if len(ref) != len(self.in_shape):
                raise self.fail(
                    f"cannot crop {fmt_shape(self.in_shape)} like {fmt_shape(ref)}: the ranks differ",
                    param="like",
                )
            pads = []
            for size, target in zip(sizes, ref[1:]):
                if target > size:
                    raise self.fail(
                        f"cannot centre-crop {fmt_axes(sizes)} to the larger {fmt_axes(ref[1:])}",
                        help="crop the larger tensor, or pad the smaller one", param="like",
                    )
                pads.append(centre_crop_padding(size, target))
            self.pads = tuple(pads)
        else:
            self.pads = cropping.pairs
        out = [crop_out(L, b, a) for L, (b, a) in zip(sizes, self.pads)]
        if min(out) < 1:
            raise self.fail(
                f"cropping {self.p['cropping'].describe()} removes all of input {fmt_axes(sizes)}",
                help="crop fewer pixels", param="cropping",
            )
        self.out_shape = (self.in_shape[0], *out)
        return self.out_shape

    def unit_maps(self):
        return [shift_map(b) for b, _ in self.pads]

    def probe_values(self, axis, values, shapes):
        """verify's probe: the cropping the executor resolved at the network's size (for
        ``like``, from the arrays' sizes: cnncalc.core.kernels.centre_crop)."""
        if self.p["like"] is not None:
            pairs = K.centre_crop(shapes.inputs[0][1:], shapes.refs[0][1:])
            values["cropping"] = PadSpec(pairs=(pairs[axis],))
        values["like"] = None
        return values

    def exec_crop(self, x, ctx) -> tuple[tuple[int, int], ...]:
        """The executor's (before, after) crop of array ``x``: the pixels written, or for
        ``like`` a centred crop to the other layer's array (``ctx.refs``), by
        cnncalc.core.kernels.centre_crop; never the analysis'."""
        if self.p["like"] is None:
            return self.p["cropping"].pairs
        return K.centre_crop(x.shape[2:], ctx.refs[0].shape[2:])

    def forward(self, xs, w, ctx):
        x = xs[0]
        pads = self.exec_crop(x, ctx)
        return K.unpad(x, pads, [L - b - a for L, (b, a) in zip(x.shape[2:], pads)])

    def backward(self, xs, w, out, g, ctx):
        return [K.pad(g, self.exec_crop(xs[0], ctx))], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("Slice",)  # of spatial axes; a Slice of channels is a split's

    def crop_pairs(self, f) -> tuple[tuple[int, int], ...]:
        """(before, after) cropped per spatial axis: the cropping given, or the centre crop
        to ``like``'s size (the odd pixel after), read from the facts' shapes."""
        if self.p["cropping"] is not None:
            return tuple(self.p["cropping"].pairs)
        return tuple(((L - o) // 2, L - o - (L - o) // 2)
                     for L, o in zip(f.in_shapes[0][1:], f.out_shape[1:]))

    @classmethod
    def from_onnx(cls, v):
        """A Slice of spatial axes, unit steps (the reader's ``extra['ranges']``: full-rank
        axis -> [begin, end))."""
        ranges, full = v.extra["ranges"], (v.batch, *v.x.shape)
        if 1 in ranges:
            raise v.fail("a Slice of channels and spatial axes at once")
        pairs = [ranges.get(axis, (0, full[axis])) for axis in range(2, len(full))]
        return {"cropping": onnx_pairs([(b, full[axis] - e) for axis, (b, e) in
                                        zip(range(2, len(full)), pairs)])}

    def to_onnx(self, f, call):
        """Slice of the spatial axes."""
        sizes, pairs = f.in_shapes[0][1:], self.crop_pairs(f)
        return [call.node("Slice", [call.ins[0], call.ints(call.name + ".starts", [b for b, _ in pairs]),
                                    call.ints(call.name + ".ends", [L - a for L, (_, a) in zip(sizes, pairs)]),
                                    call.ints(call.name + ".axes", range(2, 2 + len(sizes)))])]

    def to_torch(self, f, call):
        """Indexing of the spatial axes."""
        index = ", ".join(f"{b}:{L - a}" for L, (b, a) in zip(f.in_shapes[0][1:], self.crop_pairs(f)))
        return TorchCode(f"{call.ins[0]}[:, :, {index}]")


class Flatten(Layer):
    """Flatten each sample to a vector (PyTorch nn.Flatten): [C, *S] -> [C * prod(S)]."""

    type_name = "flatten"
    aten_op = "flatten"
    torch_call = "torch.flatten"
    view = True  # a view of the input: no new storage
    grad_pass = "view"  # ViewBackward reshapes the output's gradient: a view of it
    mixes_axes = True
    shape_rule = "[C·H·W]: every element of a sample in one vector"
    family = "shape"
    summary = "flatten each sample to a vector"

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.out_shape = (numel(self.in_shape),)
        return self.out_shape

    def unit_maps(self):
        return None

    def forward(self, xs, w, ctx):
        return xs[0].reshape(xs[0].shape[0], -1)

    def backward(self, xs, w, out, g, ctx):
        return [g.reshape(xs[0].shape)], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("Flatten",)
    torch_ops = ("aten.flatten",)

    @classmethod
    def from_torch(cls, v):
        """aten.flatten from axis 1 to the last (torch.flatten(x, 1), nn.Flatten)."""
        start, end = v.a["start_dim"] % v.rank, v.a["end_dim"] % v.rank
        if (start, end) != (1, v.rank - 1):
            raise v.fail(f"flatten of axes {start} to {end} of a rank-{v.rank} tensor; cnncalc "
                         "keeps the batch axis and flattens the rest (start_dim 1)")
        return {}

    @classmethod
    def from_onnx(cls, v):
        """Flatten at axis 1 (the batch axis kept)."""
        if v.attrs.get("axis", 1) % v.rank != 1:
            raise v.fail(f"Flatten at axis {v.attrs.get('axis')}; cnncalc keeps the batch axis (axis 1)")
        return {}

    def to_onnx(self, f, call):
        return [call.node("Flatten", call.ins, axis=1)]

    def to_torch(self, f, call):
        return TorchCode(f"torch.flatten({call.ins[0]}, 1)")


class Reshape(Layer):
    """Reshape each sample (per sample, no batch axis; one entry may be -1).

    Receptive fields after a reshape are not defined (positions are re-laid).
    """

    type_name = "reshape"
    aten_op = "view"
    torch_call = "x.view"
    view = True  # a view of the input: no new storage
    grad_pass = "view"  # ViewBackward reshapes the output's gradient: a view of it
    mixes_axes = True
    shape_rule = "the given shape (-1: what is left)"
    family = "shape"
    summary = "reshape each sample (no batch axis; one -1 allowed)"
    primary = "shape"
    params = (Param("shape", IntList(), doc="target per-sample shape"),)

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        target = list(self.p["shape"])
        total = numel(self.in_shape)
        known = numel(v for v in target if v != -1)
        if -1 in target:
            if total % known:
                raise self.fail(
                    f"cannot reshape {fmt_shape(self.in_shape)} ({total} elements) to {fmt_shape(target)}",
                    param="shape",
                )
            target[target.index(-1)] = total // known
        if numel(target) != total:
            raise self.fail(
                f"cannot reshape {fmt_shape(self.in_shape)} ({total} elements) to "
                f"{fmt_shape(target)} ({numel(target)} elements)",
                help="the element count must stay the same", param="shape",
            )
        self.out_shape = tuple(target)
        return self.out_shape

    def unit_maps(self):
        return None

    def forward(self, xs, w, ctx):
        return xs[0].reshape(xs[0].shape[0], *self.p["shape"])  # NumPy resolves the -1

    def backward(self, xs, w, out, g, ctx):
        return [g.reshape(xs[0].shape)], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("Reshape",)
    torch_ops = ("aten.view", "aten.reshape")

    @classmethod
    def from_torch(cls, v):
        """aten.view / aten.reshape keeping the batch (the reader has taken a flatten, a view to
        the same shape and the channel shuffle): the per-sample target."""
        size = [int(d) for d in (v.a.get("size") or v.a.get("shape") or ())]
        if not size or size[0] not in (-1, 1):
            raise v.fail(f"a view to {size} does not keep the batch axis first")
        return {"shape": size[1:]}

    @classmethod
    def from_onnx(cls, v):
        """Reshape to the reader's per-sample target (``extra['shape']``, the batch kept)."""
        return {"shape": [int(d) for d in v.extra["shape"]]}

    def to_onnx(self, f, call):
        # 0: the input's batch (a symbolic N), as ONNX's Reshape copies a 0 (allowzero 0)
        return [call.node("Reshape", [call.ins[0], call.ints(call.name + ".shape", [0, *f.out_shape])])]

    def to_torch(self, f, call):
        x = call.ins[0]
        return TorchCode(f"{x}.reshape({x}.shape[0], *{self.p['shape']!r})")


class Permute(Layer):
    """Reorder the axes of each sample, as torch.permute: ``dims`` counts the batch as 0 and
    keeps it first (ViT: ``permute: [0, 2, 1]`` turns [E, L] into the sequence [L, E]).

    A view (no new storage, 0 FLOPs). Receptive fields after it are not defined: cnncalc's
    fields are per spatial axis of a channels-first tensor (as after reshape).
    """

    type_name = "permute"
    view = True
    aten_op = "permute"  # x.permute(0, 2, 1) (torchvision's ViT): a view
    torch_call = "x.permute"
    mixes_axes = True
    shape_rule = "the input's axes in the order of dims"
    family = "shape"
    summary = "reorder the axes (torch.permute; dims count the batch as 0)"
    primary = "dims"
    params = (Param("dims", IntList(shape=False), doc="a permutation of the axes, batch (0) first"),)

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        rank = len(self.in_shape) + 1
        dims = [d % rank if -rank <= d < rank else d for d in self.p["dims"]]
        if sorted(dims) != list(range(rank)):
            raise self.fail(f"dims {list(self.p['dims'])} is not a permutation of the {rank} axes of "
                            f"{fmt_shape(self.in_shape)} with the batch (0 .. {rank - 1})",
                            help=f"list every axis once, e.g. {[0, *range(rank - 1, 0, -1)]}",
                            param="dims", kind="value")
        if dims[0] != 0:
            raise self.fail("dims must keep the batch axis first (dims[0] = 0)",
                            help="cnncalc's shapes are per sample: permute the other axes only",
                            param="dims", kind="value")
        self.out_shape = tuple(self.in_shape[d - 1] for d in dims[1:])
        return self.out_shape

    def unit_maps(self):
        return None

    def forward(self, xs, w, ctx):
        return np.transpose(xs[0], self.p["dims"])

    def backward(self, xs, w, out, g, ctx):
        return [np.transpose(g, np.argsort([d % g.ndim for d in self.p["dims"]]))], {}

    # -- files (docs/onnx.md) --
    torch_ops = ("aten.permute",)

    @classmethod
    def from_torch(cls, v):
        """aten.permute that the reader does not take as a channels-last stretch (an image's
        channels moved last and back): its dims, the batch first."""
        return {"dims": [int(d) % v.rank for d in v.a["dims"]]}

    onnx_ops = ("Transpose",)

    @classmethod
    def from_onnx(cls, v):
        """A Transpose that keeps the batch first and is neither a move of the channels last
        (a layout, no layer) nor part of a channel shuffle (the reader decides those)."""
        return {"dims": [int(d) for d in v.attrs["perm"]]}

    def to_onnx(self, f, call):
        return [call.node("Transpose", call.ins, perm=[d % (len(f.in_shapes[0]) + 1) for d in self.p["dims"]])]

    def to_torch(self, f, call):
        return TorchCode(f"{call.ins[0]}.permute({', '.join(map(str, self.p['dims']))})")


class Select(Layer):
    """One index along an axis, the axis removed, as torch.select(x, dim, index) (ViT's
    classifier token ``x[:, 0]``: ``select_index: {dim: 1, index: 0}``). ``dim`` counts the batch
    as 0. A view (0 FLOPs); no receptive field after it."""

    type_name = "select_index"
    view = True
    aten_op = "select"  # x[:, 0] (torchvision's ViT): a view
    torch_call = "x[...]"
    mixes_axes = True
    shape_rule = "the input's shape without axis dim"
    family = "shape"
    summary = "one index along an axis, the axis dropped (torch.select; x[:, 0])"
    params = (Param("dim", Int(None), 1, "axis, counting the batch as 0"),
              Param("index", Int(None), 0, "position along it (negative: from the end)"))

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        rank = len(self.in_shape) + 1
        dim = self.p["dim"]
        if not (-rank < dim < rank) or dim % rank == 0 or rank == 2:
            raise self.fail(f"dim {dim} is not a non-batch axis of {fmt_shape(self.in_shape)} "
                            f"(with batch: rank {rank}), or selecting would leave no axis",
                            help="dim 1 is the first axis after the batch", param="dim", kind="value")
        axis = dim % rank
        n = self.in_shape[axis - 1]
        if not -n <= self.p["index"] < n:
            raise self.fail(f"index {self.p['index']} is outside axis {axis} of size {n}",
                            help=f"use 0 .. {n - 1} (or -{n} .. -1)", param="index", kind="value")
        self.out_shape = tuple(s for i, s in enumerate(self.in_shape) if i != axis - 1)
        return self.out_shape

    def unit_maps(self):
        return None

    def forward(self, xs, w, ctx):
        x = xs[0]
        return np.take(x, self.p["index"], axis=self.p["dim"] % x.ndim)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        axis = self.p["dim"] % x.ndim
        gx = np.zeros(x.shape, dtype=g.dtype)
        index = [slice(None)] * x.ndim
        index[axis] = self.p["index"] % x.shape[axis]
        gx[tuple(index)] = g
        return [gx], {}

    onnx_import_refusal = "a Gather of one stored index from a computed tensor is not read as select_index yet"
    torch_ops = ("aten.select",)

    @classmethod
    def from_torch(cls, v):
        """aten.select (``x[:, 0]``): its dim (the batch is 0) and index."""
        return {"dim": int(v.a["dim"]), "index": int(v.a["index"])}
    onnx_export_refusal = ("its ONNX form (Gather of one index) is not read back by cnncalc yet, "
                           "so it is not written")

    def to_torch(self, f, call):
        return TorchCode(f"torch.select({call.ins[0]}, {self.p['dim']}, {self.p['index']})")
