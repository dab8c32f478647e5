"""How long the effective receptive field takes (issue 22: "fast enough for ResNet-50 at
224x224 in a few seconds").

    python benchmarks/bench_erf.py [--repeat 3]

Prints wall-clock seconds of `cnncalc.measure.erf.effective_fields` on a loaded network
(the best of --repeat runs), every layer that has an ERF at once (one batched backward
walk), protocol uniform, float64; and of one layer alone. Target: ResNet-50 at 224x224
under 5 s for every layer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnncalc  # noqa: E402
from cnncalc.measure.erf import candidates, effective_fields  # noqa: E402

TARGET = 5.0
SPECS = ("resnet50", "resnet152", "efficientnet_b0", "densenet121", "unet_original")


def timed(net, layers, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        effective_fields(net, layers)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'spec':<18} {'input':>12} {'layers':>7} {'all (s)':>9} {'last (s)':>9}")
    ok = True
    for name in SPECS:
        net = cnncalc.load(ROOT / "specs" / f"{name}.yaml")
        layers = [n.name for n in candidates(net)]
        all_time = timed(net, None, args.repeat)
        one_time = timed(net, layers[-1:], args.repeat)
        shape = "x".join(map(str, net.input_shape))
        print(f"{name:<18} {shape:>12} {len(layers):>7} {all_time:>9.2f} {one_time:>9.2f}")
        if name == "resnet50" and all_time > TARGET:
            ok = False
            print(f"  ResNet-50 above the {TARGET} s target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
