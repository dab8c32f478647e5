"""Wall time of `cnncalc analyze`, interpreter start included, and its growth with layer count.

Targets (issue 2): under 0.3 s for a 200-layer spec including interpreter start;
linear growth with the number of layers.

    python benchmarks/bench_analyze.py [--repeat 5]

Prints one line per case: layers, best and median wall time of the whole
command (subprocess, output to a pipe) for the JSON report, best for the rich
table, and the in-process time of load + analyze alone with the time per layer.
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
sys.path.insert(0, str(ROOT))


def chain_spec(n_layers: int) -> str:
    """A plain chain of n layers: conv / batchnorm / relu triples at 56x56, 64 channels."""
    lines = ["name: generated", "input: [64, 56, 56]", "layers:"]
    cycle = ["  - conv: {out_channels: 64, kernel_size: 3, padding: 1, bias: false}",
             "  - batchnorm", "  - relu"]
    for i in range(n_layers):
        lines.append(cycle[i % 3])
    return "\n".join(lines) + "\n"


def time_command(path: Path, repeat: int, fmt: str) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnncalc", "analyze", str(path), "-f", fmt],
                       check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
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
    args = parser.parse_args()
    cases: list[tuple[str, Path]] = []
    tmp = Path(tempfile.mkdtemp(prefix="cnncalc-bench-"))
    for name in ("vgg16.yaml", "resnet50.yaml"):
        if (ROOT / "specs" / name).exists():
            cases.append((name, ROOT / "specs" / name))
    for n in (200, 1000, 2500, 5000, 10000):
        path = tmp / f"chain{n}.yaml"
        path.write_text(chain_spec(n))
        cases.append((f"chain of {n}", path))

    import cnncalc

    print(f"cnncalc analyze wall time, Python {sys.version.split()[0]}, best and median of "
          f"{args.repeat}; PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    print(f"{'spec':<16} {'layers':>7} {'json best':>10} {'median':>8} {'table best':>11} "
          f"{'in-process':>11} {'per layer':>10}")
    for label, path in cases:
        layers = len(cnncalc.load(path).nodes)
        json_times = time_command(path, args.repeat, "json")
        table_times = time_command(path, args.repeat, "table")
        inproc = time_in_process(path, args.repeat)
        print(f"{label:<16} {layers:>7} {min(json_times):>9.3f}s {statistics.median(json_times):>7.3f}s "
              f"{min(table_times):>10.3f}s {inproc:>10.4f}s {inproc / layers * 1e6:>8.1f}us")


if __name__ == "__main__":
    main()
