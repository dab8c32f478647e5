"""Pictures of a network: one self-contained HTML page, or a static SVG or PNG.

``to_html(net, report)`` writes a page that needs no network access (CSS,
JavaScript and SVG inline; the script and style sheets are package data in
``cnncalc/present/assets``) and shows

* the graph, drawn by a layered layout (:func:`build_graph`): one row per rank
  (longest path from the input), a node's column that of its first input unless
  taken, and every edge that skips rows routed down a lane to the right of the
  rows it passes, so that skip connections and merges stay visible; blocks
  (``node.path``) are boxes that collapse to one node on a click. The layout is
  computed here once, every block open (:func:`lay_out`); a set of collapsed
  blocks only takes strips of it away (:func:`place`), and the page's script does
  that same step from the record :func:`layout_data` puts in the page; a drawing taller
  than its box goes into columns side by side, cut between stages (:func:`wrap`, the
  page's script the same, to its window's width);
* the per-layer table (sortable), the totals and the counting conventions;
* a chart of receptive-field size and effective stride per layer, and each
  layer's share of the parameters and MACs;
* for a chosen output unit, its receptive field drawn on the input grid (the
  union over paths, exact per unit from :meth:`cnncalc.core.rf.AxisField.at`), with the
  units of its other phases outlined where upsampling or a transposed convolution
  gives neighbouring units different fields; for the centre unit, its effective
  receptive field (protocol ``uniform``, :mod:`cnncalc.measure.erf`) as a heat map, the
  outer product of its per-axis marginals (:func:`erf_data`).

Every string the user wrote (names, the spec's title) is escaped: it renders as
text. Computes nothing of its own: figures come from the :class:`Report`, the
per-unit fields from the same walk that :func:`cnncalc.core.shapes.infer_shapes` does.
"""

from __future__ import annotations

import bisect
import html
import io
import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

from cnncalc.analysis.analyze import Report
from cnncalc.core.graph import INPUT, Network
from cnncalc.core.rf import AxisField
from cnncalc.core.shapes import Axes, _axes_after, _global_axes, held_gates
from cnncalc.measure.erf import EffectiveField, effective_fields
from cnncalc.present.render import frac_text, num, shape_text, title, totals_rows

# geometry of the graph drawing, in CSS pixels (the page's script uses the same numbers)
COL_W, NODE_W, NODE_H, GAP, HEAD, FOOT, MARGIN = 200, 176, 46, 22, 18, 6, 16
LABEL_X, LABEL_CLEAR = 6, 8  # a header's label starts this far into its frame, ends this far before an edge
CURVE_MAX = NODE_H + GAP + 2 * HEAD + 2  # an edge spanning at most this height is one curve
NEST = 6  # a frame's margin grows by this much per level of blocks nested inside it
GUTTER = 16  # between the columns of a wrapped drawing (:func:`wrap`); its cross edges run down it
WRAP_WIDTH = 1400  # the width a static picture wraps its columns into (``cnncalc view --width``)
MAX_VISIBLE = 160  # the page starts with blocks collapsed until at most this many boxes show
MAX_TABLE = 4096  # per-axis receptive-field tables longer than this are not embedded
ERF_LEVELS = 1000  # the page's ERF marginals: integers 0..ERF_LEVELS, a share of the axis' peak

FAMILY_COLOURS = {
    "convolution": "#dbe9f6", "dense": "#e6dcf2", "elementwise": "#f2f2f2",
    "merge": "#fde2c8", "normalization": "#dff0d8", "pooling": "#fbf3c4",
    "resampling": "#f9d6e4", "shape": "#e8e8e8", INPUT: "#ffffff",
}


@cache
def asset(name: str) -> str:
    """The text of one of the page's files in ``cnncalc/present/assets`` (package data:
    ``view.js``, ``view.css``, ``graph.css``, ``chart.css``), read once per process."""
    return (resources.files("cnncalc.present") / "assets" / name).read_text(encoding="utf-8")


def esc(text: Any) -> str:
    """HTML/XML text and attribute escaping of anything the user may have written."""
    if type(text) in (int, float):  # nothing to escape in a number
        return str(text)
    text = str(text)
    if not any(c in text for c in "<>&\"'"):
        return text
    return html.escape(text, quote=True)


# -- per-unit receptive fields ----------------------------------------------------


def node_axes(net: Network, local: bool = False) -> dict[str, Axes]:
    """Per node, its :class:`AxisField` per spatial axis (None where it has none), by the
    walk :func:`cnncalc.core.shapes.infer_shapes` does (the same two functions, in order);
    ``local``: the local field's, broadcast gates held constant (``held_gates``)."""
    axes: dict[str, Axes] = {INPUT: [AxisField.input()] * net.ndim}
    for node in net.nodes:
        held = held_gates(node) if local else ()
        axes[node.name] = _global_axes(_axes_after(node, axes, held), net.input_shape[1:])
    return axes


def _axis_table(a: AxisField | None) -> list | None | str:
    """An AxisField as [[period, slope, lo, hi], ...] per component (JSON), 'long' if too big."""
    if a is None:
        return None
    if sum(c.period for c in a.components) > MAX_TABLE:
        return "long"
    return [[c.period, c.slope, list(c.lo), list(c.hi)] for c in a.components]


def _seeing(a: AxisField | None, n: int) -> int:
    """The centre unit of an axis of n units, or the nearest one that sees some input (after
    a transposed convolution whose stride exceeds its kernel, some units see none)."""
    centre = n // 2
    if a is None:
        return centre
    for step in range(n):
        for o in (centre - step, centre + step):
            if 0 <= o < n and a.at(o)[0] is not None:
                return o
    return centre


def _period(a: AxisField) -> int:
    p = 1
    for c in a.components:
        p = p * c.period // math.gcd(p, c.period)
    return p


# -- what a layer is, in the field's shorthand ------------------------------------


def _axes(values: list) -> str:
    """``3x3`` for per-axis values, or ``3`` where every axis has the same one."""
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def shorthand(facts: Any) -> str:
    """What a layer is, as the field writes it: ``conv 3x3 s2 p1, 64``, ``maxpool 3x3 s2``,
    ``dw 5x5`` (a grouped window whose groups are its input channels), ``linear, 1000``.
    Read from the layer's Facts only: its window per axis (kernel, stride, padding,
    dilation, transposed), its weight's shape (groups) and its output's channels."""
    kind = facts.type
    w = facts.params.get("weight")
    groups = 1
    if w is not None and len(w) >= 2 and facts.in_shapes and facts.in_shapes[0] and w[1]:
        c_in = facts.in_shapes[0][0]
        groups = c_in // w[1] if facts.windows and not facts.windows[0].transposed and c_in % w[1] == 0 else 1
    parts = [kind]
    wins = facts.windows
    if wins:
        kernel = "x".join(str(x.kernel) for x in wins)
        parts = ["dw " + kernel] if groups > 1 and groups == facts.in_shapes[0][0] else [kind + " " + kernel]
        strides = [x.stride for x in wins]
        if any(v != 1 for v in strides):
            parts.append("s" + _axes(strides))
        pads = [(x.pad_before, x.pad_after) for x in wins]
        if any(a or b for a, b in pads):
            parts.append("p" + (_axes([a for a, _ in pads]) if all(a == b for a, b in pads)
                                else "x".join(f"{a}/{b}" for a, b in pads)))
        dil = [x.dilation for x in wins]
        if any(v != 1 for v in dil):
            parts.append("d" + _axes(dil))
        if 1 < groups < facts.in_shapes[0][0]:
            parts.append(f"g{groups}")
    text = " ".join(parts)
    if w is not None and len(w) >= 2 and facts.out_shape:  # a convolution's or a linear layer's
        text += f", {facts.out_shape[0]}"
    return text


def layer_details(net: Network, report: Report) -> dict[str, dict[str, Any]]:
    """Per layer, what the page's details panel shows: its shorthand, its window per axis,
    its weight and buffer shapes, every figure of its row of the JSON report (the very
    object ``cnncalc analyze --format json`` writes) and its explain steps."""
    out = {}
    for node, row in zip(net.nodes, report.layers):
        f = node.facts
        wins = [{"size": w.size, "kernel": w.kernel, "stride": w.stride, "padding": [w.pad_before, w.pad_after],
                 "dilation": w.dilation, "out": w.out, "ceil_mode": w.ceil_mode, "transposed": w.transposed,
                 "output_padding": w.output_padding, "padding_mode": w.padding_mode}
                for w in (f.windows or ())]
        out[node.name] = {
            "short": shorthand(f), "windows": wins,
            "weights": {k: list(v) for k, v in f.params.items()},
            "buffers": {k: list(v) for k, v in f.buffers.items()},
            "report": row.to_dict(),
            "steps": [[st.field, st.formula, st.substituted, st.result, st.note] for st in f.steps],
        }
    return out


# -- the graph and its layout -----------------------------------------------------


@dataclass
class Unit:
    """One box of the graph: a node (or the input), at ``row`` (rank) and ``col``."""

    name: str
    type: str
    family: str
    shape: tuple[int, ...]
    params: int
    macs: int
    path: tuple[str, ...]
    row: int = 0
    col: int = 0
    short: str = ""  # the layer in the field's shorthand (:func:`shorthand`)


@dataclass
class Group:
    """A block (structure, block use, named repeat): its members are the nodes whose full
    names start with its name and a dot; ``depth`` is its number of dots."""

    name: str
    type: str
    parent: str | None
    depth: int
    members: list[int] = field(default_factory=list)
    out: str = ""
    height: int = 0  # levels of blocks nested inside it
    params: int = 0
    macs: int = 0

    @property
    def label(self) -> str:
        return self.name.rsplit(".", 1)[-1] if self.parent else self.name


@dataclass
class Edge:
    src: str
    dst: str
    ref: bool  # a shape-only reference (drawn dashed)
    lane: int | None = None  # the column an edge that skips rows runs down


@dataclass
class Graph:
    units: list[Unit]
    edges: list[Edge]
    groups: dict[str, Group]
    index: dict[str, int]

    @property
    def left(self) -> int:
        """x of column 0: room for the frames of the most deeply nested blocks."""
        return MARGIN + 6 + NEST * max([g.height for g in self.groups.values()] + [0])

    @property
    def cols(self) -> int:
        lanes = [e.lane for e in self.edges if e.lane is not None]
        return max([u.col for u in self.units] + lanes) + 1


def _prefixes(name: str) -> tuple[str, ...]:
    """The blocks a node is in, outermost first: the dotted prefixes of its full name
    (``layer1``, ``layer1.bottleneck1``, ...), as ``analyze --depth`` groups rows. Besides
    the structures of ``node.path`` they include named repeats (DenseNet's ``denseblock1``)."""
    parts = name.split(".")
    return tuple(".".join(parts[:k]) for k in range(1, len(parts)))


def build_graph(net: Network, report: Report) -> Graph:
    """The layered layout of the whole network (every block expanded).

    Rank: 1 + the largest rank among a node's inputs and references (input: 0).
    Column: the leftmost of its inputs' columns (a merge comes back to the main line),
    else the next free one to the right in the row.
    An edge spanning more than one row takes the leftmost lane right of every box in
    the rows it spans and of every lane already taken there (shorter edges first), so
    nested skips (U-Net) fan out instead of crossing boxes.
    """
    units = [Unit(INPUT, INPUT, INPUT, net.input_shape, 0, 0, ())]
    for node, row in zip(net.nodes, report.layers):
        units.append(Unit(node.name, node.type, node.facts.family, row.output_shape, row.params,
                          row.macs, _prefixes(node.name), short=shorthand(node.facts)))
    index = {u.name: i for i, u in enumerate(units)}
    taken: dict[int, set[int]] = {0: {0}}
    edges: list[Edge] = []
    for node in net.nodes:
        u = units[index[node.name]]
        preds = list(node.inputs) + list(node.refs)
        u.row = 1 + max(units[index[p]].row for p in preds)
        col = min(units[index[i]].col for i in node.inputs)  # a merge returns leftmost
        used = taken.setdefault(u.row, set())
        while col in used:
            col += 1
        used.add(col)
        u.col = col
        edges += [Edge(i, node.name, False) for i in dict.fromkeys(node.inputs)]
        edges += [Edge(r, node.name, True) for r in dict.fromkeys(node.refs)
                  if r not in node.inputs]
    rows_max: dict[int, int] = {}
    for u in units:
        rows_max[u.row] = max(rows_max.get(u.row, -1), u.col)
    lanes: list[tuple[int, int, int]] = []  # (first row, last row, lane)
    for e in sorted(edges, key=lambda e: units[index[e.dst]].row - units[index[e.src]].row):
        a, b = units[index[e.src]].row, units[index[e.dst]].row
        if b - a < 2:
            continue
        lane = 1 + max(rows_max.get(r, -1) for r in range(a + 1, b))
        lane = max([lane] + [ln + 1 for lo, hi, ln in lanes if lo < b and a < hi])
        e.lane = lane
        lanes.append((a, b, lane))
    groups: dict[str, Group] = {}
    for i, u in enumerate(units):
        for d, g in enumerate(u.path):
            if g not in groups:
                out, kind = net.groups.get(g, ("", "block"))
                groups[g] = Group(g, kind, u.path[d - 1] if d else None, d, out=out)
            grp = groups[g]
            grp.members.append(i)
            grp.params += u.params
            grp.macs += u.macs
    for g in groups.values():
        if g.out not in index or index[g.out] not in g.members:
            g.out = units[g.members[-1]].name
        inner = [units[i].path for i in g.members]
        g.height = max(len(p) for p in inner) - 1 - g.depth
    return Graph(units, edges, groups, index)


def initial_collapsed(graph: Graph, limit: int = MAX_VISIBLE) -> list[str]:
    """The blocks the page starts collapsed, when the whole graph has more than ``limit``
    boxes: every block that repeats the block before it in the same parent (same type,
    same layer types in the same order; the first of each run stays open, so each stage
    shows one block of each kind with its skip), then, while that still leaves too many boxes, every block at depth
    >= d for the largest d that suffices."""
    if len(graph.units) <= limit:
        return []
    chosen: list[str] = []
    last: dict[tuple[str | None, int], tuple] = {}
    for g in graph.groups.values():
        key = (g.parent, g.depth)
        shape = (g.type, tuple(graph.units[i].type for i in g.members))
        if last.get(key) == shape:
            chosen.append(g.name)
        last[key] = shape
    visible = len(_reps(graph, set(chosen)))
    for d in sorted({g.depth for g in graph.groups.values()}, reverse=True):
        if visible <= limit:
            break
        chosen = list(dict.fromkeys(chosen + [g.name for g in graph.groups.values() if g.depth >= d]))
        visible = len(_reps(graph, set(chosen)))
    return chosen


def _rep(graph: Graph, u: Unit, collapsed: set[str]) -> str:
    for g in u.path:
        if g in collapsed:
            return "g:" + g
    return u.name


def _reps(graph: Graph, collapsed: set[str]) -> dict[str, None]:
    return dict.fromkeys(_rep(graph, u, collapsed) for u in graph.units)


@dataclass(frozen=True)
class Slab:
    """One horizontal strip of the drawing with every block open, top to bottom: the gap
    above a row (``gap``), a block's header (``head``), a row's boxes (``box``), a block's
    footer (``foot``), the gap below the last row (``end``). A block has a header strip
    and a footer strip in every row that holds one of its layers: which of them show
    depends on where its first and last shown boxes are (:func:`place`)."""

    kind: str
    row: int  # -1 for the end
    block: str | None  # for a header or a footer
    y: float
    height: float


@dataclass
class Layout:
    """The graph laid out once, every block open: each box's x and the strip of its row,
    each block's header and footer strips, each edge's lane. Any set of collapsed blocks
    is drawn from it by :func:`place`, which only takes strips away and moves what lies
    below up by their heights; the page's script does the same with the same record
    (:func:`layout_data`)."""

    graph: Graph
    slabs: list[Slab]
    units: list[tuple[float, int]]  # per unit: x, index of its row's "box" strip
    proxies: dict[str, tuple[float, int]]  # per block, its collapsed box: x, strip
    head: dict[tuple[str, int], int]  # (block, row) -> index of the header strip
    foot: dict[tuple[str, int], int]  # (block, row) -> index of the footer strip
    pad: dict[str, int]  # per block: its frame's margin around what it holds
    lanes: list[float | None]  # per edge: x of the column whose lane it runs down, or None
    inner_lanes: dict[str, list[int]]  # per block: the edges with a lane between its members
    width: float
    cuts: list[int] = field(default_factory=list)  # gap strips a drawing may wrap at (:func:`wrap`)


@dataclass
class Geometry:
    """Where everything is drawn for one set of collapsed blocks."""

    boxes: dict[str, tuple[float, float]]  # unit or "g:block" -> (x, y) of its top-left
    clusters: dict[str, tuple[float, float, float, float]]  # expanded block -> x0, y0, x1, y1
    paths: list[tuple[Edge, str]]  # visible edges with their SVG path
    width: float
    height: float
    rooms: dict[str, float] = field(default_factory=dict)  # per frame: its header label's room
    pieces: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)
    ends: list[tuple[float, float, float, float, float | None, float]] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)  # y of the gap strips it may wrap at


def _n(v: float) -> str:
    """A coordinate as the page's script prints it (JavaScript's String(number))."""
    return str(int(v)) if v == int(v) else repr(float(v))


def edge_path(x1: float, y1: float, x2: float, y2: float, lane: float | None,
              turn: float | None = None) -> str:
    """From the bottom centre of one box to the top centre of the next: a curve, or
    down a lane (the page's script draws the same). ``turn``: the top of the gap above the
    target's row; when it is the gap right below the source's row (only footers between),
    the edge goes straight down to it, turns inside the gap, and goes straight down
    through the headers above its target, so that it crosses no header's label."""
    if lane is None or y2 - y1 <= CURVE_MAX:
        if turn is not None and 0 <= turn - y1 < NODE_H and turn + GAP <= y2:
            m = turn + GAP / 2
            return (f"M{_n(x1)},{_n(y1)} " + (f"L{_n(x1)},{_n(turn)} " if turn > y1 else "")
                    + f"C{_n(x1)},{_n(m)} {_n(x2)},{_n(m)} {_n(x2)},{_n(turn + GAP)}"
                    + (f" L{_n(x2)},{_n(y2)}" if y2 > turn + GAP else ""))
        d = (y2 - y1) / 2
        return f"M{_n(x1)},{_n(y1)} C{_n(x1)},{_n(y1 + d)} {_n(x2)},{_n(y2 - d)} {_n(x2)},{_n(y2)}"
    return (f"M{_n(x1)},{_n(y1)} C{_n(x1)},{_n(y1 + 14)} {_n(lane)},{_n(y1 + 6)} {_n(lane)},{_n(y1 + 22)} "
            f"L{_n(lane)},{_n(y2 - 22)} C{_n(lane)},{_n(y2 - 6)} {_n(x2)},{_n(y2 - 14)} {_n(x2)},{_n(y2)}")


def lay_out(graph: Graph) -> Layout:
    """The strips of the drawing with every block open, top to bottom per row: the gap
    from the row above (none above the first), a header for each block with a layer in
    the row (outermost first), the row's boxes, a footer for each such block (innermost
    first); a gap below the last row. With every block open a block shows the header of
    its first row and the footer of its last (:func:`place`). A block's collapsed box
    sits in the strip of its first layer's row, in the column of its output, unless a box
    that can show beside it (a layer of another block, another block's collapsed box) is
    there: then in the column of its first layer, which only that layer takes."""
    units, groups = graph.units, graph.groups
    left = graph.left
    holding: dict[int, list[Group]] = {}  # per row, the blocks with a layer in it
    for g in groups.values():
        for r in dict.fromkeys(units[i].row for i in g.members):
            holding.setdefault(r, []).append(g)
    slabs: list[Slab] = []
    head: dict[tuple[str, int], int] = {}
    foot: dict[tuple[str, int], int] = {}
    box_slab: dict[int, int] = {}
    y = MARGIN

    def add(kind: str, row: int, block: str | None, height: float) -> int:
        nonlocal y
        slabs.append(Slab(kind, row, block, y, height))
        y += height
        return len(slabs) - 1

    gap_slab: dict[int, int] = {}
    for r in sorted({u.row for u in units}):
        if slabs:
            gap_slab[r] = add("gap", r, None, GAP)
        for g in sorted(holding.get(r, ()), key=lambda h: h.depth):
            head[g.name, r] = add("head", r, g.name, HEAD)
        box_slab[r] = add("box", r, None, NODE_H)
        for g in sorted(holding.get(r, ()), key=lambda h: -h.depth):
            foot[g.name, r] = add("foot", r, g.name, FOOT)
    add("end", -1, None, GAP)
    lanes = [None if e.lane is None else left + e.lane * COL_W for e in graph.edges]
    inner_lanes = {}
    for g in groups.values():
        members = {units[i].name for i in g.members}
        inner_lanes[g.name] = [i for i, e in enumerate(graph.edges)
                               if e.lane is not None and e.src in members and e.dst in members]
    # where a drawing may wrap into a new column (:func:`wrap`): above a row when every edge
    # that crosses the line leaves one layer and at most one block, a top-level one, has
    # layers both above and below it (its frame goes on in the next column)
    spanned: dict[int, list[Group]] = {}  # r: the line between row r and row r + 1
    for g in groups.values():
        rs = [units[i].row for i in g.members]
        for r in range(min(rs), max(rs)):
            spanned.setdefault(r, []).append(g)
    sources: dict[int, set[str]] = {}
    for e in graph.edges:
        for r in range(units[graph.index[e.src]].row, units[graph.index[e.dst]].row):
            sources.setdefault(r, set()).add(e.src)
    cuts = [gap_slab[r + 1] for r in sorted(sources)
            if r + 1 in gap_slab and len(sources[r]) == 1
            and (r not in spanned or (len(spanned[r]) == 1 and spanned[r][0].depth == 0))]
    cell = {(u.row, u.col): i for i, u in enumerate(units)}
    claimed: dict[tuple[int, int], list[str]] = {}  # collapsed boxes placed in each cell
    proxies = {}
    for g in groups.values():
        first = units[g.members[0]]
        col = units[graph.index[g.out]].col
        here = cell.get((first.row, col))
        if (here is not None and not units[here].name.startswith(g.name + ".")) or any(
                not (h.startswith(g.name + ".") or g.name.startswith(h + "."))
                for h in claimed.get((first.row, col), ())):
            col = first.col  # the output's column holds another box in this row
        claimed.setdefault((first.row, col), []).append(g.name)
        proxies[g.name] = (left + col * COL_W, box_slab[first.row])
    return Layout(
        graph, slabs,
        units=[(left + u.col * COL_W, box_slab[u.row]) for u in units],
        proxies=proxies,
        head=head, foot=foot, pad={g.name: 6 + NEST * g.height for g in groups.values()},
        lanes=lanes, inner_lanes=inner_lanes, width=2 * left + graph.cols * COL_W, cuts=cuts)


def place(layout: Layout, collapsed: set[str]) -> Geometry:
    """The drawing for one set of collapsed blocks, from the drawing with every block open.

    A unit inside a collapsed block shows as that block's box (the outermost collapsed
    one); a block is framed when neither it nor an enclosing block is collapsed. A row's
    strips (its gap and its boxes) stay when some box shows in it; a framed block keeps
    the header of the row of its first shown box and the footer of the row of its last;
    every other strip is taken away and what lies below moves up by its height. Edges
    join the boxes that show their ends (one edge per pair of boxes and kind); a frame
    spans, across, the boxes that show its members and the lanes between them.
    """
    graph, slabs = layout.graph, layout.slabs
    units, groups = graph.units, graph.groups
    framed = [name for name in groups
              if name not in collapsed and not any(p in collapsed for p in _prefixes(name))]
    rep = [_rep(graph, u, collapsed) for u in units]
    at: dict[str, tuple[float, int]] = {}
    for i, r in enumerate(rep):
        if r not in at:
            at[r] = layout.units[i] if r == units[i].name else layout.proxies[r[2:]]
    shown_rows = {slabs[s].row for _, s in at.values()}
    keep = {i for i, s in enumerate(slabs)
            if s.kind == "end" or (s.kind in ("gap", "box") and s.row in shown_rows)}
    ends: dict[str, tuple[int, int]] = {}
    for name in framed:
        rows = [slabs[at[rep[i]][1]].row for i in groups[name].members]
        ends[name] = (min(rows), max(rows))
        keep |= {layout.head[name, min(rows)], layout.foot[name, max(rows)]}
    top: list[float] = []  # per strip, its y once the strips above it that go are gone
    removed = 0.0
    for i, s in enumerate(slabs):
        top.append(s.y - removed)
        if i not in keep:
            removed += s.height
    boxes = {k: (x, top[s]) for k, (x, s) in at.items()}
    where = {u.name: r for u, r in zip(units, rep)}
    visible: list[int] = []
    seen: set[tuple[str, str, bool]] = set()
    for i, e in enumerate(graph.edges):
        key = (where[e.src], where[e.dst], e.ref)
        if key[0] != key[1] and key not in seen:
            seen.add(key)
            visible.append(i)
    shown = set(visible)
    clusters = {}
    rooms = {}
    for name in framed:
        xs = [boxes[rep[i]][0] for i in groups[name].members]
        first, last = ends[name]
        head_row = [x for x, s in (at[rep[i]] for i in groups[name].members) if slabs[s].row == first]
        xs += [layout.lanes[i] for i in layout.inner_lanes[name] if i in shown]
        pad = layout.pad[name]
        clusters[name] = (min(xs) - pad, top[layout.head[name, first]],
                          max(xs) + NODE_W + pad, top[layout.foot[name, last]] + FOOT)
        # the header's label ends before the edges that enter the frame's first row (at
        # its boxes' top centres, the leftmost first): no edge crosses it
        rooms[name] = min(head_row) + NODE_W / 2 - LABEL_CLEAR - (min(xs) - pad + LABEL_X)
    paths, ends_at = [], []
    gap_of = {s.row: i for i, s in enumerate(slabs) if s.kind == "gap"}
    for i in visible:
        e = graph.edges[i]
        (x1, y1), (x2, y2) = boxes[where[e.src]], boxes[where[e.dst]]
        lane = layout.lanes[i]
        ends_at.append((x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2,
                        None if lane is None else lane + NODE_W / 2,
                        top[gap_of[slabs[at[where[e.dst]][1]].row]]))
        paths.append((e, edge_path(*ends_at[-1])))
    end = slabs[-1]
    return Geometry(boxes, clusters, paths, layout.width, end.y + end.height - removed + MARGIN,
                    rooms, {}, ends_at, [top[i] for i in layout.cuts if i in keep])


def _columns(tops: list[float], bottoms: list[float], limit: float) -> list[int]:
    """The first segment of each column when segments (content from ``tops[s]`` to
    ``bottoms[s]``, in order) fill columns greedily up to ``limit`` pixels each."""
    starts = [0]
    for s in range(1, len(tops)):
        if bottoms[s] - tops[starts[-1]] > limit:
            starts.append(s)
    return starts


def wrap(geo: Geometry, width: float, height: float | None = None) -> Geometry:
    """The drawing in columns side by side, as many as ``width`` pixels hold, cut only at
    ``geo.cuts`` (lines no block spans and one layer's edges cross: between the stages),
    when it is taller than ``height`` (the page: its graph's box; a static picture: its
    width; None: always).

    For k = 1, 2, ... columns: the smallest column height that a greedy fill of the
    segments between cuts meets with k columns (integer bisection), each column as wide
    as what it holds (boxes, frames, lanes), packed left to right ``GUTTER`` apart (half a
    gutter at either side); the k that fits ``width`` with the shortest columns is drawn (one column:
    the drawing unchanged). An edge from one column to a later one leaves its source
    downwards, runs below its column to the gutter on its right, up the gutter to
    ``MARGIN / 2`` above every column, across, and down into its target (down its lane
    where it has one)."""
    if not geo.cuts or not width or (height and geo.height <= height):
        return geo
    cuts = sorted(geo.cuts)
    tops = [MARGIN] + [c + GAP for c in cuts]
    bottoms = cuts + [geo.height - MARGIN - GAP]
    seg = lambda y: bisect.bisect_right(cuts, y)  # noqa: E731
    lo_x = [math.inf] * len(tops)
    hi_x = [-math.inf] * len(tops)

    def widen(s: int, a: float, b: float) -> None:
        lo_x[s], hi_x[s] = min(lo_x[s], a), max(hi_x[s], b)

    for x, y in geo.boxes.values():
        widen(seg(y), x, x + NODE_W)
    for x0, y0, x1, y1 in geo.clusters.values():
        for s in range(seg(y0), seg(y1 - 1) + 1):
            widen(s, x0, x1)
    for _, y1, _, y2, lane, _ in geo.ends:
        for s in range(seg(y1 - NODE_H), seg(y2) + 1) if lane is not None else ():
            widen(s, lane, lane)

    def packed(starts: list[int]) -> tuple[list[float], float]:
        shifts, cursor = [], GUTTER / 2
        for j, a in enumerate(starts):
            b = starts[j + 1] if j + 1 < len(starts) else len(tops)
            left, right = min(lo_x[a:b]), max(hi_x[a:b])
            shifts.append(cursor - left)
            cursor += right - left + GUTTER
        return shifts, cursor - GUTTER / 2

    best = None
    tallest = max(b - t for t, b in zip(tops, bottoms))
    k = 1
    while k <= len(tops):
        lo, hi = int(tallest), int(math.ceil(bottoms[-1] - tops[0]))
        while lo < hi:  # the smallest height whose greedy fill needs at most k columns
            mid = (lo + hi) // 2
            if len(_columns(tops, bottoms, mid)) <= k:
                hi = mid
            else:
                lo = mid + 1
        starts = _columns(tops, bottoms, lo)
        shifts, total = packed(starts)
        if len(starts) < k or (k > 1 and total > width):
            break
        best = (starts, shifts, total)
        k += 1
    if best is None or len(best[0]) == 1:
        return geo
    starts, shifts, total = best
    col_of = [0] * len(tops)
    for j, a in enumerate(starts):
        for s in range(a, len(tops)):
            col_of[s] = j
    dx = [shifts[col_of[s]] for s in range(len(tops))]
    dy = [MARGIN - tops[starts[col_of[s]]] for s in range(len(tops))]
    right = [max(hi_x[a:(starts[j + 1] if j + 1 < len(starts) else len(tops))]) + shifts[j]
             for j, a in enumerate(starts)]
    bottom = [bottoms[(starts[j + 1] if j + 1 < len(starts) else len(tops)) - 1] + MARGIN - tops[a]
              for j, a in enumerate(starts)]

    def move(x: float, y: float) -> tuple[float, float]:
        s = seg(y)
        return x + dx[s], y + dy[s]

    boxes = {k: move(x, y) for k, (x, y) in geo.boxes.items()}
    clusters, pieces = {}, {}
    for name, (x0, y0, x1, y1) in geo.clusters.items():
        s, t = seg(y0), seg(y1 - 1)
        a, b = col_of[s], col_of[t]
        if a == b:
            clusters[name] = (x0 + dx[s], y0 + dy[s], x1 + dx[s], y1 + dy[s])
            continue
        # a top-level frame cut at a column's end: its first piece (with the header) to the
        # bottom of that column, then one piece per column it goes on in, from its top
        clusters[name] = (x0 + dx[s], y0 + dy[s], x1 + dx[s], bottom[a] + FOOT)
        pieces[name] = [(x0 + shifts[c], MARGIN - FOOT, x1 + shifts[c], bottom[c] + FOOT if c < b else y1 + dy[t])
                        for c in range(a + 1, b + 1)]
    paths, ends_at = [], []
    for (e, _), (x1, y1, x2, y2, lane, turn) in zip(geo.paths, geo.ends):
        a, b = seg(y1 - NODE_H), seg(y2)
        lx = None if lane is None else lane + dx[b]
        (p1, q1), (p2, q2) = (x1 + dx[a], y1 + dy[a]), (x2 + dx[b], y2 + dy[b])
        ends_at.append((p1, q1, p2, q2, lx, turn + dy[b]))
        if col_of[a] == col_of[b]:
            paths.append((e, edge_path(*ends_at[-1][:4], None if lane is None else lane + dx[a], turn + dy[b])))
            continue
        g = right[col_of[a]] + GUTTER / 2
        yb = bottom[col_of[a]] + GAP - 6  # below the output shape written under the last box
        d = (f"M{_n(p1)},{_n(q1)} L{_n(p1)},{_n(yb)} L{_n(g)},{_n(yb)} L{_n(g)},{_n(MARGIN / 2)} ")
        if lx is None or q2 - MARGIN <= CURVE_MAX:
            d += f"L{_n(p2)},{_n(MARGIN / 2)} L{_n(p2)},{_n(q2)}"
        else:
            d += (f"L{_n(lx)},{_n(MARGIN / 2)} L{_n(lx)},{_n(q2 - 22)} "
                  f"C{_n(lx)},{_n(q2 - 6)} {_n(p2)},{_n(q2 - 14)} {_n(p2)},{_n(q2)}")
        paths.append((e, d))
    height = max(bottom) + GAP + MARGIN
    return Geometry(boxes, clusters, paths, total, height, geo.rooms, pieces, ends_at, [])


def geometry(graph: Graph, collapsed: set[str], width: float | None = None) -> Geometry:
    """Where everything is drawn with the blocks ``collapsed`` (:func:`place` of
    :func:`lay_out`), wrapped into ``width`` pixels when taller than wide (:func:`wrap`;
    None: one column)."""
    return wrap(place(lay_out(graph), collapsed), width or 0, width)


HEAD_CHAR = 7.0  # a static picture's header label: a character's width at most, in pixels (measured: under 6.8)


def head_label(text: str, room: float) -> str:
    """A block header's label cut, with an ellipsis, to ``room`` pixels in a static picture
    (no measuring there: at most room / HEAD_CHAR characters; the page measures)."""
    n = max(1, int(room // HEAD_CHAR))
    return text if len(text) <= n else text[: n - 1] + "…"


def _clip(text: str, limit: int = 27) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _local(u: Unit) -> str:
    """A node's name inside its innermost block (the block's frame says the rest)."""
    if u.path and u.name.startswith(u.path[-1] + "."):
        return u.name[len(u.path[-1]) + 1:]
    return u.name


def _box_svg(key: str, x: float, y: float, name: str, line2: str, line3: str, tip: str,
             fill: str, cls: str, attrs: str, shape: str, hidden: bool = False,
             focus: bool = False) -> str:
    """One box: name, shorthand, parameters; its output shape below it, beside the edges
    that leave it. ``focus``: the page's boxes are focusable buttons with a label."""
    style = ' style="display:none"' if hidden else ""
    label = f' tabindex="0" role="button" aria-label="{esc(tip.replace(chr(10), "; "))}"' if focus else ""
    return (f'<g class="{cls}" {attrs} transform="translate({x:g},{y:g})"{style}{label}>'
            f"<title>{esc(tip)}</title>"
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="5" fill="{fill}"/>'
            f'<text x="8" y="14" class="nm" data-full="{esc(name)}">{esc(_clip(name))}</text>'
            f'<text x="8" y="28" class="sh" data-full="{esc(line2)}">{esc(_clip(line2, 30))}</text>'
            f'<text x="8" y="41" class="num">{esc(line3)}</text>'
            f'<text x="{NODE_W / 2 + 5:g}" y="{NODE_H + 11}" class="es">{esc(shape)}</text></g>')


def box_text(graph: Graph, key: str) -> tuple[str, str, str, str]:
    """What a box says, the same in the page, the SVG and the PNG: its name (a layer's
    inside its block, a collapsed block's label), what it is (the shorthand; a block's
    type and size), its parameters, and its output shape (drawn below it)."""
    if key.startswith("g:"):
        g = graph.groups[key[2:]]
        out = graph.units[graph.index[g.out]]
        return g.label, f"{g.type} · {len(g.members)} layers", f"{num(g.params)} params", shape_text(out.shape)
    u = graph.units[graph.index[key]]
    if u.name == INPUT:
        return u.name, "network input", "", shape_text(u.shape)
    return _local(u), u.short, f"{num(u.params)} params", shape_text(u.shape)


def _unit_tip(u: Unit, inputs: list[str]) -> str:
    tip = f"{u.name} ({u.type})\n{u.short}\noutput {shape_text(u.shape)}\nparams {num(u.params)}\nMACs {num(u.macs)}"
    if inputs:
        tip += "\ninputs: " + ", ".join(inputs)
    return tip


def graph_svg(layout: Layout, collapsed: set[str], full: bool = False,
              inputs: dict[str, list[str]] | None = None, width: float | None = None) -> str:
    """The graph as one SVG element, in columns that fit ``width`` (:func:`wrap`). ``full``:
    every node and every block's collapsed box is emitted (for the page's script, which
    shows the ones the current state needs, wrapped to the window)."""
    graph = layout.graph
    geo = wrap(place(layout, collapsed), width or 0, width)
    inputs = inputs or {}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{geo.width:g}" '
           f'height="{geo.height:g}" viewBox="0 0 {geo.width:g} {geo.height:g}">',
           "<style>" + asset("graph.css") + "</style>",
           '<defs><marker id="arr" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#667"/></marker></defs>',
           '<g class="clusters">']
    groups = graph.groups
    heads: list[str] = []  # block headers, drawn above the edges
    for name, g in groups.items():
        box = geo.clusters.get(name)
        if box is None and not full:
            continue
        x0, y0, x1, y1 = box or (0, 0, 0, 0)
        hide = "" if box else ' style="display:none"'
        out.append(f'<rect class="cluster" data-group="{esc(name)}" x="{x0:g}" y="{y0:g}" '
                   f'width="{x1 - x0:g}" height="{y1 - y0:g}" rx="8"{hide}/>')
        label = f"{'▾ ' if full else ''}{g.label} · {g.type} · {num(g.params)} params"
        shown = label if full else head_label(label, geo.rooms.get(name, 0))
        heads.append(f'<text x="{x0 + LABEL_X:g}" y="{y0 + 13:g}" class="hd" data-group="{esc(name)}"{hide}'
                     + (' tabindex="0" role="button" aria-label="collapse ' + esc(name) + '"' if full else "")
                     + f"><title>{esc(name)}: {esc(label.lstrip('▾ '))}" + (": click to collapse" if full else "")
                     + f'</title><tspan data-full="{esc(label)}">{esc(shown)}</tspan></text>')
    out.append('<g class="pieces">' + "".join(
        f'<rect class="piece" data-group="{esc(name)}" x="{x0:g}" y="{y0:g}" width="{x1 - x0:g}" '
        f'height="{y1 - y0:g}" rx="8"/>' for name, rects in geo.pieces.items() for x0, y0, x1, y1 in rects)
        + '</g></g><g class="edges">')
    drawn = {id(e): d for e, d in geo.paths}
    for i, e in enumerate(graph.edges):
        d = drawn.get(id(e))
        if d is None and not full:
            continue
        cls = "edge ref" if e.ref else "edge"
        out.append(f'<path class="{cls}" data-i="{i}" data-src="{esc(e.src)}" data-dst="{esc(e.dst)}" '
                   f'd="{d or "M0,0"}" marker-end="url(#arr)"' + ("" if d else ' style="display:none"')
                   + "/>")
    out.append('</g><g class="heads">' + "".join(heads) + '</g><g class="units">')
    for u in graph.units:
        at = geo.boxes.get(u.name)
        if at is None and not full:
            continue
        merge = " merge" if len(inputs.get(u.name, ())) > 1 else ""
        name, what, line3, shape = box_text(graph, u.name)
        out.append(_box_svg(u.name, *(at or (0, 0)), name, what, line3,
                            _unit_tip(u, inputs.get(u.name, [])),
                            FAMILY_COLOURS.get(u.family, "#eeeeee"), "node" + merge,
                            f'data-name="{esc(u.name)}"', shape, hidden=at is None, focus=full))
    for name, g in groups.items():
        at = geo.boxes.get("g:" + name)
        if at is None and not full:
            continue
        label, what, line3, shape = box_text(graph, "g:" + name)
        out.append(_box_svg("g:" + name, *(at or (0, 0)), ("▸ " if full else "") + label, what, line3,
                            f"{name} ({g.type}): {len(g.members)} layers\noutput "
                            f"{shape} from {g.out}\nparams {num(g.params)}\n"
                            f"MACs {num(g.macs)}", "#ffffff", "proxy",
                            f'data-group="{esc(name)}"', shape, hidden=at is None, focus=full))
    out.append("</g></svg>")
    return "".join(out)


# -- the receptive-field chart --------------------------------------------------


def _log2(v: Fraction | int) -> float:
    return math.log2(float(v))


def _round_step(peak: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving 2 to 5 ticks up to ``peak``."""
    base = 10 ** math.floor(math.log10(peak / 2)) if peak > 0 else 1
    for m in (1, 2, 5, 10):
        if peak / (m * base) <= 5:
            return m * base
    return 10 * base


def rf_chart_svg(report: Report) -> str:
    """Receptive-field size and effective stride per layer (log 2 scale, per axis where
    axes differ), and each layer's share of the parameters and of the MACs, as one SVG.
    Each layer is a column (hover: its figures; the page: click selects it)."""
    rows = report.layers
    n = len(rows)
    dx = max(3.0, min(120.0, 1100 / max(n, 1)), 420 / max(n, 1))  # at least 420 px of plot
    left, right, top = 70, 20, 24
    panel_h, gap = 150, 36
    width = left + n * dx + right
    label_h = 150 if n <= 60 else 30
    panels = ("receptive-field size (input pixels, log scale)", "effective stride (log scale)",
              "share of parameters", "share of MACs")
    height = top + 4 * (panel_h + gap) + label_h
    ndim = len(report.input_shape) - 1
    sizes = [v for r in rows if r.receptive_field for v in r.receptive_field.size if v]
    strides = [v for r in rows if r.receptive_field for v in r.receptive_field.stride if v]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:g}" '
           f'height="{height:g}" viewBox="0 0 {width:g} {height:g}">',
           "<style>" + asset("chart.css") + "</style>"]

    def log_scale(values, panel):
        lo = math.floor(min(map(_log2, values), default=0))
        hi = max(math.ceil(max(map(_log2, values), default=1)), lo + 1)
        y0 = top + panel * (panel_h + gap)
        return lo, hi, (lambda v: y0 + panel_h - (_log2(v) - lo) / (hi - lo) * (panel_h - 14))

    for p, name in enumerate(panels):
        y0 = top + p * (panel_h + gap)
        out.append(f'<text x="{left}" y="{y0 - 8}" class="pt">{esc(name)}</text>'
                   f'<rect x="{left}" y="{y0}" width="{n * dx:g}" height="{panel_h}" class="frame"/>')
    # RF size and stride: one line per axis (solid H or L, dashed W, dotted D)
    dashes = ["", "5,3", "1,3"]
    axis_names = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}[ndim] if 1 <= ndim <= 3 else []
    for panel, values, pick in ((0, sizes, lambda rf: rf.size), (1, strides, lambda rf: rf.stride)):
        lo, hi, ymap = log_scale(values, panel)
        for e in range(lo, hi + 1):
            yy = ymap(2 ** e)
            text = str(2 ** e) if e >= 0 else f"1/{2 ** -e}"
            out.append(f'<line x1="{left}" x2="{left + n * dx:g}" y1="{yy:g}" y2="{yy:g}" class="grid"/>'
                       f'<text x="{left - 6}" y="{yy + 4:g}" class="tick">{text}</text>')
        same = all(r.receptive_field is None or len(set(pick(r.receptive_field))) == 1 for r in rows)
        for axis in range(1 if same else ndim):
            pts: list[str] = []
            segments = []
            for i, r in enumerate(rows):
                v = None if r.receptive_field is None else pick(r.receptive_field)[axis]
                if v:
                    pts.append(f"{left + (i + 0.5) * dx:g},{ymap(v):g}")
                elif pts:
                    segments.append(pts)
                    pts = []
            if pts:
                segments.append(pts)
            for seg in segments:
                out.append(f'<polyline points="{" ".join(seg)}" class="line l{panel}" '
                           f'stroke-dasharray="{dashes[axis % 3]}"/>')
            if not same:
                out.append(f'<text x="{left + n * dx - 4:g}" y="{top + panel * (panel_h + gap) + 12 + 12 * axis}" '
                           f'class="tick" stroke-dasharray="{dashes[axis % 3]}">axis {axis_names[axis]}'
                           f"{' ' + ('solid', 'dashed', 'dotted')[axis % 3]}</text>")
        y0 = top + panel * (panel_h + gap)
        for i, r in enumerate(rows):  # a global field: a mark along the panel's top
            if r.receptive_field is None or any(v is None for v in pick(r.receptive_field)):
                out.append(f'<rect x="{left + i * dx:g}" y="{y0 + 1}" width="{max(dx - 1, 1):g}" '
                           f'height="5" class="glob"/>')
        out.append(f'<text x="{left + n * dx:g}" y="{y0 - 8}" class="tick">grey band on top: global field '
                   "or no spatial axes</text>")
    tot_p, tot_m = report.totals.params or 1, report.totals.macs or 1
    for panel, total, pick in ((2, tot_p, lambda r: r.params), (3, tot_m, lambda r: r.macs)):
        y0 = top + panel * (panel_h + gap)
        peak = max((pick(r) / total for r in rows), default=0) or 1
        step = _round_step(100 * peak)
        for k in range(1, int(100 * peak / step + 1e-9) + 1):
            yy = y0 + panel_h - (k * step / 100) / peak * (panel_h - 14)
            out.append(f'<line x1="{left}" x2="{left + n * dx:g}" y1="{yy:g}" y2="{yy:g}" class="grid"/>'
                       f'<text x="{left - 6}" y="{yy + 4:g}" class="tick">{k * step:g}%</text>')
        for i, r in enumerate(rows):
            share = pick(r) / total
            if share:
                h = share / peak * (panel_h - 14)
                out.append(f'<rect x="{left + i * dx:g}" y="{y0 + panel_h - h:g}" '
                           f'width="{max(dx - 1, 1):g}" height="{h:g}" class="bar b{panel}"/>')
    bottom = top + 4 * (panel_h + gap) - gap
    for i, r in enumerate(rows):
        rf = r.receptive_field
        tip = (f"{r.name} ({r.type})\nRF size "
               + ("global" if rf is None else " x ".join('-' if v is None else str(v) for v in rf.size))
               + ", effective stride "
               + ("-" if rf is None else " x ".join(frac_text(v) for v in rf.stride))
               + f"\nparams {num(r.params)} ({100 * r.params / tot_p:.2f}%)"
               + f"\nMACs {num(r.macs)} ({100 * r.macs / tot_m:.2f}%)")
        out.append(f'<rect x="{left + i * dx:g}" y="{top}" width="{dx:g}" height="{bottom - top}" '
                   f'class="hit" data-name="{esc(r.name)}"><title>{esc(tip)}</title></rect>')
        if n <= 60:
            xx = left + (i + 0.5) * dx
            out.append(f'<text transform="translate({xx:g},{bottom + 8}) rotate(60)" '
                       f'class="tick l">{esc(_clip(r.name, 24))}</text>')
        elif i % 50 == 0:
            out.append(f'<text x="{left + (i + 0.5) * dx:g}" y="{bottom + 16}" class="tick m">{i + 1}</text>')
    if n > 60:
        out.append(f'<text x="{left}" y="{bottom + 30}" class="tick l">layer number (hover a column '
                   "for its name and figures)</text>")
    out.append("</svg>")
    return "".join(out)


# -- the page ---------------------------------------------------------------------


CONVENTIONS = (
    "Shapes are per sample, channels first. Params count learnable elements (trainable "
    "and frozen); MACs are the multiply-accumulates of convolutional and fully connected layers "
    "(torchvision's \"GFLOPS\"), for the whole batch; FLOPs count every multiplication and "
    "addition apart; activations are the bytes of every layer's output at the report's dtype "
    "(docs/conventions.md). Receptive fields are in input pixels, unclipped at the border "
    "(padding positions count), the union over every path; size is the largest extent over "
    "the output's units, effective stride the distance between neighbouring units' centres, "
    "centre that of unit 0 (docs/receptive-field.md)."
)


def _json_script(data: Any, ident: str) -> str:
    text = json.dumps(data, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return f'<script type="application/json" id="{ident}">{text}</script>'


def layout_data(layout: Layout) -> dict[str, Any]:
    """The layout as the page's script reads it (JSON): the strips ``[kind, row, y,
    height]``; per unit ``[name, x, strip, blocks it is in]``; per block, in order, its
    collapsed box ``[x, strip]``, enclosing blocks, members (unit indices), frame margin,
    its header and footer strip per row, and the edges with a lane between its members;
    per edge ``[source, target, shape only, x of its lane's column or null]``."""
    graph = layout.graph
    heads: dict[str, dict[int, int]] = {name: {} for name in graph.groups}
    feet: dict[str, dict[int, int]] = {name: {} for name in graph.groups}
    for (name, r), i in layout.head.items():
        heads[name][r] = i
    for (name, r), i in layout.foot.items():
        feet[name][r] = i
    blocks = [[name, {"box": list(layout.proxies[name]), "outer": list(_prefixes(name)),
                      "members": g.members, "margin": layout.pad[name], "head": heads[name],
                      "foot": feet[name], "lanes": layout.inner_lanes[name]}]
              for name, g in graph.groups.items()]
    return {
        "slabs": [[s.kind, s.row, s.y, s.height] for s in layout.slabs],
        "units": [[u.name, x, s, list(u.path)] for u, (x, s) in zip(graph.units, layout.units)],
        "blocks": blocks,
        "edges": [[e.src, e.dst, e.ref, lane] for e, lane in zip(graph.edges, layout.lanes)],
        "width": layout.width, "nodeW": NODE_W, "nodeH": NODE_H, "foot": FOOT, "margin": MARGIN,
        "curveMax": CURVE_MAX, "cuts": layout.cuts, "gap": GAP, "gutter": GUTTER,
        "labelX": LABEL_X, "labelClear": LABEL_CLEAR,
    }


def erf_marginal(p: Any) -> list:
    """One axis' ERF distribution ``p`` (a NumPy vector summing to 1) as the page carries it:
    ``[start, levels]``, where ``levels[i]`` is round(ERF_LEVELS * p[start + i] / max(p)) and
    the positions outside ``levels`` round to 0 (the run from the first to the last
    position whose level is not 0)."""
    peak = float(p.max())
    q = [round(ERF_LEVELS * float(v) / peak) for v in p]
    nz = [i for i, v in enumerate(q) if v]
    return [nz[0], q[nz[0]:nz[-1] + 1]]


def erf_data(net: Network) -> dict[str, Any]:
    """Per layer with a finite spatial field (:func:`cnncalc.measure.erf.candidates`), the
    effective receptive field of its centre unit under protocol ``uniform``
    (:func:`cnncalc.measure.erf.effective_fields`, one batched backward walk): ``unit``
    (floor((n - 1) / 2) per axis), ``marginals`` (per spatial axis, :func:`erf_marginal`)
    and the JSON report's figures (``mean``, ``std``, ``width95``, ``ratio``); or
    ``{"refused": reason}`` where the protocol does not linearise a layer on the way. The
    page draws the outer product of the marginals: the map itself (per unit, per layer)
    would be far too large to carry."""
    out: dict[str, Any] = {}
    for name, e in effective_fields(net).items():
        if isinstance(e, EffectiveField):
            out[name] = {"unit": list(e.unit), "marginals": [erf_marginal(p) for p in e.marginals],
                         **e.to_dict()}
        else:
            out[name] = {"refused": e}
    return out


def page_data(net: Network, report: Report, layout: Layout, collapsed: list[str],
              erf: bool = True) -> dict[str, Any]:
    """What the page's script needs: the layout, the per-unit field tables, the input grid,
    one unit's field computed here (the script checks its own evaluation against it), and
    with ``erf`` the centre units' effective receptive fields (:func:`erf_data`; without it
    ``erf`` is null and the page says the ERF was left out)."""
    axes = node_axes(net)
    local = node_axes(net, local=True)
    shown_local = []  # exact field global through gates: the local field is drawn (issue 22)
    for name, a in list(axes.items()):
        if a is not None and any(x is None for x in a) and local[name] is not None \
                and all(x is not None for x in local[name]):
            axes[name] = local[name]
            shown_local.append(name)
    fields = {}
    for name, a in axes.items():
        if name != INPUT and a is not None and any(x is not None for x in a):
            fields[name] = [_axis_table(x) for x in a]
    shapes = {u.name: list(u.shape) for u in layout.graph.units}
    default = next((r.name for r in reversed(report.layers) if r.name in fields), None)
    check = None
    if default is not None:
        unit = [_seeing(a, n) for a, n in zip(axes[default], shapes[default][1:])]
        check = {"layer": default, "unit": unit,
                 "extent": [None if a is None else list(a.at(o)) for a, o in zip(axes[default], unit)],
                 "period": [None if a is None else _period(a) for a in axes[default]]}
    return {
        "layout": layout_data(layout),
        "collapsed": collapsed,
        "details": layer_details(net, report),
        "fields": fields,
        "local": shown_local,
        "shapes": shapes,
        "input": list(net.input_shape[1:]),
        "default": check,
        "erf": erf_data(net) if erf else None,
    }


_COLUMNS = [("#", "n"), ("Layer", "s"), ("Type", "s"), ("Inputs", "s"), ("Output shape", "n"),
            ("Params", "n"), ("Params %", "n"), ("MACs", "n"), ("MACs %", "n"), ("FLOPs", "n"),
            ("Activations (B)", "n"), ("RF size", "n"), ("Eff. stride", "n"), ("RF centre", "n")]


def _pct(part: int, total: int) -> tuple[float, str]:
    share = part / total if total else 0.0
    return share, f"{100 * share:.2f}"


def _first(values) -> float:
    """The sort key of a per-axis figure: its first axis that has a value."""
    return next((float(v) for v in values if v is not None), -1e300)


def table_html(report: Report) -> str:
    """The per-layer table: the report's figures, each cell's sort key in ``data-v`` (a
    shape sorts by its number of elements, a centre by its first axis)."""
    out = ['<table id="layers" class="layers"><thead><tr>']
    for i, (name, kind) in enumerate(_COLUMNS):
        out.append(f'<th data-col="{i}" data-kind="{kind}" scope="col" tabindex="0" aria-sort="none">'
                   f"{esc(name)}</th>")
    out.append("</tr></thead><tbody>")
    tp, tm = report.totals.params, report.totals.macs
    for i, r in enumerate(report.layers):
        rf = r.receptive_field
        ps, pt = _pct(r.params, tp)
        ms, mt = _pct(r.macs, tm)
        size_key = -1 if rf is None else max((v or 0) for v in rf.size)
        stride_key = -1 if rf is None else float(max((v or 0) for v in rf.stride))
        cells = [
            (i + 1, str(i + 1)), (r.name, r.name), (r.type, r.type),
            (", ".join(r.inputs), ", ".join(r.inputs)),
            (math.prod(r.output_shape), shape_text(r.output_shape)),
            (r.params, num(r.params)), (ps, pt), (r.macs, num(r.macs)), (ms, mt),
            (r.flops, num(r.flops)), (r.activation_bytes, num(r.activation_bytes)),
            (size_key, "global" if rf is None else " x ".join("-" if v is None else str(v) for v in rf.size)),
            (stride_key, "-" if rf is None else " x ".join(frac_text(v) for v in rf.stride)),
            (-1e300 if rf is None else _first(rf.center),
             "-" if rf is None else " x ".join(frac_text(v) for v in rf.center)),
        ]
        flags = []
        if rf is not None and rf.misaligned:
            flags.append("paths misaligned")
        if rf is not None and rf.data_dependent:
            flags.append("data-dependent")
        out.append(f'<tr data-name="{esc(r.name)}" tabindex="0">')
        for j, (key, text) in enumerate(cells):
            bar = ""
            if j in (6, 8):
                bar = f'<span class="bar" style="width:{min(100.0, 100 * key):.1f}%"></span>'
            note = f' <span class="flag">({esc(", ".join(flags))})</span>' if j == 11 and flags else ""
            tip = f' title="{esc(text)}"' if j == 3 else ""
            out.append(f'<td data-v="{esc(key)}"{tip}>{bar}{esc(text)}{note}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def to_html(net: Network, report: Report, what: str = "graph", depth: int | None = None,
            erf: bool = True) -> str:
    """The self-contained page (UTF-8 text): the graph (or, ``what="rf"``, the chart of
    receptive fields and costs in its place) beside the details of the chosen layer and
    its unit's field, then the chart, the table and the totals. ``depth``: the page starts
    with each block named with that many dotted levels collapsed (:func:`collapsed_at`),
    else with repeated blocks collapsed on big nets (:func:`initial_collapsed`). ``erf``:
    carry and draw the centre units' effective receptive fields (:func:`erf_data`)."""
    layout = lay_out(build_graph(net, report))
    collapsed = (initial_collapsed(layout.graph) if depth is None
                 else sorted(collapsed_at(layout.graph, depth)))
    inputs = {r.name: list(r.inputs) for r in report.layers}
    totals = "".join(f'<tr{" class=sub" if k.startswith("  ") else ""}><th scope="row">{esc(k.strip())}</th>'
                     f"<td>{esc(v)}</td></tr>" for k, v in totals_rows(report))
    head = esc(title(report))
    chart = ('<section id="chart-sec"><h2>Receptive fields and costs per layer</h2><div class="scroll">'
             + rf_chart_svg(report) + "</div></section>")
    if what == "rf":
        main = chart
    else:
        main = (
            '<section id="graph-sec" aria-label="graph"><h2>Graph</h2><p class="help">Each box: layer '
            "name, what it is in the field's shorthand, parameters; below it, its output shape. "
            "Click a box (or Tab to it and press Enter) for its details and its field; click a "
            "block's header to collapse it, a collapsed block to open it. Drag to pan, Ctrl+wheel "
            "or + and − to zoom, 0 to fit. Dashed edges pass a shape only.</p>"
            '<div class="tools" role="toolbar" aria-label="graph tools">'
            '<label>find <input id="search" type="search" list="names" placeholder="layer name or type" '
            'aria-label="find a layer by name or type"></label><datalist id="names"></datalist> '
            '<span id="search-msg" role="status"></span> '
            '<label>go to <select id="goto" aria-label="go to a block"><option value="">block…</option>'
            '</select></label> '
            '<button id="zoom-out" aria-label="zoom out">−</button><button id="zoom-in" aria-label="zoom in">+</button>'
            '<button id="fit">fit</button><button id="zoom-1">100%</button> '
            '<button id="expand-all">expand all</button> <button id="collapse-all">collapse all</button></div>'
            '<div class="scroll gr" id="graph" tabindex="0" aria-label="the graph: arrow keys pan, + and − zoom, 0 fits">'
            + graph_svg(layout, set(collapsed), full=True, inputs=inputs) + "</div></section>")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{head}</title><style>{asset('view.css')}{asset('graph.css')}{asset('chart.css')}</style>"
        "</head><body>",
        f'<header><h1>{head}</h1><p class="sub">{len(report.layers)} layers · '
        f"{num(report.totals.params)} params · {num(report.totals.macs)} MACs · drawn by cnncalc</p>"
        '<nav>' + ("" if what == "rf" else '<a href="#graph-sec">graph</a> ') + '<a href="#rf-sec">receptive field of a unit</a> '
        '<a href="#chart-sec">receptive fields and costs per layer</a> <a href="#table-sec">table</a> '
        '<a href="#totals-sec">totals</a></nav></header>',
        '<div class="map"><div class="main">', main, "</div>",
        '<aside class="side" aria-label="the chosen layer">'
        '<section id="details" aria-live="polite"><h2>Layer</h2><p class="help">Click a box, a '
        "row or a column of the chart, or find a layer, to see its details.</p></section>"
        '<section id="rf-sec"><h2>Receptive field of one unit</h2><p class="help">The input '
        "positions that can reach one output unit, through every path, drawn on the input grid "
        "(padding outside the frame counts: fields are unclipped). For the centre unit, the "
        "effective receptive field (protocol uniform) is drawn over it as a heat map: the centre "
        "unit's ERF, marginals multiplied.</p>"
        '<div class="rfctl"><label>layer <select id="rf-layer"></select></label> '
        '<span id="rf-units"></span> <label><input type="checkbox" id="rf-fit"> fit the field</label></div>'
        '<div class="rfbox"><div id="rf-grid"></div><div id="rf-text" aria-live="polite"></div></div></section>'
        '<section id="explain" aria-live="polite"></section></aside></div>',
        "" if what == "rf" else chart,
        '<section id="table-sec"><h2>Layers</h2><p class="help">Click a header to sort (again to '
        'reverse); type to filter. <label>filter <input id="filter" type="search" '
        'placeholder="name or type" aria-label="filter the table by name or type"></label> '
        '<span id="filter-msg" role="status"></span></p>'
        '<div class="scroll tbl">', table_html(report), "</div></section>",
        f'<section id="totals-sec"><h2>Totals</h2><table class="totals">{totals}</table>'
        f'<p class="conventions">{esc(CONVENTIONS)}</p></section>',
        _json_script(page_data(net, report, layout, collapsed, erf), "cnncalc-data"),
        f"<script>{asset('view.js')}</script></body></html>\n",
    ])


def to_svg(net: Network, report: Report, what: str = "graph", depth: int | None = None,
           width: float = WRAP_WIDTH) -> str:
    """A static picture: the graph (blocks named with ``depth`` dotted levels shown as one
    box each, :func:`collapsed_at`), its stages in columns that fit ``width`` pixels
    (:func:`wrap`; 0: one column), or the receptive-field chart."""
    if what == "rf":
        return rf_chart_svg(report) + "\n"
    graph = build_graph(net, report)
    inputs = {r.name: list(r.inputs) for r in report.layers}
    return graph_svg(lay_out(graph), collapsed_at(graph, depth), inputs=inputs, width=width) + "\n"


def drawn_width(net: Network, report: Report, what: str = "graph", depth: int | None = None,
                width: float = WRAP_WIDTH) -> float | None:
    """The width in pixels of :func:`to_svg`'s (and :func:`to_png`'s) picture for the same
    arguments: more than ``width`` when a single column is wider (``cnncalc view`` then says
    so). None for the receptive-field chart, which ``width`` does not wrap."""
    if what == "rf":
        return None
    graph = build_graph(net, report)
    return geometry(graph, collapsed_at(graph, depth), width).width


def collapsed_at(graph: Graph, depth: int | None) -> set[str]:
    """The blocks a static picture shows as one box: those named with ``depth`` dotted
    levels (``layer1`` at 1, ``layer1.bottleneck1`` at 2), so that the boxes are the rows
    of ``cnncalc analyze --depth N``; None: every block open."""
    if depth is None:
        return set()
    return {g.name for g in graph.groups.values() if g.depth >= depth - 1}


def to_png(net: Network, report: Report, what: str = "graph", depth: int | None = None,
           width: float = WRAP_WIDTH) -> bytes:
    """The static picture as PNG, drawn with matplotlib (the optional extra ``png``): the
    same drawing as :func:`to_svg`'s, wrapped into ``width`` pixels.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import FancyBboxPatch, PathPatch, Polygon
    from matplotlib.path import Path as MPath

    buf = io.BytesIO()
    if what == "rf":
        rows = report.layers
        xs = list(range(1, len(rows) + 1))
        fig, axs = plt.subplots(4, 1, figsize=(max(8, min(40, len(rows) / 8)), 10), sharex=True)
        for ax, label, pick in ((axs[0], "RF size (px)", lambda rf: rf.size),
                                (axs[1], "effective stride", lambda rf: rf.stride)):
            ndim = len(report.input_shape) - 1
            same = all(r.receptive_field is None or len(set(pick(r.receptive_field))) == 1
                       for r in rows)
            for axis in range(1 if same else ndim):
                ys = [math.nan if r.receptive_field is None or pick(r.receptive_field)[axis] is None
                      else float(pick(r.receptive_field)[axis]) for r in rows]
                ax.step(xs, ys, where="mid", label="every axis" if same else f"axis {axis}")
            ax.legend(loc="upper left", fontsize=8)
            ax.set_yscale("log", base=2)
            ax.set_ylabel(label)
        for ax, label, pick, total in ((axs[2], "params %", lambda r: r.params, report.totals.params),
                                       (axs[3], "MACs %", lambda r: r.macs, report.totals.macs)):
            ax.bar(xs, [100 * pick(r) / (total or 1) for r in rows], width=0.9)
            ax.set_ylabel(label)
        axs[3].set_xlabel("layer number")
        axs[0].set_title(title(report))
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        return buf.getvalue()
    graph = build_graph(net, report)
    geo = geometry(graph, collapsed_at(graph, depth), width)
    scale = 100
    fig = plt.figure(figsize=(geo.width / scale, geo.height / scale), dpi=scale)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, geo.width)
    ax.set_ylim(geo.height, 0)
    ax.axis("off")
    for x0, y0, x1, y1 in [*geo.clusters.values(), *(r for rs in geo.pieces.values() for r in rs)]:
        ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=8",
                                    fc="#f7f9fc", ec="#9aa7b8", lw=0.8))
    for e, d in geo.paths:
        verts, codes = _svg_path(d)
        ax.add_patch(PathPatch(MPath(verts, codes), fc="none", ec="#667", lw=0.9,
                               ls=(0, (5, 3)) if e.ref else "-"))
        (xa, ya), (xb, yb) = verts[-2], verts[-1]  # the arrowhead, along the last segment
        norm = math.hypot(xb - xa, yb - ya) or 1
        ux, uy = (xb - xa) / norm, (yb - ya) / norm
        ax.add_patch(Polygon([(xb, yb), (xb - 7 * ux - 3.5 * uy, yb - 7 * uy + 3.5 * ux),
                              (xb - 7 * ux + 3.5 * uy, yb - 7 * uy - 3.5 * ux)], closed=True,
                             fc="#667", ec="none"))
    for name, (x0, y0, _, _) in geo.clusters.items():
        g = graph.groups[name]
        ax.text(x0 + LABEL_X, y0 + 13, head_label(f"{g.label} · {g.type} · {num(g.params)} params",
                                                  geo.rooms.get(name, 0)), fontsize=7,
                color="#445", bbox=dict(fc="white", ec="none", pad=0.5))
    inputs = {r.name: r.inputs for r in report.layers}
    for key, (x, y) in geo.boxes.items():
        lines = box_text(graph, key)
        proxy = key.startswith("g:")
        merge = not proxy and len(inputs.get(key, ())) > 1
        fill = "#ffffff" if proxy else FAMILY_COLOURS.get(graph.units[graph.index[key]].family, "#eeeeee")
        ax.add_patch(FancyBboxPatch((x, y), NODE_W, NODE_H, boxstyle="round,pad=0,rounding_size=5",
                                    fc=fill, ec="#c05a00" if merge else "#556",
                                    lw=1.6 if merge or proxy else 0.8, ls=(0, (4, 2)) if proxy else "-"))
        for k, text in enumerate(lines[:3]):
            ax.text(x + 8, y + 14 + 13.5 * k, _clip(text, 30), fontsize=7.5,
                    weight="bold" if k == 0 else "normal", va="baseline",
                    family="monospace" if k == 1 and not proxy else None)
        ax.text(x + NODE_W / 2 + 5, y + NODE_H + 11, lines[3], fontsize=6.5, color="#556", va="baseline")
    fig.savefig(buf, format="png", dpi=scale)
    plt.close(fig)
    return buf.getvalue()


def _svg_path(d: str):
    """Vertices and codes of the M/C/L paths :func:`edge_path` writes (for matplotlib)."""
    from matplotlib.path import Path as MPath

    verts, codes = [], []
    for part in d.replace("M", "|M").replace("C", "|C").replace("L", "|L").split("|"):
        if not part:
            continue
        pts = [tuple(float(v) for v in p.split(",")) for p in part[1:].split()]
        code = {"M": MPath.MOVETO, "L": MPath.LINETO, "C": MPath.CURVE4}[part[0]]
        verts += pts
        codes += [code] * len(pts)
    return verts, codes
