"""In-process time of the planning commands' computations (docs/planning.md).

Targets (issue 24): `solve batch` answers ResNet-152 training in under 0.1 s (two
footprints, closed form: no search); `sweep` over 30 sizes of ResNet-50 in under 3 s;
`diff` of two 1,200-layer chains in under 3 s (a whole alignment, 1.44 M pairs) and of
two 3,000-layer chains (9 M pairs, cut at matching names) in under 3 s; `roofline` of
ResNet-152 under 0.1 s.

    python benchmarks/bench_planning.py

Prints one line per case with the best of three wall times.
"""

from __future__ import annotations

import time
from pathlib import Path

import cnncalc
from cnncalc.analysis.capacity import Settings, solve_batch
from cnncalc.analysis.diff import diff
from cnncalc.analysis.roofline import machine, roofline
from cnncalc.analysis.sweep import expand, sweep

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def chain(n: int, extra_every: int = 0) -> str:
    """A chain of n conv/relu layers at 8x8; with ``extra_every``, a batch norm after every
    that many convolutions (the second network of a diff)."""
    lines = ["input: [8, 8, 8]", "layers:"]
    for k in range(n // 2):
        lines.append(f"  - {{conv: {{out_channels: 8, kernel_size: 3, padding: 1}}, name: c{k}}}")
        if extra_every and k % extra_every == 0:
            lines.append(f"  - {{batchnorm, name: bn{k}}}")
        lines.append(f"  - {{relu, name: r{k}}}")
    return "\n".join(lines) + "\n"


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    r152 = cnncalc.load(SPECS / "resnet152.yaml")
    print(f"solve batch ResNet-152 training:   {best(lambda: solve_batch(r152, 24 * 2 ** 30, Settings(train=True))):.3f} s")
    rep = cnncalc.analyze(r152)
    print(f"roofline ResNet-152 on a100:       {best(lambda: roofline(r152, rep, machine('a100', 'float32'))):.3f} s")
    shapes = expand("3x{224..688..16}", 2)
    print(f"sweep ResNet-50, {len(shapes)} sizes:          {best(lambda: sweep(SPECS / 'resnet50.yaml', shapes), 1):.3f} s")
    for n in (1200, 3000):
        a = cnncalc.analyze(cnncalc.loads(chain(n), "a.yaml"))
        b = cnncalc.analyze(cnncalc.loads(chain(n, 10), "b.yaml"))
        print(f"diff of two {n}-layer chains:      {best(lambda a=a, b=b: diff(a, b), 1):.3f} s")


if __name__ == "__main__":
    main()
