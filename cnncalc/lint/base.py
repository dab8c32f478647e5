"""What a lint rule is made of: the Rule record, the Finding it yields, the Context it reads
and the helpers rules share; running a list of rules (with suppressions) and a finding's text.

Every rule module (cnncalc/lint/rules/ccNNN_*.py) imports this; the engine
(cnncalc/lint/engine.py) picks the rules a configuration enables and runs them here, and
``cnncalc analyze`` runs CC001 alone without loading the engine or the other rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cnncalc.analysis.analyze import Report
from cnncalc.core.errors import Loc, SpecError
from cnncalc.core.graph import Network, Node

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Rule:
    """One lint rule: a stable code, a name, a default severity, why it matters, how to fix,
    and ``check``, which yields the rule's findings in one analysed network."""

    code: str
    name: str
    severity: str
    summary: str
    explanation: str
    fix: str
    check: Callable[[Context], Iterator[Finding]] = field(repr=False, compare=False, default=None)
    default: bool = True  # in the default set; False: opinionated, opt-in (select/extend-select)
    example: str = ""  # a spec fragment that triggers it
    limits: str = ""  # what it does not see, or sees wrongly


@dataclass
class Finding:
    """One finding: the rule's code, the message, the YAML location (and, inside a block, the
    lines where the block is used), the help text, the severity and the spec's file."""

    code: str
    message: str
    loc: Loc | None
    help: str = ""
    severity: str = "warning"
    uses: tuple = ()
    file: str | None = None

    def sort_key(self):
        """Findings sort by file, line, column, code."""
        return (self.file or "", self.loc.line if self.loc else 0, self.loc.column if self.loc else 0,
                self.code)


@dataclass
class Context:
    """What a rule reads: the network (its nodes' facts) and its analysis."""

    net: Network
    report: Report

    def row(self, name: str):
        """The analysis' row of layer ``name``."""
        return self.report.layer(name)

    def consumers(self, name: str) -> list[Node]:
        """The layers that read layer ``name``'s output."""
        return [n for n in self.net.nodes if name in n.inputs]


UNREADABLE = Rule(
    "CC000", "unreadable-spec", "error",
    "A spec (or its configuration) cannot be read: YAML syntax, an unknown layer type or key, "
    "a shape that does not fit.",
    "Nothing else can be checked in a spec that does not load; in CI it must fail the build "
    "with its location rather than vanish from the report.",
    "Fix the error the message names (file, line and column); `cnncalc analyze SPEC` shows the "
    "same message.",
    example="layers: [convv]   # unknown layer type 'convv'",
    limits="Always reported, whatever select or ignore say; the first error of a spec only.")


def unreadable(exc: SpecError, path: Path | str) -> Finding:
    """A spec that cannot be read, as a CC000 finding (line 1, column 1 when the error
    has no location, e.g. a file that cannot be opened)."""
    help = "\n".join([exc.help or "", *(f"note: {n}" for n in exc.notes)]).strip("\n")
    return Finding(UNREADABLE.code, f"error[{exc.kind}]: {exc.message}", exc.loc or Loc(1, 1),
                   help, "error", file=exc.file or str(path))


def windowed(ctx: Context) -> Iterator[tuple[Node, list[tuple[int, int]]]]:
    """The layers that slide a window (convolution, pooling): (node, [(k_eff, stride)] per axis)."""
    for node in ctx.net.nodes:
        windows = node.facts.windows
        if windows and not windows[0].transposed:
            yield node, [(w.keff, w.stride) for w in windows]


def axis_name(axis: int, count: int) -> str:
    """The name of spatial axis ``axis`` of ``count``: L for one axis, H and W for two, D, H and W
    for three (the channel axis is not counted: axis 0 is the first spatial axis)."""
    return ("L" if count == 1 else "HW" if count == 2 else "DHW")[axis]


def finding(node: Node, code: str, message: str, help: str = "") -> Finding:
    """A finding about one layer: the message prefixed with its type and name, at its location."""
    return Finding(code, f"{node.type} '{node.name}': {message}", node.loc, help, uses=node.uses)


def heads(ctx: Context) -> Iterator[tuple[Node, object, Node]]:
    """The last layers with a receptive field before a layer that has none (global pooling,
    flatten, linear over the spatial axes): (node, its receptive field, that consumer)."""
    for node in ctx.net.nodes:
        rf = ctx.row(node.name).receptive_field
        if rf is None or any(v is None for v in rf.size):
            continue
        consumers = ctx.consumers(node.name)
        if consumers and all(ctx.row(c.name).receptive_field is None for c in consumers):
            yield node, rf, consumers[0]



_SUPPRESS = re.compile(r"#\s*cnncalc:\s*ignore(?:\[([A-Z0-9,\s]+)\])?")


def suppressions(text: str) -> dict[int, set[str] | None]:
    """Line -> codes ignored there (None: every code), from '# cnncalc: ignore[...]' comments."""
    found: dict[int, set[str] | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        m = _SUPPRESS.search(line)
        if m:
            found[number] = None if m.group(1) is None else {c.strip() for c in m.group(1).split(",")}
    return found


def run_rules(net: Network, rules: Iterable[Rule], report: Report, severity: dict[str, str] | None = None,
              text: str = "") -> list[Finding]:
    """The findings of ``rules`` in one analysed network, each with its severity (``severity``
    overrides a rule's own, per code) and file, less those a ``# cnncalc: ignore`` comment of
    ``text`` suppresses on their line (or on the line of a use), sorted by place."""
    ctx = Context(net, report)
    skip = suppressions(text)
    severity = severity or {}
    findings = []
    for r in rules:
        for f in r.check(ctx):
            f.severity = severity.get(r.code, r.severity)
            f.file = net.file
            lines = [f.loc.line] if f.loc else []
            lines += [loc.line for _, loc in f.uses]
            if any(line in skip and (skip[line] is None or r.code in skip[line]) for line in lines):
                continue
            findings.append(f)
    return sorted(findings, key=Finding.sort_key)


def _where(f: Finding) -> str:
    where = f.file or "<spec>"
    return where + (f":{f.loc.line}:{f.loc.column}" if f.loc else "")


def to_text(findings: list[Finding]) -> str:
    """One line per finding, FILE:LINE:COL: CODE [severity] message, with help and uses below."""
    out = []
    for f in findings:
        out.append(f"{_where(f)}: {f.code} [{f.severity}] {f.message}")
        if f.help:
            out.append(f"  help: {f.help}")
        for block, loc in reversed(f.uses):
            out.append(f"  note: in block '{block}' used at {f.file}:{loc.line}:{loc.column}")
    return "\n".join(out) + ("\n" if out else "")
