"""Wall time of reading torchvision's models from PyTorch (issue 26).

    python benchmarks/bench_torch_import.py [--repeat 3] [MODEL ...]

For each torchvision model of specs/ (default: all), builds it (weights=None, the spec's
constructor arguments) and times, best and median of ``--repeat``: ``torch.export`` alone,
and ``cnncalc.from_torch`` (export, the walk, the spec's load); then the time of
``cnncalc.analyze`` on the result, and whether the totals equal the spec's. Model
construction is not timed. The machine may be shared: the numbers move with its load.

Needs torch and torchvision: pip install 'cnncalc[torch]' torchvision.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cnncalc  # noqa: E402
from cnncalc.io.torch_import import capture, import_torchvision  # noqa: E402
from tests.test_torch_import import ZOO  # noqa: E402  (the models and their arguments)


def _timed(fn, repeat: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(ZOO))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import_torchvision()
    import torchvision

    print(f"{'model':<22} {'export best/median':>20} {'from_torch best/median':>24} {'analyze':>8}  totals")
    for name in args.models:
        spec, kwargs, shape, training = ZOO[name]
        module = torchvision.models.get_model(name, weights=None, **kwargs)
        eb, em, _ = _timed(lambda m=module, s=shape, t=training: capture(m, s, t), args.repeat)
        fb, fm, net = _timed(lambda m=module, s=shape, t=training: cnncalc.from_torch(m, s, training=t),
                             args.repeat)
        start = time.perf_counter()
        got = cnncalc.analyze(net).totals
        analyse = time.perf_counter() - start
        want = cnncalc.analyze(cnncalc.load(ROOT / "specs" / f"{spec}.yaml")).totals
        same = (got.params, got.buffers, got.macs) == (want.params, want.buffers, want.macs)
        print(f"{name:<22} {eb:>9.2f}/{em:<9.2f}s {fb:>11.2f}/{fm:<10.2f}s {analyse:>7.2f}s  "
              f"{'= spec' if same else 'DIFFERENT'}", flush=True)


if __name__ == "__main__":
    main()
