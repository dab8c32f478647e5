"""`cnncalc view`: the page's structure, its numbers against the report, escaping, the layout.

The HTML is parsed with the standard library (html.parser); no browser. The page's
script is exercised by benchmarks/view_screenshots.py in headless Chromium.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

import cnncalc
from cnncalc.measure.erf import candidates, effective_fields
from cnncalc.present.render import num, to_json
from cnncalc.present.view import (
    CURVE_MAX,
    FOOT,
    HEAD,
    HEAD_CHAR,
    LABEL_X,
    MARGIN,
    NODE_H,
    NODE_W,
    WRAP_WIDTH,
    asset,
    build_graph,
    collapsed_at,
    erf_data,
    geometry,
    initial_collapsed,
    lay_out,
    layout_data,
    node_axes,
    place,
    shorthand,
    to_html,
    to_svg,
    wrap,
)
from tests.conftest import SPECS
from tests.test_cli import run

VOID = {"meta", "br", "input", "img", "link", "hr", "col", "source", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag, self.attrs, self.children, self.parts = tag, attrs, [], []

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str, **attrs) -> list[Element]:
        """Descendants by tag; ``class_`` matches one of the classes, other keywords exactly."""
        def fits(e: Element) -> bool:
            for k, v in attrs.items():
                if k == "class_":
                    if v not in (e.attrs.get("class") or "").split():
                        return False
                elif e.attrs.get(k.replace("_", "-")) != v:
                    return False
            return True

        return [e for e in self.iter() if e.tag == tag and fits(e)]


class Tree(HTMLParser):
    """A minimal DOM: elements with attributes, children and text (entities decoded)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        el = Element(tag, dict(attrs))
        self.stack[-1].children.append(el)
        self.stack[-1].parts.append(el)
        if tag not in VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):
        el = Element(tag, dict(attrs))
        self.stack[-1].children.append(el)
        self.stack[-1].parts.append(el)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].parts.append(data)


@functools.cache
def analysed(spec: str):
    """``spec`` (a path under specs/) loaded and analysed, once per session. No test changes
    the net or the report it is given (a test that renames layers builds its own net)."""
    net = cnncalc.load(SPECS / spec)
    return net, cnncalc.analyze(net)


@functools.cache
def drawn(spec: str):
    """:func:`analysed` and drawn as the page, once per session: the page of a large net
    costs seconds (its ERF and layout), and several tests read the same one."""
    net, report = analysed(spec)
    return net, report, to_html(net, report)


@functools.cache
def page(spec: str):
    """:func:`drawn` and the page parsed (read only, as the net and the report)."""
    net, report, text = drawn(spec)
    return net, report, text, Tree(text).root


def data_of(root: Element) -> dict:
    (script,) = root.find_all("script", id="cnncalc-data")
    return json.loads(script.text())


@pytest.mark.parametrize("spec", ["lenet5.yaml", "resnet50.yaml", "unet_original.yaml",
                                  "googlenet.yaml"])
def test_every_node_is_drawn_with_the_report_numbers(spec):
    net, report, _, root = page(spec)
    (graph,) = root.find_all("svg", class_="graph")
    boxes = {g.attrs["data-name"]: g for g in graph.find_all("g", class_="node")}
    assert list(boxes) == ["input"] + [r.name for r in report.layers]
    for row in report.layers:
        texts = boxes[row.name].find_all("text")
        lines = [t.text() for t in texts]
        assert lines[2] == f"{num(row.params)} params"
        node = net.nodes[[n.name for n in net.nodes].index(row.name)]
        assert texts[1].attrs["data-full"] == shorthand(node.facts)
        assert lines[1] == shorthand(node.facts) or lines[1] == shorthand(node.facts)[:29] + "…"
        assert lines[3] == "x".join(map(str, row.output_shape))  # the shape below the box, by its edges
        tip = boxes[row.name].find_all("title")[0].text()
        assert f"MACs {num(row.macs)}" in tip and tip.startswith(f"{row.name} ({row.type})")
        merge = "merge" in boxes[row.name].attrs["class"].split()
        assert merge == (len(row.inputs) > 1)
    # one edge per distinct input and per reference
    edges = {(p.attrs["data-src"], p.attrs["data-dst"]) for p in graph.find_all("path", class_="edge")}
    wanted = {(i, n.name) for n in net.nodes for i in n.inputs} | {(r, n.name) for n in net.nodes for r in n.refs}
    assert edges == wanted
    # a block's collapsed box carries the sum of its layers' parameters
    for proxy in graph.find_all("g", class_="proxy"):
        name = proxy.attrs["data-group"]
        members = [r for r in report.layers if r.name.startswith(name + ".")]
        assert [t.text() for t in proxy.find_all("text")][2] == f"{num(sum(r.params for r in members))} params"


@pytest.mark.parametrize("spec", ["lenet5.yaml", "resnet50.yaml"])
def test_table_and_totals_equal_the_report(spec):
    _, report, _, root = page(spec)
    (table,) = root.find_all("table", id="layers")
    heads = [th.text() for th in table.find_all("th")]
    rows = table.find_all("tbody")[0].find_all("tr")
    assert [tr.attrs["data-name"] for tr in rows] == [r.name for r in report.layers]
    col = {h: i for i, h in enumerate(heads)}
    for tr, row in zip(rows, report.layers):
        cells = tr.find_all("td")
        for head, value in (("Params", row.params), ("MACs", row.macs), ("FLOPs", row.flops),
                            ("Activations (B)", row.activation_bytes)):
            assert int(cells[col[head]].attrs["data-v"]) == value
            assert cells[col[head]].text() == num(value)
        assert cells[col["Output shape"]].text() == "x".join(map(str, row.output_shape))
        rf = row.receptive_field
        size = cells[col["RF size"]].text()
        assert size == ("global" if rf is None else " x ".join(str(v) for v in rf.size)) or \
            size.startswith(" x ".join(str(v) for v in rf.size) + " (")
        assert float(cells[col["Params %"]].attrs["data-v"]) == pytest.approx(row.params / report.totals.params)
    (totals,) = root.find_all("table", class_="totals")
    text = totals.text()
    t = report.totals
    for value in (t.params, t.trainable_params, t.buffers, t.macs, t.flops, t.activation_bytes):
        assert num(value) in text
    assert "docs/conventions.md" in root.find_all("section", id="totals-sec")[0].text()
    # the chart: one column per layer, its tooltip with the layer's figures
    hits = root.find_all("rect", class_="hit")
    assert [h.attrs["data-name"] for h in hits] == [r.name for r in report.layers]
    for hit, row in zip(hits, report.layers):
        tip = hit.find_all("title")[0].text()
        assert f"params {num(row.params)} (" in tip and f"MACs {num(row.macs)} (" in tip


def test_every_zoo_spec_draws():
    """Every spec of the zoo and the exercises: one box per layer (and the input), one table
    row and one chart column per layer, in every picture."""
    specs = sorted(SPECS.glob("*.yaml")) + sorted((SPECS / "exercises").glob("*.yaml"))
    assert len(specs) > 25
    for path in specs:
        net, report, text = drawn(path.relative_to(SPECS).as_posix())
        n = len(report.layers)
        assert len(re.findall(r'<g class="node[ "]', text)) == n + 1, path
        assert text.count("<tr data-name=") == n, path
        assert text.count('class="hit"') == n, path
        assert len(re.findall(r'<g class="node[ "]', to_svg(net, report))) == n + 1, path
        assert to_svg(net, report, "rf").count('class="hit"') == n, path


def test_lenet_figures_from_the_paper():
    _, report, _, root = page("lenet5.yaml")
    boxes = {g.attrs["data-name"]: g for g in root.find_all("g", class_="node")}
    # LeCun et al. 1998, C1: 6 maps, 5x5 kernels on one channel, one bias each
    assert boxes["conv1"].find_all("text")[2].text() == f"{num(6 * (5 * 5 + 1))} params"
    # C3 as a full 16x6 connection (the spec's layout): 16 * (6 * 5 * 5 + 1)
    assert boxes["conv2"].find_all("text")[2].text() == f"{num(16 * (6 * 5 * 5 + 1))} params"
    data = data_of(root)
    # the default unit: the last layer with a field, avgpool2 (16x5x5), its centre unit (2, 2).
    # Its field: 5 + (2-1)*1 + (5-1)*2 + (2-1)*4 = 16 pixels at effective stride 1*2*1*2 = 4,
    # unit 2 starting at 2 * 4 = 8 (no padding anywhere): 8..8+16-1
    assert data["default"] == {"layer": "avgpool2", "unit": [2, 2], "extent": [[8, 23], [8, 23]],
                               "period": [1, 1]}
    assert report.layer("avgpool2").receptive_field.size == (16, 16)


def test_field_tables_are_the_analysis():
    """The tables the page evaluates per unit are the AxisFields of the analysis."""
    net, _, _, root = page("unet_original.yaml")
    data = data_of(root)
    axes = node_axes(net)
    for node in net.nodes:
        a = axes[node.name]
        if a is None or all(x is None for x in a):
            assert node.name not in data["fields"]
            continue
        assert data["fields"][node.name] == [
            None if x is None else [[c.period, c.slope, list(c.lo), list(c.hi)] for c in x.components]
            for x in a]
        # the same walk as the loader's: same figures as the report
        sizes = tuple(None if x is None else x.size(n) for x, n in zip(a, node.facts.out_shape[1:]))
        assert sizes == node.field.size
    d = data["default"]
    assert d["layer"] == "logits"
    # Ronneberger et al. 2015: 388x388 out; four 2x2 stride-2 up-convolutions make the
    # fields repeat every 2**4 = 16 output units
    assert d["unit"] == [388 // 2, 388 // 2] and d["period"] == [2 ** 4, 2 ** 4]
    assert d["extent"] == [list(axes["logits"][k].at(194)) for k in (0, 1)]


def test_first_unit_shown_sees_input():
    """A transposed convolution whose stride (3) exceeds its kernel (2) leaves units that
    read only inserted zeros: the page starts on the nearest unit that sees input."""
    net = cnncalc.loads("input: [1, 6, 6]\nlayers:\n"
                        "  - conv_transpose: {out_channels: 1, kernel_size: 2, stride: 3}\n",
                        "gaps.yaml")
    root = Tree(to_html(net, cnncalc.analyze(net))).root
    d = data_of(root)["default"]
    # (6 - 1)*3 + 2 = 17 units; the centre, 8 = 3*2 + 2, is a gap (8 mod 3 = 2 >= kernel 2);
    # unit 7 = 3*2 + 1 reads input 2 through tap 1
    assert d["unit"] == [7, 7] and d["extent"] == [[2, 2], [2, 2]] and d["period"] == [3, 3]
    assert node_axes(net)[net.nodes[0].name][0].at(8) == (None, None)


HOSTILE = """\
name: "<script>alert('net')</script> & co"
input: [1, 8, 8]
layers:
  - {conv: {out_channels: 2, kernel_size: 3}, name: a}
  - {relu, name: b}
  - {conv: {out_channels: 2, kernel_size: 3}, name: c}
"""


def test_user_strings_are_escaped():
    """The spec's name is free text; layer names are restricted by the loader, but a
    network built through the Python API can name a layer anything: both render as text."""
    net = cnncalc.loads(HOSTILE, "hostile.yaml")
    rename = {"a": "<script>alert(1)</script>", "b": "a\"b'c&d", "c": "</script><b>x"}
    for node in net.nodes:
        node.name = rename[node.name]
        node.inputs = [rename.get(i, i) for i in node.inputs]
    net.outputs = [rename[o] for o in net.outputs]
    report = cnncalc.analyze(net)
    text = to_html(net, report)
    root = Tree(text).root
    # only the page's two scripts; every name is text
    scripts = root.find_all("script")
    assert [s.attrs.get("id") for s in scripts] == ["cnncalc-data", None]
    assert "<script>alert" not in text and "</script><b>" not in text
    assert not root.find_all("b")
    names = list(rename.values())
    assert [r.name for r in report.layers] == names
    boxes = root.find_all("g", class_="node")
    assert [g.attrs["data-name"] for g in boxes] == ["input"] + names
    assert [g.find_all("title")[0].text().split(" (")[0] for g in boxes[1:]] == names
    assert [tr.attrs["data-name"] for tr in root.find_all("tr") if "data-name" in tr.attrs] == names
    assert root.find_all("title")[0].text().startswith("<script>alert('net')</script> & co")
    # the JSON carries the names exactly, with no '<' that could end its script element
    assert "<" not in scripts[0].text()
    assert [u[0] for u in data_of(root)["layout"]["units"]] == ["input"] + names
    assert list(data_of(root)["fields"]) == names
    svg = to_svg(net, report)
    assert "<script>alert" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "<script>" not in to_svg(net, report, "rf")


def test_self_contained():
    _, _, text, root = page("resnet50.yaml")
    assert not root.find_all("link") and not root.find_all("img") and not root.find_all("iframe")
    assert all("src" not in e.attrs for e in root.iter())
    assert all((e.attrs.get("href") or "#").startswith("#") for e in root.iter())
    # the only URL is SVG's namespace name, which is never fetched
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) == {"http://www.w3.org/2000/svg"}


@pytest.mark.parametrize("spec", ["resnet152.yaml", "densenet121.yaml", "googlenet.yaml",
                                  "unet_original.yaml", "multitask.yaml"])
def test_layout_keeps_boxes_and_lanes_apart(spec):
    net = cnncalc.load(SPECS / spec)
    graph = build_graph(net, cnncalc.analyze(net))
    cells = [(u.row, u.col) for u in graph.units]
    assert len(set(cells)) == len(cells)  # no two boxes in one place
    at = {u.name: u for u in graph.units}
    for e in graph.edges:
        a, b = at[e.src].row, at[e.dst].row
        assert a < b  # edges point down
        if b - a >= 2:  # a lane runs right of every box in the rows it passes
            assert e.lane is not None
            assert all(u.col < e.lane for u in graph.units if a < u.row < b)
    runs = sorted((at[e.src].row, at[e.dst].row, e.lane) for e in graph.edges if e.lane is not None)
    for i, (a1, b1, l1) in enumerate(runs):  # lanes that share rows are apart
        assert all(l1 != l2 for a2, b2, l2 in runs[i + 1:] if a2 < b1 and a1 < b2)
    assert graph.cols <= 8  # readable: not one column per skip
    geo = geometry(graph, set(initial_collapsed(graph)))
    assert len(geo.boxes) <= 160


def test_big_networks_start_with_repeated_blocks_collapsed():
    net = cnncalc.load(SPECS / "resnet152.yaml")
    graph = build_graph(net, cnncalc.analyze(net))
    collapsed = initial_collapsed(graph)
    # He et al. 2016, Table 1: 3, 8, 36, 3 bottlenecks; the first two of each stage (with
    # and without the projection shortcut) stay open
    assert len(collapsed) == (3 - 2) + (8 - 2) + (36 - 2) + (3 - 2)
    assert not any(name.endswith(("bottleneck1", "bottleneck2")) for name in collapsed)


def test_view_command(capsys, tmp_path):
    out = tmp_path / "net.html"
    code, _, err = run(capsys, "view", SPECS / "lenet5.yaml", "-o", out)
    assert code == 0, err
    net = cnncalc.load(SPECS / "lenet5.yaml")
    assert out.read_text(encoding="utf-8") == to_html(net, cnncalc.analyze(net))
    code, html_out, _ = run(capsys, "analyze", SPECS / "lenet5.yaml", "--format", "html")
    assert code == 0 and html_out == out.read_text(encoding="utf-8")
    code, svg, _ = run(capsys, "view", SPECS / "lenet5.yaml", "-f", "svg")
    assert code == 0 and svg.startswith("<svg") and svg.count('class="node') == 1 + 12
    code, chart, _ = run(capsys, "view", SPECS / "lenet5.yaml", "-f", "svg", "--what", "rf")
    assert code == 0 and chart.count('class="hit"') == 12
    svg_file = tmp_path / "net.svg"
    code, _, _ = run(capsys, "view", SPECS / "resnet50.yaml", "-o", svg_file, "--depth", "2")
    assert code == 0
    text = svg_file.read_text(encoding="utf-8")
    # depth 2: each of the 4 stages shows its 3, 4, 6, 3 bottlenecks as single boxes
    assert text.count('class="proxy"') == 3 + 4 + 6 + 3
    # depth 1: the boxes are the rows of `analyze --depth 1`
    code, _, _ = run(capsys, "view", SPECS / "resnet50.yaml", "-o", svg_file, "--depth", "1")
    report = cnncalc.analyze(cnncalc.load(SPECS / "resnet50.yaml"))
    text = svg_file.read_text(encoding="utf-8")
    shown = re.findall(r'class="(?:node|node merge)" data-name="([^"]+)"|class="proxy" data-group="([^"]+)"', text)
    assert [a or b for a, b in shown if (a or b) != "input"] != []
    assert sorted(a or b for a, b in shown if (a or b) != "input") == sorted(r.name for r in report.grouped(1))
    # --width: the columns a static picture wraps into (0: one column, as the layout is)
    graph = build_graph(cnncalc.load(SPECS / "resnet50.yaml"), report)
    sizes = set()
    for width in (0, 900, 1400):
        code, _, _ = run(capsys, "view", SPECS / "resnet50.yaml", "-o", svg_file, "--depth", "2",
                         "--width", str(width))
        geo = geometry(graph, collapsed_at(graph, 2), width)
        assert code == 0 and f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{geo.width:g}" ' \
            f'height="{geo.height:g}"' in svg_file.read_text(encoding="utf-8")
        assert geo.width == lay_out(graph).width if width == 0 else geo.width <= width
        sizes.add((geo.width, geo.height))
    assert len(sizes) == 3  # one column; two or three side by side


def test_depth_that_groups_nothing_is_noted(capsys):
    """view, like analyze, says when --depth is at least the deepest name's dotted levels:
    ResNet-50's deepest names (layer1.bottleneck1.residual1.shortcut.conv1) have 5 levels,
    so --depth 5 and more leave every layer alone; 4 groups the shortcut's layers."""
    deepest = "layer1.bottleneck1.residual1.shortcut.conv1"
    names = [r.name for r in cnncalc.analyze(cnncalc.load(SPECS / "resnet50.yaml")).layers]
    assert deepest in names and max(n.count(".") + 1 for n in names) == 5
    note = (f"note: --depth 9 groups nothing: the deepest layer name, {deepest}, has 5 dotted "
            "levels, so every layer stands alone; --depth 1 to 4 group blocks\n")
    for args in (("view", "-f", "svg"), ("analyze",), ("analyze", "-f", "markdown")):
        code, out, err = run(capsys, args[0], SPECS / "resnet50.yaml", *args[1:], "--depth", "9")
        assert code == 0 and out and err == note, (args, err)
    code, _, err = run(capsys, "view", SPECS / "resnet50.yaml", "-f", "svg", "--depth", "4")
    assert code == 0 and err == ""
    code, _, err = run(capsys, "analyze", SPECS / "resnet50.yaml", "-f", "json", "--depth", "9")
    assert code == 0 and err == ""  # JSON lists every layer whatever --depth says
    # LeNet-5's names have no dots: no depth groups anything
    code, _, err = run(capsys, "view", SPECS / "lenet5.yaml", "-f", "svg", "--depth", "1")
    assert code == 0 and err == ("note: --depth 1 groups nothing: no layer name has a dotted "
                                 "block prefix, so every layer stands alone\n")
    # an invalid depth is refused as analyze refuses it: exit 2, the option named, no traceback
    for bad in ("0", "-1"):
        for command in ("view", "analyze"):
            code, _, err = run(capsys, command, SPECS / "lenet5.yaml", "--depth", bad)
            assert code == 2 and "--depth" in err and f"{bad} is not in the range x>=1" in err
            assert "Traceback" not in err


def test_width_narrower_than_the_picture_is_noted(capsys, tmp_path):
    """A --width narrower than one column (the narrowest drawing) gives the picture at its
    width, saying so on stderr with the width used: the SVG's own width attribute."""
    svg_file = tmp_path / "net.svg"
    for fmt in (("-f", "svg"), ("-o", svg_file)):
        code, out, err = run(capsys, "view", SPECS / "resnet50.yaml", *fmt, "--width", "100")
        text = out or svg_file.read_text(encoding="utf-8")
        (used,) = re.findall(r'^<svg [^>]*?width="([0-9.]+)"', text)
        net = cnncalc.load(SPECS / "resnet50.yaml")
        assert float(used) == lay_out(build_graph(net, cnncalc.analyze(net))).width > 100
        assert code == 0 and err.startswith(f"note: the picture is {used} pixels wide, wider than "
                                             "--width 100: one column, its narrowest drawing\n"), err
    # wide enough (ResNet-50's column fits 1400), one column asked for (0), or the chart, which
    # --width does not wrap: no note
    for args in (("--width", "1400"), ("--width", "0"), ("--width", "100", "--what", "rf")):
        code, _, err = run(capsys, "view", SPECS / "resnet50.yaml", "-f", "svg", *args)
        assert code == 0 and err == "", (args, err)


def test_png_needs_a_file_and_matplotlib(capsys, tmp_path):
    code, _, err = run(capsys, "view", SPECS / "lenet5.yaml", "-f", "png")
    assert code == 2 and "-o" in err
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        code, _, err = run(capsys, "view", SPECS / "lenet5.yaml", "-o", tmp_path / "n.png")
        assert code == 2 and "matplotlib" in err and "cnncalc[png]" in err
        assert "Traceback" not in err
        return
    for what in ("graph", "rf"):
        target = tmp_path / f"{what}.png"
        code, _, err = run(capsys, "view", SPECS / "lenet5.yaml", "-o", target, "--what", what)
        assert code == 0, err
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_view_bad_input(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [1, 4, 4]\nlayers:\n  - conv: {out_channels: 2, kernel_size: 7}\n")
    code, out, err = run(capsys, "view", bad, "-o", tmp_path / "x.html")
    assert code == 2 and "bad.yaml:3" in err and not (tmp_path / "x.html").exists()
    code, _, err = run(capsys, "view", SPECS / "lenet5.yaml", "-o", tmp_path / "no" / "x.html")
    assert code == 2 and err.startswith(str(tmp_path / "no" / "x.html") + ": error[io]")
    assert "Traceback" not in err


ASSETS = Path(cnncalc.__file__).parent / "present" / "assets"


def test_page_inlines_its_assets():
    """The page's script and style sheets are the package's files, inlined verbatim."""
    _, _, text, root = page("lenet5.yaml")
    (script,) = [s for s in root.find_all("script") if "id" not in s.attrs]
    assert script.text() == (ASSETS / "view.js").read_text(encoding="utf-8") == asset("view.js")
    (style,) = root.find_all("style")[:1]
    assert style.text() == "".join((ASSETS / f).read_text(encoding="utf-8")
                                   for f in ("view.css", "graph.css", "chart.css"))


def test_installed_wheel_carries_the_assets(tmp_path):
    """A wheel built from the sources (not an editable install) holds the page's files, and
    the package imported from it writes the page with them."""
    root = Path(cnncalc.__file__).parent.parent
    src = tmp_path / "src"
    shutil.copytree(root / "cnncalc", src / "cnncalc",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src),
                            "-w", str(tmp_path / "dist")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("cnncalc-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(site)
    wanted = {f"cnncalc/present/assets/{f}" for f in ("view.js", "view.css", "graph.css", "chart.css")}
    assert wanted <= names
    code = ("import sys, cnncalc\n"
            "from cnncalc.present.view import to_html\n"
            "net = cnncalc.loads('input: [1, 8, 8]\\nlayers:\\n  - conv: {out_channels: 2, kernel_size: 3}\\n', 'n.yaml')\n"
            "print(cnncalc.__file__)\n"
            "sys.stdout.write(to_html(net, cnncalc.analyze(net)))\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    where, text = ran.stdout.split("\n", 1)
    assert Path(where).is_relative_to(site)
    assert f"<script>{(ASSETS / 'view.js').read_text(encoding='utf-8')}</script>" in text
    assert (ASSETS / "graph.css").read_text(encoding="utf-8") in text


def collapse_states(graph, n: int = 12, seed: int = 0) -> list[set[str]]:
    """Every block open, the page's first state, each --depth, and n random sets."""
    rng = random.Random(seed)
    states = [set(), set(initial_collapsed(graph))] + [collapsed_at(graph, d) for d in range(1, 5)]
    names = list(graph.groups)
    states += [{b for b in names if rng.random() < p} for p in (0.1, 0.3, 0.6) * (n // 3)]
    return states


@pytest.mark.parametrize("spec", ["resnet50.yaml", "googlenet.yaml", "unet_original.yaml",
                                  "inception_v3.yaml"])
def test_collapsing_takes_strips_away(spec):
    """For every state: boxes never overlap, a frame holds the boxes of its members and
    the frames inside it, and collapsing a block moves nothing above its first row while
    every box below it moves up by one and the same height when nothing else changes."""
    net = cnncalc.load(SPECS / spec)
    graph = build_graph(net, cnncalc.analyze(net))
    layout = lay_out(graph)
    for collapsed in collapse_states(graph):
        geo = place(layout, collapsed)
        spots = sorted(geo.boxes.values())
        for (x1, y1), (x2, y2) in zip(spots, spots[1:]):  # sorted by x, then y
            assert x1 != x2 or y2 >= y1 + NODE_H
        for name, (x0, y0, x1, y1) in geo.clusters.items():
            for u in graph.groups[name].members:
                key = next(("g:" + g for g in graph.units[u].path if g in collapsed), graph.units[u].name)
                bx, by = geo.boxes[key]
                assert x0 < bx and bx + NODE_W < x1 and y0 + HEAD <= by and by + NODE_H + FOOT <= y1
            parent = graph.groups[name].parent
            if parent is not None:
                px0, py0, px1, py1 = geo.clusters[parent]
                assert px0 < x0 and x1 < px1 and py0 < y0 and y1 <= py1
        bottom = max([y + NODE_H for _, y in geo.boxes.values()] + [c[3] for c in geo.clusters.values()])
        assert bottom < geo.height <= bottom + 22 + 16  # the gap and the margin below
    # a block whose rows hold nothing else, collapsed: nothing above it moves, and every box
    # below it moves up by its frame's height less its collapsed box's
    full = place(layout, set())
    translated = 0
    for name, g in graph.groups.items():
        rows = {graph.units[i].row for i in g.members}
        if any(u.row in rows for i, u in enumerate(graph.units) if i not in g.members):
            continue  # shares rows with another block (a parallel branch): those rows stay
        geo = place(layout, {name})
        first, last = min(rows), max(rows)
        row_of = {u.name: u.row for u in graph.units}
        x0, y0, x1, y1 = full.clusters[name]
        assert geo.boxes["g:" + name][1] == y0  # in the place of its header
        for k, (x, y) in full.boxes.items():
            if row_of[k] < first:
                assert geo.boxes[k] == (x, y)
            elif row_of[k] > last:
                assert geo.boxes[k] == (x, y - (y1 - y0 - NODE_H))
        translated += 1
    assert translated >= {"resnet50.yaml": 30, "unet_original.yaml": 10}.get(spec, 1)


def test_static_pictures_are_the_page_layout():
    """``to_svg`` draws :func:`wrap` of :func:`place` of the one layout, into ``--width``
    (1,400 px by default; 0: one column); an edge is one curve unless it has a lane and
    spans more than CURVE_MAX pixels, or goes from one column to the next (then it runs
    MARGIN / 2 from the top, above every column)."""
    net = cnncalc.load(SPECS / "resnet50.yaml")
    report = cnncalc.analyze(net)
    graph = build_graph(net, report)
    lanes = crossing = 0
    for depth, width in ((2, WRAP_WIDTH), (None, WRAP_WIDTH), (None, 0)):
        geo = geometry(graph, collapsed_at(graph, depth), width)
        svg = to_svg(net, report, depth=depth, width=width)
        assert f'width="{geo.width:g}" height="{geo.height:g}"' in svg
        for key, (x, y) in geo.boxes.items():
            attr = f'data-group="{key[2:]}"' if key.startswith("g:") else f'data-name="{key}"'
            assert f'{attr} transform="translate({x:g},{y:g})"' in svg, key
        for (e, d), (_, y1, _, y2, _, _) in zip(geo.paths, geo.ends, strict=True):
            assert f'data-src="{e.src}" data-dst="{e.dst}" d="{d}"' in svg
            lane = e.lane is not None and y2 - y1 > CURVE_MAX
            cross = y2 < y1  # its target is in a later column, higher up
            # one curve (with straight runs through footers and headers), two curves ending
            # a lane's run, or straight runs over the top of the columns (then down its lane
            # and a curve into its target, if it has a lane)
            assert d.count("C") == ((1 if e.lane is not None else 0) if cross else 2 if lane else 1)
            assert (f",{MARGIN / 2:g} " in d) == cross
            lanes += lane
            crossing += cross
        assert (geo.width <= width) if width else geo.width == lay_out(graph).width
    assert lanes and crossing  # the stages' skips, drawn down lanes; stage to stage across columns


@pytest.mark.parametrize("spec", ["resnet50.yaml", "densenet121.yaml", "lenet5.yaml", "unet_original.yaml",
                                  "inception_v3.yaml", "m5_speech.yaml"])
def test_wrap_moves_whole_stages_into_columns(spec):
    """:func:`wrap` cuts the drawing only where one layer's edges cross the line and at most
    one frame, a top-level one, does (it goes on in the next column), and moves every
    segment as a whole: inside a column nothing moves
    relative to anything else, columns do not overlap, and the drawing fits the width."""
    net = cnncalc.load(SPECS / spec)
    graph = build_graph(net, cnncalc.analyze(net))
    layout = lay_out(graph)
    for collapsed in (set(initial_collapsed(graph)), set()):
        flat = place(layout, collapsed)
        for width in (880, 1400, 2600):
            geo = wrap(flat, width)
            assert geo.height <= flat.height
            if geo is flat:
                continue
            assert geo.width <= width
            # each box moved by its segment's shift; frames by their first box's
            cuts = sorted(flat.cuts)
            shift = {}
            for k, (x, y) in flat.boxes.items():
                s = sum(c <= y for c in cuts)
                moved = (geo.boxes[k][0] - x, geo.boxes[k][1] - y)
                assert shift.setdefault(s, moved) == moved, k
            for name, (x0, y0, x1, y1) in flat.clusters.items():
                dx, dy = shift[sum(c <= y0 for c in cuts)]
                if name not in geo.pieces:
                    assert geo.clusters[name] == (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
                    continue
                # a frame that goes on in later columns: its header's piece where it was, the
                # others as wide, the last ending where its last segment's shift puts its foot
                assert geo.clusters[name][:3] == (x0 + dx, y0 + dy, x1 + dx)
                assert all(p[2] - p[0] == x1 - x0 for p in geo.pieces[name])
                assert geo.pieces[name][-1][3] == y1 + shift[sum(c <= y1 - 1 for c in cuts)][1]
            # a cut crosses at most one frame, a top-level one
            for c in cuts:
                across = [name for name, (_, y0, _, y1) in flat.clusters.items() if y0 < c < y1]
                assert len(across) <= 1 and all(graph.groups[name].depth == 0 for name in across)
            # boxes of different columns do not overlap, and everything is inside the drawing
            spots = list(geo.boxes.values())
            for i, (xa, ya) in enumerate(spots):
                assert 0 <= xa and xa + NODE_W <= geo.width and 0 <= ya and ya + NODE_H <= geo.height
                for xb, yb in spots[i + 1:]:
                    assert xa + NODE_W <= xb or xb + NODE_W <= xa or ya + NODE_H <= yb or yb + NODE_H <= ya


@pytest.mark.skipif(shutil.which("node") is None, reason="node (Node.js) is not installed")
@pytest.mark.parametrize("spec", ["resnet50.yaml", "googlenet.yaml", "unet_original.yaml",
                                  "densenet121.yaml"])
def test_page_script_places_as_python(spec, tmp_path):
    """The page's script (assets/view.js, run by Node.js) draws every state exactly where
    :func:`place` and :func:`wrap` do, in one column and wrapped into 880 and 1,400 px:
    boxes, frames, edge paths, size."""
    net = cnncalc.load(SPECS / spec)
    graph = build_graph(net, cnncalc.analyze(net))
    layout = lay_out(graph)
    states = [(s, w) for s in collapse_states(graph) for w in (0, 880, 1400)]
    (tmp_path / "in.json").write_text(json.dumps({"layout": layout_data(layout),
                                                  "states": [[sorted(s), w] for s, w in states]}))
    script = (f"const v = require({json.dumps(str(ASSETS / 'view.js'))});\n"
              f"const I = JSON.parse(require('fs').readFileSync({json.dumps(str(tmp_path / 'in.json'))}));\n"
              "const out = I.states.map(([s, w]) => { const P = v.place(I.layout, new Set(s), w);\n"
              "  return {boxes: Object.fromEntries(P.boxes), clusters: Object.fromEntries(P.clusters),\n"
              "          pieces: Object.fromEntries(P.pieces),\n"
              "          edges: P.edges, width: P.width, height: P.height}; });\n"
              "process.stdout.write(JSON.stringify(out));\n")
    ran = subprocess.run(["node", "-e", script], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    index = {id(e): i for i, e in enumerate(graph.edges)}
    for (collapsed, width), got in zip(states, json.loads(ran.stdout), strict=True):
        geo = wrap(place(layout, collapsed), width)
        assert got["boxes"] == {k: list(v) for k, v in geo.boxes.items()}
        assert got["clusters"] == {k: list(v) for k, v in geo.clusters.items()}
        assert got["pieces"] == {k: [list(r) for r in v] for k, v in geo.pieces.items()}
        assert got["edges"] == [[index[id(e)], d] for e, d in geo.paths]
        assert (got["width"], got["height"]) == (geo.width, geo.height)


# A minimal DOM, enough for the page's script to run in Node.js: elements with attributes,
# dataset, classList, style, children and click listeners; selectors "tag", ".class",
# "tag.class", "#id", "[attr]" and descendants ("a b").
FAKE_DOM = r"""
const kebab = k => k.replace(/[A-Z]/g, c => "-" + c.toLowerCase());
class El {
  constructor(tag, attrs){
    this.tagName = tag; this.attrs = Object.assign({}, attrs || {}); this.children = [];
    this.parentNode = null; this.style = {}; this.listeners = {}; this.text = "";
    const self = this;
    this.dataset = new Proxy({}, {get: (_, k) => self.attrs["data-" + kebab(String(k))],
                                  set: (_, k, v) => { self.attrs["data-" + kebab(String(k))] = String(v); return true; }});
    this.classList = {
      contains: c => self.classes().includes(c),
      add: (...cs) => { self.attrs.class = [...new Set([...self.classes(), ...cs])].join(" "); },
      remove: (...cs) => { self.attrs.class = self.classes().filter(c => !cs.includes(c)).join(" "); }};
  }
  classes(){ return (this.attrs.class || "").split(/\s+/).filter(x => x); }
  set className(v){ this.attrs.class = v; }
  setAttribute(k, v){ this.attrs[k] = String(v); }
  getAttribute(k){ return k in this.attrs ? this.attrs[k] : null; }
  appendChild(c){
    if (c.parentNode) c.parentNode.children = c.parentNode.children.filter(x => x !== c);
    c.parentNode = this; this.children.push(c); return c;
  }
  get textContent(){ return this.text + this.children.map(c => c.textContent).join(""); }
  set textContent(v){ this.children = []; this.text = String(v); }
  addEventListener(type, f){ (this.listeners[type] = this.listeners[type] || []).push(f); }
  click(){ for (const f of this.listeners.click || []) f({target: this}); }
  *walk(){ for (const c of this.children){ yield c; yield* c.walk(); } }
  matches(sel){
    let m;
    if ((m = /^\[([\w-]+)\]$/.exec(sel))) return m[1] in this.attrs;
    if ((m = /^#([\w-]+)$/.exec(sel))) return this.attrs.id === m[1];
    m = /^([\w-]*)(?:\.([\w-]+))?$/.exec(sel);
    if (!m) throw new Error("selector not supported by the test's DOM: " + sel);
    return (!m[1] || this.tagName === m[1]) && (!m[2] || this.classList.contains(m[2]));
  }
  querySelectorAll(sel){
    const parts = sel.trim().split(/\s+/), last = parts.pop();
    return Array.from(this.walk()).filter(e => {
      if (!e.matches(last)) return false;
      let need = parts.length - 1;
      for (let a = e.parentNode; a && need >= 0 && a !== this.parentNode; a = a.parentNode) if (a.matches(parts[need])) need--;
      return need < 0;
    });
  }
  querySelector(sel){ return this.querySelectorAll(sel)[0] || null; }
  closest(sel){ for (let a = this; a; a = a.parentNode) if (a.matches(sel)) return a; return null; }
  get tBodies(){ return this.children.filter(c => c.tagName === "tbody"); }
  get rows(){ return this.children.filter(c => c.tagName === "tr"); }
  get cells(){ return this.children.filter(c => c.tagName === "td" || c.tagName === "th"); }
  insertRow(){ return this.appendChild(new El("tr")); }
  insertCell(){ return this.appendChild(new El("td")); }
  scrollIntoView(){}
  getContext(){  // a canvas's: the ERF heat map's pixels are written and not looked at here
    return {createImageData: (w, h) => ({data: new Uint8ClampedArray(4 * w * h)}), putImageData(){}};
  }
}
function build(node){
  const e = new El(node[0], node[1]);
  for (const c of node[2]){ if (typeof c === "string") e.text += c; else e.appendChild(build(c)); }
  return e;
}
"""

RUN_PAGE = r"""
const I = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const root = build(I.tree);
const errors = [];
console.error = (...a) => errors.push(a.join(" "));
globalThis.window = globalThis;
globalThis.document = Object.assign(root, {
  body: root.querySelector("body"),
  getElementById: id => root.querySelector("#" + id),
  createElement: tag => new El(tag), createElementNS: (ns, tag) => new El(tag)});
require("vm").runInThisContext(I.script);
const svg = root.querySelector("#graph svg");
function shot(){  // where the script put each box and frame, and each edge's path
  const s = {boxes: {}, clusters: {}, edges: {}, size: [svg.attrs.width, svg.attrs.height]};
  for (const e of svg.querySelectorAll("g.node")) if (e.style.display !== "none") s.boxes[e.dataset.name] = e.attrs.transform;
  for (const e of svg.querySelectorAll("g.proxy")) if (e.style.display !== "none") s.boxes["g:" + e.dataset.group] = e.attrs.transform;
  for (const e of svg.querySelectorAll("rect.cluster")) if (e.style.display !== "none")
    s.clusters[e.dataset.group] = ["x", "y", "width", "height"].map(k => +e.attrs[k]);
  for (const e of svg.querySelectorAll("path.edge")) if (e.style.display !== "none") s.edges[e.dataset.i] = e.attrs.d;
  return s;
}
const shots = [shot()];
const head = svg.querySelectorAll("text.hd").find(e => e.dataset.group === I.collapse);
head.click(); shots.push(shot());
svg.querySelectorAll("g.proxy").find(e => e.dataset.group === I.collapse).click(); shots.push(shot());
root.getElementById("expand-all").click(); shots.push(shot());
root.getElementById("collapse-all").click(); shots.push(shot());
const before = root.getElementById("rf-text").textContent;
const cell = root.getElementById("layers").tBodies[0].rows[I.row].cells[1];
for (const f of root.getElementById("layers").tBodies[0].listeners.click) f({target: cell});
process.stdout.write(JSON.stringify({ready: root.body.dataset.ready, errors, shots, before,
  after: root.getElementById("rf-text").textContent, chosen: root.getElementById("rf-layer").value}));
"""


def _dom(e: Element) -> list:
    return [e.tag, {k: v or "" for k, v in e.attrs.items()},
            [p if isinstance(p, str) else _dom(p) for p in e.parts]]


@pytest.mark.skipif(shutil.which("node") is None, reason="node (Node.js) is not installed")
@pytest.mark.parametrize("spec, collapse, row", [("resnet50.yaml", "layer2", 20),
                                                 ("unet_original.yaml", "dec3", 12)])
def test_page_script_runs_and_draws_the_layout(spec, collapse, row, tmp_path):
    """The whole page script, run by Node.js on a minimal DOM of the page: it finishes
    without a console error, puts every box, frame and edge where :func:`place` does in
    the first state, after a block's header is clicked (collapsed), after its box is
    clicked (open again), after "expand all" and "collapse all"; a click on a table row
    shows that layer's receptive field."""
    net, report, text, root = page(spec)
    (script,) = [s for s in root.find_all("script") if "id" not in s.attrs]
    (html_el,) = root.find_all("html")
    (tmp_path / "page.json").write_text(json.dumps(
        {"tree": _dom(html_el), "script": script.text(), "collapse": collapse, "row": row}))
    (tmp_path / "run.js").write_text(FAKE_DOM + RUN_PAGE)
    ran = subprocess.run(["node", str(tmp_path / "run.js"), str(tmp_path / "page.json")],
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["ready"] == "1" and out["errors"] == []
    graph = build_graph(net, report)
    layout = lay_out(graph)
    first = set(initial_collapsed(graph))
    top = {name for name, g in graph.groups.items() if g.parent is None}
    index = {id(e): i for i, e in enumerate(graph.edges)}
    states = [first, first | {collapse}, first - {collapse}, set(), top]
    assert collapse not in first
    for collapsed, got in zip(states, out["shots"], strict=True):
        geo = place(layout, collapsed)
        assert got["boxes"] == {k: f"translate({x:g},{y:g})" for k, (x, y) in geo.boxes.items()}
        assert got["clusters"] == {k: [x0, y0, x1 - x0, y1 - y0] for k, (x0, y0, x1, y1) in geo.clusters.items()}
        assert got["edges"] == {str(index[id(e)]): d for e, d in geo.paths}
        assert got["size"] == [f"{geo.width:g}", f"{geo.height:g}"]
    name = report.layers[row].name
    assert out["chosen"] == name and out["after"].startswith(f"{name}, unit (")
    assert out["before"].startswith(f"{data_of(root)['default']['layer']}, unit (")


# -- issue 25: what a layer is, its details, the options -------------------------


def _node(net, name):
    return next(n for n in net.nodes if n.name == name)


def test_shorthand_as_the_field_writes_it():
    """Written by hand from the papers' tables (ResNet: 7x7, 64, stride 2; MobileNetV2's
    depthwise 3x3; AlexNet's two groups; U-Net's 2x2 up-convolution; M5's 80-sample kernel)."""
    cases = {
        "resnet50.yaml": {"conv1": "conv 7x7 s2 p3, 64", "maxpool": "maxpool 3x3 s2 p1",
                          "layer3.bottleneck4.residual1.conv2": "conv 3x3 p1, 256",
                          "layer2.bottleneck1.residual1.conv2": "conv 3x3 s2 p1, 128", "fc": "linear, 1000"},
        "alexnet.yaml": {"conv2": "conv 5x5 p2 g2, 256"},
        "m5_speech.yaml": {"conv1": "conv 80 s4 p38, 128"},
    }
    for spec, want in cases.items():
        net = cnncalc.load(SPECS / spec)
        for name, text in want.items():
            assert shorthand(_node(net, name).facts) == text, (spec, name)
    net = cnncalc.load(SPECS / "mobilenet_v2.yaml")
    dws = [shorthand(n.facts) for n in net.nodes if shorthand(n.facts).startswith("dw ")]
    assert "dw 3x3 s2 p1, 96" in dws and "dw 3x3 p1, 144" in dws
    net = cnncalc.load(SPECS / "unet_original.yaml")
    assert {shorthand(n.facts) for n in net.nodes} >= {"conv_transpose 2x2 s2, 512", "maxpool 2x2 s2",
                                                        "conv 3x3, 64", "conv 1x1, 2"}


@pytest.mark.parametrize("spec", ["resnet50.yaml", "unet_original.yaml", "m5_speech.yaml"])
def test_details_are_the_json_report(spec):
    """The details panel's figures are each layer's object of `analyze --format json`, its
    windows and tensors those of its Facts, its steps those of `explain`."""
    net, report, _, root = page(spec)
    data = data_of(root)
    rows = json.loads(to_json(report))["layers"]
    assert list(data["details"]) == [r["name"] for r in rows]
    for row in rows:
        d = data["details"][row["name"]]
        assert d["report"] == row
        f = _node(net, row["name"]).facts
        assert d["weights"] == {k: list(v) for k, v in f.params.items()}
        assert [(w["kernel"], w["stride"], w["padding"], w["dilation"]) for w in d["windows"]] == \
            [(w.kernel, w.stride, [w.pad_before, w.pad_after], w.dilation) for w in f.windows or ()]
        assert [s[3] for s in d["steps"]] == [s.result for s in f.steps]


def test_table_sort_keys_are_numbers():
    """Shapes sort by their number of elements and centres by their first axis: as numbers."""
    _, report, _, root = page("resnet50.yaml")
    (table,) = root.find_all("table", id="layers")
    heads = [th.text() for th in table.find_all("th")]
    kinds = {th.text(): th.attrs["data-kind"] for th in table.find_all("th")}
    assert kinds["Output shape"] == kinds["RF centre"] == "n"
    body = table.find_all("tbody")[0]
    for tr, row in zip(body.find_all("tr"), report.layers, strict=True):
        cells = tr.find_all("td")
        assert float(cells[heads.index("Output shape")].attrs["data-v"]) == math.prod(row.output_shape)
        centre = float(cells[heads.index("RF centre")].attrs["data-v"])
        rf = row.receptive_field
        assert centre == (-1e300 if rf is None else float(next(v for v in rf.center if v is not None)))
        assert tr.attrs["tabindex"] == "0"


def test_html_honours_what_and_depth(capsys, tmp_path):
    out = tmp_path / "p.html"
    code, _, err = run(capsys, "view", SPECS / "resnet50.yaml", "-o", out, "--what", "rf")
    assert code == 0, err
    root = Tree(out.read_text(encoding="utf-8")).root
    assert root.find_all("svg", class_="graph") == [] and len(root.find_all("svg", class_="chart")) == 1
    code, _, err = run(capsys, "view", SPECS / "resnet50.yaml", "-o", out, "--depth", "2")
    assert code == 0, err
    data = data_of(Tree(out.read_text(encoding="utf-8")).root)
    net = cnncalc.load(SPECS / "resnet50.yaml")
    graph = build_graph(net, cnncalc.analyze(net))
    assert data["collapsed"] == sorted(collapsed_at(graph, 2)) != initial_collapsed(graph)
    code, page_out, _ = run(capsys, "analyze", SPECS / "resnet50.yaml", "--format", "html", "--depth", "2")
    assert code == 0 and page_out == out.read_text(encoding="utf-8")  # analyze's page: the same
    shut = set(data["collapsed"])
    outermost = [g for g in shut if not any(g.startswith(h + ".") for h in shut)]
    assert len(outermost) == 3 + 4 + 6 + 3  # each stage's bottlenecks, as analyze --depth 2


def test_unknown_output_suffix_is_refused(capsys, tmp_path):
    code, _, err = run(capsys, "view", SPECS / "lenet5.yaml", "-o", tmp_path / "x.pdf")
    assert code == 2 and "html, svg, png" in err and not (tmp_path / "x.pdf").exists()
    code, _, err = run(capsys, "view", SPECS / "lenet5.yaml", "-o", tmp_path / "x.pdf", "-f", "svg")
    assert code == 0 and (tmp_path / "x.pdf").read_text(encoding="utf-8").startswith("<svg")


def test_totals_keep_their_nesting():
    """As the text report nests them: trainable and frozen under the parameters, the
    training step's parts under it."""
    _, report, _, root = page("resnet50.yaml")
    (totals,) = root.find_all("table", class_="totals")
    rows = [(tr.attrs.get("class"), tr.find_all("th")[0].text()) for tr in totals.find_all("tr")]
    assert (None, "Parameters") in rows and ("sub", "trainable") in rows and ("sub", "frozen") in rows
    assert rows.index(("sub", "trainable")) == rows.index((None, "Parameters")) + 1
    assert ("sub", "gradients") in rows


def test_static_pictures_have_no_toggles():
    net, report, page_text = drawn("resnet50.yaml")  # page_text: to_html(net, report)
    svg = to_svg(net, report, depth=2)
    assert "▾" not in svg and "▸" not in svg and 'tabindex' not in svg
    assert "▾" in page_text and "▸" in page_text


# -- the effective receptive field on the page (issue 22, item 3) ---------------------------

ERF_STACK = """
name: three averages
input: [2, 21]
layers:
  - {conv: {out_channels: 3, kernel_size: 3, padding: 1}, name: a}
  - relu
  - {conv: {out_channels: 4, kernel_size: 3, padding: 1}, name: b}
  - {conv: {out_channels: 4, kernel_size: 3, padding: 1, groups: 2}, name: c}
"""


def test_page_erf_of_three_averages_by_hand():
    # docs/receptive-field.md's worked example: the centre unit (10 of 21) of c sees
    # 1, 3, 6, 7, 6, 3, 1 / 27 on input pixels 7..13; the page carries each as
    # round(1000 * p / max p) = round(1000 * k / 7): 143, 429, 857, 1000, 857, 429, 143
    net = cnncalc.loads(ERF_STACK, "stack.yaml")
    data = data_of(Tree(to_html(net, cnncalc.analyze(net))).root)
    c = data["erf"]["c"]
    assert c["unit"] == [10] and c["protocol"] == "uniform"
    assert c["marginals"] == [[7, [143, 429, 857, 1000, 857, 429, 143]]]
    assert c["width95"] == [6] and c["ratio"] == [6 / 7]
    assert c["mean"][0] == pytest.approx(10.0, abs=1e-14)
    assert c["std"][0] == pytest.approx(math.sqrt(2), abs=1e-14)
    # a: one 3-tap average on pixels 9..11, all at the peak
    assert data["erf"]["a"]["marginals"] == [[9, [1000, 1000, 1000]]]


def test_page_erf_equals_measure_erf_on_lenet5():
    """Every layer with a spatial field carries the numbers of measure/erf.py: the centre
    unit, the JSON report's figures, and each marginal as the levels of its peak."""
    net, _, _, root = page("lenet5.yaml")
    got = data_of(root)["erf"]
    want = effective_fields(net)
    assert set(got) == set(want) == {n.name for n in candidates(net)}
    assert set(got) == {"conv1", "tanh1", "avgpool1", "conv2", "tanh2", "avgpool2"}
    for name, e in want.items():
        levels = []
        for p in e.marginals:
            q = [round(1000 * float(v) / float(p.max())) for v in p]
            first = next(i for i, v in enumerate(q) if v)
            last = max(i for i, v in enumerate(q) if v)
            levels.append([first, q[first:last + 1]])
        assert got[name] == {"unit": list(e.unit), "marginals": levels, **e.to_dict()}, name
    # conv1 (5x5, no padding) at its centre unit 13 of 28: pixels 13..17, equal weights
    assert got["conv1"]["marginals"] == [[13, [1000] * 5]] * 2


def test_page_names_the_erf_refusals():
    net = cnncalc.load(SPECS / "shufflenet_v2_x1_0.yaml")
    want = {k: v for k, v in effective_fields(net).items() if isinstance(v, str)}
    got = {k: v["refused"] for k, v in erf_data(net).items() if "refused" in v}
    assert got == want and any("chunk along the channels" in v for v in got.values())


def test_view_no_erf_leaves_it_out(capsys, tmp_path):
    out = tmp_path / "p.html"
    code, _, _ = run(capsys, "view", SPECS / "lenet5.yaml", "--no-erf", "-o", out)
    assert code == 0
    assert data_of(Tree(out.read_text(encoding="utf-8")).root)["erf"] is None
    code, _, _ = run(capsys, "view", SPECS / "lenet5.yaml", "-o", out)
    assert code == 0 and "conv1" in data_of(Tree(out.read_text(encoding="utf-8")).root)["erf"]
    assert "the centre unit's ERF, marginals multiplied" in out.read_text(encoding="utf-8")


def path_segments(d: str) -> list[list[tuple[float, float]]]:
    """An edge's SVG path (M, L and cubic C) as its segments' four control points each."""
    out: list[list[tuple[float, float]]] = []
    last = (0.0, 0.0)
    for op, body in re.findall(r"([MLC])([^MLC]*)", d):
        xy = [tuple(map(float, p.split(","))) for p in body.split()]
        if op != "M":
            out.append([last, *xy] if op == "C" else [last, last, xy[0], xy[0]])
        last = xy[-1]
    return out


def crossing(d: str, boxes: list[tuple[float, float, float, float]], step: float = 2.0) -> list:
    """The points of a path, at most ``step`` apart, inside any of ``boxes`` (x0, y0, x1, y1);
    a segment is sampled only where its control points' box (which holds it) meets one."""
    hits = []
    for ctrl in path_segments(d):
        xs, ys = [c[0] for c in ctrl], [c[1] for c in ctrl]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        near = [b for b in boxes if b[0] < x1 and x0 < b[2] and b[1] < y1 and y0 < b[3]]
        if not near:
            continue
        n = max(1, int(sum(math.dist(a, b) for a, b in zip(ctrl, ctrl[1:])) / step) + 1)
        for k in range(n + 1):
            t = k / n
            w = ((1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3)
            x, y = (sum(wi * c[i] for wi, c in zip(w, ctrl)) for i in (0, 1))
            hits += [((x, y), b) for b in near if b[0] < x < b[2] and b[1] < y < b[3]]
    return hits


def test_edges_route_around_block_headers():
    """Issue 25: no edge crosses a block header's label. A label starts LABEL_X into its frame and
    has ``geo.rooms`` pixels (the page cuts it to that width by measuring, a static picture by
    characters); an edge enters a frame's first row at its boxes' top centres, the leftmost one
    LABEL_CLEAR past the room. Every spec of the zoo, every block open and the page's first state,
    in one column and wrapped into 1,400 px: no point of any edge inside any label's rectangle
    (the header strip's height, HEAD, and the room's width)."""
    specs = sorted(SPECS.glob("*.yaml"))
    checked = 0
    for path in specs:
        graph = build_graph(*analysed(path.name))
        layout = lay_out(graph)
        for collapsed in (set(), set(initial_collapsed(graph))):
            for width in (0, 1400):
                geo = wrap(place(layout, collapsed), width)
                labels = [(x0 + LABEL_X, y0, x0 + LABEL_X + geo.rooms[name], y0 + HEAD)
                          for name, (x0, y0, _, _) in geo.clusters.items()]
                assert all(b[2] > b[0] + 4 * HEAD_CHAR for b in labels), path  # room for a few characters
                for e, d in geo.paths:
                    assert not crossing(d, labels), (path.name, e.src, e.dst, crossing(d, labels))
                checked += len(labels) * len(geo.paths)
    assert checked > 100_000
