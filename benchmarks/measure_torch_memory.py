"""PyTorch's own memory figures for the torchvision nets behind specs/ and both U-Nets
(issue 24), the reference tests/test_memory_torch.py checks cnncalc against.

Runs only with torch + torchvision (not dependencies of cnncalc), on CPU:

    /work/scratch/cvenv/bin/python benchmarks/measure_torch_memory.py [NAME ...]

Writes tests/data/torch_memory.json and prints a table. For each net, batch 1 and 2
(the figures must be linear in the batch: fixed + batch x per sample):

- ``saved_bytes``: the tensors autograd keeps for backward in one training-mode forward
  (``model.train()``, float32, the input needs no gradient), seen by
  ``torch.autograd.graph.saved_tensors_hooks``. Each saved tensor is counted by its
  *untyped storage* (``t.untyped_storage().data_ptr()`` -> ``nbytes()``), once: a saved
  view keeps its whole base storage alive, and two ops saving the same tensor store it
  once. Storages of parameters and buffers are left out (cnncalc counts them as
  parameters and buffers). The hook returns the tensor itself, so every saved storage is
  alive until the forward ends and no two live storages share a data_ptr.
- ``eager_peak_bytes``: the largest sum of live activation bytes during one
  ``torch.no_grad()`` eval-mode forward, PyTorch's eager mode. Measured with the
  profiler's memory events (``torch.profiler.profile(profile_memory=True)``): every
  allocation and free of c10's CPU allocator is an ``Allocation`` event with its size
  (negative for a free); the running sum in time order is the exact live bytes, and its
  maximum is the peak. Parameters and the input exist before the profiler starts; the
  input's bytes are added (the caller holds it for the whole call). The output is live
  at the end. Kernel temporaries that go through c10's allocator (max pooling's int64
  indices) count; oneDNN's own scratchpads do not go through it.
- ``backward_peak_bytes`` (cnncalc.analysis.memory.backward_peak models it): the largest
  sum of bytes allocated and still live during ``out.backward(g)`` of a training-mode step
  (the parameters trainable, their ``.grad`` already allocated by a first step and
  zeroed in place, as in every later step; ``g`` of the output's shape allocated by the
  caller before, not counted), from the profiler's memory events, counting only blocks
  allocated inside the profile (``_own_peak``). The saved tensors were allocated before
  the profiler started, so their frees are not counted: the figure is what the backward
  pass allocates on top of everything live when it starts.
  ``backward_peak_frozen_bytes``: the same with every parameter frozen and the input
  needing a gradient, so that only activation gradients and the kernels' temporaries for
  them are allocated. ``--backward NAME ...`` measures only these (and
  ``backward_peak_bytes_repeat``, a second run of the trainable figure).
  ``backward_cases``: the same figures, frozen and trainable at batch 1 and 2, for the
  small blocks of ``BACKWARD_CASES`` (tests/test_memory_torch.py writes each as a spec).

Each torchvision constructor is called with the arguments that give the spec's layers
(GoogLeNet without its auxiliary heads, Inception-v3 with its one, as the specs are), and the script checks that the
model's parameter count equals the spec's (cnncalc's ``params``). Activations are built
with the spec's in-place flags: the specs write none, so every module's ``inplace`` is
set False (``as_built`` repeats the saved bytes with torchvision's own in-place flags).
"""

from __future__ import annotations

import gc
import json
import platform
import sys
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "torch_memory.json"

TORCHVISION = {  # spec -> (constructor, keyword arguments, input shape)
    "resnet18": ("resnet18", {}), "resnet50": ("resnet50", {}), "vgg11": ("vgg11", {}),
    "vgg16": ("vgg16", {}), "mobilenet_v2": ("mobilenet_v2", {}),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}), "efficientnet_b0": ("efficientnet_b0", {}),
    "densenet121": ("densenet121", {}), "convnext_tiny": ("convnext_tiny", {}),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}), "squeezenet1_0": ("squeezenet1_0", {}),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}),
    "inception_v3": ("inception_v3", {"aux_logits": True, "init_weights": False}),  # the aux head: a second output
    "alexnet_torchvision": ("alexnet", {}), "regnet_y_400mf": ("regnet_y_400mf", {}),
}
INPUT = {"inception_v3": (3, 299, 299), "unet_original": (1, 572, 572), "unet_padded": (3, 256, 256)}


class DoubleConv(nn.Sequential):
    """specs/unet_*.yaml's double_conv: (conv 3x3 [bn] relu) twice."""

    def __init__(self, cin: int, ch: int, padded: bool):
        layers: list[nn.Module] = []
        for c in (cin, ch):
            layers.append(nn.Conv2d(c, ch, 3, padding=1 if padded else 0, bias=not padded))
            if padded:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.ReLU())
        super().__init__(*layers)


class Up(nn.Module):
    """specs/unet_*.yaml's up: up-convolution, (crop the skip,) concatenate, double_conv."""

    def __init__(self, cin: int, ch: int, padded: bool):
        super().__init__()
        self.padded = padded
        self.upconv = nn.ConvTranspose2d(cin, ch, 2, stride=2)
        self.conv = DoubleConv(2 * ch, ch, padded)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.upconv(x)  # torchvision's style: one name rebound, so each step frees the last
        if not self.padded:  # centre-crop the skip to the up-convolution's size: a view
            dh, dw = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
            skip = skip[:, :, dh:dh + x.shape[2], dw:dw + x.shape[3]]
            x = torch.cat([skip, x], 1)  # the spec: the crop, concat: {with: upconv}
        else:
            x = torch.cat([x, skip], 1)  # the spec: concat: {with: skip} on the upconv
        return self.conv(x)


class UNet(nn.Module):
    """specs/unet_original.yaml (padded False) and specs/unet_padded.yaml (padded True),
    with a torchvision-style forward: each stage a module called on its input, one name
    rebound from step to step, the skips e1..e4 kept by name (locals until it returns)."""

    def __init__(self, cin: int, padded: bool):
        super().__init__()
        self.enc1, self.enc2 = DoubleConv(cin, 64, padded), DoubleConv(64, 128, padded)
        self.enc3, self.enc4 = DoubleConv(128, 256, padded), DoubleConv(256, 512, padded)
        self.pool = nn.MaxPool2d(2)
        self.bottom = DoubleConv(512, 1024, padded)
        self.dec4, self.dec3 = Up(1024, 512, padded), Up(512, 256, padded)
        self.dec2, self.dec1 = Up(256, 128, padded), Up(128, 64, padded)
        self.logits = nn.Conv2d(64, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the skips are kept by name until the forward returns; the rest rebinds one name
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        e4 = self.enc4(self.pool(e3))
        d = self.bottom(self.pool(e4))
        d = self.dec4(d, e4)
        d = self.dec3(d, e3)
        d = self.dec2(d, e2)
        d = self.dec1(d, e1)
        return self.logits(d)


def build(name: str) -> nn.Module:
    if name == "unet_original":
        return UNet(1, False)
    if name == "unet_padded":
        return UNet(3, True)
    ctor, kwargs = TORCHVISION[name]
    return getattr(torchvision.models, ctor)(weights=None, **kwargs)


def set_inplace(model: nn.Module, value: bool) -> None:
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = value


def saved_bytes(model: nn.Module, shape, batch: int) -> int:
    """Bytes of the distinct storages autograd saves in one training forward."""
    model.train()
    own = {t.untyped_storage().data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in own:
            storages[s.data_ptr()] = s.nbytes()
        return t

    torch.manual_seed(0)
    x = torch.randn(batch, *shape)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    del out
    return sum(storages.values())


def eager_peak(model: nn.Module, shape, batch: int) -> int:
    """The peak of live activation bytes in one no_grad eval forward (profiler memory events)."""
    model.eval()
    x = torch.randn(batch, *shape)
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = model(x)
    del out
    return _events_peak(prof) + x.numel() * x.element_size()


def _events_peak(prof) -> int:
    """The largest running sum of the profiler's allocation events, in time order."""
    events = []

    def walk(e) -> None:
        if e.tag == _EventType.Allocation:
            events.append((e.start_time_ns, e.extra_fields.alloc_size))
        for c in e.children:
            walk(c)

    for root in prof.profiler.kineto_results.experimental_event_tree():
        walk(root)
    live = peak = 0
    for _, size in sorted(events, key=lambda e: e[0]):
        live += size
        peak = max(peak, live)
    return peak


def _own_peak(prof) -> int:
    """The largest running sum, in time order (ties in the event tree's order), of the
    blocks allocated inside the profile: a free of a block allocated before it started
    (a tensor of an earlier step that Python's collector frees meanwhile) is not counted,
    so it cannot lower the baseline (the running total the events carry counts it: a
    figure taken from it moved by up to 1 MB between runs)."""
    events = []

    def walk(e) -> None:
        if e.tag == _EventType.Allocation:
            f = e.extra_fields
            events.append((e.start_time_ns, len(events), f.ptr, f.alloc_size))
        for c in e.children:
            walk(c)

    for root in prof.profiler.kineto_results.experimental_event_tree():
        walk(root)
    mine: set[int] = set()
    live = peak = 0
    for _, _, ptr, size in sorted(events):
        if size > 0:
            mine.add(ptr)
        elif ptr in mine:
            mine.discard(ptr)
        else:
            continue
        live += size
        peak = max(peak, live)
    return peak


def backward_peak(model: nn.Module, shape, batch: int, frozen: bool = False) -> int:
    """The peak of bytes allocated during one training backward pass (profiler memory
    events), the parameters' gradients allocated by a first step (``frozen``: no
    parameter needs a gradient, the input does)."""
    model.train()
    for p in model.parameters():
        p.requires_grad_(not frozen)
    torch.manual_seed(0)
    x = torch.randn(batch, *shape, requires_grad=frozen)
    if not frozen:
        model(x).sum().backward()  # the first step allocates every .grad
        model.zero_grad(set_to_none=False)
    out = model(x)
    g = torch.ones_like(out)
    gc.collect()  # no earlier profile's tensor is freed inside this one
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out.backward(g)
    return _own_peak(prof)


class ResidualBlock(nn.Module):
    """a = conv0(x); y = a + conv2(relu(conv1(a))); conv3(y): ``a`` has two consumers."""

    def __init__(self):
        super().__init__()
        self.c0, self.c1, self.c2, self.c3 = (nn.Conv2d(4, 4, 3, padding=1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.c0(x)
        return self.c3(a + self.c2(torch.relu(self.c1(a))))


class ConcatSkip(nn.Module):
    """a = conv0(x); conv2(cat([a, conv1(a)])): ``a`` has two consumers, one a concat."""

    def __init__(self):
        super().__init__()
        self.c0, self.c1 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.c2 = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.c0(x)
        return self.c2(torch.cat([a, self.c1(a)], 1))


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class DownsampleBlock(nn.Module):
    """torchvision's BasicBlock with a 1x1 downsample, behind a stem convolution:
    a = conv0(x); relu(bn2(conv2(relu(bn1(conv1(a))))) + bn3(conv3(a)))."""

    def __init__(self):
        super().__init__()
        self.c0, self.c1, self.c2 = _conv(16, 16), _conv(16, 32, stride=2), _conv(32, 32)
        self.c3 = _conv(16, 32, 1, stride=2)
        self.b1, self.b2, self.b3 = nn.BatchNorm2d(32), nn.BatchNorm2d(32), nn.BatchNorm2d(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.c0(x)
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(a)))))
        return torch.relu(y + self.b3(self.c3(a)))


# the small cases: (module, input shape per sample); tests/test_memory_torch.py writes each
# as a spec and derives its backward peak tensor by tensor
BACKWARD_CASES = {
    # every activation 4 x 8 x 8 float32 (1,024 B): convolutions on the slow path
    "residual_block": (ResidualBlock, (4, 8, 8)),
    "concat_skip": (ConcatSkip, (4, 8, 8)),
    # 16 x 40 x 40 (102,400 B): oneDNN convolutions
    "onednn_chain": (lambda: nn.Sequential(_conv(16, 16), nn.ReLU(), _conv(16, 16)), (16, 40, 40)),
    "bn_pool": (lambda: nn.Sequential(_conv(16, 16), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                                      _conv(16, 32)), (16, 40, 40)),
    "downsample_block": (DownsampleBlock, (16, 40, 40)),
    "linear_head": (lambda: nn.Sequential(_conv(16, 16), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                          nn.Linear(16, 10)), (16, 40, 40)),
}


def _backward_figure(model: nn.Module, shape, batch: int, frozen: bool) -> int:
    """``backward_peak``'s figure for a small module (seeded, so that every run builds the
    same weights)."""
    torch.manual_seed(0)
    return backward_peak(model, shape, batch, frozen)


def backward_cases() -> dict[str, dict[str, int]]:
    """The backward peak of the small blocks of BACKWARD_CASES: ``frozen`` (every weight
    frozen, the input needing a gradient) and ``trainable`` (the weights trainable, their
    ``.grad`` allocated, the input needing none), at batch 1 and 2."""
    cases = {}
    for name, (block, shape) in BACKWARD_CASES.items():
        torch.manual_seed(0)
        model = block()
        cases[name] = {f"{kind}_b{b}": _backward_figure(model, shape, b, kind == "frozen")
                       for kind in ("frozen", "trainable") for b in (1, 2)}
    return cases


def kernel_cases() -> dict[str, int]:
    """Single-op figures tests/test_memory_torch.py derives by hand: the no_grad peak of one
    layer (input included, held by the caller), and the second optimizer step's peak."""
    cases = {}
    ops = {"conv16to16_40_b1": (nn.Conv2d(16, 16, 3, padding=1), (1, 16, 40, 40)),
           "conv16to16_40_b2": (nn.Conv2d(16, 16, 3, padding=1), (2, 16, 40, 40)),
           "conv3to8_16_b1": (nn.Conv2d(3, 8, 3, padding=1), (1, 3, 16, 16)),
           "lenet_conv1_b1": (nn.Conv2d(1, 6, 5), (1, 1, 32, 32)),
           "maxpool2_4x8x8_b1": (nn.MaxPool2d(2), (1, 4, 8, 8))}
    for name, (op, shape) in ops.items():
        x = torch.randn(*shape)
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            op(x)
        cases[name] = _events_peak(prof) + x.numel() * x.element_size()
    for opt in ("adam", "adamw", "momentum"):
        mlp = nn.Sequential(nn.Linear(1000, 1000), nn.ReLU(), nn.Linear(1000, 10))
        step = {"adam": lambda p: torch.optim.Adam(p), "adamw": lambda p: torch.optim.AdamW(p),
                "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)}[opt](mlp.parameters())
        for _ in range(2):  # the second step: the state exists, as in every later step
            mlp(torch.randn(1, 1000)).sum().backward()
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                step.step()
            step.zero_grad(set_to_none=False)
        cases[f"{opt}_step_mlp1000"] = _events_peak(prof)
    return cases


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import cnncalc  # noqa: PLC0415 - the script's own path set-up comes first

    if sys.argv[1:2] == ["--backward"]:
        return backward_main(sys.argv[2:])
    names = sys.argv[1:] or [*TORCHVISION, "unet_original", "unet_padded"]
    data = json.loads(OUT.read_text()) if OUT.exists() and sys.argv[1:] else {"nets": {}}
    data.update({"torch": torch.__version__, "torchvision": torchvision.__version__,
                 "python": platform.python_version(), "device": "cpu",
                 "command": "/work/scratch/cvenv/bin/python benchmarks/measure_torch_memory.py"})
    torch.set_num_threads(1)
    print(f"{'net':<22} {'params':>11} {'saved b1':>13} {'saved b2':>13} {'as built b1':>13} "
          f"{'eager peak b1':>14} {'b2':>14}", flush=True)
    data["backward_cases"] = backward_cases()  # first: before any other profile
    print(data["backward_cases"], flush=True)
    data["cases"] = kernel_cases()
    print(data["cases"], flush=True)
    for name in names:
        model = build(name)
        shape = INPUT.get(name, (3, 224, 224))
        spec = cnncalc.analyze(cnncalc.load(ROOT / "specs" / f"{name}.yaml"))
        params = sum(p.numel() for p in model.parameters())
        assert params == spec.totals.params, (name, params, spec.totals.params)
        # Inception-v3's aux head batch-normalises a 1x1 map: training needs a batch of 2
        b1, b2 = (2, 4) if name == "inception_v3" else (1, 2)
        built = saved_bytes(model, shape, b1) if name in TORCHVISION else None
        set_inplace(model, False)
        row = {"params": params, "input": list(shape),
               "saved_bytes": {str(b): saved_bytes(model, shape, b) for b in (b1, b2)},
               "saved_bytes_as_built": {str(b1): built} if built is not None else None,
               "eager_peak_bytes": {str(b): eager_peak(model, shape, b) for b in (b1, b2)},
               "backward_peak_bytes": {str(b): backward_peak(model, shape, b) for b in (b1, b2)}}
        row["backward_peak_frozen_bytes"] = {str(b): backward_peak(model, shape, b, frozen=True)
                                             for b in (b1, b2)}
        data["nets"][name] = row
        s, e = row["saved_bytes"], row["eager_peak_bytes"]
        print(f"{name:<22} {params:>11,} {s[str(b1)]:>13,} {s[str(b2)]:>13,} {built or 0:>13,} "
              f"{e[str(b1)]:>14,} {e[str(b2)]:>14,}  (batches {b1}, {b2}) backward peak "
              f"{row['backward_peak_bytes']}", flush=True)
        OUT.write_text(json.dumps(data, indent=1) + "\n")


def backward_main(names: list[str]) -> None:
    """``--backward [NAME ...]``: only the backward peaks (the small cases, then each net's
    ``backward_peak_bytes`` and ``backward_peak_frozen_bytes`` at batch 1 and 2, the trainable
    figure measured twice to show whether it is stable: ``backward_peak_bytes_repeat``),
    merged into the existing file."""
    data = json.loads(OUT.read_text())
    data.update({"torch": torch.__version__, "torchvision": torchvision.__version__,
                 "python": platform.python_version(), "device": "cpu"})
    data["backward_command"] = ("/work/scratch/cvenv/bin/python benchmarks/measure_torch_memory.py "
                                "--backward " + " ".join(names))
    torch.set_num_threads(1)
    data["backward_cases"] = backward_cases()
    print(json.dumps(data["backward_cases"], indent=1), flush=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    for name in names:
        model = build(name)
        set_inplace(model, False)
        shape = INPUT.get(name, (3, 224, 224))
        row = data["nets"][name]
        batches = (2, 4) if name == "inception_v3" else (1, 2)
        row["backward_peak_frozen_bytes"] = {str(b): backward_peak(model, shape, b, frozen=True)
                                             for b in batches}
        row["backward_peak_bytes"] = {str(b): backward_peak(model, shape, b) for b in batches}
        row["backward_peak_bytes_repeat"] = {str(b): backward_peak(model, shape, b) for b in batches}
        print(name, row["backward_peak_frozen_bytes"], row["backward_peak_bytes"],
              row["backward_peak_bytes_repeat"], flush=True)
        OUT.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
