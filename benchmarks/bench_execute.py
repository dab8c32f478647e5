"""The NumPy executor against PyTorch's CPU forward, its peak memory, and verify's time.

Targets (issue 4): VGG-16 at 224x224, batch 1, float32 within 1.5x of PyTorch's
CPU forward on the same machine; ResNet-50 within 2x; peak memory within 2x of
the largest live activations plus weights; `cnncalc verify specs/resnet50.yaml`
under 60 s on 2 cores.

    python benchmarks/bench_execute.py [--repeat 5] [--no-verify]

PyTorch is not a dependency: the comparison runs when `import torch` works
(e.g. `pip install torch==2.13.0`) and is skipped otherwise. Both sides get the
same weights and input; their outputs are compared too.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnncalc  # noqa: E402
from cnncalc.measure.execute import check_weights, estimate_memory, forward  # noqa: E402


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up: BLAS threads, page faults
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def torch_model(name: str):
    """The torchvision architecture, built from torch.nn (torchvision is not needed)."""
    import torch.nn as nn

    if name == "vgg16":
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(25088, 4096),
                             nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(True),
                             nn.Dropout(), nn.Linear(4096, 1000))
    if name == "resnet50":

        class Bottleneck(nn.Module):
            def __init__(self, cin, width, stride, project):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
                    nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                    nn.ReLU(True), nn.Conv2d(width, width * 4, 1, bias=False), nn.BatchNorm2d(width * 4))
                self.short = nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride, bias=False),
                                           nn.BatchNorm2d(width * 4)) if project else nn.Identity()

            def forward(self, x):
                return (self.body(x) + self.short(x)).relu()

        blocks, cin = [], 64
        for width, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(n):
                blocks.append(Bottleneck(cin, width, stride if i == 0 else 1, i == 0))
                cin = width * 4
        return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
                             nn.MaxPool2d(3, 2, 1), *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(2048, 1000))
    raise ValueError(name)


def load_into_torch(model, net, weights) -> None:
    """Copy cnncalc's weights into the torch model, in order (same layouts)."""
    import torch

    ours = [weights[f"{n.name}.{k}"] for n in net.nodes
            for k in (*n.layer.param_shapes(), *n.layer.buffer_shapes())]
    theirs = [t for name, t in model.state_dict().items() if not name.endswith("num_batches_tracked")]
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    with torch.no_grad():
        for a, t in zip(ours, theirs):
            assert tuple(a.shape) == tuple(t.shape), (a.shape, t.shape)
            t.copy_(torch.from_numpy(np.ascontiguousarray(a)))


def bench_forward(name: str, repeat: int) -> None:
    net = cnncalc.load(ROOT / "specs" / f"{name}.yaml")
    x = np.random.default_rng(0).standard_normal((1, *net.input_shape)).astype(np.float32)
    # the tensors the layers ask for, drawn once, then given: the timing is the forward pass
    weights = check_weights(net, forward(net, x, None, 0, keep="outputs").weights, 0, np.float32)
    ours = best_of(lambda: forward(net, x, weights, checked=True, keep="outputs"), repeat)
    line = f"{name:<9} cnncalc {ours:.3f}s"
    try:
        import torch
    except ImportError:
        print(line + "   (torch not installed: comparison skipped)")
    else:
        torch.set_grad_enabled(False)
        model = torch_model(name).eval()
        load_into_torch(model, net, weights)
        tx = torch.from_numpy(x)
        theirs = best_of(lambda: model(tx), repeat)
        out = forward(net, x, weights, checked=True, keep="outputs").values[net.outputs[0]]
        diff = float(np.abs(out - model(tx).numpy()).max())
        line += (f"   torch {theirs:.3f}s ({torch.get_num_threads()} threads)   ratio {ours / theirs:.2f}"
                 f"   max |difference| of the outputs {diff:.2e}")
        print(line)
    # peak memory: traced allocations of one forward pass (intermediates freed)
    est = estimate_memory(net, 1, 4, keep="outputs")
    live = max_live_activations(net, 4)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    forward(net, x, weights, checked=True, keep="outputs")
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(f"{'':<9} peak traced {peak / 2**20:.1f} MiB above the weights ({est.weight_bytes / 2**20:.1f} MiB); "
          f"largest live activations {live / 2**20:.1f} MiB; "
          f"(weights + peak) / (weights + largest live) = {(est.weight_bytes + peak) / (est.weight_bytes + live):.2f}")


def max_live_activations(net, itemsize: int) -> int:
    """Bytes of the outputs alive at once (an output lives until its last consumer ran)."""
    last = {}
    for i, node in enumerate(net.nodes):
        for name in node.inputs + node.refs:
            last[name] = i
    live = {"input": int(np.prod(net.input_shape)) * itemsize}
    best = 0
    for i, node in enumerate(net.nodes):
        live[node.name] = int(np.prod(node.layer.out_shape)) * itemsize
        best = max(best, sum(live.values()))
        for name in node.inputs + node.refs:
            if last.get(name) == i and name not in net.outputs:
                live.pop(name, None)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args()
    print(f"forward pass, batch 1, float32, best of {args.repeat}")
    for name in ("vgg16", "resnet50"):
        bench_forward(name, args.repeat)
    if not args.no_verify:
        from cnncalc.measure.verify import verify

        net = cnncalc.load(ROOT / "specs" / "resnet50.yaml")
        start, cpu = time.perf_counter(), time.process_time()
        result = verify(net)
        counts = result.counts()
        print(f"verify resnet50: {time.perf_counter() - start:.1f}s ({time.process_time() - cpu:.1f}s CPU: "
              f"the wall time depends on what else the cores run), "
              f"{'all layers agree' if result.ok else 'MISMATCH'} ({counts['ok']:,} figures agree, "
              f"{counts['mismatch']} disagree, {counts['not measured']} not measured), "
              f"probe sizes {result.probe_sizes}")


if __name__ == "__main__":
    main()
