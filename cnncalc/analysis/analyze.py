"""One walk over the graph: shapes, counts and receptive fields -> :class:`Report`.

Conventions (docs/conventions.md): shapes are per sample; ``macs``, ``flops``
and ``activation_bytes`` are for the whole batch; ``params`` and ``buffers``
are element counts (bytes in the totals). All integers are exact Python ints;
receptive-field strides and centres are exact fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cnncalc.analysis.memory import DEFAULT_POLICY, OPTIMIZER_STATES, POLICIES, Memory, estimate
from cnncalc.core.errors import Loc, SpecError
from cnncalc.core.figures import FIGURES, JSON_SCALARS, SHAPE
from cnncalc.core.graph import Network
from cnncalc.core.rf import ReceptiveField
from cnncalc.core.shapes import infer_shapes

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


# the JSON report's one-value figures, in its order, and whether each is a shape (a list)
_JSON_FIGURES = tuple((f.json_key, f.compare == SHAPE) for f in FIGURES if f.json_key in JSON_SCALARS)


@dataclass(frozen=True)
class LayerResult:
    """Everything cnncalc reports about one node.

    ``output_shape`` is per sample; ``macs``, ``flops`` and ``activation_bytes``
    are for the whole batch; ``params`` counts learnable elements, of which
    ``trainable_params`` are not frozen; ``buffers`` counts non-learnable state
    elements; ``receptive_field`` is None when every input position reaches
    every output unit or the output has no spatial axes. ``local_receptive_field``
    is the field through the spatial paths alone, every operand broadcast from
    spatial size 1 into a merge held constant (docs/receptive-field.md, "The local
    receptive field"); ``global_context`` names the merges through whose broadcast
    gate global information reaches the unit (empty when none).
    ``effective_receptive_field``: the ERF's statistics when they were computed
    (``analyze --erf``, cnncalc.measure.erf), else None.
    """

    name: str
    type: str
    inputs: tuple[str, ...]
    output_shape: tuple[int, ...]
    params: int
    trainable_params: int
    buffers: int
    macs: int
    flops: int
    activation_bytes: int
    receptive_field: ReceptiveField | None
    param_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    loc: Loc | None = None
    live_bytes: int = 0  # activation bytes live after this layer ran (inference, docs/conventions.md)
    local_receptive_field: ReceptiveField | None = None
    global_context: tuple[str, ...] = ()
    effective_receptive_field: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The layer's object in the JSON report (docs/report.md): name, type, inputs, then its
        figures under the keys and in the order of the catalogue (cnncalc.core.figures)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "inputs": list(self.inputs)}
        for key, is_shape in _JSON_FIGURES:
            value = getattr(self, key)
            out[key] = list(value) if is_shape else value
        out["receptive_field"] = rf_to_dict(self.receptive_field)
        out["local_receptive_field"] = rf_to_dict(self.local_receptive_field)
        out["global_context"] = list(self.global_context)
        if self.effective_receptive_field is not None:
            out["effective_receptive_field"] = self.effective_receptive_field
        return out


@dataclass(frozen=True)
class Totals:
    """Network totals. Bytes use the report's dtype for parameters, buffers and activations."""

    params: int
    trainable_params: int
    frozen_params: int
    buffers: int
    param_bytes: int
    buffer_bytes: int
    macs: int
    flops: int
    activation_bytes: int
    memory: Memory | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "memory"}
        if self.memory is not None:
            out["memory"] = self.memory.to_dict()
        return out


@dataclass(frozen=True)
class Report:
    """The analysis of a network; :meth:`to_dict` is the JSON report."""

    name: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    layers: tuple[LayerResult, ...]
    outputs: tuple[str, ...]
    totals: Totals
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)

    def grouped(self, depth: int) -> list[LayerResult]:
        """Rows with everything deeper than ``depth`` dotted levels summed into its group.

        A group row (``layer1.0`` at depth 2) adds up the params, MACs, FLOPs and
        activation bytes of its layers and shows the output shape and receptive
        field of the group's output, and the inputs it takes from outside.
        """
        rows: list[LayerResult] = []
        members: dict[str, list[LayerResult]] = {}
        order: list[str] = []
        for row in self.layers:
            parts = row.name.split(".")
            key = ".".join(parts[:depth]) if len(parts) > depth else row.name
            if key not in members:
                members[key] = []
                order.append(key)
            members[key].append(row)
        for key in order:
            group = members[key]
            if len(group) == 1 and group[0].name == key:
                rows.append(group[0])
                continue
            out_name, kind = self.groups.get(key, (group[-1].name, "group"))
            out = next((r for r in group if r.name == out_name), group[-1])
            inside = {r.name for r in group}
            inputs = tuple(dict.fromkeys(i for r in group for i in r.inputs if i not in inside))
            rows.append(LayerResult(
                name=key, type=kind, inputs=inputs, output_shape=out.output_shape,
                params=sum(r.params for r in group),
                trainable_params=sum(r.trainable_params for r in group),
                buffers=sum(r.buffers for r in group), macs=sum(r.macs for r in group),
                flops=sum(r.flops for r in group),
                activation_bytes=sum(r.activation_bytes for r in group),
                receptive_field=out.receptive_field, path=group[0].path[:depth], loc=group[0].loc,
                local_receptive_field=out.local_receptive_field, global_context=out.global_context,
                effective_receptive_field=out.effective_receptive_field,
            ))
        return rows

    def layer(self, name: str) -> LayerResult:
        """The row of one node by its full name (KeyError if absent)."""
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "dtype": self.dtype,
            "layers": [row.to_dict() for row in self.layers],
            "outputs": list(self.outputs),
            "totals": self.totals.to_dict(),
        }


def exact_number(value: Fraction | int | None) -> int | float | str | None:
    """A JSON value that is exact: int, a float only when binary floating point holds
    the fraction exactly (a power-of-two denominator), else the string "p/q"."""
    if value is None:
        return None
    value = Fraction(value)
    if value.denominator == 1:
        return value.numerator
    if value.denominator & (value.denominator - 1) == 0:
        return float(value)
    return f"{value.numerator}/{value.denominator}"


def rf_to_dict(rf: ReceptiveField | None) -> dict[str, list] | None:
    if rf is None:
        return None
    return {
        "size": list(rf.size),
        "stride": [exact_number(s) for s in rf.stride],
        "center": [exact_number(c) for c in rf.center],
        "aligned": not rf.misaligned,
        "data_dependent": rf.data_dependent,
    }


def analyze(net: Network, dtype: str = "float32", optimizer: str = "adam",
            memory_policy: str = DEFAULT_POLICY) -> Report:
    """Analyse a loaded network.

    Args:
        net: from :func:`cnncalc.load`.
        dtype: element type for byte counts: float32 (4 bytes), float16,
            bfloat16 (2), float64 (8) or int8 (1).
        optimizer: sgd, momentum, adam or adamw: the optimizer state counted in the
            training footprint (``report.totals.memory``, cnncalc.analysis.memory).
        memory_policy: eager (PyTorch's eager mode) or graph (freed after the last
            consumer): the inference peak's policy (docs/conventions.md, "Memory").

    Returns:
        A Report with one LayerResult per node in topological order.

    Raises:
        SpecError: a layer that cannot take its input (located), an unknown dtype,
            optimizer or memory policy.
    """
    if dtype not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype '{dtype}'", kind="value",
                        help="one of " + ", ".join(DTYPE_BYTES))
    if optimizer not in OPTIMIZER_STATES:
        raise SpecError(f"unknown optimizer '{optimizer}'", kind="value",
                        help="one of " + ", ".join(OPTIMIZER_STATES))
    if memory_policy not in POLICIES:
        raise SpecError(f"unknown memory policy '{memory_policy}'", kind="value",
                        help="one of " + ", ".join(POLICIES))
    width = DTYPE_BYTES[dtype]
    try:
        return _walk(net, dtype, width, optimizer, memory_policy)
    except SpecError as exc:
        raise exc.located(file=net.file) from None


def _walk(net: Network, dtype: str, width: int, optimizer: str = "adam",
          memory_policy: str = DEFAULT_POLICY) -> Report:
    if any(node.facts is None for node in net.nodes):
        infer_shapes(net)  # a network built by hand rather than loaded
    memory = estimate(net, width, net.batch, optimizer, policy=memory_policy)
    rows = []
    for node in net.nodes:
        facts = node.facts
        params = facts.param_count
        rows.append(LayerResult(
            name=node.name,
            type=node.type,
            inputs=tuple(node.inputs),
            output_shape=facts.out_shape,
            params=params,
            trainable_params=params if node.trainable else 0,
            buffers=facts.buffer_count,
            macs=facts.macs * net.batch,
            flops=facts.flops * net.batch,
            activation_bytes=math.prod(facts.out_shape) * net.batch * width,
            receptive_field=node.field,
            param_shapes=facts.params,
            path=node.path,
            loc=node.loc,
            live_bytes=memory.live_bytes[node.name],
            local_receptive_field=node.local_field,
            global_context=node.global_context,
        ))
    params = sum(r.params for r in rows)
    trainable = sum(r.trainable_params for r in rows)
    buffers = sum(r.buffers for r in rows)
    totals = Totals(
        params=params,
        trainable_params=trainable,
        frozen_params=params - trainable,
        buffers=buffers,
        param_bytes=params * width,
        buffer_bytes=sum(n.facts.buffer_bytes(width) for n in net.nodes),
        macs=sum(r.macs for r in rows),
        flops=sum(r.flops for r in rows),
        activation_bytes=sum(r.activation_bytes for r in rows),
        memory=memory,
    )
    return Report(net.name, net.input_shape, net.batch, dtype, tuple(rows), tuple(net.outputs),
                  totals, dict(net.groups))
