"""Open `cnncalc view` pages in headless Chromium: screenshots, console errors, timing.

    python benchmarks/view_screenshots.py [OUT_DIR]      (default: /tmp/cnncalc-view)

Uses Debian's `chromium` package (`apt-get install chromium`); installs nothing. For
LeNet-5, ResNet-50, the original U-Net and DenseNet-121 it writes NAME.html and, as Chromium renders
it, NAME.png (the top of the page: the graph) and NAME-rf.png (the page with the graph
section hidden: a unit's receptive field, the per-layer chart, the table).
It fails (exit 1) if a page logs anything to the console (an error, or the page
script's own check that its first unit's field equals cnncalc's), if the script did
not finish (the DOM Chromium dumps lacks data-ready="1"), or if the page's evaluation
of the per-unit fields differs from cnncalc.core.rf's for any of several units per layer
and axis (first, second, centre, last two, and a few between).

Then it times `cnncalc view specs/densenet121.yaml -o FILE` end to end (a fresh
process, best of 3) and the page's writing alone; the target is under 1 s.
Not run by the test suite.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ("lenet5", "resnet50", "unet_original", "densenet121")
CONSOLE = re.compile(r":CONSOLE[:(]")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("chromium not found: apt-get install -y chromium (this script installs nothing)")


def browse(exe: str, url: str, *extra: str, size: str = "1400,1800") -> subprocess.CompletedProcess:
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", f"--window-size={size}", *extra, url],
        capture_output=True, text=True, timeout=120)


CHECK_JS = """
(function(){
  const D = JSON.parse(document.getElementById("cnncalc-data").textContent);
  let agree = 0;
  for (const [layer, axis, o, lo, hi] of SAMPLES){
    const got = window.cnncalcFieldAt(D.fields[layer][axis], o);
    if (got[0] === lo && got[1] === hi) agree++;
    else console.error("field of " + layer + " unit " + o + " axis " + axis + ": page " + got + ", cnncalc " + [lo, hi]);
  }
  document.body.dataset.fieldsAgree = String(agree);
})();
"""


def field_samples(spec: Path, per_layer: int = 5) -> list:
    """(layer, axis, unit, first, last) from cnncalc.core.rf for units spread over each layer."""
    sys.path.insert(0, str(ROOT))
    import cnncalc
    from cnncalc.present.view import MAX_TABLE, node_axes

    net = cnncalc.load(spec)
    samples = []
    fields = node_axes(net)
    for node in net.nodes:
        axes = fields[node.name]
        if not axes:
            continue
        for k, a in enumerate(axes):
            if a is None or sum(c.period for c in a.components) > MAX_TABLE:
                continue
            n = node.facts.out_shape[1 + k]
            for o in sorted({0, 1, n // 2, n - 2, n - 1, *range(0, n, max(1, n // per_layer))}):
                if 0 <= o < n:
                    samples.append([node.name, k, o, *a.at(o)])
    return samples


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/cnncalc-view")
    out.mkdir(parents=True, exist_ok=True)
    exe = chromium()
    cli = [sys.executable, "-m", "cnncalc"]
    failures = 0
    for name in SPECS:
        page = out / f"{name}.html"
        subprocess.run([*cli, "view", str(ROOT / "specs" / f"{name}.yaml"), "-o", str(page)],
                       check=True)
        url = page.resolve().as_uri()
        # the page's evaluation of per-unit fields against cnncalc's, for sampled units
        checked = out / f"{name}-checked.html"
        samples = field_samples(ROOT / "specs" / f"{name}.yaml")
        checked.write_text(page.read_text(encoding="utf-8").replace(
            "</body>", "<script>" + CHECK_JS.replace("SAMPLES", json.dumps(samples)) + "</script></body>", 1),
            encoding="utf-8")
        dom = browse(exe, checked.resolve().as_uri(), "--dump-dom")
        errors = [line for line in dom.stderr.splitlines() if CONSOLE.search(line)]
        ready = 'data-ready="1"' in dom.stdout
        shot = browse(exe, url, f"--screenshot={out / (name + '.png')}")
        # the same page with the graph hidden: the unit's field, the chart, the table
        lower = out / f"{name}-lower.html"
        lower.write_text(page.read_text(encoding="utf-8").replace(
            "</head>", "<style>#graph-sec{display:none}</style></head>", 1), encoding="utf-8")
        shot_rf = browse(exe, lower.resolve().as_uri(), f"--screenshot={out / (name + '-rf.png')}",
                         size="1400,2400")
        errors += [line for p in (shot, shot_rf) for line in p.stderr.splitlines()
                   if CONSOLE.search(line)]
        agreed = f'data-fields-agree="{len(samples)}"' in dom.stdout
        ok = ready and agreed and not errors
        failures += not ok
        print(f"{name:14} {'ok' if ok else 'FAILED'}  script finished: {ready}  unit fields as "
              f"cnncalc's: {len(samples) if agreed else 'NO'}  console messages: {len(errors)}  "
              f"page {page.stat().st_size:,} B  -> {out / (name + '.png')}")
        for line in errors:
            print("    " + line)
    spec = ROOT / "specs" / "densenet121.yaml"
    target = out / "densenet121.html"
    times, cpu = [], []
    for _ in range(3):
        t = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([*cli, "view", str(spec), "-o", str(target)], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(time.perf_counter() - t)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    sys.path.insert(0, str(ROOT))
    import cnncalc
    from cnncalc.present.view import to_html

    net = cnncalc.load(spec)
    report = cnncalc.analyze(net)
    t = time.perf_counter()
    to_html(net, report)
    inner = time.perf_counter() - t
    print(f"densenet121: `cnncalc view` {min(times):.3f} s end to end (best of 3; target < 1 s), "
          f"{min(cpu):.3f} s of CPU (what a busy machine does not inflate); writing the page "
          f"{inner:.3f} s; page {target.stat().st_size:,} B; load average {os.getloadavg()[0]:.1f}")
    return 1 if failures or min(times) >= 1.0 else 0


if __name__ == "__main__":
    sys.exit(main())
