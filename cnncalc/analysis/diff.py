"""``cnncalc diff A B``: two networks' layers matched, and per layer and in total the change
of shape, parameters, MACs, memory and receptive field; budgets (``--fail-on``) for CI.

Matching (docs/cli.md, "diff"): the two lists of layers, each in its topological order,
are aligned so that the matched pairs keep both orders (a weighted longest common
subsequence). Only layers of the same type match. A pair of the same name weighs most
(4), so names match wherever the order allows; the rest match by structure: the same
output shape and parameter count (3), the same output shape (2), the same type (1). Each
pair says which rule matched it ("name" or "structure"); a layer of A left unmatched was
removed, one of B added.

Totals are the two reports' totals (cnncalc.analysis.analyze, cnncalc.analysis.memory):
parameters, MACs, FLOPs, activation bytes, the inference peak and the training footprint,
and the receptive field of the last layer that has a spatial one (cnncalc.analysis.fields).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cnncalc.analysis.analyze import LayerResult, Report, exact_number
from cnncalc.analysis.fields import last_field
from cnncalc.core.errors import SpecError, closest


@dataclass(frozen=True)
class Pair:
    """One row of the diff: a layer of A and its match in B (``rule`` "name" or
    "structure"), or a layer only in A (``rule`` "removed", ``b`` None) or only in B
    ("added", ``a`` None)."""

    a: LayerResult | None
    b: LayerResult | None
    rule: str

    @property
    def changed(self) -> bool:
        """Anything but the name differs (shape, parameters, MACs, bytes, field), or one side
        is missing."""
        if self.a is None or self.b is None:
            return True
        return any(getattr(self.a, k) != getattr(self.b, k) for k in CHANGE_KEYS) or \
            _rf(self.a) != _rf(self.b)

    def to_dict(self) -> dict[str, Any]:
        def side(r: LayerResult | None) -> dict[str, Any] | None:
            if r is None:
                return None
            return {"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                    "params": r.params, "macs": r.macs, "activation_bytes": r.activation_bytes,
                    "rf_size": _rf(r)}
        out: dict[str, Any] = {"rule": self.rule, "a": side(self.a), "b": side(self.b)}
        for key in ("params", "macs", "activation_bytes"):
            out[f"{key}_change"] = _value(self.b, key) - _value(self.a, key)
        return out


CHANGE_KEYS = ("type", "output_shape", "params", "trainable_params", "buffers", "macs", "flops",
               "activation_bytes")


def _value(row: LayerResult | None, key: str) -> int:
    return 0 if row is None else getattr(row, key)


def _rf(row: LayerResult) -> list[int] | str:
    return "global" if row.receptive_field is None else list(row.receptive_field.size)


MAX_CELLS = 4_000_000  # pairs of layers one alignment weighs (memory and time grow with it)


def _weight(x: LayerResult, y: LayerResult) -> int:
    if x.type != y.type:
        return 0
    if x.name == y.name:
        return 4
    if x.output_shape == y.output_shape:
        return 3 if x.params == y.params else 2
    return 1


def _align(la: tuple[LayerResult, ...], lb: tuple[LayerResult, ...]) -> list[Pair]:
    """The weighted longest common subsequence of two runs of layers, as rows in order."""
    n, m = len(la), len(lb)
    score = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev, x = score[i], score[i - 1], la[i - 1]
        for j in range(1, m + 1):
            best = prev[j] if prev[j] >= row[j - 1] else row[j - 1]
            w = _weight(x, lb[j - 1])
            if w and prev[j - 1] + w > best:
                best = prev[j - 1] + w
            row[j] = best
    pairs: list[Pair] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            w = _weight(la[i - 1], lb[j - 1])
            if w and score[i][j] == score[i - 1][j - 1] + w:
                rule = "name" if la[i - 1].name == lb[j - 1].name else "structure"
                pairs.append(Pair(la[i - 1], lb[j - 1], rule))
                i, j = i - 1, j - 1
                continue
        if j > 0 and (i == 0 or score[i][j] == score[i][j - 1]):
            pairs.append(Pair(None, lb[j - 1], "added"))
            j -= 1
        else:
            pairs.append(Pair(la[i - 1], None, "removed"))
            i -= 1
    pairs.reverse()
    return pairs


def _anchors(la, lb) -> list[tuple[int, int]]:
    """The longest chain of (i, j) with the same name and type, increasing in both orders
    (a longest increasing subsequence, O(n log n))."""
    where = {(r.name, r.type): j for j, r in enumerate(lb)}
    seq = [(i, where[(r.name, r.type)]) for i, r in enumerate(la) if (r.name, r.type) in where]
    tails: list[int] = []  # index into seq of the smallest tail of each length
    back = [-1] * len(seq)
    for k, (_, j) in enumerate(seq):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if seq[tails[mid]][1] < j:
                lo = mid + 1
            else:
                hi = mid
        back[k] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(k)
        else:
            tails[lo] = k
    chain, k = [], tails[-1] if tails else -1
    while k >= 0:
        chain.append(seq[k])
        k = back[k]
    return chain[::-1]


def match(a: Report, b: Report) -> list[Pair]:
    """The rows of the diff, in order, A's removed layers where they stood (the module's
    rule). Two networks of more than MAX_CELLS pairs of layers are first split at the
    longest chain of layers whose names match in order, and each gap between two of them is
    aligned alone; a gap still larger than MAX_CELLS is listed as removed and added."""
    la, lb = a.layers, b.layers
    if len(la) * len(lb) <= MAX_CELLS:
        return _align(la, lb)
    pairs: list[Pair] = []
    i0 = j0 = 0
    for i, j in [*_anchors(la, lb), (len(la), len(lb))]:
        gap_a, gap_b = la[i0:i], lb[j0:j]
        if len(gap_a) * len(gap_b) <= MAX_CELLS:
            pairs += _align(gap_a, gap_b)
        else:
            pairs += [Pair(x, None, "removed") for x in gap_a] + [Pair(None, y, "added") for y in gap_b]
        if i < len(la):
            pairs.append(Pair(la[i], lb[j], "name"))
        i0, j0 = i + 1, j + 1
    return pairs


# -- totals and budgets -------------------------------------------------------------------

# the figures a budget can name: (what, how to read it from a report)
FIGURES = {
    "params": "parameters",
    "trainable": "trainable parameters",
    "buffers": "buffers",
    "macs": "MACs",
    "flops": "FLOPs",
    "activations": "activation bytes (every output)",
    "peak": "inference peak bytes (activations)",
    "training": "training footprint bytes (one step)",
}


def totals(report: Report) -> dict[str, int]:
    """The figures of FIGURES from one report."""
    t = report.totals
    return {"params": t.params, "trainable": t.trainable_params, "buffers": t.buffers,
            "macs": t.macs, "flops": t.flops, "activations": t.activation_bytes,
            "peak": t.memory.inference_peak_bytes, "training": t.memory.training.total_bytes}


@dataclass(frozen=True)
class Budget:
    """One term of ``--fail-on``: ``figure`` ``op`` ``value`` (``percent``: of A's figure).
    Broken when B's change from A satisfies the comparison."""

    text: str
    figure: str
    op: str
    value: Fraction
    percent: bool

    def broken(self, before: int, after: int) -> bool:
        change = Fraction(after - before)
        if self.percent:
            if before == 0 and change != 0:  # from nothing: an infinite relative change
                return change > 0 if self.op in (">", ">=") else change < 0
            change = change * 100 / before if before else change
        return _compare(change, self.op, self.value)


def _compare(x: Fraction, op: str, y: Fraction | int) -> bool:
    return {">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[op]


_TERM = re.compile(r"\s*([a-z_]+)\s*(>=|<=|>|<)\s*([+-]?\d+(?:\.\d+)?)\s*(%?)\s*")


def parse_budgets(text: str) -> list[Budget]:
    """The terms of ``--fail-on "params>+5%,macs>+10%,peak>+0"``: FIGURE, a comparison
    (> >= < <=), a signed number, and % for a change relative to A.

    Raises:
        SpecError: a term that does not parse or names an unknown figure (kind ``usage``;
            the message quotes the term and its position).
    """
    budgets = []
    for k, term in enumerate(text.split(","), 1):
        if not term.strip():  # a budget that checks nothing must not pass in silence
            raise SpecError(f"--fail-on: term {k} is empty", kind="usage",
                            help="give each budget as FIGURE OP CHANGE, separated by commas: "
                                 "--fail-on \"params>+5%,macs>+10%\"")
        m = _TERM.fullmatch(term.lower())
        where = f"--fail-on: term {k} '{term.strip()}'"
        if not m:
            raise SpecError(f"{where} is not FIGURE OP CHANGE", kind="usage",
                            help="e.g. --fail-on \"params>+5%,macs>+10%,peak>+0\" (OP one of > >= < "
                                 "<=; CHANGE a signed number, % for relative to A)")
        figure = m.group(1)
        if figure not in FIGURES:
            near = closest(figure, list(FIGURES))
            raise SpecError(f"{where}: no figure '{figure}'", kind="usage",
                            help=(f"did you mean '{near}'? " if near else "") + "figures: "
                            + ", ".join(FIGURES))
        budgets.append(Budget(term.strip(), figure, m.group(2), Fraction(m.group(3)), m.group(4) == "%"))
    return budgets


@dataclass(frozen=True)
class Diff:
    """Two reports compared: the matched rows, the totals of each, and the budgets held
    against them (``broken``: the terms whose change breaks them)."""

    a: Report
    b: Report
    pairs: tuple[Pair, ...]
    budgets: tuple[Budget, ...] = ()

    @property
    def before(self) -> dict[str, int]:
        return totals(self.a)

    @property
    def after(self) -> dict[str, int]:
        return totals(self.b)

    @property
    def broken(self) -> list[Budget]:
        before, after = self.before, self.after
        return [x for x in self.budgets if x.broken(before[x.figure], after[x.figure])]

    def to_dict(self) -> dict[str, Any]:
        before, after = self.before, self.after
        broken = {x.text for x in self.broken}
        return {
            "a": self.a.name, "b": self.b.name,
            "totals": {k: {"a": before[k], "b": after[k], "change": after[k] - before[k],
                           "relative": exact_number(Fraction(after[k] - before[k], before[k]))
                           if before[k] else None} for k in FIGURES},
            "receptive_field": {k: None if f is None else {"layer": f.layer, "size": list(f.size),
                                                           "local": f.local}
                                for k, f in (("a", last_field(self.a)), ("b", last_field(self.b)))},
            "matched": {rule: sum(p.rule == rule for p in self.pairs)
                        for rule in ("name", "structure", "removed", "added")},
            "layers": [p.to_dict() for p in self.pairs],
            "budgets": [{"term": x.text, "figure": x.figure, "broken": x.text in broken}
                        for x in self.budgets],
        }


def diff(a: Report, b: Report, budgets: list[Budget] | None = None) -> Diff:
    """Compare two reports (analysed with the same batch, dtype and optimizer)."""
    return Diff(a, b, tuple(match(a, b)), tuple(budgets or ()))
