"""Measure what the field's FLOP counters report for cnncalc's zoo nets in PyTorch.

Ground truth for issue #23 (`cnncalc analyze SPEC --convention NAME`): for each
net, the torchvision model behind a spec (or the small U-Net defined below,
mirrored by specs/unet_small.yaml) is built with ``weights=None`` and put in
``eval()`` mode, and every counter is run on a float32 input of batch 1 and the
spec's input size, each in its own fresh Python process (counters patch torch's
functionals and leave state behind), called the way the counter's README tells
users to call it. Every figure is recorded exactly as the counter returns it.

It runs only with the measuring venv (torch, torchvision and the counters are
never dependencies of cnncalc)::

    /work/scratch/cvenv/bin/python benchmarks/measure_counters.py [--net NAME] [--out DIR]

One JSON file per net is written to ``DIR/<spec stem>.json`` (default
tests/data/counters/); tests/data/counters/README.md describes the files and
the protocol. ``--net`` may be repeated; without it every net is measured.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> (spec, constructor expression, weights enum name or None)
NETS = {
    "resnet50": ("specs/resnet50.yaml", "torchvision.models.resnet50(weights=None)", "resnet50"),
    "resnet18": ("specs/resnet18.yaml", "torchvision.models.resnet18(weights=None)", "resnet18"),
    "vgg16": ("specs/vgg16.yaml", "torchvision.models.vgg16(weights=None)", "vgg16"),
    "mobilenet_v2": ("specs/mobilenet_v2.yaml", "torchvision.models.mobilenet_v2(weights=None)",
                     "mobilenet_v2"),
    "mobilenet_v3_large": ("specs/mobilenet_v3_large.yaml",
                           "torchvision.models.mobilenet_v3_large(weights=None)", "mobilenet_v3_large"),
    "efficientnet_b0": ("specs/efficientnet_b0.yaml", "torchvision.models.efficientnet_b0(weights=None)",
                        "efficientnet_b0"),
    "densenet121": ("specs/densenet121.yaml", "torchvision.models.densenet121(weights=None)",
                    "densenet121"),
    "convnext_tiny": ("specs/convnext_tiny.yaml", "torchvision.models.convnext_tiny(weights=None)",
                      "convnext_tiny"),
    "shufflenet_v2_x1_0": ("specs/shufflenet_v2_x1_0.yaml",
                           "torchvision.models.shufflenet_v2_x1_0(weights=None)", "shufflenet_v2_x1_0"),
    "squeezenet1_0": ("specs/squeezenet1_0.yaml", "torchvision.models.squeezenet1_0(weights=None)",
                      "squeezenet1_0"),
    # The spec has no auxiliary classifiers (as torchvision counts GoogLeNet).
    "googlenet": ("specs/googlenet.yaml",
                  "torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)",
                  "googlenet"),
    # The spec keeps the aux head as a second output (its parameters count); in
    # eval() torchvision does not run it, so no counter sees it run.
    "inception_v3": ("specs/inception_v3.yaml",
                     "torchvision.models.inception_v3(weights=None, aux_logits=True, "
                     "transform_input=False, init_weights=False)",
                     "inception_v3"),
    "alexnet": ("specs/alexnet_torchvision.yaml", "torchvision.models.alexnet(weights=None)", "alexnet"),
    "regnet_y_400mf": ("specs/regnet_y_400mf.yaml", "torchvision.models.regnet_y_400mf(weights=None)",
                       "regnet_y_400mf"),
    "unet_small": ("specs/unet_small.yaml", "UNetSmall() (benchmarks/measure_counters.py)", None),
    "vit_b_16": ("specs/vit_b_16.yaml", "torchvision.models.vit_b_16(weights=None)", "vit_b_16"),
    # torchvision's resnet50 with one embedded-Gaussian non-local block before layer3's last
    # bottleneck, as specs/nonlocal_resnet50.yaml places it (defined below)
    "nonlocal_resnet50": ("specs/nonlocal_resnet50.yaml",
                          "NonLocalResNet50() (benchmarks/measure_counters.py)", None),
}

COUNTERS = ["fvcore", "ptflops-pytorch", "ptflops-aten", "thop", "torchinfo", "calflops",
            "flop-counter", "flop-counter-no_grad", "deepspeed", "torchvision",
            # the two counters that do not put the model in eval() themselves, run in train() mode
            "fvcore-train", "flop-counter-train"]

PACKAGE = {"fvcore": "fvcore", "ptflops-pytorch": "ptflops", "ptflops-aten": "ptflops",
           "thop": "thop", "torchinfo": "torchinfo", "calflops": "calflops",
           "flop-counter": "torch", "flop-counter-no_grad": "torch", "deepspeed": "deepspeed",
           "torchvision": "torchvision", "fvcore-train": "fvcore", "flop-counter-train": "torch"}

# How each counter's own call treats the model's mode (from its source): these set eval() before
# the forward (thop restores the previous mode afterwards); fvcore and FlopCounterMode use the
# model as given, so the data also records them on a model in train() mode.
SETS_EVAL = {"ptflops-pytorch": "flops_model.eval() in get_flops_pytorch",
             "ptflops-aten": "model.eval() in get_flops_aten",
             "thop": "model.eval() in profile, then model.train(prev_training_status)",
             "torchinfo": "summary(mode=None) means Mode.EVAL: model.eval(), restored afterwards",
             "calflops": "model.eval() in calculate_flops",
             "deepspeed": "model.eval() in get_model_profile"}


# ---------------------------------------------------------------------------
# The small U-Net (mirrored by specs/unet_small.yaml; names = the spec's names)
# ---------------------------------------------------------------------------

def _unet_classes():
    """Define the small U-Net's modules (torch is imported only in workers)."""
    import torch
    from torch import nn

    class DoubleConv(nn.Module):
        """conv-bn-relu twice; one ReLU instance runs after both, as in torchvision's BasicBlock."""

        def __init__(self, cin, cout):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(x)))

    class UNetSmall(nn.Module):
        """Two-level U-Net on 3x64x64: a 2x2 stride-2 transposed convolution, then bilinear upsampling."""

        def __init__(self):
            super().__init__()
            self.enc1 = DoubleConv(3, 8)
            self.pool1 = nn.MaxPool2d(2)
            self.enc2 = DoubleConv(8, 16)
            self.pool2 = nn.MaxPool2d(2)
            self.bottom = DoubleConv(16, 32)
            self.upconv2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
            self.dec2 = DoubleConv(32, 16)
            self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.reduce1 = nn.Conv2d(16, 8, 1)
            self.dec1 = DoubleConv(16, 8)
            self.head = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool1(e1))
            b = self.bottom(self.pool2(e2))
            d2 = self.dec2(torch.cat([self.upconv2(b), e2], 1))
            d1 = self.dec1(torch.cat([self.reduce1(self.up1(d2)), e1], 1))
            return self.head(d1)

    return UNetSmall


UNET_INPUT = [3, 64, 64]


def _nonlocal_resnet50():
    """torchvision's resnet50 with one embedded-Gaussian non-local block (Wang et al. 2018,
    Fig. 2) between layer3's fifth and sixth bottleneck, as specs/nonlocal_resnet50.yaml
    places it: theta, phi, g 1x1 convolutions 1024 -> 512 (with bias), y =
    softmax(theta^T phi) g through F.scaled_dot_product_attention with scale=1 and one head
    (as the spec's scaled_dot_product_attention layer exports to PyTorch: cnncalc's
    `attention` helper), W_z a 1x1 convolution 512 -> 1024 (with bias), batch norm, + x."""
    import torch.nn.functional as F
    import torchvision
    from torch import nn

    class NonLocalBlock(nn.Module):
        """The embedded-Gaussian non-local block without subsampling."""

        def __init__(self, channels=1024):
            super().__init__()
            self.theta = nn.Conv2d(channels, channels // 2, 1)
            self.phi = nn.Conv2d(channels, channels // 2, 1)
            self.g = nn.Conv2d(channels, channels // 2, 1)
            self.W_z = nn.Conv2d(channels // 2, channels, 1)
            self.bn = nn.BatchNorm2d(channels)

        def forward(self, x):
            n, _, h, w = x.shape
            # cnncalc's `attention` helper (cnncalc/layers/attention.py) with heads=1, scale=1.0
            q, k, v = (t.flatten(2).transpose(1, 2) for t in (self.theta(x), self.phi(x), self.g(x)))
            q, k, v = (t.reshape(n, t.shape[1], 1, -1).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, scale=1.0).transpose(1, 2).flatten(2)
            y = y.transpose(1, 2).reshape(n, -1, h, w)
            return self.bn(self.W_z(y)) + x

    model = torchvision.models.resnet50(weights=None)
    blocks = list(model.layer3)
    model.layer3 = nn.Sequential(*blocks[:5], NonLocalBlock(1024), blocks[5])
    return model

# The figures issue #23 quotes for ResNet-50 at 224x224, checked against each run.
ISSUE_23_RESNET50 = {"fvcore": 4111512576, "ptflops-pytorch": 4132436968, "ptflops-aten": 4089185256,
                     "thop": 4133742592.0, "torchinfo": 4089238376, "calflops": 8211108352,
                     "flop-counter": 8178368512}


# ---------------------------------------------------------------------------
# Worker side: one counter, one net, one process
# ---------------------------------------------------------------------------

def spec_input(spec):
    """The spec's per-sample input shape (C, H, W), read from its `input` key."""
    import yaml
    data = yaml.safe_load((ROOT / spec).read_text())
    inp = data["input"]
    return list(inp["shape"] if isinstance(inp, dict) else inp)


def build(net, train=False):
    """Build the net's model (weights=None, eval mode unless train) and return (model, input shape with batch)."""
    import torch
    import torchvision  # noqa: F401  (the constructor expressions name it)
    torch.manual_seed(0)
    spec, expr, _ = NETS[net]
    if net == "unet_small":
        model = _unet_classes()()
        shape = UNET_INPUT
    elif net == "nonlocal_resnet50":
        model = _nonlocal_resnet50()
        shape = spec_input(spec)
    else:
        model = eval(expr, {"torchvision": torchvision})  # noqa: S307  (a fixed table above)
        shape = spec_input(spec)
    model.train(train)
    return model, [1, *shape]


def leaf_names(model):
    """Qualified names of the modules without children, in named_modules() order."""
    return [n for n, m in model.named_modules() if not any(m.children())]


def num(v):
    """A counter's number as JSON keeps it: ints stay ints, floats floats (repr), tensors unwrapped."""
    if hasattr(v, "item") and not isinstance(v, (int, float)):
        v = v.item()
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v
    try:
        import numpy as np
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.floating):
            return float(v)
    except ImportError:  # pragma: no cover
        pass
    return v


class CallCounter:
    """Counts, by forward hooks, how many times each leaf module runs while installed."""

    def __init__(self, model):
        self.calls = {n: 0 for n in leaf_names(model)}
        self.handles = []
        mods = dict(model.named_modules())
        for n in self.calls:
            self.handles.append(mods[n].register_forward_hook(self._hook(n)))

    def _hook(self, name):
        """A forward hook adding one call to the module name."""
        def f(*_):
            self.calls[name] += 1
        return f

    def remove(self):
        """Remove the hooks; return the counts."""
        for h in self.handles:
            h.remove()
        return dict(self.calls)


class ModuleStack:
    """Tracks the innermost running module (pre/post forward hooks on every module)."""

    def __init__(self, model):
        self.stack = [""]
        self.handles = []
        for n, m in model.named_modules():
            if n:
                self.handles.append(m.register_forward_pre_hook(self._enter(n)))
                self.handles.append(m.register_forward_hook(self._exit(n)))

    def _enter(self, name):
        """A forward pre-hook pushing name."""
        def f(*_):
            self.stack.append(name)
        return f

    def _exit(self, name):
        """A forward hook popping name."""
        def f(*_):
            if self.stack[-1] == name:
                self.stack.pop()
        return f

    @property
    def top(self):
        """The qualified name of the innermost module running now ('' outside any)."""
        return self.stack[-1]

    def remove(self):
        """Remove the hooks."""
        for h in self.handles:
            h.remove()


def measure_fvcore(model, shape):
    """fvcore: FlopCountAnalysis(model, x): total (one 'flop' per multiply-add), by leaf module, by operator."""
    import torch
    from fvcore.nn import FlopCountAnalysis
    x = torch.randn(*shape)
    calls = CallCounter(model)
    flops = FlopCountAnalysis(model, x)
    total = flops.total()
    res = {"call": "FlopCountAnalysis(model, x).total()", "unit": "FLOPs (counts MACs)", "value": num(total)}
    calls_per_module = calls.remove()
    by_module = flops.by_module()
    leaves = leaf_names(model)
    res["by_module"] = {n: num(by_module.get(n, 0)) for n in leaves}
    res["by_operator"] = {k: num(v) for k, v in flops.by_operator().items()}
    bmo = flops.by_module_and_operator()
    res["by_module_operator"] = {n: {k: num(v) for k, v in bmo.get(n, {}).items()}
                                 for n in leaves if bmo.get(n)}
    res["unsupported"] = {k: num(v) for k, v in flops.unsupported_ops().items()}
    res["uncalled_modules"] = sorted(flops.uncalled_modules())
    res["calls_per_module"] = calls_per_module
    return res


def measure_ptflops_pytorch(model, shape):
    """ptflops, pytorch backend: total MACs; each module's __flops__ (module hooks) snapshotted before
    ptflops deletes it, and the patched functionals' counts by the innermost running module."""
    import ptflops.pytorch_engine as pe
    from ptflops import get_model_complexity_info
    snap = {}
    functional = []
    stack = ModuleStack(model)

    original_stop = pe.stop_flops_count

    def stop_and_snapshot(self):
        for n, m in self.named_modules():
            if hasattr(m, "__flops__"):
                snap[n] = num(m.__flops__)
        return original_stop(self)

    original_call = pe.torch_function_wrapper.__call__

    def call_and_record(self, *args, **kwds):
        before = len(self.collector)
        out = original_call(self, *args, **kwds)
        if len(self.collector) > before:
            functional.append((stack.top, getattr(self.op, "__name__", str(self.op)),
                               num(self.collector[-1])))
        return out

    pe.stop_flops_count = stop_and_snapshot
    pe.torch_function_wrapper.__call__ = call_and_record
    calls = CallCounter(model)
    macs, params = get_model_complexity_info(model, tuple(shape[1:]), as_strings=False,
                                             print_per_layer_stat=False, backend="pytorch")
    calls_per_module = calls.remove()
    stack.remove()
    leaves = set(leaf_names(model))
    res = {"call": f"get_model_complexity_info(model, {tuple(shape[1:])}, as_strings=False, "
                   "print_per_layer_stat=False, backend='pytorch')",
           "unit": "MACs", "value": num(macs), "params": num(params)}
    res["by_module"] = {n: v for n, v in snap.items() if n in leaves}
    res["by_module_nonleaf_own"] = {n: v for n, v in snap.items() if n not in leaves and v}
    by_op = {}
    by_mod = {}
    for mod, op, v in functional:
        by_op[op] = by_op.get(op, 0) + v
        by_mod.setdefault(mod, {})
        by_mod[mod][op] = by_mod[mod].get(op, 0) + v
    res["functional_by_operator"] = by_op
    res["functional_by_module"] = by_mod
    res["functional_total"] = sum(v for _, _, v in functional)
    res["module_hooks_total"] = sum(snap.values())
    res["unsupported"] = sorted({type(m).__name__ for n, m in model.named_modules()
                                 if n in leaves and n not in snap})
    res["calls_per_module"] = calls_per_module
    return res


def measure_ptflops_aten(model, shape):
    """ptflops, aten backend: total MACs over ATen ops; its per-op counts for the whole model and for each
    top-level child (the only modules it tracks), and the ATen ops it treated as zero-ops."""
    import ptflops.aten_engine as ae
    from ptflops import get_model_complexity_info
    snap = {}
    zero_ops = {}

    class Recording(ae.FlopCounterMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            packet = func._overloadpacket
            if packet not in self.all_ops and packet not in self.ignored_ops:
                zero_ops[str(packet)] = zero_ops.get(str(packet), 0) + 1
            return super().__torch_dispatch__(func, types, args, kwargs)

        def __exit__(self, *args):
            for mod, ops in self.flop_counts.items():
                snap[mod] = {str(k): num(v) for k, v in ops.items()}
            return super().__exit__(*args)

    ae.FlopCounterMode = Recording
    calls = CallCounter(model)
    macs, params = get_model_complexity_info(model, tuple(shape[1:]), as_strings=False,
                                             print_per_layer_stat=False, backend="aten")
    calls_per_module = calls.remove()
    res = {"call": f"get_model_complexity_info(model, {tuple(shape[1:])}, as_strings=False, "
                   "print_per_layer_stat=False, backend='aten')",
           "unit": "MACs", "value": num(macs), "params": num(params)}
    res["by_operator"] = snap.get("Global", {})
    res["by_child_operator"] = {k: v for k, v in snap.items() if k != "Global"}
    res["by_child"] = {k: sum(v.values()) for k, v in snap.items() if k != "Global"}
    res["unsupported"] = zero_ops
    res["calls_per_module"] = calls_per_module
    return res


def measure_thop(model, shape):
    """thop: profile(model, inputs=(x,)) total (floats) and per module (the total_ops buffers, read
    through ret_layer_info=True, which returns the same totals with the per-module tree)."""
    import torch
    from thop import profile
    from thop.profile import register_hooks
    x = torch.randn(*shape)
    calls = CallCounter(model)
    ops, params, tree = profile(model, inputs=(x,), ret_layer_info=True)
    calls_per_module = calls.remove()
    flat = {}

    def walk(d, prefix):
        for n, (o, _p, sub) in d.items():
            name = f"{prefix}{n}"
            if sub:
                walk(sub, name + ".")
            else:
                flat[name] = num(o)
    walk(tree, "")
    leaves = leaf_names(model)
    mods = dict(model.named_modules())
    res = {"call": "profile(model, inputs=(x,), ret_layer_info=True)", "unit": "MACs",
           "value": num(ops), "value_repr": repr(ops), "params": num(params)}
    res["by_module"] = {n: flat.get(n, 0.0) for n in leaves}
    res["by_module_repr"] = {n: repr(flat.get(n, 0.0)) for n in leaves}
    res["unsupported"] = sorted({type(mods[n]).__name__ for n in leaves if type(mods[n]) not in register_hooks})
    res["calls_per_module"] = calls_per_module
    return res


def measure_torchinfo(model, shape):
    """torchinfo: summary(model, input_size, verbose=0).total_mult_adds and the macs of each leaf entry of
    summary_list (one entry per call), summed per module."""
    from torchinfo import summary
    names = {id(m): n for n, m in model.named_modules()}
    calls = CallCounter(model)
    stats = summary(model, input_size=tuple(shape), verbose=0)
    calls_per_module = calls.remove()
    by_module = {}
    per_call = []
    for info in stats.summary_list:
        name = names.get(id(info.module), info.var_name)
        if info.is_leaf_layer:
            by_module[name] = by_module.get(name, 0) + num(info.macs)
            per_call.append([name, num(info.macs)])
    res = {"call": f"summary(model, input_size={tuple(shape)}, verbose=0).total_mult_adds",
           "unit": "mult-adds", "value": num(stats.total_mult_adds), "params": num(stats.total_params)}
    res["by_module"] = by_module
    res["per_call"] = per_call
    res["unsupported"] = []
    res["calls_per_module"] = calls_per_module
    return res


def _snapshot_profile(model, snap):
    """Copy each module's own __flops__ and __macs__ (the FlopsProfiler family's attributes) into snap."""
    for n, m in model.named_modules():
        if hasattr(m, "__flops__"):
            snap[n] = (num(m.__flops__), num(getattr(m, "__macs__", 0)))


def _split_profile(model, snap, res):
    """Per leaf module flops and macs, and the own counts of non-leaf modules (functionals they ran)."""
    leaves = leaf_names(model)
    res["by_module"] = {n: snap.get(n, (0, 0))[0] for n in leaves}
    res["by_module_macs"] = {n: snap.get(n, (0, 0))[1] for n in leaves}
    res["by_module_nonleaf_own"] = {n: {"flops": f, "macs": m} for n, (f, m) in snap.items()
                                    if n not in set(leaves) and (f or m)}


def measure_calflops(model, shape):
    """calflops: calculate_flops(...) flops, macs, params; each module's own __flops__/__macs__ snapshotted
    before end_flops_calculate deletes them."""
    from calflops import calculate_flops
    from calflops.calculate_pipline import CalFlopsPipline
    snap = {}
    original_end = CalFlopsPipline.end_flops_calculate

    def end_and_snapshot(self):
        _snapshot_profile(self.model, snap)
        return original_end(self)
    CalFlopsPipline.end_flops_calculate = end_and_snapshot
    calls = CallCounter(model)
    flops, macs, params = calculate_flops(model=model, input_shape=tuple(shape), output_as_string=False,
                                          print_results=False)
    calls_per_module = calls.remove()
    res = {"call": f"calculate_flops(model=model, input_shape={tuple(shape)}, output_as_string=False, "
                   "print_results=False)",
           "unit": "FLOPs", "value": num(flops), "macs": num(macs), "params": num(params)}
    _split_profile(model, snap, res)
    res["unsupported"] = []
    res["calls_per_module"] = calls_per_module
    return res


def measure_deepspeed(model, shape):
    """DeepSpeed: get_model_profile(...) flops, macs, params; each module's own __flops__/__macs__
    snapshotted before end_profile deletes them."""
    from deepspeed.profiling.flops_profiler import get_model_profile
    from deepspeed.profiling.flops_profiler.profiler import FlopsProfiler
    snap = {}
    original_end = FlopsProfiler.end_profile

    def end_and_snapshot(self):
        _snapshot_profile(self.model, snap)
        return original_end(self)
    FlopsProfiler.end_profile = end_and_snapshot
    calls = CallCounter(model)
    flops, macs, params = get_model_profile(model, input_shape=tuple(shape), print_profile=False,
                                            detailed=False, as_string=False)
    calls_per_module = calls.remove()
    res = {"call": f"get_model_profile(model, input_shape={tuple(shape)}, print_profile=False, "
                   "detailed=False, as_string=False)",
           "unit": "FLOPs", "value": num(flops), "macs": num(macs), "params": num(params)}
    _split_profile(model, snap, res)
    res["unsupported"] = []
    res["calls_per_module"] = calls_per_module
    res["notes"] = ("get_model_profile runs warm_up=1 forward before the profiled one, so "
                    "calls_per_module counts both")
    return res


def measure_flop_counter(model, shape, no_grad):
    """torch.utils.flop_counter.FlopCounterMode(display=False) around one forward: total (2 per
    multiply-add) and get_flop_counts() per module and operator, with or without torch.no_grad()."""
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.randn(*shape)
    calls = CallCounter(model)
    mode = FlopCounterMode(display=False)
    ctx = torch.no_grad() if no_grad else contextlib.nullcontext()
    with ctx, mode:
        model(x)
    calls_per_module = calls.remove()
    counts = {k: {str(op): num(v) for op, v in ops.items()} for k, ops in mode.get_flop_counts().items()}
    call = "with FlopCounterMode(display=False) as mode: model(x); mode.get_total_flops()"
    if no_grad:
        call = "with torch.no_grad(), FlopCounterMode(display=False) as mode: model(x); mode.get_total_flops()"
    res = {"call": call, "unit": "FLOPs", "value": num(mode.get_total_flops())}
    res["by_operator"] = counts.get("Global", {})
    root = type(model).__name__
    leaves = set(leaf_names(model))
    by_module = {n: 0 for n in leaf_names(model)}
    for k, ops in counts.items():
        if k.startswith(root + "."):
            name = k[len(root) + 1:]
            if name in leaves:
                by_module[name] = sum(ops.values())
    res["by_module"] = by_module
    res["by_module_key"] = f"get_flop_counts() keys: 'Global', '{root}' and '{root}.<qualified name>'"
    res["flop_counts"] = counts
    res["unsupported"] = []
    res["calls_per_module"] = calls_per_module
    return res


def measure_torchvision(net):
    """torchvision: the default weights' published metadata, _ops (GFLOPS) and num_params."""
    import torchvision
    weights = torchvision.models.get_model_weights(NETS[net][2]).DEFAULT
    return {"weights": str(weights), "unit": "GFLOPS",
            "value": weights.meta["_ops"], "num_params": weights.meta["num_params"],
            "call": f"torchvision.models.get_model_weights({NETS[net][2]!r}).DEFAULT.meta['_ops']"}


def measure_model(model, shape):
    """The model itself: parameters, buffers, leaf module types, and calls per leaf module in one
    eval forward under no_grad."""
    import torch
    calls = CallCounter(model)
    with torch.no_grad():
        out = model(torch.randn(*shape))
    return {"params": sum(p.numel() for p in model.parameters()),
            "buffers": sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")),
            "output_shape": list(out.shape),
            "module_types": {n: type(m).__name__ for n, m in model.named_modules() if not any(m.children())},
            # modules with children that a counter may count on their own (ptflops' and
            # DeepSpeed's nn.MultiheadAttention, whose out_proj child never runs its forward)
            "container_types": {n: type(m).__name__ for n, m in model.named_modules()
                                if n and any(m.children())},
            "calls_per_module": calls.remove()}


def worker(counter, net, result_path):
    """Run one counter on one net in this process and write its record to result_path."""
    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    rec = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        try:
            if counter == "torchvision":
                rec = measure_torchvision(net)
            else:
                train = counter.endswith("-train")
                model, shape = build(net, train=train)
                rec["training_before"] = model.training
                fn = {"fvcore": measure_fvcore, "ptflops-pytorch": measure_ptflops_pytorch,
                      "ptflops-aten": measure_ptflops_aten, "thop": measure_thop,
                      "torchinfo": measure_torchinfo, "calflops": measure_calflops,
                      "deepspeed": measure_deepspeed, "model": measure_model,
                      "flop-counter": lambda m, s: measure_flop_counter(m, s, False),
                      "flop-counter-no_grad": lambda m, s: measure_flop_counter(m, s, True),
                      "fvcore-train": measure_fvcore,
                      "flop-counter-train": lambda m, s: measure_flop_counter(m, s, False)}[counter]
                rec.update(fn(model, shape))
                rec["training_after"] = model.training
        except Exception as e:  # a counter that fails is data too
            rec.update({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
        rec["seconds"] = round(time.perf_counter() - t0, 1)
    rec["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    rec["log"] = log_stream.getvalue().splitlines()
    Path(result_path).write_text(json.dumps(rec))


# ---------------------------------------------------------------------------
# Orchestrator side
# ---------------------------------------------------------------------------

def version(package):
    """The installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_worker(counter, net):
    """Run one counter on one net in a fresh process; return its record with what it printed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, __file__, "--worker", counter, "--net", net, "--result", str(out)],
                              capture_output=True, text=True, cwd=ROOT)
        if out.exists():
            rec = json.loads(out.read_text())
        else:
            rec = {"error": f"worker exited with {proc.returncode} and wrote nothing"}
    rec["stdout"] = proc.stdout
    rec["stderr"] = proc.stderr
    return rec


def cnncalc_figures(spec):
    """cnncalc's own params and MACs for the spec, from `cnncalc analyze SPEC -f json` (the repo's venv)."""
    exe = ROOT / ".venv" / "bin" / "cnncalc"
    cmd = [str(exe) if exe.exists() else (shutil.which("cnncalc") or "cnncalc"), "analyze", spec, "-f", "json"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        return {"error": str(e)}
    totals = json.loads(proc.stdout)["totals"]
    return {"command": f"cnncalc analyze {spec} -f json", "params": totals["params"], "macs": totals["macs"],
            "flops": totals["flops"]}


def measure_net(net, out_dir, copy_to=None):
    """Measure every counter on one net and write out_dir/<spec stem>.json."""
    import torch
    import torchvision
    spec, expr, _ = NETS[net]
    print(f"== {net}", flush=True)
    model_info = run_worker("model", net)
    doc = {"spec": spec, "model": f"{expr}.eval()",
           "input": [1, *(UNET_INPUT if net == "unet_small" else spec_input(spec))],
           "params": model_info.get("params"),
           "cnncalc": cnncalc_figures(spec),
           "environment": {"python": platform.python_version(), "torch": torch.__version__,
                           "torchvision": torchvision.__version__, "platform": platform.platform()},
           "command": f"/work/scratch/cvenv/bin/python benchmarks/measure_counters.py --net {net}",
           "buffers": model_info.get("buffers"),
           "output_shape": model_info.get("output_shape"),
           "module_types": model_info.get("module_types"),
           "container_types": model_info.get("container_types"),
           "calls_per_module": model_info.get("calls_per_module"),
           "counters": {}}
    if "error" in model_info:
        doc["model_error"] = model_info
    for counter in COUNTERS:
        if counter == "torchvision" and NETS[net][2] is None:
            continue
        t0 = time.perf_counter()
        rec = run_worker(counter, net)
        rec = {"version": version(PACKAGE[counter]), **rec}
        if counter in SETS_EVAL:
            rec["sets_eval"] = SETS_EVAL[counter]
        print(f"   {counter:22s} {rec.get('value', rec.get('error'))!s:>24}  {time.perf_counter() - t0:6.1f}s",
              flush=True)
        if counter == "flop-counter-no_grad":
            doc["counters"]["flop-counter"]["no_grad"] = rec
        elif counter.endswith("-train"):
            doc["counters"][counter[: -len("-train")]]["train_mode"] = rec
        else:
            doc["counters"][counter] = rec
    if net == "resnet50":
        doc["issue_23"] = {name: {"issue": v, "measured": doc["counters"][name].get("value"),
                                  "equal": doc["counters"][name].get("value") == v}
                           for name, v in ISSUE_23_RESNET50.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{Path(spec).stem}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    if copy_to:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(copy_to) / path.name)
    return path


TABLE_COLUMNS = ["fvcore", "ptflops-pytorch", "ptflops-aten", "thop", "torchinfo", "calflops",
                 "flop-counter", "deepspeed", "torchvision"]


def table(out_dir):
    """The markdown table of totals (net x counter) from the JSON files in out_dir, as recorded."""
    rows = ["| spec | params | cnncalc MACs | " + " | ".join(TABLE_COLUMNS) + " |",
            "|---" * (3 + len(TABLE_COLUMNS)) + "|"]
    for path in sorted(Path(out_dir).glob("*.json")):
        doc = json.loads(path.read_text())
        cells = []
        for name in TABLE_COLUMNS:
            rec = doc["counters"].get(name)
            if rec is None:
                cells.append("")
            elif "error" in rec:
                cells.append("error")
            elif name == "thop":
                cells.append(rec.get("value_repr", repr(rec["value"])))
            else:
                cells.append(str(rec["value"]))
        rows.append(f"| {path.stem} | {doc['params']} | {doc['cnncalc'].get('macs')} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv=None):
    """Parse the command line; measure the nets (or, with --worker, run one counter in this process)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", action="append", choices=sorted(NETS), help="a net (repeatable; default all)")
    p.add_argument("--out", default=str(ROOT / "tests" / "data" / "counters"), help="output directory")
    p.add_argument("--copy-to", default=None, help="also copy each file here as soon as it is written")
    p.add_argument("--table", action="store_true", help="print the table of totals from --out's files and exit")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.net[0], args.result)
        return 0
    if args.table:
        print(table(args.out))
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for net in args.net or list(NETS):
        print(measure_net(net, Path(args.out), args.copy_to), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
