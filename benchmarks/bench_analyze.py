"""Wall time of `cnncalc analyze`, interpreter start included, and its growth with layer count.

Targets (issue 2): under 0.3 s for a 200-layer spec including interpreter start;
linear growth with the number of layers. Issue 14: the table path at most 1.3x the
JSON path (ResNet-50 and a 200-layer chain); the 10,000-layer chain at most 10x
the 100-layer chain, start-up included. Both ratios are printed at the end.

    python benchmarks/bench_analyze.py [--repeat 5] [--quick] [--root CHECKOUT]

``--quick`` times only the cases the ratios need; ``--root`` times another
checkout's cnncalc (to measure before and after a change).

Prints one line per case: layers, best and median wall time of the whole
command (subprocess, output to a pipe) for the JSON report, best for the
table, the best CPU time (user + system) of each, and the in-process time of
load + analyze alone with the time per layer. On a machine shared with other
work, the CPU figures are the steadier ones; both ratios are printed.
Byte-compile the package first (a regular `pip install .` does; an editable
install under PYTHONDONTWRITEBYTECODE=1 recompiles it at every start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chain_spec(n_layers: int) -> str:
    """A plain chain of n layers: conv / batchnorm / relu triples at 56x56, 64 channels."""
    lines = ["name: generated", "input: [64, 56, 56]", "layers:"]
    cycle = ["  - conv: {out_channels: 64, kernel_size: 3, padding: 1, bias: false}",
             "  - batchnorm", "  - relu"]
    for i in range(n_layers):
        lines.append(cycle[i % 3])
    return "\n".join(lines) + "\n"


def time_command(path: Path, repeat: int, fmt: str, root: Path = ROOT) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each run of the whole command; CPU is the child's user +
    system time, which other processes on a shared machine disturb far less."""
    import resource

    env = {**os.environ, "PYTHONPATH": str(root)}
    times = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnncalc", "analyze", str(path), "-f", fmt],
                       check=True, stdout=subprocess.PIPE, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        times.append((wall, cpu))
    return times


def time_in_process(path: Path, repeat: int) -> float:
    import cnncalc

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        cnncalc.analyze(cnncalc.load(path))
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="only the cases of the two ratios")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose cnncalc to time")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    cases: list[tuple[str, Path]] = []
    tmp = Path(tempfile.mkdtemp(prefix="cnncalc-bench-"))
    names = ("resnet50.yaml",) if args.quick else ("vgg16.yaml", "resnet50.yaml")
    for name in names:
        if (ROOT / "specs" / name).exists():
            cases.append((name, ROOT / "specs" / name))
    for n in (100, 200, 10000) if args.quick else (100, 200, 1000, 2500, 5000, 10000):
        path = tmp / f"chain{n}.yaml"
        path.write_text(chain_spec(n))
        cases.append((f"chain of {n}", path))

    import cnncalc

    print(f"cnncalc analyze wall time ({cnncalc.__file__}), Python {sys.version.split()[0]}, best and "
          f"median of {args.repeat}; PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    print(f"{'spec':<16} {'layers':>7} {'json best':>10} {'median':>8} {'table best':>11} "
          f"{'json CPU':>9} {'table CPU':>10} {'in-process':>11} {'per layer':>10}")
    best: dict[str, tuple[float, float, float, float]] = {}
    for label, path in cases:
        layers = len(cnncalc.load(path).nodes)
        json_times = time_command(path, args.repeat, "json", root)
        table_times = time_command(path, args.repeat, "table", root)
        inproc = time_in_process(path, args.repeat)
        jw, tw = min(w for w, _ in json_times), min(w for w, _ in table_times)
        jc, tc = min(c for _, c in json_times), min(c for _, c in table_times)
        best[label] = (jw, tw, jc, tc)
        print(f"{label:<16} {layers:>7} {jw:>9.3f}s {statistics.median(w for w, _ in json_times):>7.3f}s "
              f"{tw:>10.3f}s {jc:>8.3f}s {tc:>9.3f}s {inproc:>10.4f}s {inproc / layers * 1e6:>8.1f}us")
    print()
    for label in ("resnet50.yaml", "chain of 200"):
        if label in best:
            jw, tw, jc, tc = best[label]
            print(f"table / JSON, {label}: wall {tw:.3f} / {jw:.3f} = {tw / jw:.2f}; "
                  f"CPU {tc:.3f} / {jc:.3f} = {tc / jc:.2f} (target <= 1.3)")
    if "chain of 100" in best and "chain of 10000" in best:
        small, large = best["chain of 100"], best["chain of 10000"]
        print(f"JSON 10,000 / 100 layers, start-up included: wall {large[0]:.3f} / {small[0]:.3f} = "
              f"{large[0] / small[0]:.2f}; CPU {large[2]:.3f} / {small[2]:.3f} = "
              f"{large[2] / small[2]:.2f} (target <= 10)")


if __name__ == "__main__":
    main()
