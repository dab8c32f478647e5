"""Layers that select or rearrange elements without arithmetic: chunk, split,
channel_shuffle, pixel_shuffle, pixel_unshuffle.

None of them has parameters, MACs or FLOPs (docs/conventions.md): they move
elements. Their receptive-field unit maps are exact: taking part of the
channels, or shuffling them, is the identity on every spatial axis; a slice
along a spatial axis shifts it by the slice's start; pixel_shuffle by r maps
output unit o to input unit floor(o / r) (effective stride 1/r, as nearest
upsampling) and pixel_unshuffle by r reads input units r·o .. r·o + r - 1 (a
window of r with stride r).
"""

from __future__ import annotations

from fractions import Fraction

from cnncalc.core.errors import SpecError
from cnncalc.core.exchange import TorchCode
from cnncalc.core.rf import nearest_map, shift_map, window_map
from cnncalc.core.window import (
    chunk_bounds,
    pixel_shuffle_shape,
    pixel_unshuffle_shape,
    split_bounds,
)
from cnncalc.layers.base import (
    Int,
    IntList,
    K,
    Layer,
    PadSpec,
    Param,
    Step,
    Window,
    default_maps,
    fmt_shape,
    np,
)
from cnncalc.layers.elementwise import Identity
from cnncalc.layers.resample import Crop


class _Slice(Layer):
    """Part of the input along one axis (``dim``, PyTorch's numbering with the
    batch as 0: 1 is the channels, 2.. the spatial axes), as torch.chunk and
    torch.split return it. Subclasses give :meth:`bounds`."""

    family = "shape"
    shape_rule = "the input's shape, with the selected part's length on axis dim"
    view = True  # torch.chunk and torch.split return views
    erf_rule = "copy"  # the ERF's uniform protocol: a crop along a spatial axis

    def erf_refusal(self):
        """A part of the channels gives the gradient to some channels only: the uniform
        protocol's channel-summed computation (cnncalc.measure.erf) cannot hold it."""
        if self.p["dim"] == 1:
            return f"{self.type_name} along the channels (the protocol's gradient is the same on every channel)"
        return None

    def bounds(self, length: int) -> tuple[int, int]:
        """(start, stop) of the selected part of an axis of ``length`` elements.

        Raises:
            ValueError: with the reason, when the axis cannot be divided so.
        """
        raise NotImplementedError  # pragma: no cover

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        dim = self.p["dim"]
        if dim > len(self.in_shape):
            raise self.fail(
                f"dim {dim} is not an axis of {fmt_shape(self.in_shape)} (with the batch as "
                f"axis 0: rank {len(self.in_shape) + 1})",
                help="dim 1 is the channel axis, 2.. the spatial axes", param="dim", kind="value",
            )
        try:
            self.start, self.stop = self.bounds(self.in_shape[dim - 1])
        except ValueError as exc:
            raise self.fail(str(exc), help=self.fix, param=self.fix_param, kind="value") from None
        out = list(self.in_shape)
        out[dim - 1] = self.stop - self.start
        self.out_shape = tuple(out)
        return self.out_shape

    def unit_maps(self):
        maps = default_maps(self.out_shape, self.ndim)
        dim = self.p["dim"]
        if maps is not None and dim >= 2:  # a slice along a spatial axis shifts it
            maps[dim - 2] = shift_map(self.start)
        return maps

    def exec_bounds(self, length: int) -> tuple[int, int]:
        """The executor's (start, stop) on an axis of ``length`` (cnncalc.core.kernels),
        independent of :meth:`bounds`, the analyzer's rule."""
        raise NotImplementedError  # pragma: no cover

    def forward(self, xs, w, ctx):
        x = xs[0]
        dim = self.p["dim"]
        start, stop = self.exec_bounds(x.shape[dim])
        index = [slice(None)] * x.ndim
        index[dim] = slice(start, stop)
        return x[tuple(index)]

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        dim = self.p["dim"]
        start, stop = self.exec_bounds(x.shape[dim])
        gx = np.zeros(x.shape, dtype=g.dtype)
        index = [slice(None)] * x.ndim
        index[dim] = slice(start, stop)
        gx[tuple(index)] = g
        return [gx], {}

    def explain(self):
        axis = "C" if self.p["dim"] == 1 else f"axis {self.p['dim']}"
        length = self.in_shape[self.p["dim"] - 1]
        formula, substituted = self.length_rule(length)
        return [
            Step("output_shape", f"{axis}_out = {formula}", substituted, str(self.stop - self.start),
                 f"elements {self.start} .. {self.stop - 1} of {length}; no parameters, 0 FLOPs"),
            Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape)),
        ]

    def probe_values(self, axis, values, shapes):
        """verify's probe along spatial ``axis``: whether this slice is along that axis."""
        return {**values, "_along": self.p["dim"] == axis + 2}

    def probe_layer(self, ndim, values, loc, input_names, shapes):
        """verify's per-axis, one-channel probe. A part of the channels, or a slice along
        another spatial axis, is spatially the identity along the probed axis; a slice
        along it is the crop it resolved at the network's size (the field shifts by its
        start at any probe length)."""
        if not values.get("_along"):
            return Identity(ndim, {}, loc, self.param_locs, input_names=input_names)
        length = shapes.inputs[0][self.p["dim"] - 1]
        start, stop = self.exec_bounds(length)  # as the executor sliced the network's array
        return Crop(ndim, {"cropping": PadSpec(pairs=((start, length - stop),)), "like": None},
                    loc, self.param_locs, input_names=input_names)

    # -- files (docs/onnx.md) --
    def to_onnx(self, f, call):
        """Slice [start, stop) along dim (the batch counted as axis 0, as in ONNX)."""
        dim = int(self.p["dim"])
        start, stop = self.bounds(f.in_shapes[0][dim - 1])
        return [call.node("Slice", [call.ins[0], call.ints(call.name + ".starts", [start]),
                                    call.ints(call.name + ".ends", [stop]),
                                    call.ints(call.name + ".axes", [dim])])]

    def to_torch(self, f, call):
        """Indexing along dim."""
        start, stop = self.bounds(f.in_shapes[0][self.p["dim"] - 1])
        index = ", ".join([":"] * self.p["dim"] + [f"{start}:{stop}"])
        return TorchCode(f"{call.ins[0]}[{index}]")

    @staticmethod
    def onnx_sizes(v) -> list[int]:
        """The part sizes of an ONNX Split: its ``split`` attribute (before opset 13) or
        input, else ``num_outputs`` (or one per output) parts of ceil(L / n), the last
        what is left (ONNX's rule, as torch.chunk's)."""
        sizes = v.attrs.get("split")
        if sizes is None and v.has(1):
            sizes = [int(s) for s in v.const(1, "split")]
        if sizes is None:
            length = v.x.shape[v.extra["axis"] - 1]
            k = v.attrs.get("num_outputs", v.n_outputs)
            chunk = -(-length // k)
            sizes = [min(chunk, length - i * chunk) for i in range(k)]
        return [int(s) for s in sizes]

    @staticmethod
    def onnx_dim(v) -> dict:
        """``dim`` of a Split output, left out on the channels (axis 1)."""
        return {} if v.extra["axis"] == 1 else {"dim": v.extra["axis"]}


class Chunk(_Slice):
    """One of ``chunks`` parts of an axis (torch.chunk(x, chunks, dim)[index]).

    PyTorch's rule: every part has ceil(L / chunks) elements, the last what is
    left; so there may be fewer than ``chunks`` parts (torch.chunk of 5 into 4
    gives 2, 2, 1). ShuffleNetV2 (Ma et al. 2018, Fig. 3c) takes the two halves
    of its input with x.chunk(2, dim=1).
    """

    type_name = "chunk"
    aten_op = "chunk"
    torch_call = "x.chunk"
    summary = "one of `chunks` equal parts along an axis (torch.chunk; channels by default)"
    params = (
        Param("chunks", Int(1), doc="number of parts (PyTorch's chunks)"),
        Param("index", Int(0), 0, "which part: 0 is the first"),
        Param("dim", Int(1), 1, "axis, counting the batch as 0: 1 is the channels"),
    )
    def length_rule(self, length):
        c, i = self.p["chunks"], self.p["index"]
        return ("min(ceil(L / chunks), L - index·ceil(L / chunks))  [torch.chunk]",
                f"min(ceil({length} / {c}), {length} - {i}·ceil({length} / {c}))")

    fix = "torch.chunk gives parts of ceil(L / chunks) elements; pick an index below the number of parts"
    fix_param = "index"

    def bounds(self, length):
        return chunk_bounds(length, self.p["chunks"], self.p["index"])

    def exec_bounds(self, length):
        return K.chunk_part(length, self.p["chunks"], self.p["index"])

    # -- files (docs/onnx.md) --
    onnx_ops = ("Split",)
    onnx_priority = 2  # equal parts are a chunk before they are a split (priority 1)
    torch_ops = ("aten.chunk",)

    @classmethod
    def from_torch(cls, v):
        """One part of aten.chunk (the reader's ``extra``: which part)."""
        dim = v.a["dim"] % v.rank
        return {"chunks": int(v.a["chunks"]), "index": v.extra["index"],
                "dim": None if dim == 1 else dim}

    @classmethod
    def from_onnx(cls, v):
        """An output of a Split into equal parts (the reader's ``extra``: index, axis)."""
        sizes = cls.onnx_sizes(v)
        if len(set(sizes)) != 1:
            return None
        return {"chunks": len(sizes), "index": v.extra["index"], **cls.onnx_dim(v)}


class Split(_Slice):
    """One part of an axis cut into the given sizes (torch.split(x, sizes, dim)[index]).

    The sizes must add up to the axis length (PyTorch's rule for a list of sizes).
    """

    type_name = "split"
    aten_op = "split"
    torch_call = "x.split"
    summary = "one part of an axis cut into given sizes (torch.split; channels by default)"
    params = (
        Param("sizes", IntList(), doc="length of every part, in order; they add up to the axis"),
        Param("index", Int(0), 0, "which part: 0 is the first"),
        Param("dim", Int(1), 1, "axis, counting the batch as 0: 1 is the channels"),
    )
    def length_rule(self, length):
        return (f"sizes[index], sizes = {list(self.p['sizes'])}, index = {self.p['index']}  "
                "[torch.split]", str(self.p["sizes"][self.p["index"]]))

    fix = "the sizes must add up to the axis length, and index must be below their number"
    fix_param = "sizes"

    def bounds(self, length):
        return split_bounds(length, self.p["sizes"], self.p["index"])

    def exec_bounds(self, length):
        return K.split_part(self.p["sizes"], self.p["index"])

    # -- files (docs/onnx.md) --
    onnx_ops = ("Split", "Slice")
    onnx_priority = 1  # a Slice of the channels, before crop's spatial one

    @classmethod
    def from_onnx(cls, v):
        """An output of a Split; a Slice of the channels only (the part and what is around it)."""
        if v.op == "Split":
            return {"sizes": cls.onnx_sizes(v), "index": v.extra["index"], **cls.onnx_dim(v)}
        ranges = v.extra["ranges"]
        if set(ranges) != {1}:
            return None
        (b, e), c = ranges[1], v.x.shape[0]
        return {"sizes": [s for s in (b, e - b, c - e) if s], "index": 1 if b else 0}


class ChannelShuffle(Layer):
    """Channel shuffle (Zhang et al. 2018, ShuffleNet, section 3.1; torch.nn.ChannelShuffle).

    The C channels, seen as a (groups, C / groups) grid, are transposed:
    output channel i·groups + j is input channel j·(C / groups) + i. The shape is
    unchanged; no parameters, no FLOPs.
    """

    type_name = "channel_shuffle"
    aten_op = "transpose"
    torch_call = "x.view(...).transpose(1, 2)"
    erf_rule = "copy"  # the ERF's uniform protocol: a permutation of channels
    family = "shape"
    summary = "channel shuffle: (groups, C/groups) transposed (ShuffleNet)"
    shape_rule = "the input's shape (channels reordered)"
    primary = "groups"
    params = (Param("groups", Int(1), doc="number of groups; divides the channels"),)

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        channels, groups = self.in_shape[0], self.p["groups"]
        if channels % groups:
            raise self.fail(f"groups={groups} does not divide the {channels} channels",
                            help="groups must divide the channel count", param="groups", kind="value")
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    def forward(self, xs, w, ctx):
        x = xs[0]
        n, c, groups = x.shape[0], x.shape[1], self.p["groups"]
        return x.reshape(n, groups, c // groups, *x.shape[2:]).swapaxes(1, 2).reshape(x.shape)

    def backward(self, xs, w, out, g, ctx):
        n, c, groups = g.shape[0], g.shape[1], self.p["groups"]
        return [g.reshape(n, c // groups, groups, *g.shape[2:]).swapaxes(1, 2).reshape(g.shape)], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("Reshape, Transpose (0, 2, 1, ...), Reshape",)  # as PyTorch exports it
    torch_ops = ("view, transpose(1, 2), view",)  # torchvision's channel_shuffle

    @classmethod
    def from_torch(cls, v):
        """x.view(N, g, C/g, *S), transpose(1, 2), view(N, C, *S) (the reader's ``extra``: g)."""
        return {"groups": v.extra["groups"]}
    torch_template = "torch.channel_shuffle({0}, {p[groups]!r})"

    @classmethod
    def from_onnx(cls, v):
        """The reader's Reshape (N, g, C/g, *S), Transpose (0, 2, 1, ...), Reshape (N, C, *S)."""
        return {"groups": int(v.extra["groups"])}

    def to_onnx(self, f, call):
        """Reshape to (N, g, C/g, *S), Transpose (0, 2, 1, ...), Reshape back."""
        c, *sizes = f.in_shapes[0]
        g = int(self.p["groups"])
        grouped, swapped = call.name + ".grouped", call.name + ".swapped"
        return [call.node("Reshape", [call.ins[0], call.ints(call.name + ".grouped_shape",
                                                             [0, g, c // g, *sizes])],
                          grouped, call.name + ".reshape"),
                call.node("Transpose", [grouped], swapped, call.name + ".transpose",
                          perm=[0, 2, 1, *range(3, 3 + len(sizes))]),
                call.node("Reshape", [swapped, call.ints(call.name + ".shape", [0, c, *sizes])])]

    def to_torch(self, f, call):
        return TorchCode(self.torch_template.format(*call.ins, p=self.p))


class PixelShuffle(Layer):
    """Pixel shuffle, sub-pixel convolution's rearrangement (Shi et al. 2016, ESPCN,
    eq. 4; torch.nn.PixelShuffle): [C·r^n, L1, ..] -> [C, L1·r, ..].

    out[c, h·r + i, w·r + j] = in[c·r² + i·r + j, h, w] (PyTorch's order). PyTorch's
    acts on the two last axes of a 2-D input; here on every spatial axis.
    Receptive field: output unit o reads input unit floor(o / r), so the
    effective stride is 1/r (a fraction, as after upsampling). No FLOPs.
    """

    type_name = "pixel_shuffle"
    aten_op = "pixel_shuffle"
    torch_class = "PixelShuffle"
    torch_call = "F.pixel_shuffle"
    family = "resampling"
    summary = "pixel shuffle: [C·r², H, W] -> [C, H·r, W·r] (sub-pixel convolution, ESPCN)"
    shape_rule = "[C / r^n, L·r per axis]"
    spatial = True
    primary = "upscale_factor"
    params = (Param("upscale_factor", Int(1), doc="r: every spatial axis grows r times"),)

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.need_spatial()
        r, channels = self.p["upscale_factor"], self.in_shape[0]
        block = r ** self.ndim
        if channels % block:
            raise self.fail(
                f"pixel_shuffle by {r} needs channels divisible by {r}^{self.ndim} = {block}; "
                f"the input has {channels}",
                help=f"make the layer before produce a multiple of {block} channels",
                param="upscale_factor",
            )
        self.out_shape = pixel_shuffle_shape(self.in_shape, r)
        return self.out_shape

    def unit_maps(self):
        return [nearest_map(Fraction(1, self.p["upscale_factor"]))] * self.ndim

    def explain(self):
        r, n, c = self.p["upscale_factor"], self.ndim, self.in_shape[0]
        return [
            Step("output_shape", "C_out = C / r^n  [Shi et al. 2016, eq. 4]", f"{c} / {r}^{n}",
                 str(self.out_shape[0])),
            *(Step("output_shape", "L_out = L·r", f"{size}·{r}", str(out))
              for size, out in zip(self.in_shape[1:], self.out_shape[1:])),
            Step("flops", "elements are moved, not computed", "", "0"),
        ]

    def forward(self, xs, w, ctx):
        return K.depth_to_space(xs[0], self.p["upscale_factor"])

    def backward(self, xs, w, out, g, ctx):
        return [K.space_to_depth(g, self.p["upscale_factor"])], {}

    def probe_layer(self, ndim, values, loc, input_names, shapes):
        """verify's per-axis probe has one channel, which pixel shuffle cannot divide:
        its spatial wiring along one axis (output o from input floor(o / r), of
        some channel) is measured on that one channel."""
        return _PixelShuffleWiring(ndim, values, loc, self.param_locs, input_names=input_names)

    # -- files (docs/onnx.md) --
    onnx_ops = ("DepthToSpace",)

    @classmethod
    def from_onnx(cls, v):
        """DepthToSpace in CRD mode (PyTorch's order)."""
        if v.attrs.get("mode", "DCR") != "CRD":
            raise v.fail("DepthToSpace in DCR mode (TensorFlow's order); PyTorch's pixel "
                         "shuffle exports CRD")
        return {"upscale_factor": int(v.attrs["blocksize"])}

    def to_onnx(self, f, call):
        """DepthToSpace, CRD (2-D only: ONNX's op is)."""
        if self.ndim != 2:
            raise SpecError(f"pixel_shuffle '{call.name}': ONNX's DepthToSpace is 2-D", kind="export")
        return [call.node("DepthToSpace", call.ins, blocksize=int(self.p["upscale_factor"]), mode="CRD")]

    def to_torch(self, f, call):
        return TorchCode(f"F.pixel_shuffle({call.ins[0]}, {self.p['upscale_factor']!r})")


class _PixelShuffleWiring(PixelShuffle):
    """Pixel shuffle's spatial wiring on any channel count (verify's probe only):
    every position repeated r times along each axis."""

    type_name = ""  # not registered

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        r = self.p["upscale_factor"]
        self.out_shape = (self.in_shape[0], *(s * r for s in self.need_spatial()))
        return self.out_shape

    def forward(self, xs, w, ctx):
        y = xs[0]
        for axis in range(2, y.ndim):
            y = np.repeat(y, self.p["upscale_factor"], axis=axis)
        return y

    def backward(self, xs, w, out, g, ctx):
        r = self.p["upscale_factor"]
        for axis in range(2, g.ndim):
            shape = list(g.shape)
            shape[axis:axis + 1] = [shape[axis] // r, r]
            g = g.reshape(shape).sum(axis=axis + 1)
        return [g], {}


UNSHUFFLE = "Reshape, Transpose (0, 1, 3, 5, ..., 2, 4, ...), Reshape"  # pixel_unshuffle, exported


class PixelUnshuffle(Layer):
    """Pixel unshuffle (torch.nn.PixelUnshuffle), the inverse of pixel_shuffle:
    [C, L1·r, ..] -> [C·r^n, L1, ..]; every spatial size must be a multiple of r.

    Receptive field: output unit o reads input units r·o .. r·o + r - 1 (a
    window of r, stride r). No FLOPs.
    """

    type_name = "pixel_unshuffle"
    aten_op = "pixel_unshuffle"
    torch_class = "PixelUnshuffle"
    torch_call = "F.pixel_unshuffle"
    family = "resampling"
    summary = "pixel unshuffle: [C, H·r, W·r] -> [C·r², H, W] (space to depth)"
    shape_rule = "[C·r^n, L / r per axis]"
    spatial = True
    primary = "downscale_factor"
    params = (Param("downscale_factor", Int(1), doc="r: every spatial axis shrinks r times"),)

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        r = self.p["downscale_factor"]
        bad = [s for s in sizes if s % r]
        if bad:
            raise self.fail(
                f"pixel_unshuffle by {r} needs every spatial size divisible by {r}; the input is "
                f"{'x'.join(map(str, sizes))}",
                help="pad or crop the input to a multiple of the factor", param="downscale_factor",
            )
        self.pads = ((0, 0),) * self.ndim  # a window of r, stride r, no padding
        self.out_shape = pixel_unshuffle_shape(self.in_shape, r)
        return self.out_shape

    def unit_maps(self):
        r = self.p["downscale_factor"]
        return [window_map(r, 0, r, 1)] * self.ndim

    def windows(self):
        r = self.p["downscale_factor"]
        return tuple(Window(size, r, 1, r, 0, 0, out)
                     for size, out in zip(self.in_shape[1:], self.out_shape[1:]))

    def explain(self):
        r, n, c = self.p["downscale_factor"], self.ndim, self.in_shape[0]
        return [
            Step("output_shape", "C_out = C·r^n", f"{c}·{r}^{n}", str(self.out_shape[0])),
            *(Step("output_shape", "L_out = L / r", f"{size} / {r}", str(out))
              for size, out in zip(self.in_shape[1:], self.out_shape[1:])),
            Step("flops", "elements are moved, not computed", "", "0"),
        ]

    def forward(self, xs, w, ctx):
        return K.space_to_depth(xs[0], self.p["downscale_factor"])

    def backward(self, xs, w, out, g, ctx):
        return [K.depth_to_space(g, self.p["downscale_factor"])], {}

    # -- files (docs/onnx.md) --
    onnx_ops = (UNSHUFFLE,)

    @classmethod
    def from_onnx(cls, v):
        """Reshape (N, C, L1/r, r, ..), Transpose (0, 1, 3, 5, .., 2, 4, ..), Reshape
        (N, C·r^n, L1/r, ..): what PyTorch's exporters write for pixel_unshuffle."""
        return {"downscale_factor": int(v.extra["factor"])}

    def to_onnx(self, f, call):
        """Reshape, Transpose, Reshape, in PyTorch's channel order (c·r^n + i1·r^(n-1) + ..;
        ONNX's SpaceToDepth puts the offset first: (i1·r + ..)·C + c, TensorFlow's)."""
        r, (c, *sizes) = int(self.p["downscale_factor"]), f.in_shapes[0]
        n = len(sizes)
        split, moved = call.name + ".split", call.name + ".moved"
        order = [0, 1] + [3 + 2 * a for a in range(n)] + [2 + 2 * a for a in range(n)]
        return [call.node("Reshape", [call.ins[0], call.ints(call.name + ".split_shape",
                                                             [0, c, *(v for s in sizes for v in (s // r, r))])],
                          split, call.name + ".reshape"),
                call.node("Transpose", [split], moved, call.name + ".transpose", perm=order),
                call.node("Reshape", [moved, call.ints(call.name + ".shape",
                                                       [0, c * r ** n, *(s // r for s in sizes)])])]

    def to_torch(self, f, call):
        return TorchCode(f"F.pixel_unshuffle({call.ins[0]}, {self.p['downscale_factor']!r})")

