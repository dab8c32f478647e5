"""``cnncalc check``: answers judged against the analysis, under a course's conventions, with
the derivation of each wrong one (docs/homework.md). The derivations are explain's
(:mod:`cnncalc.homework.explain`); the figures always come from the analyzer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cnncalc.analysis.analyze import LayerResult, Report, analyze, exact_number
from cnncalc.core.errors import Loc, SpecError, suggestion
from cnncalc.core.figures import ANSWER_FIELDS, answer_values
from cnncalc.core.files import read_bounded
from cnncalc.core.graph import Network
from cnncalc.core.yamlio import MAX_FILE_BYTES, YMap, parse_yaml
from cnncalc.homework.explain import explain, frac_text
from cnncalc.layers.base import Step, describe

FIELDS = ANSWER_FIELDS  # the figures an answers file may give (cnncalc.core.figures)


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
    """The figures an answers file may give (FIELDS) of one layer, under a course's conventions
    (params without biases with --no-bias; FLOPs as multiplications only with --flops mult)."""
    facts = node.facts  # which tensors are filter biases, and their additions: the layer's facts
    flops = row.macs if conv.flops == "mult" else row.flops
    if not conv.bias and conv.flops != "mult":
        flops -= facts.bias_flops * batch
    analysed = answer_values(row)
    out = {key: analysed[key] for key in FIELDS}
    out["params"] = row.params - (0 if conv.bias else facts.bias_count)
    out["flops"] = flops
    return out


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

    if value is None:
        return None
    if isinstance(value, tuple):
        return [exact_number(v) for v in value]
    return exact_number(value)


def looks_like_answers(path) -> bool:
    """Whether a file reads like an answers file (top-level layout:, or layers: as a
    mapping of figures) rather than a network spec; False if it cannot be read."""
    try:
        doc = parse_yaml(read_bounded(path, MAX_FILE_BYTES, "answers"), str(path))
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
        texts = [frac_text(v) for v in value]
        return texts[0] if len(set(texts)) == 1 else ", ".join(texts)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


