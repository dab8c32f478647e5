"""Open `cnncalc view` pages in headless Chromium: screenshots, console errors, timing.

    python benchmarks/view_screenshots.py [OUT_DIR]      (default: /tmp/cnncalc-view)

Uses Debian's `chromium` package (`apt-get install chromium`); installs nothing. For
LeNet-5, ResNet-50 and the original U-Net it writes NAME.html and, as Chromium renders
it, NAME.png (the top of the page: the graph) and NAME-rf.png (the page with the graph
section hidden: a unit's receptive field, the per-layer chart, the table).
It fails (exit 1) if a page logs anything to the console (an error, or the page
script's own check that its per-unit receptive fields equal cnncalc's), or if the
script did not finish (the DOM Chromium dumps lacks data-ready="1").

Then it times `cnncalc view specs/densenet121.yaml -o FILE` end to end (a fresh
process, best of 3) and the page's writing alone; the target is under 1 s.
Not run by the test suite.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ("lenet5", "resnet50", "unet_original")
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
        dom = browse(exe, url, "--dump-dom")
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
        ok = ready and not errors
        failures += not ok
        print(f"{name:14} {'ok' if ok else 'FAILED'}  script finished: {ready}  console "
              f"messages: {len(errors)}  page {page.stat().st_size:,} B  -> {out / (name + '.png')}")
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
    from cnncalc.view import to_html

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
