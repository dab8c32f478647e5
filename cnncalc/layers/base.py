"""The layer base class, parameter kinds and the registry.

One class per layer type holds every fact about it (the one-place rule of
docs/design): its parameters and their validation, output shape, weight and
buffer shapes (the parameter count is derived from them, never restated), MACs
and FLOPs, and its receptive-field unit map. The loader, the analyzer and
``cnncalc layers`` all read :data:`REGISTRY`.

Shapes are per sample and channels-first: ``(C, *spatial)`` while the tensor
has spatial axes, ``(F,)`` after ``flatten``. Counts (MACs, FLOPs) returned by a
layer are per sample; the analyzer multiplies by the batch.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any, ClassVar

from cnncalc.core.errors import Loc, SpecError, suggestion
from cnncalc.core.exchange import OnnxCall, OnnxNode, TorchCall, TorchCode
from cnncalc.core.facts import (  # noqa: F401 (re-exported to the layer types)
    DILATED,
    NO_TORCH_FORM,
    SAVED_DTYPE_BYTES,
    Facts,
    Saved,
    Shape,
    Step,
    Term,
    TorchOp,
    Window,
    calc,
    fmt_number,
    numel,
    size_steps,
)
from cnncalc.core.params import (  # noqa: F401 (re-exported to the layer types)
    REQUIRED,
    Bool,
    Choice,
    Int,
    IntList,
    Ints,
    Kind,
    Names,
    Number,
    OutputSize,
    Padding,
    PadSpec,
    Param,
    Scale,
    describe,
    fmt_axes,
    fmt_shape,
)
from cnncalc.core.rf import IDENTITY, UnitMap
from cnncalc.core.window import (  # noqa: F401 (re-exported to the layer types)
    conv_out,
    effective_kernel,
    pool_out,
    resolve_padding,
)
from cnncalc.core.yamlio import YMap


class _LazyModule:
    """Import a module on first use: the analyzer never needs NumPy, and its
    start-up time is part of the command's (benchmarks/bench_analyze.py)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        module = importlib.import_module(self._name)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


np = _LazyModule("numpy")
K = _LazyModule("cnncalc.core.kernels")


# -- the layer base class -----------------------------------------------------


class Layer:
    """Base class of every layer type.

    Subclasses set ``type_name``, ``family``, ``params`` and ``summary``, and
    implement :meth:`setup` (output shape from input shapes, storing what the
    other methods need), and where non-zero :meth:`param_shapes`,
    :meth:`buffer_shapes`, :meth:`macs`, :meth:`flops` and :meth:`unit_maps`.

    Raises:
        SpecError: from :meth:`setup`, for input shapes the layer cannot take
            (the analyzer adds the node's location).
    """

    type_name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    primary: ClassVar[str | None] = None  # the parameter a scalar shorthand sets
    spatial: ClassVar[bool] = False  # accepts the 1d/2d/3d aliases and needs spatial axes
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    ref_params: ClassVar[tuple[str, ...]] = ()  # Names parameters that add graph edges
    shape_rule: ClassVar[str] = "the input's shape"  # how the output shape follows, for explain
    # capabilities, read through Facts by lint and verify (never the type name)
    bias_names: ClassVar[tuple[str, ...]] = ()  # params that are filter biases
    data_dependent_field: ClassVar[bool] = False  # the receptive field depends on the data
    mixes_axes: ClassVar[bool] = False  # mixes positions across spatial axes (not separable)
    last_axis_only: ClassVar[bool] = False  # acts on the last axis of its input only
    # mixes every position with data-dependent weights (attention): the local receptive field
    # holds its branch constant where it joins a path without it, as a broadcast gate
    # (docs/receptive-field.md, "Attention")
    context_mixing: ClassVar[bool] = False
    # PyTorch export: the layer's one tensor is an nn.Parameter registered at the layer's
    # name (its tensor key is ""), not a module
    torch_parameter: ClassVar[bool] = False
    # memory (docs/conventions.md, "Memory"): what the backward pass keeps, PyTorch's way.
    # Tokens: "input" (input 0, for the input's gradient), "input:weight" (input 0, only
    # for the parameters' gradients), "inputs" (every input), "output", "indices" (int64,
    # output-shaped), "mask" (bool, output-shaped), "input_copy" (a new tensor of input
    # 0's shape: autograd's copy of the original input of an in-place op whose derivative
    # reads that input).
    saves: ClassVar[tuple[str, ...]] = ()
    # the tokens when the layer runs with inplace: true (None: as ``saves``). PyTorch 2.13/
    # 2.14: relu_, leaky_relu_, elu_, selu_, sigmoid_ keep their result (the overwritten
    # input); hardtanh_ (relu6), silu_, hardswish_, hardsigmoid_, mish_ keep a copy of
    # their input (derivatives.yaml's formula reads self; autograd clones it first).
    saves_inplace: ClassVar[tuple[str, ...] | None] = None
    # tensors the eager CPU kernel allocates and frees within the call under no_grad
    # (tokens as ``saves``): max pooling's "indices"
    eager_temporaries: ClassVar[tuple[str, ...]] = ()
    view: ClassVar[bool] = False  # the output is a view of the input (no new storage)
    # autograd's backward (docs/conventions.md, "Memory"): how each input's gradient comes
    # from the output's. "new": a tensor the backward allocates; "same": the output's
    # gradient itself (add hands it to each input, an identity passes it on); "view": a view
    # of its storage (concat's narrow slices, flatten's and reshape's reshape)
    grad_pass: ClassVar[str] = "new"
    # the effective receptive field's uniform protocol (cnncalc.measure.erf,
    # docs/receptive-field.md "The effective receptive field"): how this layer's
    # linearisation weighs the input units an output unit reads, per axis. "copy": 1 each
    # (activations, batch norm, dropout, stochastic depth, zero padding, cropping, nearest
    # upsampling, merges); "mean": 1 / (taps of the window) (a convolution whose weights
    # are all 1 / (C_in/groups * prod(kernel))); "inside": 1 / (taps inside the input) (max
    # pooling replaced by the average over its window's positions inside the input,
    # adaptive pooling); None: no linearisation under the protocol (refused, with
    # :meth:`erf_refusal`).
    erf_rule: ClassVar[str | None] = None
    # what PyTorch runs for it, as the FLOP counters see it (docs/conventions.md, "What the
    # counters count"): the ATen op (None: nothing runs, a view or the identity), the
    # torch.nn class ("{n}" is the number of spatial axes) and the Python call it reaches.
    aten_op: ClassVar[str | None] = "?"  # "?": cnncalc knows no PyTorch form of it
    torch_class: ClassVar[str] = ""
    torch_call: ClassVar[str] = ""
    # the forms a spec's `torch:` key may choose, besides the default module (how an
    # upstream forward writes this layer: "functional" calls F.* in the parent's forward)
    torch_forms: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ndim: int, values: dict[str, Any], loc: Loc | None = None,
                 param_locs: dict[str, Loc] | None = None, input_names: Sequence[str] = (),
                 alias_rank: int | None = None) -> None:
        self.ndim = ndim
        self.alias_rank = alias_rank  # the rank a 1d/2d/3d alias named (batchnorm2d), or None
        self.p = MappingProxyType(dict(values))
        self.loc = loc
        self.param_locs = MappingProxyType(dict(param_locs or {}))
        self.input_names = tuple(input_names)  # for messages (a merge names its inputs)
        self.in_shapes: list[Shape] = []
        self.out_shape: Shape = ()
        self.__dict__["_frozen"] = True

    def __setattr__(self, name: str, value: Any) -> None:
        """A parsed layer is immutable: :meth:`setup` derives on a private bound copy."""
        if self.__dict__.get("_frozen"):
            raise AttributeError(
                f"{type(self).__name__} is immutable after parsing (tried to set '{name}'); "
                "derived values belong to the Facts that setup() returns")
        object.__setattr__(self, name, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            REGISTRY[cls.type_name] = cls

    # -- construction ---------------------------------------------------------

    @classmethod
    def parse_params(cls, raw: Any, ndim: int, loc: Loc, raw_locs: dict[str, Loc],
                     type_loc: Loc) -> tuple[dict[str, Any], dict[str, Loc]]:
        """Check a YAML parameter mapping against ``params``; fill in defaults.

        Raises:
            SpecError: unknown or missing keys, wrong value types.
        """
        known = {p.name: p for p in cls.params}
        if raw is None:
            raw = {}
        elif not isinstance(raw, dict):
            if cls.primary is None:
                raise SpecError(
                    f"'{cls.type_name}' takes no shorthand value, got {describe(raw)}",
                    loc,
                    kind="value",
                    help=f"write its parameters as a mapping: {cls.type_name}: {{...}}"
                    if cls.params else f"write it bare: - {cls.type_name}",
                )
            raw_locs = {cls.primary: loc}
            raw = {cls.primary: raw}
        values: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        for key, value in raw.items():
            key_loc = raw_locs.get(key, loc)
            if key not in known:
                hint = suggestion(str(key), known, f"parameters of {cls.type_name}") if known \
                    else f"{cls.type_name} takes no parameters"
                raise SpecError(
                    f"unknown parameter '{key}' for {cls.type_name}", key_loc,
                    kind="spec", help=hint,
                )
            value_loc = raw.val_loc(key) if isinstance(raw, YMap) else key_loc
            values[key] = known[key].kind.parse(value, ndim, value_loc, key)
            locs[key] = value_loc
        for p in cls.params:
            if p.name not in values:
                if p.required:
                    raise SpecError(
                        f"{cls.type_name} needs '{p.name}'", type_loc, kind="spec",
                        help=f"add {p.name}: ... ({p.doc})" if p.doc else None,
                    )
                values[p.name] = None if p.default is None else p.kind.parse(
                    p.default, ndim, type_loc, p.name)
        return values, locs

    # -- analysis (override) --------------------------------------------------

    def parsed_copy(self, input_names: Sequence[str] | None = None, located: bool = True) -> Layer:
        """A new instance of this layer's class on the same parsed parameters, bound to
        nothing (the executor builds its own layers so; ``located=False`` drops the YAML
        locations, for a network read from a binary model file)."""
        return type(self)(self.ndim, self.p, self.loc if located else None,
                          self.param_locs if located else None,
                          input_names=self.input_names if input_names is None else input_names,
                          alias_rank=self.alias_rank)

    def setup(self, in_shapes: Sequence[Shape], ref_shapes: Sequence[Shape] = ()) -> Facts:
        """The layer on these input shapes: a frozen :class:`Facts` record with every
        derived figure and the resolved geometry (``windows``).

        The parsed layer is not changed: the derivation runs on a private copy
        (:meth:`bound`), frozen before it is returned inside the record (``Facts.layer``,
        for explain's lazily computed steps).

        Raises:
            SpecError: input shapes the layer cannot take (the caller adds the node's
                location).
        """
        return self.bound(in_shapes, ref_shapes).facts()

    def bound(self, in_shapes: Sequence[Shape], ref_shapes: Sequence[Shape] = ()) -> Layer:
        """A frozen copy of this layer bound to these input shapes (:meth:`bind` ran on
        it); the parsed layer itself is not changed. Layer types that delegate to inner
        layers (a separable convolution's depthwise and pointwise parts) bind them so.

        Raises:
            SpecError: as :meth:`setup`.
        """
        copy_ = copy.copy(self)
        copy_.__dict__["_frozen"] = False
        copy_.bind(list(in_shapes), list(ref_shapes))
        copy_.__dict__["_frozen"] = True
        return copy_

    def bind(self, in_shapes: list[Shape], ref_shapes: Sequence[Shape] = ()) -> Shape:
        """Check the input shapes, store the derived geometry on this (private, bound)
        copy and return the output shape; called by :meth:`setup` only."""
        raise NotImplementedError  # pragma: no cover

    def param_shapes(self) -> dict[str, Shape]:
        """Learnable tensors in PyTorch's names and layouts (after setup)."""
        return {}

    def buffer_shapes(self) -> dict[str, Shape]:
        """Non-learnable state (batch-norm running statistics)."""
        return {}

    def buffer_dtypes(self) -> dict[str, str]:
        """Buffers of a fixed dtype, whatever the report's (``"int64"``), by name."""
        return {}

    def computed_buffers(self) -> dict[str, Any]:
        """Buffers that are a function of the geometry, not drawn (after setup): name ->
        array of :meth:`buffer_shapes`' shape (a relative position index, int64). The
        seeded weights (:func:`cnncalc.core.weights.init_weights`) hold these values."""
        return {}

    def macs(self) -> int:
        """Multiply-accumulates per sample (convolution-like and linear layers)."""
        return 0

    flops_formula: ClassVar[str] = ""  # how flops_term() counts, as explain writes it

    def flops_term(self) -> Term | None:
        """The FLOPs per sample as a :class:`Term` (a number with its arithmetic), for a type
        that writes them so: :meth:`flops` and explain's FLOPs step both come from it."""
        return None

    def flops(self) -> int:
        """Floating-point operations per sample, per docs/conventions.md."""
        term = self.flops_term()
        return 0 if term is None else term.value

    def flops_step(self) -> Step:
        """Explain's FLOPs step: the Term with its formula, else the figure and its rule's place."""
        term = self.flops_term()
        if term is None:
            return Step("flops", f"{self.type_name}: per docs/conventions.md", "", f"{self.flops():,}")
        return Step.of("flops", self.flops_formula, term)

    # -- execution (cnncalc/measure/execute.py) ------------------------------------------

    def forward(self, xs: list, w: dict, ctx) -> Any:
        """Output (N, *out_shape) from the inputs (N, *in_shape) and the tensors
        of :meth:`param_shapes` / :meth:`buffer_shapes` in ``w`` (after setup)."""
        raise NotImplementedError(f"{self.type_name} has no forward pass")  # pragma: no cover

    def backward(self, xs: list, w: dict, out: Any, g: Any, ctx) -> tuple[list, dict]:
        """Gradients (one per input, one per learnable tensor) from dLoss/dOutput ``g``."""
        raise NotImplementedError(f"{self.type_name} has no backward pass")  # pragma: no cover

    def explain(self) -> list[Step]:
        """The lecture formulas behind this layer's figures, with the numbers put in.

        Default: the shape rule of the type, the tensors behind the parameter count,
        and the FLOPs (whose per-type rule docs/conventions.md tabulates).
        """
        steps = [Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape))]
        shapes = self.param_shapes()
        if shapes:
            steps.append(Step.calc("params", " + ".join(f"{k} {fmt_shape(v)}" for k, v in shapes.items()),
                                   " + ".join("·".join(map(str, v)) for v in shapes.values())))
        steps.append(self.flops_step())
        return steps

    def backward_workspace(self) -> int:
        """Elements per sample of the temporaries the executor's backward pass holds at
        once, beyond the gradients it returns (cnncalc.measure.memory.executor_estimate)."""
        return self.workspace()

    def workspace(self) -> int:
        """Elements per sample of the largest temporary the forward pass allocates."""
        return numel(self.out_shape)

    def unit_maps(self) -> list[UnitMap | None] | None:
        """Per spatial axis of the output, how its units draw on the data input.

        None: the output has no spatial axes (flatten, reshape). An entry None:
        every input position reaches every unit along that axis (global pooling,
        linear on that axis). Default: elementwise (identity on every axis).
        """
        return default_maps(self.out_shape, self.ndim)

    def facts(self) -> Facts:
        """The immutable record of this layer's figures (after :meth:`setup`)."""
        params = dict(self.param_shapes())
        maps = self.unit_maps()
        before = self.input_maps()
        return Facts(
            type=self.type_name, family=self.family, in_shapes=tuple(self.in_shapes),
            out_shape=tuple(self.out_shape), params=params, buffers=dict(self.buffer_shapes()),
            buffer_dtypes=dict(self.buffer_dtypes()),
            bias=tuple(k for k in self.bias_names if k in params), macs=self.macs(),
            flops=self.flops(), bias_flops=self.bias_flops(), windows=self.windows(),
            maps=None if maps is None else tuple(maps),
            input_maps=None if before is None else tuple(tuple(m) for m in before),
            data_dependent_field=self.data_dependent_field, mixes_axes=self.mixes_axes,
            last_axis_only=self.last_axis_only, context_mixing=self.context_mixing,
            saved=tuple(self.saved_for_backward()),
            aliases_input=self.view or bool(self.p.get("inplace")),
            train_aliases_input=self.train_view(), layer=self,
        )

    def aten_ops(self, form: str = "") -> list[TorchOp]:
        """The operations PyTorch runs for this layer (after :meth:`setup`), per sample, as
        the FLOP counters see them (cnncalc/analysis/conventions.py reads them).

        ``form`` is how the upstream forward writes the layer (a spec's ``torch:`` key, one
        of :attr:`torch_forms`): ``""`` its ``torch.nn`` module (:attr:`torch_class`),
        ``"functional"`` a call of :attr:`torch_call` in the parent's forward. The default
        is one op :attr:`aten_op` on the whole tensor; a layer without one runs nothing
        (a view, the identity at inference).
        """
        if self.aten_op is None:
            return []
        if self.aten_op == "?":  # its MACs stay in cnncalc's count, which no counter sees
            return [self.torch_op(self.type_name, form, known=False, macs=self.macs(),
                                  category=NO_TORCH_FORM)]
        return [self.torch_op(self.aten_op, form)]

    @classmethod
    def torch_form_of(cls, op: str, module: str) -> str:
        """The ``torch:`` form (one of :attr:`torch_forms`) of this layer when the PyTorch
        import reads it from ATen ``op`` run inside a module of class ``module`` (the
        innermost on the op's module stack; ``""`` the model's own forward): ``""`` when
        that module is this layer's :attr:`torch_class`, else ``"functional"`` if the layer
        has that form (googlenet's ``F.relu`` inside BasicConv2d), else ``""``."""
        if "functional" in cls.torch_forms and module not in {
                cls.torch_class.format(n=n) for n in (1, 2, 3)}:
            return "functional"
        return ""

    def torch_form_problem(self, form: str) -> str | None:
        """Why this layer, as its parameters say, cannot be written in ``form`` (one of
        :attr:`torch_forms`), or None: the spec loader reports it at the ``torch:`` key."""
        return None

    def torch_tensor_shapes(self, form: str = "") -> dict[str, tuple[int, ...]]:
        """The shapes PyTorch's module for ``form`` (a spec's ``torch:`` key) gives this
        layer's tensors where they differ from :meth:`param_shapes`: the same elements in the
        same order (a 1x1 convolution written as nn.Linear holds its weight as (out, in),
        not (out, in, 1, 1)). ``run --weights`` accepts either layout; the exported
        module uses this one. Empty: PyTorch's layout is cnncalc's."""
        return {}

    def torch_op(self, op: str, form: str = "", **figures: Any) -> TorchOp:
        """One :class:`TorchOp` of this layer: its module (none with ``form: functional``),
        call, element counts, and its weight's and bias's elements from
        :meth:`param_shapes`."""
        shapes = self.param_shapes()
        module = "" if form == "functional" else self.torch_class.format(n=self.ndim)
        record = dict(op=op, module=module, call=self.torch_call.format(n=self.ndim),
                      in_elems=numel(self.in_shapes[0]), out_elems=numel(self.out_shape),
                      weight=numel(shapes["weight"]) if "weight" in shapes else 0,
                      bias=numel(shapes["bias"]) if "bias" in shapes else 0)
        record.update(figures)
        record.setdefault("category", op_category(op))
        return TorchOp(**record)

    def eager_workspace(self, batch: int) -> list[tuple[Saved, ...]]:
        """The temporaries PyTorch's eager CPU kernel allocates and frees within its call
        under no_grad, at ``batch`` samples, as phases: the tensors of one phase are live
        together (beside the layer's inputs and output), and the layer adds the largest
        phase's bytes. Default: one phase of :attr:`eager_temporaries` (max pooling's
        indices), or none."""
        temps = tuple(self._tokens(self.eager_temporaries))
        return [temps] if temps else []

    def grad_passes(self) -> tuple[str, ...]:
        """How each input's gradient comes from the output's in PyTorch's backward
        (:attr:`grad_pass` for every input): "new", "same" or "view"."""
        return (self.grad_pass,) * len(self.in_shapes)

    def eager_backward(self, batch: int, grad_inputs: Sequence[bool],
                       grad_weights: bool) -> list[tuple[Saved, ...]]:
        """What PyTorch's eager CPU backward of this layer (float32) allocates, at
        ``batch`` samples, as phases: each phase is every tensor the call has allocated
        and still holds at one moment, beside the output's gradient and whatever else is
        live. ``grad_inputs``: which inputs need a gradient; ``grad_weights``: whether its
        parameters do. The last phase is what the call returns: the new gradient of each
        input whose :meth:`grad_passes` is "new" (``grad_input0``, ...) and the
        parameters' gradients (``grad_weight``, ...: one tensor for the batch, which
        autograd's AccumulateGrad adds into ``.grad`` and frees). Default: the call
        allocates exactly what it returns (threshold_backward, max pooling's zero-filled
        input gradient, linear's mm and sum)."""
        passes = self.grad_passes()
        out = [Saved(f"grad_input{i}", shape) for i, shape in enumerate(self.in_shapes)
               if grad_inputs[i] and passes[i] == "new"]
        if grad_weights:
            out += [Saved(f"grad_{k}", shape, per_sample=False)
                    for k, shape in self.param_shapes().items()]
        return [tuple(out)] if out else []

    def train_view(self) -> bool:
        """Whether its output shares its input's storage in a training-mode forward (a view
        or in place); default: as at inference. Dropout and stochastic depth override it."""
        return self.view or bool(self.p.get("inplace"))

    def saved_for_backward(self) -> list[Saved]:
        """The tensors its backward pass keeps (from :attr:`saves`, or
        :attr:`saves_inplace` when it runs in place; override for others)."""
        inplace = bool(self.p.get("inplace")) and self.saves_inplace is not None
        return self._tokens(self.saves_inplace if inplace else self.saves)

    def _tokens(self, tokens) -> list[Saved]:
        """The tensors that memory tokens (:attr:`saves`) name, with their shapes."""
        out = []
        for token in tokens:
            if token in ("input", "input:weight"):
                out.append(Saved("input0", self.in_shapes[0], for_weight=token == "input:weight"))
            elif token == "inputs":
                out += [Saved(f"input{i}", s) for i, s in enumerate(self.in_shapes)]
            elif token == "output":
                out.append(Saved("output", self.out_shape))
            elif token == "indices":
                out.append(Saved("indices", self.out_shape, "int64"))
            elif token == "mask":
                out.append(Saved("mask", self.out_shape, "bool"))
            elif token == "input_copy":
                out.append(Saved("input_copy", self.in_shapes[0]))
            else:  # pragma: no cover - a declaration error in a layer class
                raise AssertionError(f"unknown saved-tensor token {token!r}")
        return out

    def bias_flops(self) -> int:
        """Of :meth:`flops`, the additions of the filter biases: one per output element."""
        params = self.param_shapes()
        return numel(self.out_shape) if any(k in params for k in self.bias_names) else 0

    # verify's probes have one channel: parameters that count channels become 1 (or are
    # inferred again, None)
    PROBE_CHANNELS: ClassVar[dict[str, int | None]] = {
        "out_channels": 1, "groups": 1, "num_parameters": 1, "num_groups": 1,
        "depth_multiplier": 1, "offset_groups": 1,
        "in_channels": None, "num_features": None, "in_features": None, "embed_dim": None}

    def probe_params(self, axis: int, shapes) -> dict[str, Any]:
        """The parameters of this layer's one-axis, one-channel copy that ``verify`` probes
        along spatial ``axis``: per-axis values restricted to that axis, channel counts
        1 (:attr:`PROBE_CHANNELS`), explicit padding pairs of that axis, then the type's
        own :meth:`probe_values` (size-dependent geometry from the executor's ``shapes``)."""
        values = dict(self.p)
        for p in self.params:
            value = values.get(p.name)
            if p.name in self.PROBE_CHANNELS:
                values[p.name] = self.PROBE_CHANNELS[p.name]
            elif value is not None and isinstance(p.kind, (Ints, Scale, OutputSize)):
                values[p.name] = (value[axis],)
            elif isinstance(value, PadSpec) and value.pairs is not None:
                values[p.name] = PadSpec(pairs=(value.pairs[axis],))
        return self.probe_values(axis, values, shapes)

    def probe_values(self, axis: int, values: dict[str, Any], shapes) -> dict[str, Any]:
        """The parameters of this layer's one-axis, one-channel copy that ``verify`` probes
        along ``axis`` (per-axis values already restricted to that axis). ``shapes``: the
        per-sample shapes of the arrays this layer read and wrote in the executor's
        forward pass at the network's size (``inputs``, ``refs``, ``output``), from which
        a type resolves size-dependent geometry by the executor's mechanics, never from
        the analysis."""
        return values

    def probe_layer(self, ndim: int, values: dict[str, Any], loc: Loc | None,
                    input_names: Sequence[str], shapes) -> Layer:
        """The one-axis copy itself (default: this type on ``values``); a type whose probe
        is another type (a slice along the axis is a crop) overrides it."""
        return type(self)(ndim, values, loc, self.param_locs, input_names=input_names)

    def probe_padding(self, axis: int, values: dict[str, Any], shapes) -> dict[str, Any]:
        """``same``/``full`` padding as the executor resolved it at the network's input size
        (a window type's probe_values): explicit pixels on the probed axis."""
        pad = self.p.get("padding")
        if pad is not None and pad.pairs is None:
            pairs = K.resolve_pads(pad, shapes.inputs[0][1:], self.p["kernel_size"],
                                   self.p.get("dilation") or (1,) * self.ndim,
                                   self.p.get("stride") or self.p["kernel_size"])
            values["padding"] = PadSpec(pairs=(pairs[axis],))
        return values

    def windows(self) -> tuple[Window, ...] | None:
        """The window slid along each spatial axis, or None (no sliding window)."""
        return None

    def erf_taps(self, axis: int, k: int = 0) -> list[list[tuple[int, float]]] | None:
        """The uniform protocol's linearisation of this layer along spatial ``axis`` for
        input ``k``: per output unit o (0 .. out_len - 1), the (input index, weight) pairs
        of the input units inside the input (0 .. in_len - 1) it reads. The weights act on
        the gradient summed over channels (cnncalc.measure.erf): a convolution with every
        weight 1 / (C_in/groups * prod(k)) gives each tap 1 / prod(k), the product over the
        axes of 1 / k. From :meth:`unit_maps` (and :meth:`input_maps`) and :attr:`erf_rule`;
        None where the layer has no linearisation or no map on the axis."""
        if self.erf_refusal() is not None:
            return None
        maps = self.unit_maps()
        if maps is None or maps[axis] is None:
            return None
        before = self.input_maps()
        pre = None if before is None else before[k][axis]
        shape = self.in_shapes[k]
        rank = len(self.out_shape)
        in_len = ((1,) * (rank - len(shape)) + tuple(shape))[1 + axis]
        rows = []
        for o in range(self.out_shape[1 + axis]):
            taps = list(maps[axis].contrib(o))
            if pre is not None:
                taps = [j for t in taps for j in pre.contrib(t)]
            inside = [j for j in taps if 0 <= j < in_len]
            if self.erf_rule == "copy":
                weight = 1.0
            elif self.erf_rule == "mean":
                weight = 1.0 / len(taps) if taps else 0.0
            else:  # "inside"
                weight = 1.0 / len(inside) if inside else 0.0
            rows.append([(j, weight) for j in inside])
        return rows

    def erf_shares(self) -> list[float]:
        """Per input, the part of the output's channel-summed gradient it receives under
        the uniform protocol: 1 each (an elementwise merge gives every input the whole
        gradient); a concatenation gives each input its part of the channels."""
        return [1.0] * len(self.in_shapes)

    def erf_refusal(self) -> str | None:
        """Why this layer has no linearisation under the uniform protocol, or None."""
        if self.erf_rule is None:
            return (f"{self.type_name} has no linearisation under the uniform protocol "
                    "(docs/receptive-field.md, 'The effective receptive field')")
        return None

    def input_maps(self) -> list[list[UnitMap]] | None:
        """Per input, per spatial axis, a unit map applied to that input's field before
        the inputs are joined (a broadcast operand: :data:`cnncalc.core.rf.BROADCAST`).
        None: every input is taken as it is (the default)."""
        return None

    # -- helpers ----------------------------------------------------------------

    @property
    def in_shape(self) -> Shape:
        return self.in_shapes[0]

    def fail(self, message: str, help: str | None = None, param: str | None = None,
             kind: str = "shape") -> SpecError:
        """A SpecError at the parameter's location if known, else the node's."""
        loc = self.param_locs.get(param) if param else None
        return SpecError(message, loc, help=help, kind=kind)

    def need_spatial(self) -> Shape:
        """The spatial sizes of the input; error if the input has no spatial axes."""
        shape = self.in_shape
        if len(shape) != self.ndim + 1:
            raise self.fail(
                f"{self.type_name} needs a [C, {', '.join('DHW'[3 - self.ndim:])}] input, "
                f"got {fmt_shape(shape)}",
                help="it cannot follow flatten, linear or reshape; move it before them",
            )
        return shape[1:]

    def check_in_channels(self, key: str = "in_channels") -> int:
        channels = self.in_shape[0]
        given = self.p.get(key)
        if given is not None and given != channels:
            raise self.fail(
                f"{key} is {given} but the input has {channels} channels",
                help=f"remove {key} (it is inferred) or fix the layer before", param=key,
            )
        return channels

    # -- files: ONNX and PyTorch (docs/onnx.md, "One place per layer type") ------------
    # The writers and the reader in cnncalc.io ask these; a layer never imports onnx or io.
    onnx_ops: ClassVar[tuple[str, ...]] = ()  # ONNX ops (or op patterns) read as this type
    onnx_channels_last: ClassVar[tuple[str, ...]] = ()  # of those, ops taken channels last
    onnx_priority: ClassVar[int] = 0  # among types reading one op, the higher asks first
    onnx_opset: ClassVar[int] = 0  # the least opset its ONNX ops need (0: any)
    onnx_import_refusal: ClassVar[str] = ""  # why no ONNX op is read as this type
    onnx_export_refusal: ClassVar[str] = ""  # why this type is not written as ONNX
    torch_refusal: ClassVar[str] = ""  # why this type is not written as PyTorch source
    # PyTorch in (docs/torch.md): ATen ops of a torch.export graph read as this type, keyed
    # by the op's packet without the in-place underscore ("aten.conv2d", "aten.relu")
    torch_ops: ClassVar[tuple[str, ...]] = ()
    torch_channels_last: ClassVar[tuple[str, ...]] = ()  # of those, ops taken channels last
    torch_priority: ClassVar[int] = 0  # among types reading one op, the higher asks first
    # torch.nn modules read whole (every op of one call is this one layer), by qualified class
    # name ("torch.nn.modules.activation.MultiheadAttention"); from_torch sees op "module:NAME"
    torch_modules: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_onnx(cls, v: Any) -> dict[str, Any] | None:
        """The spec parameters of an ONNX node of one of :attr:`onnx_ops`, or None when
        the node is not this type's case (the next type reading the op is asked).

        ``v`` is the reader's view of the node (:class:`cnncalc.io.onnx_map.NodeView`):
        ``op``, ``attrs``, ``x`` (first computed input: ``shape`` per sample, ``layout``),
        ``rank`` (with the batch), ``ndim``, ``batch``, ``dims(i)`` (a stored input's
        shape), ``const(i, what)`` (a constant input's values), ``has(i)``,
        ``window(kernel)`` (strides, dilations, padding), ``extra`` (what the reader
        decoded: split sizes, slice ranges, a reshape target) and ``fail(message, help)``
        (a SpecError naming the node). Parameters equal to None are left out.

        Raises:
            SpecError: via ``v.fail``, for attributes this type cannot take.
        """
        return None

    @classmethod
    def from_torch(cls, v: Any) -> dict[str, Any] | None:
        """The spec parameters of an ATen op of one of :attr:`torch_ops` in a ``torch.export``
        graph, or None when the op is not this type's case (the next type is asked).

        ``v`` is the reader's view of the op (:class:`cnncalc.io.torch_import.OpView`):
        ``op`` ("aten.conv2d"), ``a`` (the op's arguments by their ATen schema names, defaults
        filled in; a computed tensor is an ``Act`` with ``shape`` per sample and ``layout``,
        a parameter or buffer a ``Param`` with ``name`` (its state_dict key) and ``shape``),
        ``x`` (the first computed input), ``rank`` (with the batch), ``ndim``, ``extra``
        (what the reader decoded: a chunk's index) and ``fail(message, help)`` (a SpecError
        naming the op, the module path and the source line). Parameters equal to None are
        left out.

        Raises:
            SpecError: via ``v.fail``, for arguments this type cannot take.
        """
        return None

    def to_onnx(self, f: Facts, call: OnnxCall) -> list[OnnxNode]:
        """The ONNX nodes computing this layer (the last writes ``call.out``), as plain data;
        ``f`` is the layer's facts (shapes, windows). Raises SpecError (kind ``export``)
        for parameter values ONNX cannot express."""
        raise NotImplementedError(f"{self.type_name} is not written as ONNX")  # pragma: no cover

    def to_torch(self, f: Facts, call: TorchCall) -> TorchCode:
        """This layer in a ``torch.nn.Module``'s source (``call``: its name, its inputs'
        variable names, the reference its registered module will have). Raises SpecError
        (kind ``export``) for parameter values torch.nn cannot express."""
        raise NotImplementedError(f"{self.type_name} is not written as PyTorch")  # pragma: no cover

    @classmethod
    def writes_onnx(cls) -> bool:
        """Whether this type has an ONNX writer (else :attr:`onnx_export_refusal` says why)."""
        return cls.to_onnx is not Layer.to_onnx

    @classmethod
    def writes_torch(cls) -> bool:
        """Whether this type has a PyTorch writer (else :attr:`torch_refusal` says why)."""
        return cls.to_torch is not Layer.to_torch


_OP_CATEGORIES = {
    "convolution": "convolution", "linear": "linear (matmul)", "batch_norm": "batch norm",
    "layer_norm": "normalization", "group_norm": "normalization",
    "instance_norm": "normalization", "lrn": "normalization", "max_pool": "pooling",
    "avg_pool": "pooling", "adaptive_avg_pool": "pooling", "adaptive_max_pool": "pooling",
    "mean": "pooling", "add": "elementwise", "mul": "elementwise",
    "relu": "activation", "hardtanh": "activation", "leaky_relu": "activation",
    "elu": "activation", "selu": "activation", "sigmoid": "activation", "tanh": "activation",
    "silu": "activation", "hardswish": "activation", "gelu": "activation",
    "prelu": "activation", "softmax": "activation", "hardsigmoid": "activation",
    "softplus": "activation", "mish": "activation",
}


def op_category(op: str) -> str:
    """The family of an ATen op for the counters' breakdown (:class:`TorchOp`); an
    ``upsample_*`` op is upsampling; views, copies and concatenation are data movement."""
    if op.startswith("upsample_"):
        return "upsampling"
    return _OP_CATEGORIES.get(op, "data movement")


def default_maps(shape: Shape, ndim: int) -> list[UnitMap | None] | None:
    if len(shape) != ndim + 1:
        return None
    return [IDENTITY] * ndim


REGISTRY: dict[str, type[Layer]] = {}


class SlidingWindow:
    """The window parameters of a type that slides a window (convolution, pooling), read
    from its parsed parameters, and the executor's padding for an input array: shared by
    the analysis (``bind``) and the executor, which derive everything else apart."""

    @property
    def kernel(self) -> tuple[int, ...]:
        """Taps per axis (the parameter kernel_size)."""
        return self.p["kernel_size"]

    @property
    def stride(self) -> tuple[int, ...]:
        """The parameter stride; by default (None, pooling) kernel_size, as in PyTorch."""
        stride = self.p.get("stride")
        return stride if stride is not None else self.kernel

    @property
    def dilation(self) -> tuple[int, ...]:
        """The parameter dilation; 1 on every axis for a type without it."""
        return self.p.get("dilation") or (1,) * self.ndim

    def probe_values(self, axis, values, shapes):
        """``same``/``full`` padding as the executor resolved it (:meth:`Layer.probe_padding`)."""
        return self.probe_padding(axis, values, shapes)

    def exec_pads(self, x) -> tuple[tuple[int, int], ...]:
        """The executor's (before, after) padding for input array ``x`` (N, C, *S), derived
        from the parameters and the array by cnncalc.core.kernels, never from the analysis
        (``pads``, set by ``bind``, is the analyzer's)."""
        return K.resolve_pads(self.p.get("padding"), x.shape[2:], self.kernel, self.dilation,
                              self.stride)
