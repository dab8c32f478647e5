"""Merges: add, multiply (broadcasting) and concat (channel axis).

A merge joins the previous item's output with the outputs named in ``with``;
``from: [a, b]`` instead names exactly its inputs. Input order is kept: the
previous output first, then ``with`` in order (it matters for concat).
"""

from __future__ import annotations

from cnncalc.core.errors import SpecError
from cnncalc.core.exchange import TorchCode
from cnncalc.core.rf import BROADCAST, IDENTITY
from cnncalc.core.window import broadcast_shape
from cnncalc.layers.base import REGISTRY, K, Layer, Names, Param, fmt_shape, np, numel


class _Merge(Layer):
    family = "merge"
    min_inputs = 2
    max_inputs = None
    primary = "with"
    params = (Param("with", Names(), None, "the other input(s): a layer name or a list"),)
    ref_params = ()  # 'with' adds data inputs, handled by the graph builder
    erf_rule = "copy"  # the ERF's uniform protocol: merges keep their own definitions

    def mismatch(self, what: str, help: str) -> None:
        lines = [f"{self.type_name} needs {what}; its inputs are:"]
        for name, shape in zip(self.input_names, self.in_shapes):
            lines.append(f"    {fmt_shape(shape)} from '{name}'")
        raise self.fail("\n".join(lines), help=help)


class _Elementwise(_Merge):
    """Shared broadcasting rule (NumPy's, on the per-sample shapes)."""

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        out = broadcast_shape(in_shapes)
        if out is None:
            self.mismatch(
                "shapes that agree or broadcast (each axis equal, or 1)",
                "make the paths produce the same size: adjust stride or padding, add a "
                "projection (1x1 conv) on the shortcut, or crop",
            )
        self.out_shape = tuple(out)
        return self.out_shape

    def flops(self):
        return (len(self.in_shapes) - 1) * numel(self.out_shape)

    def input_maps(self):
        """An input of size 1 on a spatial axis where the output is larger is broadcast:
        every output unit reads its one unit (its field is the same for all units)."""
        rank, nd = len(self.out_shape), self.ndim
        if rank != nd + 1:
            return None
        maps = []
        for shape in self.in_shapes:
            padded = (1,) * (rank - len(shape)) + tuple(shape)
            maps.append([BROADCAST if size == 1 and out > 1 else IDENTITY
                         for size, out in zip(padded[1:], self.out_shape[1:])])
        return maps

    def aligned(self, xs):
        """Inputs reshaped to one rank (batch axis first) so NumPy broadcasts them."""
        rank = max(x.ndim for x in xs) - 1  # per sample, as NumPy broadcasts
        return [x.reshape(x.shape[0], *(1,) * (rank - x.ndim + 1), *x.shape[1:]) for x in xs]

    def backward(self, xs, w, out, g, ctx):
        grads = []
        for i, x in enumerate(self.aligned(xs)):
            part = g if ctx.probe else g * self.others(xs, i)
            grads.append(K.reduce_to(part, x.shape).reshape(xs[i].shape))
        return grads, {}

    def aten_ops(self, form=""):
        # n inputs: n - 1 binary ops, each on the (broadcast) output's elements
        return [self.torch_op(self.aten_op, form, in_elems=numel(self.out_shape))
                for _ in self.in_shapes[1:]]


class Add(_Elementwise):
    """Elementwise sum of two or more inputs (ResNet's shortcut, He et al. 2016).

    Shapes must agree or broadcast; FLOPs (n_inputs - 1) per output element.
    """

    type_name = "add"
    aten_op = "add"
    torch_call = "x + y"
    shape_rule = "the inputs' common (broadcast) shape"
    summary = "elementwise sum (residual connections)"

    def forward(self, xs, w, ctx):
        total = 0
        for x in self.aligned(xs):
            total = total + x
        return total

    def others(self, xs, skip):
        """d(sum)/d(input): 1."""
        return 1

    def grad_passes(self):
        """AddBackward hands the output's gradient itself to each input of the output's
        shape; a broadcast input gets a new sum over the broadcast axes (sum_to_size)."""
        return tuple("same" if tuple(s) == tuple(self.out_shape) else "new"
                     for s in self.in_shapes)

    # -- files (docs/onnx.md) --
    onnx_ops = ("Add", "Sum")
    torch_ops = ("aten.add",)

    @classmethod
    def from_torch(cls, v):
        """aten.add of two computed tensors (alpha 1): a residual's join."""
        if len(v.inputs) != 2 or v.a.get("alpha", 1) != 1:
            return None
        return {}
    onnx_channels_last = ("Add", "Sum")

    @classmethod
    def from_onnx(cls, v):
        """Add or Sum of computed tensors (residuals); not of a stored tensor."""
        return {} if len(v.inputs) >= 2 else None

    def to_onnx(self, f, call):
        """Add of two inputs, Sum of more."""
        return [call.node("Add" if len(call.ins) == 2 else "Sum", call.ins)]

    def to_torch(self, f, call):
        return TorchCode(" + ".join(call.ins))


class Multiply(_Elementwise):
    """Elementwise product with broadcasting (squeeze-and-excitation's channel
    scaling, Hu et al. 2018: [C, H, W] * [C, 1, 1]). FLOPs (n_inputs - 1) per output element.
    """

    type_name = "multiply"
    aten_op = "mul"
    torch_call = "x * y"
    saves = ("inputs",)  # each input's gradient is the product of the others
    shape_rule = "the inputs' common (broadcast) shape"
    summary = "elementwise product with broadcasting (squeeze-and-excitation)"

    def erf_refusal(self):
        """A product is linear in one operand only while the others are constants: the
        uniform protocol holds broadcast gates (spatial size 1) at 1; two spatial operands
        make the gradient depend on the values, which the protocol does not define."""
        rank = len(self.out_shape)
        spatial = [s for s in self.in_shapes
                   if any(n > 1 for n in ((1,) * (rank - len(s)) + tuple(s))[1:])]
        if len(spatial) > 1:
            return ("multiply of two spatial operands: its gradient depends on the values, "
                    "which the uniform protocol does not define (only broadcast gates, held at 1)")
        return None

    def forward(self, xs, w, ctx):
        product = 1
        for x in self.aligned(xs):
            product = product * x
        return product

    def others(self, xs, skip):
        """d(product)/d(input skip): the product of the other inputs."""
        product = 1
        for i, x in enumerate(self.aligned(xs)):
            if i != skip:
                product = product * x
        return product

    # -- files (docs/onnx.md) --
    onnx_ops = ("Mul",)
    torch_ops = ("aten.mul",)

    @classmethod
    def from_torch(cls, v):
        """aten.mul of two computed tensors (a squeeze-and-excitation gate)."""
        return {} if len(v.inputs) == 2 else None
    onnx_channels_last = ("Mul",)

    @classmethod
    def from_onnx(cls, v):
        """Mul of two computed tensors (gates); a stored operand is another type's case."""
        return {} if len(v.inputs) == 2 else None

    def to_onnx(self, f, call):
        """Mul (two inputs: ONNX's Mul is binary)."""
        if len(call.ins) > 2:
            raise SpecError(f"{self.type_name} '{call.name}' of {len(call.ins)} inputs", kind="export")
        return [call.node("Mul", call.ins)]

    def to_torch(self, f, call):
        return TorchCode(" * ".join(call.ins))


class Concat(_Merge):
    """Concatenation along the channel axis (GoogLeNet, DenseNet, U-Net).

    All other axes must agree; output channels = sum of input channels. No FLOPs.
    """

    type_name = "concat"
    aten_op = "cat"
    torch_call = "torch.cat"
    shape_rule = "channels summed; the other axes agree"
    summary = "concatenation along the channel axis"
    grad_pass = "view"  # CatBackward returns narrow views of the output's gradient

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        first = in_shapes[0]
        if any(len(s) != len(first) or tuple(s[1:]) != tuple(first[1:]) for s in in_shapes):
            self.mismatch(
                "inputs whose sizes agree on every axis but the channels",
                "crop the larger input ({crop: {like: NAME}}), pad the smaller, or use padding: same",
            )
        self.out_shape = (sum(s[0] for s in in_shapes), *first[1:])
        return self.out_shape

    def erf_shares(self):
        """Under the uniform protocol the gradient is the same on every channel (module
        cnncalc.measure.erf), so each input receives its channels' part: C_i / C."""
        total = self.out_shape[0]
        return [s[0] / total for s in self.in_shapes]

    def forward(self, xs, w, ctx):
        return np.concatenate(xs, axis=1)

    def backward(self, xs, w, out, g, ctx):
        bounds = np.cumsum([x.shape[1] for x in xs])[:-1]
        return list(np.split(g, bounds, axis=1)), {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("Concat",)
    torch_ops = ("aten.cat",)

    @classmethod
    def from_torch(cls, v):
        """aten.cat along the channels (dim 1)."""
        if v.a["dim"] % v.rank != 1:
            raise v.fail(f"cat along axis {v.a['dim']}; cnncalc concatenates the channels (dim 1)")
        return {}

    @classmethod
    def from_onnx(cls, v):
        """Concat along the channels (axis 1)."""
        if v.attrs.get("axis", 1) % v.rank != 1:
            raise v.fail(f"Concat along axis {v.attrs.get('axis')}; cnncalc concatenates channels (axis 1)")
        return {}

    def to_onnx(self, f, call):
        return [call.node("Concat", call.ins, axis=1)]

    def to_torch(self, f, call):
        return TorchCode(f"torch.cat([{', '.join(call.ins)}], 1)")


# The merge a structure uses when the spec names none (docs/spec-format.md, "Structure"):
# a residual adds its shortcut (He et al. 2016), parallel branches are concatenated
# (Szegedy et al. 2015, Inception).
STRUCTURE_MERGE = {"residual": Add.type_name, "parallel": Concat.type_name}


def merge_types() -> tuple[str, ...]:
    """The registered types a structure may merge with (the merge family)."""
    return tuple(name for name, cls in REGISTRY.items() if cls.family == "merge")
