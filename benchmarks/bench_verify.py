"""How the cost of `cnncalc verify` grows with depth (issue 20).

Targets: a chain of N blocks of 3x3 convolution (8 channels, padding 1) + ReLU on
an 8x32x32 input, 200 blocks / 50 blocks at most 5x (4x the depth: linear growth
is 4x); ResNet-152 / ResNet-50 (specs/) at most 4x (ResNet-152 has 2.9x the
layers). It also verifies specs/vit_b_16.yaml and specs/nonlocal_resnet50.yaml at
224 x 224, which tests/test_zoo_verify.py skips or verifies smaller (issue 26). Before issue 20 the chain ratio was 19 (1.0 s, 3.7 s, 18.4 s) and the
ResNet ratio 12.8 (2.0 s, 25.8 s from the command line): one backward pass per
probed layer, and a weights lookup that scanned every key per node.

    python benchmarks/bench_verify.py [--repeat 1] [--quick]

Times are wall-clock seconds of `cnncalc.measure.verify.verify` on a loaded
network (the best of --repeat runs), the spec's own input size; each run must
verify ok, or the script says which figure did not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnncalc  # noqa: E402
from cnncalc.measure.verify import verify  # noqa: E402

CHAIN_TARGET, RESNET_TARGET = 5.0, 4.0


def chain(blocks: int):
    """N blocks of 3x3 conv (8 channels, padding 1) + ReLU on 8x32x32."""
    block = "  - conv: {out_channels: 8, kernel_size: 3, padding: 1}\n  - relu\n"
    return cnncalc.loads("input: [8, 32, 32]\nlayers:\n" + block * blocks, f"chain{blocks}.yaml")


def timed(net, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = verify(net)
        best = min(best, time.perf_counter() - start)
        if not result.ok:
            bad = [f"{r.name}: {r.note}" for r in result.rows if not r.ok]
            print(f"  {net.name}: NOT OK: {bad[:3]}")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the chains only")
    args = parser.parse_args()
    ok = True
    times = {}
    for blocks in (50, 100, 200):
        times[blocks] = timed(chain(blocks), args.repeat)
        print(f"chain of {blocks:3d} blocks ({2 * blocks} layers): {times[blocks]:7.2f} s")
    ratio = times[200] / times[50]
    ok &= ratio <= CHAIN_TARGET
    print(f"chain 200 / 50 blocks: {ratio:.2f} (target <= {CHAIN_TARGET:g}; linear: 4)")
    if not args.quick:
        res = {}
        for name in ("resnet50", "resnet152"):
            net = cnncalc.load(ROOT / "specs" / f"{name}.yaml")
            res[name] = timed(net, args.repeat)
            print(f"{name} ({len(net.nodes)} layers): {res[name]:7.2f} s")
        ratio = res["resnet152"] / res["resnet50"]
        ok &= ratio <= RESNET_TARGET
        print(f"ResNet-152 / ResNet-50: {ratio:.2f} (target <= {RESNET_TARGET:g})")
        # attention (issue 26): the specs tests/test_zoo_verify.py verifies smaller or not at all
        for name in ("vit_b_16", "nonlocal_resnet50"):
            net = cnncalc.load(ROOT / "specs" / f"{name}.yaml")
            start = time.perf_counter()
            result = verify(net)
            took = time.perf_counter() - start
            ok &= result.ok
            print(f"{name} at 224 x 224 ({len(net.nodes)} layers): {took:7.2f} s, "
                  f"{'ok' if result.ok else 'NOT OK'} ({result.counts()['ok']:,} figures agree)")
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
