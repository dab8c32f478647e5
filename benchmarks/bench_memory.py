"""Memory estimates against measurements (issue 16).

For each spec: the inference peak cnncalc estimates under each policy (``--memory-policy
graph`` and ``eager``) and the training footprint (`cnncalc analyze`), and for the NumPy
executor's own policy the
estimate and the peak measured with tracemalloc while it runs (`verify --memory
[--train]`), with their ratio.

    python benchmarks/bench_memory.py [SPEC ...]   (default: a handful of the zoo)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnncalc  # noqa: E402
from cnncalc.measure.memory import measure  # noqa: E402

DEFAULT = ["lenet5", "alexnet_torchvision", "resnet18", "mobilenet_v2", "squeezenet1_0", "unet_padded",
           "unet_original"]  # the original U-Net at its 572x572 (tests/test_memory.py runs 380)


def main() -> None:
    specs = sys.argv[1:] or [str(ROOT / "specs" / f"{name}.yaml") for name in DEFAULT]
    print(f"{'spec':<22} {'peak graph':>14} {'peak eager':>14} {'train (adam)':>14}   "
          f"{'executor: est':>14} {'measured':>14} {'ratio':>6}   {'train est':>14} {'measured':>14} {'ratio':>6}")
    for spec in specs:
        net = cnncalc.load(spec)
        mem = cnncalc.analyze(net, memory_policy="graph").totals.memory
        eager = cnncalc.analyze(net, memory_policy="eager").totals.memory
        inf, trn = measure(net), measure(net, train=True)
        print(f"{Path(spec).stem:<22} {mem.inference_total_bytes:>14,} {eager.inference_total_bytes:>14,} "
              f"{mem.training.total_bytes:>14,}   "
              f"{inf.estimated_bytes:>14,} {inf.measured_bytes:>14,} {inf.ratio:>6.3f}   "
              f"{trn.estimated_bytes:>14,} {trn.measured_bytes:>14,} {trn.ratio:>6.3f}", flush=True)


if __name__ == "__main__":
    main()
