"""Make the ONNX files of tests/data/onnx/ (graphs only: weights stripped).

Run with a PyTorch environment (never a dependency of cnncalc or its tests):

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch torchvision onnx onnxscript
    /tmp/torchenv/bin/python tests/data/onnx/make_models.py [model ...]

(issue 21's files were made with torch 2.14.1 and torchvision 0.29.1: `pip install
torch==2.13.0` then `pip install torchvision onnx onnxscript`, which upgraded torch.)

Each model is exported in eval mode with the TorchScript exporter (dynamo=False,
which folds batch norm into the convolutions) and, where it works, the dynamo
exporter; every initializer larger than 1 KiB is moved to an external data file
that is then deleted, so a committed file holds the graph, the small constants,
and each weight's name, type and shape (the figures need nothing more).
figures.json records what PyTorch itself counts: parameters, batch-norm channels,
and MACs of the convolution and linear layers measured by forward hooks.
"""

import ast
import json
import os
import sys
from pathlib import Path

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import torchvision
except (RuntimeError, ImportError):  # a torchvision wheel whose C ops do not load (a CUDA build beside a CPU
    # torch): the model definitions need none of them, so skip their registration
    import torch.library

    _register = torch.library.register_fake
    torch.library.register_fake = lambda *a, **k: (lambda f: f)
    for name in [m for m in sys.modules if m.startswith("torchvision")]:
        del sys.modules[name]
    import torchvision

    torch.library.register_fake = _register

HERE = Path(__file__).resolve().parent


class UNetSmall(nn.Module):
    """A two-level U-Net: ConvTranspose up one level, Resize (bilinear) up the other."""

    def __init__(self):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                                 nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o),
                                 nn.ReLU(inplace=True))

        self.enc1, self.enc2, self.mid = block(3, 16), block(16, 32), block(32, 64)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.dec2 = block(64, 32)
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec1 = block(32 + 16, 16)
        self.head = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class PadNet(nn.Module):
    """Pads with F.pad (constant, asymmetric; reflect), as a model that pads by hand does:
    the TorchScript exporter computes the pads with a chain of constant ops."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(F.pad(x, (1, 2, 0, 1)))))
        x = self.conv2(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(), (1, 3, 224, 224)),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), (1, 3, 224, 224)),
    "squeezenet1_0": (lambda: torchvision.models.squeezenet1_0(), (1, 3, 224, 224)),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(), (1, 3, 224, 224)),
    "shufflenet_v2_x1_0": (lambda: torchvision.models.shufflenet_v2_x1_0(), (1, 3, 224, 224)),
    "unet_small": (UNetSmall, (1, 3, 64, 64)),
    "convnext_tiny": (lambda: torchvision.models.convnext_tiny(), (1, 3, 224, 224)),
    "densenet121": (lambda: torchvision.models.densenet121(), (1, 3, 224, 224)),
    "resnet50": (lambda: torchvision.models.resnet50(), (1, 3, 224, 224)),
    "alexnet": (lambda: torchvision.models.alexnet(), (1, 3, 224, 224)),
    "mobilenet_v3_large": (lambda: torchvision.models.mobilenet_v3_large(), (1, 3, 224, 224)),
    "regnet_y_400mf": (lambda: torchvision.models.regnet_y_400mf(), (1, 3, 224, 224)),
    "pad_net": (PadNet, (1, 3, 32, 32)),
}


def measure(model, shape):
    """What PyTorch counts: parameters, batch-norm channels, MACs (conv and linear, by
    forward hooks), and the batch-norm channels an exporter folds: those of a norm whose
    input is a convolution's output (DenseNet's norms before a convolution stay)."""
    macs, folded, conv_out = [0], [0], {}  # id -> the tensor, kept alive: ids are not reused

    def hook(mod, inp, out):
        if isinstance(mod, nn.BatchNorm2d) and id(inp[0]) in conv_out:
            folded[0] += mod.num_features
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            conv_out[id(out)] = out
        if isinstance(mod, nn.Conv2d):
            macs[0] += out.numel() // out.shape[0] * (mod.in_channels // mod.groups) * \
                mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.ConvTranspose2d):  # every input pixel meets every tap once
            x = inp[0]
            macs[0] += x.numel() // x.shape[0] * (mod.out_channels // mod.groups) * \
                mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):  # on every position of a channels-last tensor too
            macs[0] += out.numel() // out.shape[0] * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(shape))
    for h in handles:
        h.remove()
    bn = sum(m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return {"params": sum(p.numel() for p in model.parameters()), "bn_channels": bn,
            "folded_channels": folded[0], "macs": macs[0]}


def trained_like(model):
    """Batch-norm statistics as after training: with PyTorch's initial ones (mean 0, var 1,
    weight 1, bias 0) a folded convolution's bias is zero and the exporter drops it."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
    for p in model.parameters():  # torchvision zero-initialises biases; the exporter drops zeros
        if not p.detach().any():
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.01)
    return model


def strip(src: Path, dst: Path) -> None:
    """Move every floating-point initializer of more than 16 values to external data and
    delete that data: the integer constants (shapes, axes, pads) stay in the file."""
    from onnx.external_data_helper import set_external_data

    m = onnx.load(str(src))
    data = dst.with_suffix(".weights")
    for init in m.graph.initializer:
        if init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE) \
                and len(init.raw_data) > 16 * 4:
            set_external_data(init, location=data.name)
            init.ClearField("raw_data")
    for node in m.graph.node:  # stack traces and FX dumps: most of a dynamo file's bytes
        props = []
        for p in node.metadata_props:
            if p.key == "pkg.torch.onnx.name_scopes":  # keep the innermost module and the op
                scopes = ast.literal_eval(p.value)
                props.append((p.key, repr(["", *scopes[-2:]] if len(scopes) > 2 else scopes)))
            elif p.key == "pkg.onnxscript.rewriter.rule_name" and "FuseBatchNorm" in p.value:
                props.append((p.key, "FuseBatchNormIntoConv"))
        del node.metadata_props[:]
        for key, value in props:
            node.metadata_props.add(key=key, value=value)
        node.doc_string = ""
    onnx.save(m, str(dst))


def main(names, export=True):
    """Export each model by both exporters (unless ``export`` is false: figures only) and
    record its figures in figures.json."""
    torch.manual_seed(0)
    figures = json.loads((HERE / "figures.json").read_text()) if (HERE / "figures.json").exists() else {}
    for name in names:
        make, shape = MODELS[name]
        model = trained_like(make().eval())
        figures[name] = {**measure(model, shape), "input": list(shape)}
        for exporter, dynamo in (("torchscript", False), ("dynamo", True)) if export else ():
            tmp = Path("/tmp") / f"{name}_{exporter}.onnx"
            try:
                torch.onnx.export(model, (torch.zeros(shape),), str(tmp), dynamo=dynamo,
                                  opset_version=18 if dynamo else 17, input_names=["x"])
                strip(tmp, HERE / f"{name}.{exporter}.onnx")
                print(name, exporter, os.path.getsize(HERE / f"{name}.{exporter}.onnx"), "bytes")
            except Exception as exc:  # record and go on: the tests use the files that exist
                print(name, exporter, "FAILED", type(exc).__name__, str(exc)[:300])
    (HERE / "figures.json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--figures-only"]
    main(args or list(MODELS), export="--figures-only" not in sys.argv)
