"""The page of `cnncalc view` in a real browser: headless Chromium driven by selenium.

Needs Debian's `chromium` and `chromium-driver` (/usr/bin/chromedriver) and the optional
extra `browser` (`pip install -e '.[browser]'`: selenium). Without them every test here
skips, saying which is missing; `.ci/run` installs them and runs this file. selenium is
always given the driver's path, so it never downloads one.

Each test opens a page written by cnncalc and checks what a user sees and does: no console
error and nothing fetched, finding a nested layer (the blocks that hold it open, it is
centred), zoom and pan, the details of a layer with the JSON report's numbers, numeric
sorting, the filter and the sticky Layer column, the field picture of a 1-D net and of a
layer whose field is global, the keyboard.
"""

from __future__ import annotations

import json
import math
import shutil
from fractions import Fraction
from pathlib import Path

import pytest

import cnncalc
from cnncalc.present.render import num, to_json
from cnncalc.present.view import (
    GAP,
    MARGIN,
    NODE_W,
    build_graph,
    initial_collapsed,
    lay_out,
    place,
    to_html,
    to_svg,
    wrap,
)
from tests.conftest import SPECS
from tests.test_view import HOSTILE

DRIVER = Path("/usr/bin/chromedriver")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
    MISSING = None
except ImportError:
    MISSING = "selenium is not installed (pip install -e '.[browser]')"
if MISSING is None and BROWSER is None:
    MISSING = "chromium is not installed (apt-get install chromium chromium-driver)"
if MISSING is None and not DRIVER.exists():
    MISSING = f"{DRIVER} is missing (apt-get install chromium-driver)"

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

ZOO = ["lenet5.yaml", "resnet50.yaml", "unet_original.yaml", "m5_speech.yaml", "se_resnet50.yaml",
       "inception_v3.yaml", "mobilenet_v3_large.yaml", "densenet121.yaml"]


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.binary_location = BROWSER
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """spec -> (file, report, JSON rows by name), written once."""
    folder = tmp_path_factory.mktemp("pages")
    made = {}

    def make(spec: str):
        if spec not in made:
            net = cnncalc.load(SPECS / spec)
            report = cnncalc.analyze(net)
            path = folder / (spec.replace(".yaml", ".html"))
            path.write_text(to_html(net, report), encoding="utf-8")
            rows = {r["name"]: r for r in json.loads(to_json(report))["layers"]}
            made[spec] = (path, report, rows)
        return made[spec]
    return make


def open_page(driver, path: Path) -> None:
    driver.get(path.as_uri())
    assert driver.execute_script("return document.body.dataset.ready") == "1"


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def shown(driver, name: str) -> bool:
    return js(driver, "const g = [...document.querySelectorAll('#graph g.node')]"
                      ".find(e => e.dataset.name === arguments[0]); return g.style.display !== 'none'", name)


def details(driver) -> dict[str, str]:
    """The details panel's rows, by key (data-key) or label."""
    return js(driver, """const out = {};
        for (const tr of document.querySelectorAll('#details table.kv tr'))
          out[tr.cells[1].dataset.key || tr.cells[0].textContent] = tr.cells[1].textContent;
        out.name = document.getElementById('details-name').textContent;
        out.short = document.querySelector('#details .short').textContent; return out""")


@pytest.mark.parametrize("spec", ZOO)
def test_page_loads_cleanly(browser, pages, spec):
    """No console error (the page's own check of its field evaluation included), nothing
    fetched from anywhere, every box of the first state inside the drawing."""
    path, report, _ = pages(spec)
    browser.get_log("browser")
    open_page(browser, path)
    assert console_errors(browser) == []
    assert js(browser, "return performance.getEntriesByType('resource').map(e => e.name)") == []
    assert js(browser, "return document.querySelectorAll('#graph g.node').length") == len(report.layers) + 1
    # every name and shorthand shown fits its box (measured; the full text on hover)
    over = js(browser, """const out = [];
        for (const t of document.querySelectorAll('#graph text.nm, #graph text.sh')){
          const g = t.parentNode; if (g.style.display === 'none') continue;
          if (t.getComputedTextLength() > arguments[0] - 12) out.push(t.textContent);
          if (t.textContent !== t.dataset.full && !t.textContent.endsWith('…')) out.push('cut: ' + t.textContent);
        } return out""", NODE_W)
    assert over == []


def test_done_when_find_a_nested_resnet50_layer_and_read_it(browser, pages):
    """Issue 25's done-when: on ResNet-50, a user types layer3.bottleneck4.conv2 in the
    search box and, without scrolling the page, sees the box (its block opened, the box
    centred in the graph), its kernel, stride, padding, shapes and figures as the JSON
    report has them, and its field drawn on the input."""
    path, report, rows = pages("resnet50.yaml")
    name = "layer3.bottleneck4.residual1.conv2"
    open_page(browser, path)
    assert not shown(browser, name)  # its bottleneck starts collapsed (a repeat)
    box = browser.find_element(By.ID, "search")
    box.send_keys("layer3.bottleneck4.conv2", Keys.ENTER)
    assert shown(browser, name)
    assert js(browser, "return window.scrollY") == 0
    # centred in the graph's view
    where = js(browser, """const g = [...document.querySelectorAll('#graph g.node')].find(e => e.dataset.name === arguments[0]);
        const b = g.getBoundingClientRect(), v = document.getElementById('graph').getBoundingClientRect();
        return [b.left + b.width / 2 - (v.left + v.width / 2), b.top + b.height / 2 - (v.top + v.height / 2),
                b.top >= v.top && b.bottom <= v.bottom && b.left >= v.left && b.right <= v.right]""", name)
    assert where[2] and abs(where[1]) < 30, where
    d, row = details(browser), rows[name]
    assert d["name"] == name and d["short"] == "conv 3x3 p1, 256"
    assert (d["kernel"], d["stride"], d["padding"], d["dilation"]) == ("3", "1", "1", "1")
    assert d["output_shape"] == " x ".join(map(str, row["output_shape"])) == "256 x 14 x 14"
    assert "(256x14x14)" in d["inputs"]
    for key in ("params", "macs", "flops", "activation_bytes"):
        assert d[key] == num(row[key]), key
    assert d["rf_size"] == " x ".join(map(str, row["receptive_field"]["size"]))
    assert js(browser, "return document.querySelectorAll('#explain li').length") >= 3
    # its field, on the input, in the window without scrolling
    field = js(browser, """const r = document.querySelector('#rf-grid rect.field-rect').getBoundingClientRect();
        return [r.width, r.height, r.top, window.innerHeight, document.getElementById('rf-layer').value,
                document.querySelector('#rf-text p').textContent]""")
    assert field[0] > 5 and field[1] > 5 and field[2] < field[3], field
    assert field[4] == name and field[5].startswith(name + ", unit (7, 7)")
    assert js(browser, "return window.scrollY") == 0


def test_zoom_fit_and_pan(browser, pages):
    path, _, _ = pages("resnet50.yaml")
    open_page(browser, path)
    def width():
        return float(js(browser, "return document.querySelector('#graph svg').getAttribute('width')"))
    w0 = width()
    browser.find_element(By.ID, "zoom-in").click()
    assert width() == pytest.approx(w0 * 1.25)
    browser.find_element(By.ID, "fit").click()
    fits = js(browser, """const s = document.querySelector('#graph svg').getBoundingClientRect(),
        v = document.getElementById('graph'); return [s.width, s.height, v.clientWidth, v.clientHeight]""")
    assert fits[0] <= fits[2] + 1 and fits[1] <= fits[3] + 1 and fits[1] > fits[3] / 2, fits
    # the keyboard: + zooms in, 0 fits again, 1 is 100 %
    graph = browser.find_element(By.ID, "graph")
    graph.send_keys("1")
    assert width() == pytest.approx(w0)
    graph.send_keys("+")
    assert width() == pytest.approx(w0 * 1.25)
    # Ctrl+wheel zooms (as a trackpad's pinch does)
    js(browser, """const v = document.getElementById('graph'), r = v.getBoundingClientRect();
        v.dispatchEvent(new WheelEvent('wheel', {deltaY: -300, ctrlKey: true, clientX: r.left + 50,
                                                 clientY: r.top + 50, bubbles: true, cancelable: true}))""")
    assert width() == pytest.approx(w0 * 1.25 * 2.718281828, rel=1e-3)
    # drag the background to pan
    before = js(browser, "return document.getElementById('graph').scrollTop")
    ActionChains(browser).move_to_element_with_offset(graph, 300, 100).click_and_hold() \
        .move_by_offset(0, -200).release().perform()
    after = js(browser, "return document.getElementById('graph').scrollTop")
    assert after == pytest.approx(before + 200, abs=2)


def test_click_and_keyboard_open_the_details(browser, pages):
    path, _, rows = pages("lenet5.yaml")
    open_page(browser, path)
    box = browser.find_element(By.CSS_SELECTOR, '#graph g.node[data-name="conv2"]')
    box.click()
    d = details(browser)
    assert d["name"] == "conv2" and d["short"] == "conv 5x5, 16"
    assert d["params"] == num(rows["conv2"]["params"]) == num(16 * (6 * 5 * 5 + 1))
    assert d["macs"] == num(rows["conv2"]["macs"])
    # Tab reaches the boxes; Enter on one opens its details
    other = browser.find_element(By.CSS_SELECTOR, '#graph g.node[data-name="conv1"]')
    assert other.get_attribute("tabindex") == "0" and other.get_attribute("role") == "button"
    assert "conv1" in other.get_attribute("aria-label")
    other.send_keys(Keys.ENTER)
    assert details(browser)["name"] == "conv1"
    row = browser.find_element(By.CSS_SELECTOR, '#layers tr[data-name="linear1"]')
    row.send_keys(Keys.ENTER)
    assert details(browser)["name"] == "linear1"
    # a header is a focusable button that sorts and says how
    head = browser.find_elements(By.CSS_SELECTOR, "#layers th")[5]
    head.send_keys(Keys.ENTER)
    assert head.get_attribute("aria-sort") == "ascending"


def _column(driver, title: str) -> list[str]:
    return js(driver, """const ths = [...document.querySelectorAll('#layers th')];
        const i = ths.findIndex(t => t.textContent === arguments[0]);
        return [...document.querySelectorAll('#layers tbody tr')].filter(r => r.style.display !== 'none')
          .map(r => r.cells[i].textContent)""", title)


def test_sort_filter_and_sticky_layer_column(browser, pages):
    path, report, _ = pages("resnet50.yaml")
    open_page(browser, path)
    head = next(th for th in browser.find_elements(By.CSS_SELECTOR, "#layers th") if th.text.startswith("Output shape"))
    js(browser, "arguments[0].scrollIntoView()", head)
    head.click()
    sizes = [math.prod(map(int, t.split("x"))) for t in _column(browser, "Output shape")]
    assert sizes == sorted(sizes) and sizes[0] == 1000 and sizes[-1] == 256 * 56 * 56
    head.click()
    assert [math.prod(map(int, t.split("x"))) for t in _column(browser, "Output shape")] == sorted(sizes, reverse=True)
    # the filter
    box = browser.find_element(By.ID, "filter")
    box.send_keys("shortcut")
    names = _column(browser, "Layer")
    assert names and all("shortcut" in n for n in names)
    assert len(names) == sum("shortcut" in r.name for r in report.layers)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    assert len(_column(browser, "Layer")) == len(report.layers)
    # scrolled right, the Layer column stays at the left edge of the table's box
    left = js(browser, """const s = document.querySelector('#table-sec .scroll'); s.scrollLeft = 400;
        const c = document.querySelector('#layers tbody tr td:nth-child(2)').getBoundingClientRect();
        return [s.scrollLeft, c.left - s.getBoundingClientRect().left]""")
    assert left[0] > 0 and abs(left[1]) <= 2, left


def test_centres_sort_as_numbers(browser, pages):
    """LeNet-5's centres 2, 5/2, 13/2, 15/2: as numbers, not as text ("13/2" < "2")."""
    path, _, _ = pages("lenet5.yaml")
    open_page(browser, path)
    centre = next(th for th in browser.find_elements(By.CSS_SELECTOR, "#layers th") if th.text.startswith("RF centre"))
    js(browser, "arguments[0].scrollIntoView()", centre)
    centre.click()
    got = _column(browser, "RF centre")
    firsts = [Fraction(t.split(" x ")[0]) for t in got if t != "-"]
    assert firsts == sorted(firsts) and firsts[0] == 2 and firsts[-1] == Fraction(15, 2), got
    assert got[:6] == ["-"] * 6  # no centre (global): first


def test_field_picture_of_a_1d_net(browser, pages):
    """M5 (audio, 1-D): the input is a strip of fixed height, the field is a visible band."""
    path, _, _ = pages("m5_speech.yaml")
    open_page(browser, path)
    sizes = js(browser, """const f = document.querySelector('#rf-grid rect.field-rect').getBoundingClientRect(),
        i = document.querySelector('#rf-grid rect.input').getBoundingClientRect(); return [f.width, f.height, i.width, i.height]""")
    assert sizes[1] >= 30 and sizes[3] >= 30 and sizes[0] >= 1, sizes
    # fit the field: the field fills most of the picture
    browser.find_element(By.ID, "rf-fit").click()
    wide = js(browser, "return document.querySelector('#rf-grid rect.field-rect').getBoundingClientRect().width")
    assert wide > 5 * sizes[0] and wide > 150, (wide, sizes)


def test_global_and_clamped_fields(browser, pages):
    """SE-ResNet-50's gated layers have a global field: clicking one shades the whole input
    and says so; a unit typed out of range is clamped and the boxes show the unit drawn."""
    path, report, _ = pages("se_resnet50.yaml")
    open_page(browser, path)
    gated = next(r.name for r in report.layers if r.receptive_field is None and len(r.output_shape) > 1)
    js(browser, "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
       browser.find_element(By.ID, "filter"), gated)
    browser.find_element(By.CSS_SELECTOR, f'#layers tr[data-name="{gated}"]').click()
    text = browser.find_element(By.ID, "rf-text").text
    assert text.startswith(gated + ": every input position reaches each of its units")
    cover = js(browser, """const f = document.querySelector('#rf-grid rect.field-rect').getBoundingClientRect(),
        i = document.querySelector('#rf-grid rect.input').getBoundingClientRect(); return [f.width / i.width, f.height / i.height]""")
    assert cover == [pytest.approx(1, abs=0.02)] * 2
    flat = next(r.name for r in report.layers if len(r.output_shape) == 1)
    js(browser, "window.cnncalcView.pick(arguments[0])", flat)
    assert "has no spatial axes" in browser.find_element(By.ID, "rf-text").text
    # out of range: clamped, shown
    js(browser, "window.cnncalcView.pick('conv1')")
    unit = browser.find_elements(By.CSS_SELECTOR, "#rf-units input")
    js(browser, "arguments[0].value = 999; arguments[0].dispatchEvent(new Event('change'))", unit[0])
    js(browser, "arguments[0].value = -5; arguments[0].dispatchEvent(new Event('change'))", unit[1])
    assert [u.get_attribute("value") for u in unit] == ["111", "0"]
    assert browser.find_element(By.CSS_SELECTOR, "#rf-text p").text.startswith("conv1, unit (111, 0)")


def test_hostile_names_stay_inert(browser, tmp_path):
    net = cnncalc.loads(HOSTILE, "hostile.yaml")
    rename = {"a": "<img src=x onerror=alert(1)>", "b": "a\"b'c&d" + "W" * 40, "c": "</script><b>x"}
    for node in net.nodes:
        node.name = rename[node.name]
        node.inputs = [rename.get(i, i) for i in node.inputs]
    net.outputs = [rename[o] for o in net.outputs]
    path = tmp_path / "hostile.html"
    path.write_text(to_html(net, cnncalc.analyze(net)), encoding="utf-8")
    open_page(browser, path)
    js(browser, "window.cnncalcView.pick(arguments[0])", rename["a"])
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert browser.find_elements(By.CSS_SELECTOR, "img, b") == []
    assert browser.find_element(By.ID, "details-name").text == rename["a"]
    # a name too wide for its box is shortened to the box's measured width, with an ellipsis
    fit = js(browser, """const t = [...document.querySelectorAll('#graph g.node')].find(g => g.dataset.name === arguments[0])
        .querySelector('text.nm'); return [t.textContent, t.getComputedTextLength()]""", rename["b"])
    assert fit[0].endswith("…") and rename["b"].startswith(fit[0][:-1]) and fit[1] <= NODE_W - 12
    assert len(fit[0]) > 10


def test_overview_goes_to_a_block(browser, pages):
    """The block list: choosing a collapsed repeat (ResNet-50's layer3.bottleneck5) brings
    its box into view; choosing a block inside one opens the enclosing blocks."""
    path, _, _ = pages("resnet50.yaml")
    open_page(browser, path)
    pick = Select(browser.find_element(By.ID, "goto"))
    pick.select_by_value("layer3.bottleneck5")
    inside = js(browser, """const g = [...document.querySelectorAll('#graph g.proxy')].find(e => e.dataset.group === 'layer3.bottleneck5');
        const b = g.getBoundingClientRect(), v = document.getElementById('graph').getBoundingClientRect();
        return g.style.display !== 'none' && b.top >= v.top && b.bottom <= v.bottom""")
    assert inside
    pick.select_by_value("layer3.bottleneck5.residual1")
    assert shown(browser, "layer3.bottleneck5.residual1.conv2")


def test_small_fields_and_periods_on_the_unet(browser, pages):
    """U-Net's first convolution sees 3x3 of a 572x572 input: ringed so that it shows, and
    *fit the field* makes it large. After a transposed convolution the note names the runs
    of the period that are outlined; at the last unit of a layer without a period nothing
    is outlined and the note says so."""
    path, _, _ = pages("unet_original.yaml")
    open_page(browser, path)
    js(browser, "window.cnncalcView.pick('enc1.conv1')")
    assert js(browser, "return document.querySelectorAll('#rf-grid circle').length") == 2  # ring and centre
    small = js(browser, "return document.querySelector('#rf-grid rect.field-rect').getBoundingClientRect().width")
    browser.find_element(By.ID, "rf-fit").click()
    big = js(browser, "return document.querySelector('#rf-grid rect.field-rect').getBoundingClientRect().width")
    assert small < 6 and big > 50, (small, big)
    browser.find_element(By.ID, "rf-fit").click()
    # logits (the first shown): runs of its period of 16 outlined and named
    js(browser, "window.cnncalcView.pick('logits')")
    text = browser.find_element(By.ID, "rf-text").text
    assert "period 16" in text and "other runs of units in the chosen unit's period" in text
    assert "W units 196–207 (phase 4–15 of 16)" in text
    assert js(browser, "return document.querySelectorAll('#rf-grid rect.other').length") >= 1
    # dec3.upconv: unit 52 shares its field with the next units; the one outlined differs
    js(browser, "window.cnncalcView.pick('dec3.upconv')")
    text = browser.find_element(By.ID, "rf-text").text
    rows = [tr.text for tr in browser.find_elements(By.CSS_SELECTOR, "#rf-text tr")]
    assert rows[0].endswith("208..379 × 208..379") and "next different unit (52, " in rows[1]
    assert not rows[1].endswith("208..379 × 208..379")
    assert "see the same field as the chosen one; the outlined field (grey, dashed) is the first that differs" in text
    js(browser, "window.cnncalcView.pick('enc1.conv2')")
    unit = browser.find_elements(By.CSS_SELECTOR, "#rf-units input")
    js(browser, "arguments[0].value = 567; arguments[0].dispatchEvent(new Event('change'))", unit[1])
    assert js(browser, "return document.querySelectorAll('#rf-grid rect.other').length") == 0
    assert "Nothing else is outlined: this is the last unit along W" in browser.find_element(By.ID, "rf-text").text


def test_details_of_a_gated_layer_show_its_local_field(browser, pages):
    """Issues 22 and 25 together (found at merge): the details panel printed the local field
    as '[object Object]'. A layer of SE-ResNet-50 whose exact field is global through the
    gates shows its local field (size, stride, centre) and names the gates; no cell of any
    layer's details reads '[object Object]'."""
    path, report, rows = pages("se_resnet50.yaml")
    open_page(browser, path)
    gated = next(r for r in report.layers if r.receptive_field is None and r.global_context
                 and r.local_receptive_field is not None)
    js(browser, "window.cnncalcView.details(arguments[0])", gated.name)
    d = details(browser)
    local = rows[gated.name]["local_receptive_field"]
    assert d["local_rf_size"] == " x ".join(f"{v:,}" for v in local["size"])
    assert d["global_context"] == ", ".join(gated.global_context)
    bad = js(browser, """const out = [];
        for (const name of Object.keys(window.cnncalcView.data.details)){
          window.cnncalcView.details(name);
          for (const td of document.querySelectorAll('#details td'))
            if (td.textContent.includes('[object')) out.push(name + ': ' + td.textContent);
        } return out""")
    assert bad == []


def test_erf_heat_map_of_a_lenet5_conv(browser, pages):
    """LeNet-5's conv1 (5x5, no padding, 28x28 out): the page first shows unit (14, 14);
    the ERF is carried for the centre unit (13, 13) only, so no heat map is drawn and the
    note offers it; at the centre unit the heat map covers exactly its field, input pixels
    13..17 on each axis (equal weights: every one of the 25 pixels coloured alike)."""
    path, _, _ = pages("lenet5.yaml")
    open_page(browser, path)
    js(browser, "cnncalcView.pick('conv1')")
    assert js(browser, "return document.querySelectorAll('#rf-grid foreignObject.erf').length") == 0
    assert "carried for the centre unit (13, 13) only" in browser.find_element(By.CSS_SELECTOR, "p.erf-note").text
    browser.find_element(By.CSS_SELECTOR, "button.erf-centre").click()
    heat = js(browser, """const fo = document.querySelector('#rf-grid foreignObject.erf'), c = fo.querySelector('canvas');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, alpha = [];
        for (let i = 3; i < px.length; i += 4) alpha.push(px[i]);
        const f = fo.getBoundingClientRect(), r = document.querySelector('#rf-grid rect.field-rect').getBoundingClientRect();
        return {w: c.width, h: c.height, alpha, box: [f.x - r.x, f.y - r.y, f.width - r.width, f.height - r.height],
                unit: [...document.querySelectorAll('#rf-units input')].map(i => +i.value)}""")
    assert heat["unit"] == [13, 13]
    assert (heat["w"], heat["h"]) == (5, 5)
    assert len(set(heat["alpha"])) == 1 and heat["alpha"][0] > 0
    assert all(abs(v) < 0.5 for v in heat["box"]), heat["box"]
    assert "the centre unit's effective receptive field, marginals multiplied" in \
        browser.find_element(By.CSS_SELECTOR, "p.erf-note").text
    assert console_errors(browser) == []


def graph_size(driver) -> tuple[float, float, float, float]:
    """The drawn graph's width and height (at 100 %) and the width and height its box shows."""
    return tuple(js(driver, """const s = document.querySelector('#graph svg'), v = document.getElementById('graph');
        return [+s.getAttribute('width'), +s.getAttribute('height'), v.clientWidth, v.clientHeight]"""))


def test_resnet50_uses_the_window_width(browser, pages):
    """Issue 25: at 1,400 px ResNet-50's stages wrap into columns side by side. Before, the graph
    was one column 492 px wide (7,136 px tall in the first state, 12,416 px expanded). The rule
    (view.py wrap), when one column is taller than the graph's box: the shortest columns a greedy fill of the segments between cuts allows, k
    columns as wide as they hold, if they fit the graph's box. With k = 2 the tallest column is
    at most (content + tallest segment) / 2 (a contiguous split in two is never worse than the
    cut nearest the middle), so the drawing is at most that plus the margins and the end gap."""
    path, report, _ = pages("resnet50.yaml")
    browser.set_window_size(1400, 1000)
    open_page(browser, path)
    net = cnncalc.load(SPECS / "resnet50.yaml")
    layout = lay_out(build_graph(net, report))
    for state in ("first", "expanded"):
        if state == "expanded":
            browser.find_element(By.ID, "expand-all").click()
        width, height, room, room_h = graph_size(browser)
        flat = place(layout, set(initial_collapsed(layout.graph)) if state == "first" else set())
        geo = wrap(flat, room, room_h)
        assert (width, height) == (geo.width, geo.height)  # the script's columns are Python's
        assert width > 1400 / 2 and width <= room  # more than half the window, inside the box
        cuts = sorted(flat.cuts)
        tops, bottoms = [MARGIN] + [c + GAP for c in cuts], cuts + [flat.height - MARGIN - GAP]
        content, tallest = bottoms[-1] - tops[0], max(b - t for t, b in zip(tops, bottoms))
        assert height <= 2 * MARGIN + GAP + (content + tallest) / 2, state
        assert flat.height == {"first": 7136, "expanded": 12416}[state]  # one column, as before
        assert flat.height / height >= 1.95  # measured: 1.99 (first state), 1.96 (expanded)
    # the columns re-flow when the window narrows and widens again
    browser.set_window_size(900, 1000)
    js(browser, "return new Promise(r => requestAnimationFrame(() => r()))")
    narrow = graph_size(browser)
    assert narrow[1] > height and narrow[0] <= max(narrow[2], layout.width)
    browser.set_window_size(1400, 1000)
    js(browser, "return new Promise(r => requestAnimationFrame(() => r()))")
    assert graph_size(browser)[:2] == (width, height)


HEADERS_CROSSED = """
const svg = document.querySelector(arguments[0]), out = [];
const heads = [...svg.querySelectorAll('text.hd')].filter(t => t.style.display !== 'none').map(t => {
  const b = t.getBBox(); return [t.dataset.group, b.x + 0.5, b.y + 0.5, b.x + b.width - 0.5, b.y + b.height - 0.5]; });
for (const p of svg.querySelectorAll('path.edge')){
  if (p.style.display === 'none') continue;
  const b = p.getBBox();
  const near = heads.filter(h => h[1] < b.x + b.width && b.x < h[3] && h[2] < b.y + b.height && b.y < h[4]);
  if (!near.length) continue;
  const n = p.getTotalLength();
  for (let s = 0; s <= n; s += 2){
    const q = p.getPointAtLength(s);
    for (const h of near) if (h[1] < q.x && q.x < h[3] && h[2] < q.y && q.y < h[4]) out.push([p.dataset.src, p.dataset.dst, h[0]]);
  }
}
const over = [...svg.querySelectorAll('text.hd tspan')].filter(t => t.parentNode.style.display !== 'none')
  .filter(t => t.textContent !== t.dataset.full && !t.textContent.endsWith('…')).map(t => t.textContent);
return [out.slice(0, 5), heads.length, over];
"""


@pytest.mark.parametrize("spec", ZOO)
def test_edges_cross_no_block_header(browser, pages, spec):
    """Issue 25: no edge crosses a block header's label as the browser draws it (the label's
    box, measured, against points 2 px apart along every edge), in the first state and with
    every block open; a label cut to its room ends with an ellipsis (the full one on hover)."""
    path, _, _ = pages(spec)
    browser.set_window_size(1400, 1000)
    open_page(browser, path)
    for state in ("first", "expanded"):
        if state == "expanded":
            browser.find_element(By.ID, "expand-all").click()
        crossed, heads, cut = js(browser, HEADERS_CROSSED, "#graph svg")
        assert crossed == [] and cut == [], (state, crossed, cut)
    assert heads or spec in ("lenet5.yaml", "m5_speech.yaml")


TAPS = """const rects = [...document.querySelectorAll('#rf-grid rect.tap')].map(r => [+r.getAttribute('x'), +r.getAttribute('width')]);
    const f = document.querySelector('#rf-grid rect.field-rect');
    return [rects, +f.getAttribute('width'), document.querySelector('#rf-text .tap-note').textContent]"""


def test_dilated_kernel_taps_are_drawn(browser, tmp_path):
    """Issue 25: a dilated layer's kernel taps are drawn on the input, dilation apart.
    Dumoulin and Visin (2018), Figure 5.1 (specs/exercises/dilated_output_size.yaml): a 3x3
    kernel, dilation 2, on the 7x7 input: 3 x 3 taps, one pixel each, 2 pixels apart, inside a
    field of d(k - 1) + 1 = 5 pixels, with holes between them. Yu and Koltun (2016), Figure 1
    (dilated_stack.yaml): F3's 3 x 3 taps are units of F2, 4 apart, each reading F2's 7 x 7
    field; 7 > 4, so their union is F3's 15 x 15 field, without holes."""
    for spec, layer, kernel, dilation, tap_size, field_size, holes in (
            ("dilated_output_size.yaml", "dilated", 3, 2, 1, 2 * (3 - 1) + 1, True),
            ("dilated_stack.yaml", "F3", 3, 4, 3 + (5 - 1), 15, False)):
        net = cnncalc.load(SPECS / "exercises" / spec)
        path = tmp_path / spec.replace(".yaml", ".html")
        path.write_text(to_html(net, cnncalc.analyze(net)), encoding="utf-8")
        open_page(browser, path)
        js(browser, "window.cnncalcView.pick(arguments[0])", layer)
        rects, field_w, note = js(browser, TAPS)
        assert len(rects) == kernel * kernel  # one per tap of the 2-D kernel
        px = field_w / field_size  # screen pixels per input pixel
        xs = sorted({round(x, 3) for x, _ in rects})
        assert len(xs) == kernel
        assert all(b - a == pytest.approx(dilation * px, abs=0.01) for a, b in zip(xs, xs[1:]))
        assert all(w + 1.5 == pytest.approx(tap_size * px, abs=0.01) for _, w in rects)  # inset by the stroke
        assert ("holes" in note and "no holes" not in note) == holes, note
        assert console_errors(browser) == []


@pytest.mark.parametrize("spec", ZOO)
def test_static_pictures_cross_no_block_header(browser, pages, spec, tmp_path):
    """The static SVG (every block open, wrapped into 1,400 px) as Chromium renders it: no edge
    crosses a header's label, cut there by characters (at most room / HEAD_CHAR of them)."""
    _, report, _ = pages(spec)
    path = tmp_path / spec.replace(".yaml", ".svg")
    path.write_text(to_svg(cnncalc.load(SPECS / spec), report), encoding="utf-8")
    browser.get(path.as_uri())
    crossed, heads, cut = js(browser, HEADERS_CROSSED, "svg")
    assert crossed == [] and cut == [], (crossed, cut)
    assert heads or spec in ("lenet5.yaml", "m5_speech.yaml")
