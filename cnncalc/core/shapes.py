"""Shape binding: one walk over the graph that sets every layer up on its input shapes.

:func:`infer_shapes` is what :func:`cnncalc.load` runs: each node gets its layer's
:class:`~cnncalc.core.facts.Facts` and its receptive field (cnncalc.core.rf), so a
loaded network carries every figure and nothing later sets a layer up again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cnncalc.core.errors import SpecError
from cnncalc.core.graph import INPUT, Network, Node
from cnncalc.core.rf import BROADCAST, AxisField, ReceptiveField

Axes = list[AxisField | None] | None  # per spatial axis; None: no receptive field


def _global_axes(axes: Axes, sizes: tuple[int, ...]) -> Axes:
    """An axis on which a broadcast operand (stride-0 component) already sees the whole
    input is global: every input position reaches every unit, as after global pooling."""
    if axes is None:
        return None
    return [None if a is not None and any(
        c.stride == 0 and c.lo[0] is not None and c.lo[0] <= 0 and c.hi[0] >= n - 1
        for c in a.components) else a for a, n in zip(axes, sizes)]


def held_gates(node: Node) -> list[int]:
    """The indices of a merge's inputs that are broadcast from spatial size 1 over the
    other inputs' positions (a squeeze-and-excitation gate, a global-context branch): the
    operands the local receptive field holds constant (docs/receptive-field.md, "The local
    receptive field"). Read from the layer's declared per-input unit maps: an operand whose
    map is BROADCAST on every spatial axis where the output has more than one unit. Empty
    when no input is such an operand, or when every input is (nothing spatial is left)."""
    before = node.facts.input_maps
    if before is None or len(before) < 2:
        return []
    out = node.facts.out_shape[1:]
    held = [i for i, per in enumerate(before)
            if any(m is BROADCAST for m in per)
            and all(m is BROADCAST or n == 1 for m, n in zip(per, out))]
    return held if len(held) < len(before) else []


def held_context(node: Node, mixing: dict[str, tuple[str, ...]]) -> list[int]:
    """The indices of a merge's inputs that come through an attention layer (a layer whose
    facts declare ``context_mixing``) when some other input does not: the local receptive
    field holds such a branch constant where it joins the spatial path, as it holds a
    broadcast gate (the non-local block's z = W_z·y + x keeps x's field; docs/
    receptive-field.md, "Attention"). ``mixing``: node -> the attention layers on its way
    not yet held."""
    through = [k for k, name in enumerate(node.inputs) if mixing.get(name)]
    return through if len(through) < len(node.inputs) else []


def _axes_after(node: Node, axes: dict[str, Axes], held: Sequence[int] = ()) -> Axes:
    """The receptive field of a node's output from those of its inputs (union over paths);
    the inputs at indices ``held`` are constants (the local field) and contribute nothing."""
    maps = node.facts.maps
    if maps is None:
        return None
    inputs = [axes[i] for k, i in enumerate(node.inputs) if k not in held]
    if any(a is None or len(a) != len(maps) for a in inputs):
        return None
    before = node.facts.input_maps
    if before is not None:  # per-input maps applied before the union (broadcasting)
        before = [per for k, per in enumerate(before) if k not in held]
        inputs = [[None if a is None or m is None else a.compose(m) for a, m in zip(field, per)]
                  for field, per in zip(inputs, before)]
    merged: list[AxisField | None] = list(inputs[0])  # type: ignore[arg-type]
    for other in inputs[1:]:
        merged = [None if a is None or b is None else a.union(b)
                  for a, b in zip(merged, other)]  # type: ignore[arg-type]
    try:
        return [None if a is None or m is None else a.compose(m) for a, m in zip(merged, maps)]
    except OverflowError as exc:
        raise _node_error(node, SpecError(str(exc), kind="limit")) from None


def _node_error(node: Node, exc: SpecError) -> SpecError:
    exc.message = f"{node.type} '{node.name}': {exc.message}"
    return exc.located(node.loc)


def infer_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    """Set up every layer once, in order: record its :class:`Facts` on its node
    (``node.facts``), its receptive field (``node.field``), its local receptive field
    (``node.local_field``: broadcast gates held constant, :func:`held_gates`) and the
    merges through whose gates global information reaches it (``node.global_context``,
    in graph order); return node name -> output shape. :func:`cnncalc.load` calls it, so
    a loaded network carries every figure and nothing later runs a layer's setup again.

    Raises:
        SpecError: the first layer whose input it cannot take, at its location; a
            receptive field whose period exceeds the limit (docs/limits.md).
    """
    shapes: dict[str, tuple[int, ...]] = {INPUT: net.input_shape}
    axes: dict[str, Axes] = {INPUT: [AxisField.input()] * net.ndim}
    local: dict[str, Axes] = {INPUT: axes[INPUT]}
    context: dict[str, dict[str, None]] = {INPUT: {}}  # ordered sets of merge names
    deformed: set[str] = set()  # nodes downstream of a layer whose field depends on the data
    mixing: dict[str, tuple[str, ...]] = {INPUT: ()}  # the attention layers on the way, unheld
    for node in net.nodes:
        try:
            node.facts = facts = node.layer.setup([shapes[i] for i in node.inputs],
                                                  [shapes[r] for r in node.refs])
        except SpecError as exc:
            raise _node_error(node, exc) from None
        shapes[node.name] = facts.out_shape
        node_axes = axes[node.name] = _global_axes(_axes_after(node, axes), net.input_shape[1:])
        gates, through = held_gates(node), held_context(node, mixing)
        held = sorted(set(gates) | set(through))
        local[node.name] = node_axes if not held and all(axes[i] is local[i] for i in node.inputs) \
            else _global_axes(_axes_after(node, local, held), net.input_shape[1:])
        seen = context[node.name] = {}
        for k, name in enumerate(node.inputs):
            if k not in held:
                seen.update(context[name])
            elif k in through:  # an attention branch held: its attention layers bring the context
                seen.update(context[name])
                seen.update(dict.fromkeys(mixing[name]))
            elif axes[name] is None or any(a is None for a in axes[name]):  # the gate is global
                seen[node.name] = None
        unheld = dict.fromkeys(m for k, name in enumerate(node.inputs) if k not in held
                               for m in mixing[name])
        if facts.context_mixing:
            unheld[node.name] = None
        mixing[node.name] = tuple(unheld)
        if facts.data_dependent_field or any(i in deformed for i in node.inputs):
            deformed.add(node.name)
        node.field = _field(node_axes, facts.out_shape, node.name in deformed)
        node.local_field = node.field if local[node.name] is node_axes else \
            _field(local[node.name], facts.out_shape, node.name in deformed)
        node.global_context = tuple(seen)
    return shapes


def _field(node_axes: Axes, out_shape: tuple[int, ...], deformed: bool) -> ReceptiveField | None:
    """The reported figures of a node's per-axis fields (None: no axis has a field)."""
    if node_axes is None or not any(a is not None for a in node_axes):
        return None
    rf = ReceptiveField.from_axes(node_axes, out_shape[1:])
    return replace(rf, data_dependent=True) if deformed else rf
