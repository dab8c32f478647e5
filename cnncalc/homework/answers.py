"""Homework mode: explain derivations, check answers, solve for padding, stride and sizes.

The explanations use the lectures' formulas (cs231n's O = (W - F + 2P)/S + 1, the
dilated kernel d(k - 1) + 1, the transposed output (O - 1)S + F - 2P, and the
receptive-field recurrence r_l = r_(l-1) + (k_l - 1) j_(l-1), j_l = j_(l-1) s_l of
Araujo et al., Distill 2019, eq. 2) with the numbers put in. The figures
themselves always come from the analyzer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from cnncalc.analysis.analyze import LayerResult, Report, analyze
from cnncalc.core.errors import Loc, SpecError, suggestion
from cnncalc.core.graph import INPUT, Network
from cnncalc.core.yamlio import YMap, parse_yaml
from cnncalc.io.load import load, loads
from cnncalc.layers.base import Step, describe

FIELDS = ("output_shape", "params", "macs", "flops", "receptive_field", "stride",
          "activation_bytes")


@dataclass(frozen=True)
class Conventions:
    """How a course counts. Defaults are cnncalc's (docs/conventions.md).

    flops: "mult-add" (a multiply and an add counted apart) or "mult"
        (multiplications only: the MACs of conv and linear layers).
    bias: count bias parameters (and their additions) or not.
    dilation_base: 1 as PyTorch (1 = no gaps) or 0 as cs231n (0 = no gaps); applied
        when the problem spec is loaded.
    """

    flops: str = "mult-add"
    bias: bool = True
    dilation_base: int = 1

    def describe(self) -> str:
        return "; ".join([
            "FLOPs = multiplications only (= MACs)" if self.flops == "mult"
            else "FLOPs = multiplications and additions counted apart",
            "bias counted" if self.bias else "bias not counted",
            f"dilation {self.dilation_base}-based" + (" (PyTorch: 1 = no gaps)" if self.dilation_base == 1
                                                     else " (cs231n: 0 = no gaps)"),
            "valid/same as TensorFlow defines them",
        ])


def figures(row: LayerResult, node, conv: Conventions, batch: int) -> dict[str, Any]:
    """The figures of one layer under a course's conventions."""
    facts = node.facts  # which tensors are filter biases, and their additions: the layer's facts
    flops = row.macs if conv.flops == "mult" else row.flops
    if not conv.bias and conv.flops != "mult":
        flops -= facts.bias_flops * batch
    rf = row.receptive_field
    return {
        "output_shape": tuple(row.output_shape),
        "params": row.params - (0 if conv.bias else facts.bias_count),
        "macs": row.macs,
        "flops": flops,
        "receptive_field": None if rf is None else tuple(rf.size),
        "stride": None if rf is None else tuple(rf.stride),
        "activation_bytes": row.activation_bytes,
    }


# -- explanations -----------------------------------------------------------------------


def rf_steps(net: Network, report: Report, name: str) -> list[Step]:
    """The receptive-field recurrence for one layer, per axis, with the numbers."""
    node = net.node(name)
    row = report.layer(name)
    rf = row.receptive_field
    if rf is None:
        return [Step("receptive_field", "no spatial axes, or every input position reaches it", "",
                     "global")]
    inputs = [report.layer(i) if i != INPUT else None for i in node.inputs]
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
            step = Step.calc("receptive_field", "r = r_in + (F - 1)·j_in",
                             f"{r_in} + ({k} - 1)·{_frac(j_in)}")
            if step.value != rf.size[axis]:
                step = replace(step, note="the recurrence holds for one path without phases; the "
                               "exact extent is below")
            steps.append(step)
            if step.value != rf.size[axis]:
                steps.append(Step("receptive_field", "exact extent (phases after upsampling or "
                                  "transposed convolution; docs/receptive-field.md)", "",
                                  str(rf.size[axis])))
            steps.append(Step.calc("stride", "j = j_in·S", f"{_frac(j_in)}·{s}"))
            closed = _closed_form(net, report, name, axis, rf.size[axis])
            if closed is not None:
                steps.append(closed)
        elif r_in == rf.size[axis] and j_in == rf.stride[axis]:
            steps.append(Step("receptive_field", "unchanged (elementwise along this axis)", "",
                              str(rf.size[axis])))
        else:
            steps.append(Step("receptive_field", "exact composition (docs/receptive-field.md)", "",
                              str(rf.size[axis])))
            steps.append(Step("stride", "effective stride", "", _frac(rf.stride[axis])))
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
            if (row.receptive_field is None or _size(before, axis) != row.receptive_field.size[axis]
                    or _stride(before, axis) != row.receptive_field.stride[axis]):
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
    return None if row.receptive_field is None else row.receptive_field.size[axis]


def _stride(row: LayerResult | None, axis: int):
    if row is None:
        return Fraction(1)
    return None if row.receptive_field is None else row.receptive_field.stride[axis]


def _frac(value) -> str:
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
    """Every formula behind one layer's figures (or every layer's), with the numbers.

    Raises:
        SpecError: an unknown layer name (with the closest one).
    """
    report = analyze(net)
    names = [n.name for n in net.nodes]
    if layer is not None and layer not in names:
        raise SpecError(f"no layer named '{layer}'", kind="usage", help=suggestion(layer, names, "layers"))
    out = []
    for node in net.nodes:
        if layer is not None and node.name != layer:
            continue
        steps = list(node.facts.steps) + rf_steps(net, report, node.name)
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


# -- answers ------------------------------------------------------------------------------


@dataclass
class Judgement:
    layer: str  # a layer name, or "totals"
    field: str
    given: Any
    correct: Any
    ok: bool
    derivation: list[Step] = field(default_factory=list)
    layout: str = "chw"  # how the answers write shapes; the correct value is shown the same way
    answer: Any = None  # the given value as read: the same type as ``correct``


def parse_shape_answer(value: Any, layout: str, loc: Loc) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return (value,)  # a vector's shape: output_shape: 10
    if isinstance(value, str):
        parts = [p for p in re.split(r"\s*[x×,]\s*|\s+", value.strip().strip("[]()")) if p]
        try:
            shape = tuple(int(p) for p in parts)
        except ValueError:
            raise SpecError(f"'{value}' is not a shape", loc, kind="value",
                            help="write a list [6, 32, 32] or a string like 32x32x6") from None
    elif isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        shape = tuple(value)
    else:
        raise SpecError(f"an output_shape is a list, a string like 32x32x6 or, for a vector, a "
                        f"number, got {describe(value)}", loc, kind="value")
    if layout == "hwc" and len(shape) > 1:
        shape = (shape[-1], *shape[:-1])  # H, W, C -> C, H, W
    return shape


def _number(value: Any, loc: Loc, what: str):
    if isinstance(value, bool):
        raise SpecError(f"{what} must be a number, got {describe(value)}", loc, kind="value")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.replace(",", "").replace("_", "").strip()
        try:
            return Fraction(text) if "/" in text else int(text)
        except ValueError:
            pass
    raise SpecError(f"{what} must be a whole number, got {describe(value)}", loc, kind="value")


def _per_axis(value: Any, ndim: int, loc: Loc, what: str, fraction: bool = False) -> tuple:
    items = value if isinstance(value, list) else [value] * ndim
    if len(items) != ndim:
        raise SpecError(f"{what} has {len(items)} values for {ndim} spatial axes", loc, kind="value")
    out = []
    for v in items:
        if fraction and isinstance(v, float):
            out.append(Fraction(str(v)))
        else:
            out.append(Fraction(_number(v, loc, what)) if fraction else _number(v, loc, what))
    return tuple(out)


def check(net: Network, answers_text: str | bytes, answers_file: str | None,
          conventions: Conventions = Conventions()) -> list[Judgement]:
    """Judge every answer given (docs/homework.md). Raises SpecError, located, for an
    answers file that cannot be read (unknown layers or fields, malformed values)."""
    doc = parse_yaml(answers_text, answers_file)
    try:
        if not isinstance(doc, YMap):
            raise SpecError("an answers file is a mapping with layers: and/or totals:",
                            getattr(doc, "loc", Loc(1, 1)))
        for key in doc:
            if key not in ("layout", "layers", "totals", "description"):
                raise SpecError(f"unknown key '{key}'", doc.key_loc(key),
                                help=suggestion(str(key), ("layout", "layers", "totals"), "keys"))
        layout = doc.get("layout", "chw")
        if layout not in ("chw", "hwc"):
            raise SpecError(f"layout must be chw or hwc, got {describe(layout)}", doc.val_loc("layout"),
                            kind="value")
        report = analyze(net)
        explanations = {e.name: e for e in explain(net)}
        judgements = []
        layers = doc.get("layers")
        if layers is None:  # totals only
            layers = {}
        elif not isinstance(layers, YMap):
            raise SpecError("'layers' maps layer names to answers", doc.val_loc("layers"))
        names = [n.name for n in net.nodes]
        for name, given in layers.items():
            if name not in names:
                raise SpecError(f"no layer named '{name}' in the problem", layers.key_loc(name),
                                kind="name", help=suggestion(str(name), names, "layers"))
            node = net.node(name)
            correct = figures(report.layer(name), node, conventions, net.batch)
            steps = explanations[name].steps
            if not node.facts.params and not any(st.field == "params" for st in steps):
                # e.g. the lecture's "0 (no parameters in the pooling layer)"
                steps = [*steps, Step("params", "no learnable tensors (no weights, no bias)", "", "0")]
            row = report.layer(name)
            width = row.activation_bytes // max(math.prod(row.output_shape) * net.batch, 1)
            steps = [*steps, Step.calc("activation_bytes", "output elements · batch · bytes per element "
                                       f"({report.dtype})",
                                       f"{'·'.join(map(str, row.output_shape))} · {net.batch} · {width}")]
            judgements += _judge(name, given, correct, steps, layout, net.ndim, layers.val_loc(name))
        totals = doc.get("totals") or {}
        if totals:
            if not isinstance(totals, YMap):
                raise SpecError("'totals' maps figures to answers", doc.val_loc("totals"))
            t = report.totals
            correct = {"params": sum(figures(r, net.node(r.name), conventions, net.batch)["params"]
                                     for r in report.layers),
                       "macs": t.macs,
                       "flops": sum(figures(r, net.node(r.name), conventions, net.batch)["flops"]
                                    for r in report.layers),
                       "activation_bytes": t.activation_bytes}
            for key in totals:
                if key not in correct:
                    raise SpecError(f"'{key}' is not a total", totals.key_loc(key),
                                    help=suggestion(str(key), correct, "totals"))
            judgements += _judge("totals", totals, correct, _total_steps(report, net, conventions),
                                 layout, net.ndim, doc.val_loc("totals"))
        return judgements
    except SpecError as exc:
        raise exc.located(file=answers_file) from None


def _total_steps(report: Report, net: Network, conventions: Conventions) -> list[Step]:
    """A total as the sum of the layers that contribute to it (the terms written out
    when there are at most 24 of them)."""
    steps = []
    rows = [(r.name, figures(r, net.node(r.name), conventions, net.batch)) for r in report.layers]
    for key in ("params", "macs", "flops", "activation_bytes"):
        terms = [(n, f[key]) for n, f in rows if f[key]]
        if not terms:
            steps.append(Step(key, "no layer contributes", "", "0"))
        elif len(terms) <= 24:
            steps.append(Step.calc(key, "sum over the layers: " + " + ".join(n for n, _ in terms),
                                   " + ".join(str(v) for _, v in terms)))
        else:
            steps.append(Step(key, f"sum over the {len(terms)} layers that contribute (cnncalc "
                                   "explain gives each)", "", f"{sum(v for _, v in terms):,}"))
    return steps


def _judge(name, given, correct, steps, layout, ndim, loc) -> list[Judgement]:
    if not isinstance(given, YMap):
        raise SpecError(f"answers for '{name}' must be a mapping of figures", loc,
                        help="e.g. conv1: {output_shape: [6, 28, 28], params: 156}")
    out = []
    for key, value in given.items():
        vloc = given.val_loc(key)
        if key not in FIELDS:
            raise SpecError(f"unknown figure '{key}'", given.key_loc(key),
                            help=suggestion(str(key), FIELDS, "figures"))
        if key == "output_shape":
            answer = parse_shape_answer(value, layout, vloc)
        elif key == "receptive_field":
            answer = None if value in (None, "global") else _per_axis(value, ndim, vloc, key)
        elif key == "stride":
            answer = None if value in (None, "global") else _per_axis(value, ndim, vloc, key, fraction=True)
        else:
            answer = _number(value, vloc, key)
        right = correct[key]
        ok = answer == right
        derivation = [] if ok else [s for s in steps if s.field == key or
                                    (key == "output_shape" and s.field == "output_shape")]
        out.append(Judgement(name, key, value, right, ok, derivation, layout, answer))
    return out


def answer_json(field_name: str, value: Any) -> Any:
    """A judged figure for ``check --format json``: counts as integers, shapes as lists of
    integers (channels first), receptive fields and strides as one number per axis (a
    fraction as JSON's report writes it), null for 'global'. Given and correct values
    use the same types."""
    from cnncalc.analysis.analyze import exact_number

    if value is None:
        return None
    if isinstance(value, tuple):
        return [exact_number(v) for v in value]
    return exact_number(value)


def looks_like_answers(path) -> bool:
    """Whether a file reads like an answers file (top-level layout:, or layers: as a
    mapping of figures) rather than a network spec; False if it cannot be read."""
    try:
        doc = parse_yaml(Path(path).read_bytes(), str(path))
    except (OSError, SpecError):
        return False
    if not isinstance(doc, YMap):
        return False
    if "input" in doc:
        return False
    return "layout" in doc or "totals" in doc or isinstance(doc.get("layers"), YMap)


def format_value(field_name: str, value: Any, layout: str = "chw") -> str:
    if value is None:
        return "global"
    if field_name == "output_shape":
        shape = tuple(value)
        if layout == "hwc" and len(shape) > 1:
            shape = (*shape[1:], shape[0])
        return "x".join(map(str, shape))
    if isinstance(value, tuple):
        texts = [_frac(v) for v in value]
        return texts[0] if len(set(texts)) == 1 else ", ".join(texts)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# -- solvers ------------------------------------------------------------------------------

MAX_PAIRS = 200  # list [before, after] pairs one by one up to this many


def solve_padding(size: int, kernel: int, stride: int, output: int, dilation: int = 1) -> dict:
    """Every padding that gives ``output`` windows along one axis.

    O = floor((L + P - F) / S) + 1 holds exactly for the totals P = P_before + P_after in
    [S(O - 1) + F - L, S·O + F - L - 1] (Dumoulin and Visin 2016, relationship 6), so the
    search is exhaustive: at most S totals, every split of each.

    Returns a dict: ``keff`` (F = d(k - 1) + 1); ``totals`` (every P that works, ascending);
    ``symmetric`` (every p with 2p in totals); ``same`` (TensorFlow's split of the smallest
    total, the odd pixel after, or None when no padding works) and ``same_total``, that
    total: TensorFlow's max(S(O - 1) + F - L, 0); ``pairs``: every
    (before, after) with ``padding_only`` (some window reads padding alone) and ``dropped``
    (real input pixels no window reads, :func:`cnncalc.core.window.dropped`), or None when
    there are more than MAX_PAIRS (then every split of each total works).
    """
    from cnncalc.core.window import dropped, window_out

    keff = dilation * (kernel - 1) + 1
    low = stride * (output - 1) + keff - size
    totals = [t for t in range(max(low, 0), low + stride)
              if window_out(size, keff, stride, t, 0) == output]
    symmetric = [t // 2 for t in totals if t % 2 == 0]
    same = (totals[0] // 2, totals[0] - totals[0] // 2) if totals else None
    count = sum(t + 1 for t in totals)
    pairs = None
    if count <= MAX_PAIRS:
        pairs = [{"before": b, "after": t - b,
                  "padding_only": b >= keff or (output - 1) * stride >= b + size,
                  "dropped": dropped(size, keff, stride, b, t - b)}
                 for t in totals for b in range(t + 1)]
        pairs.sort(key=lambda p: (p["before"], p["after"]))
    return {"keff": keff, "totals": totals, "symmetric": symmetric, "same": same,
            "same_total": totals[0] if totals else None, "pairs": pairs, "pair_count": count}


def solve_output(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                 transposed: bool = False, output_padding: int = 0) -> Step:
    """The output size along one axis, as a derivation step; the note says which pixels
    a non-exact division leaves unread (padding only, or real input pixels)."""
    from cnncalc.core.window import dropped, unread_end

    keff = dilation * (kernel - 1) + 1
    if transposed:
        out = (size - 1) * stride - 2 * padding + keff + output_padding
        return Step("output", "O = (W - 1)·S - 2P + F + output_padding",
                    f"({size} - 1)·{stride} - 2·{padding} + {keff} + {output_padding}", str(out))
    span = size - keff + 2 * padding
    if span < 0:
        raise SpecError(f"the kernel ({keff}) does not fit the padded input ({size + 2 * padding})",
                        kind="usage", help="more padding or a smaller kernel")
    unread = unread_end(size, keff, stride, padding, padding)
    lost = dropped(size, keff, stride, padding, padding)
    note = ""
    if lost:
        note = (f"not exact: {span} is not divisible by {stride}; the last {lost} input pixel(s) "
                "are never read")
    elif unread:
        note = (f"{span} is not divisible by {stride}, but the {unread} unread pixel(s) at the end "
                "are padding: every input pixel is read")
    return Step("output", "O = floor((W - F + 2P) / S) + 1",
                f"floor(({size} - {keff} + 2·{padding}) / {stride}) + 1", str(span // stride + 1), note)


def solve_stride(size: int, kernel: int, output: int, dilation: int = 1) -> list[tuple[int, int, bool]]:
    """(stride, symmetric padding, tiles exactly) combinations that give ``output``, with
    padding below the kernel extent (a window of padding alone reads nothing)."""
    from cnncalc.core.window import tiles, window_out

    keff = dilation * (kernel - 1) + 1
    found = []
    for s in range(1, max(size, 1) + 1):
        for p in range(0, keff):
            if window_out(size, keff, s, p, p) == output:
                found.append((s, p, tiles(size, keff, s, p, p)))
    return found


def exact_tiling(net: Network) -> list[str]:
    """Layers whose windows do not tile their input exactly (input pixels dropped), a crop
    that cannot be centred, adaptive pooling with uneven windows (each layer says:
    :func:`cnncalc.core.window.tiling_problems`), or misaligned merges."""
    from cnncalc.core.window import tiling_problems

    problems = []
    report = analyze(net)
    for node, row in zip(net.nodes, report.layers):
        problems += [f"{node.name}: {p}" for p in tiling_problems(node.layer)]
        if row.receptive_field is not None and row.receptive_field.misaligned and len(node.inputs) > 1:
            problems.append(f"{node.name}: the merged paths are misaligned")
    return problems


def sizes(path, start: int, stop: int) -> list[tuple[int, tuple]]:
    """Input sizes L in [start, stop] (every spatial axis L) for which the network
    loads, every window tiles exactly and every merge lines up; with the outputs.

    Raises:
        SpecError: a spec that cannot be read at all.
    """
    base = load(path)  # read once; every size re-parses the same text
    text = Path(path).read_bytes()
    found = []
    for size in range(start, stop + 1):
        shape = (base.input_shape[0], *(size,) * base.ndim)
        try:
            net = loads(text, str(path), input_shape=shape)
        except SpecError:
            continue
        if exact_tiling(net):
            continue
        found.append((size, tuple(net.node(o).facts.out_shape for o in net.outputs)))
    return found
