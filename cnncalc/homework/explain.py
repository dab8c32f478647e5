"""``cnncalc explain``: every formula behind a layer's figures, with the numbers put in.

The explanations use the lectures' formulas (cs231n's O = (W - F + 2P)/S + 1, the
dilated kernel d(k - 1) + 1, the transposed output (O - 1)S + F - 2P, and the
receptive-field recurrence r_l = r_(l-1) + (k_l - 1) j_(l-1), j_l = j_(l-1) s_l of
Araujo et al., Distill 2019, eq. 2) with the numbers put in. The figures
themselves always come from the analyzer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction

from cnncalc.analysis.analyze import LayerResult, Report, analyze
from cnncalc.core.errors import SpecError, suggestion
from cnncalc.core.facts import DILATED
from cnncalc.core.graph import INPUT, Network
from cnncalc.core.shapes import held_gates
from cnncalc.layers.base import Step
from cnncalc.measure.erf import EffectiveField, candidates, effective_fields

_LOCAL = False  # rf_steps' field: the exact one (False) or the local one (True), see _field


def _field(row: LayerResult):
    return row.local_receptive_field if _LOCAL else row.receptive_field


def rf_steps(net: Network, report: Report, name: str) -> list[Step]:
    """The receptive-field recurrence for one layer, per axis, with the numbers; where the
    exact field is global only through broadcast gates, the local field's recurrence too
    (the gates held constant; docs/receptive-field.md, "The local receptive field")."""
    global _LOCAL
    steps = _rf_steps(net, report, name)
    row = report.layer(name)
    if row.global_context and row.local_receptive_field not in (None, row.receptive_field):
        gates = ", ".join(row.global_context)
        size = " x ".join(str(v) for v in row.local_receptive_field.size)
        steps.append(Step("local_receptive_field", "the local field: broadcast gates held constant",
                          "", size, f"global context enters through {gates}"))
        _LOCAL = True
        try:
            local = _rf_steps(net, report, name)
        finally:
            _LOCAL = False
        steps += [replace(st, field="local_" + st.field if st.field == "receptive_field"
                          else "local_stride" if st.field == "stride" else st.field) for st in local]
    return steps


def erf_steps(erf: EffectiveField | str | None) -> list[Step]:
    """The effective receptive field's statistics with the protocol (cnncalc.measure.erf)."""
    if erf is None:
        return []
    if isinstance(erf, str):
        return [Step("effective_receptive_field", "protocol uniform", "", "refused", erf)]
    unit = ", ".join(map(str, erf.unit))
    per = lambda values, fmt: " x ".join(fmt(v) for v in values)  # noqa: E731
    return [
        Step("effective_receptive_field",
             f"protocol {erf.protocol}: the gradient of unit ({unit}) summed over channels, "
             "its marginal per axis (docs/receptive-field.md)", "",
             f"mean {per(erf.mean, lambda v: f'{v:.2f}')}, std {per(erf.std, lambda v: f'{v:.2f}')}"),
        Step("effective_receptive_field", "width95 = fewest consecutive pixels holding 95% of the mass",
             "", per(erf.width95, str),
             "ratio to the theoretical size " + per(
                 [f"{w}/{t} = {r:.3f}" for w, t, r in zip(erf.width95, erf.theoretical, erf.ratio)], str)),
    ]


def _rf_steps(net: Network, report: Report, name: str) -> list[Step]:
    """:func:`rf_steps` for one field (:func:`_field`)."""
    node = net.node(name)
    row = report.layer(name)
    rf = _field(row)
    if rf is None:
        return [Step("receptive_field", "no spatial axes, or every input position reaches it", "",
                     "global")]
    held = held_gates(node) if _LOCAL else []
    inputs = [report.layer(i) if i != INPUT else None for k, i in enumerate(node.inputs)
              if k not in held]
    geometry = node.facts.geometry
    per_axis = []
    for axis in range(len(rf.size)):
        steps: list[Step] = []
        per_axis.append(steps)
        if len(inputs) != 1:
            sizes = ", ".join(str(_size(i, axis)) for i in inputs)
            steps.append(Step("receptive_field", f"r = extent of the union of the inputs' fields ({sizes})",
                              "", str(rf.size[axis]),
                              "" if not rf.misaligned else "paths misaligned (different stride or centre)"))
            continue
        r_in, j_in = _size(inputs[0], axis), _stride(inputs[0], axis)
        if geometry is not None and r_in is not None:
            k, s = geometry[axis]
            windows = node.facts.windows
            dilated = bool(windows) and windows[axis].dilation != 1
            if dilated:  # k is the dilated extent: say so, with the taps and gaps it comes from
                w = windows[axis]
                steps.append(Step.calc("receptive_field", DILATED, f"{w.dilation}·({w.kernel} - 1) + 1"))
            step = Step.calc("receptive_field", "r = r_in + (F_d - 1)·j_in" if dilated
                             else "r = r_in + (F - 1)·j_in", f"{r_in} + ({k} - 1)·{frac_text(j_in)}")
            if step.value != rf.size[axis]:
                step = replace(step, note="the recurrence holds for one path without phases; the "
                               "exact extent is below")
            steps.append(step)
            if step.value != rf.size[axis]:
                steps.append(Step("receptive_field", "exact extent (phases after upsampling or "
                                  "transposed convolution; docs/receptive-field.md)", "",
                                  str(rf.size[axis])))
            steps.append(Step.calc("stride", "j = j_in·S", f"{frac_text(j_in)}·{s}"))
            closed = _closed_form(net, report, name, axis, rf.size[axis])
            if closed is not None:
                steps.append(closed)
        elif r_in == rf.size[axis] and j_in == rf.stride[axis]:
            steps.append(Step("receptive_field", "unchanged (elementwise along this axis)", "",
                              str(rf.size[axis])))
        else:
            steps.append(Step("receptive_field", "exact composition (docs/receptive-field.md)", "",
                              str(rf.size[axis])))
            steps.append(Step("stride", "effective stride", "", frac_text(rf.stride[axis])))
    if all(steps == per_axis[0] for steps in per_axis):
        return per_axis[0]  # the same on every axis
    names = "LHW"[-1:] if len(per_axis) == 1 else ("HW" if len(per_axis) == 2 else "DHW")
    return [Step(st.field, f"[{names[a]}] {st.formula}", st.substituted, st.result, st.note)
            for a, steps in enumerate(per_axis) for st in steps]


def _closed_form(net: Network, report: Report, name: str, axis: int, size: int) -> Step | None:
    """The receptive field of a chain of windows in closed form,
    r0 = sum_l (k_l - 1)·prod_(i<l) s_i + 1 (Araujo et al., Distill 2019, eq. 2, as the
    CentraleSupelec lecture 4 writes it), with k_l the dilated extent. None unless the
    path back to the input is one chain of window layers (and layers that leave the
    field unchanged) of at least two windows, and the sum equals the exact field."""
    windows = []
    node = net.node(name)
    while True:
        if len(node.inputs) != 1:
            return None
        ws = node.facts.windows
        if ws and not ws[0].transposed:
            windows.append((ws[axis].keff, ws[axis].stride))
        else:
            row, before = report.layer(node.name), (None if node.inputs[0] == INPUT
                                                     else report.layer(node.inputs[0]))
            if (_field(row) is None or _size(before, axis) != _field(row).size[axis]
                    or _stride(before, axis) != _field(row).stride[axis]):
                return None
        if node.inputs[0] == INPUT:
            break
        node = net.node(node.inputs[0])
    windows.reverse()
    if len(windows) < 2 or any(Fraction(s).denominator != 1 for _, s in windows):
        return None
    terms, total, product = [], 1, 1
    for i, (k, s) in enumerate(windows):
        strides = "·".join(str(int(w[1])) for w in windows[:i]) or "1"
        terms.append(f"({k} - 1)·{strides}")
        total += (k - 1) * product
        product *= int(s)
    if total != size:
        return None
    return Step("receptive_field", "r0 = Σ_l (k_l - 1)·Π_(i<l) s_i + 1",
                " + ".join(terms) + " + 1", str(size), "closed form over the chain, Araujo et al. 2019")


def _size(row: LayerResult | None, axis: int):
    if row is None:
        return 1
    return None if _field(row) is None else _field(row).size[axis]


def _stride(row: LayerResult | None, axis: int):
    if row is None:
        return Fraction(1)
    return None if _field(row) is None else _field(row).stride[axis]


def frac_text(value) -> str:
    """A rational as text: "3", "1/2"; "-" for None (a unit that sees no input)."""
    if value is None:
        return "-"
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


@dataclass
class Explanation:
    name: str
    type: str
    input_shapes: list[tuple[int, ...]]
    steps: list[Step] = field(default_factory=list)


def explain(net: Network, layer: str | None = None) -> list[Explanation]:
    """Every formula behind one layer's figures (or every layer's), with the numbers: the
    exact receptive field's recurrence, the local field's where the exact one is global
    through broadcast gates, and the effective receptive field's statistics under the
    uniform protocol.

    Raises:
        SpecError: an unknown layer name (with the closest one).
    """
    report = analyze(net)
    names = [n.name for n in net.nodes]
    if layer is not None and layer not in names:
        raise SpecError(f"no layer named '{layer}'", kind="usage", help=suggestion(layer, names, "layers"))
    out = []
    have = {n.name for n in candidates(net)}
    erfs = effective_fields(net, [layer] if layer in have else [] if layer else None)
    for node in net.nodes:
        if layer is not None and node.name != layer:
            continue
        steps = list(node.facts.steps) + rf_steps(net, report, node.name) + \
            erf_steps(erfs.get(node.name))
        shapes = [tuple(net.input_shape) if i == INPUT else report.layer(i).output_shape for i in node.inputs]
        out.append(Explanation(node.name, node.type, shapes, steps))
    return out


_SHAPE_LIST = re.compile(r"\[(\d+(?:, \d+)+)\]")


def _tables_style(text: str) -> str:
    """Shapes written as the tables write them: [6, 14, 14] -> 6x14x14."""
    return _SHAPE_LIST.sub(lambda m: m.group(1).replace(", ", "x"), text)


def shapes_in_layout(text: str, layout: str = "chw") -> str:
    """Shapes in a derivation written as the answers write them: [6, 16, 16] -> 6x16x16,
    or 16x16x6 in the hwc layout (channels last)."""
    def one(m: re.Match) -> str:
        values = m.group(1).split(", ")
        if layout == "hwc":
            values = values[1:] + values[:1]
        return "x".join(values)
    return _SHAPE_LIST.sub(one, text)


def explanations_json(items: list[Explanation]) -> list[dict]:
    """The explanations for ``explain --format json``: per layer its input shapes and
    the steps (figure, formula, numbers, result, note)."""
    return [{"name": e.name, "type": e.type, "input_shapes": [list(s) for s in e.input_shapes],
             "steps": [{"figure": st.field, "formula": st.formula,
                        "substituted": _tables_style(st.substituted),
                        "result": _tables_style(st.result), "note": st.note} for st in e.steps]}
            for e in items]


def render_explanations(items: list[Explanation], markdown: bool = False) -> str:
    lines = []
    for item in items:
        ins = ", ".join("x".join(map(str, s)) for s in item.input_shapes)
        if markdown:
            lines += [f"#### {item.name} ({item.type}), input {ins}", "",
                      "| figure | formula | with the numbers | result |", "|---|---|---|---:|"]
            for st in item.steps:
                note = f" ({st.note})" if st.note else ""
                lines.append(f"| {st.field} | {st.formula} | {st.substituted or '-'} | {st.result}{note} |")
            lines.append("")
            continue
        lines.append(f"{item.name} ({item.type}), input {ins}")
        for st in item.steps:
            lines.append(f"  {st.field:<16} {st.formula}")
            if st.substituted:
                lines.append(f"  {'':<16}   = {st.substituted} = {st.result}")
            else:
                lines.append(f"  {'':<16}   = {st.result}")
            if st.note:
                lines.append(f"  {'':<16}   note: {st.note}")
        lines.append("")
    return _tables_style("\n".join(lines))


