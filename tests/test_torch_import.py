"""PyTorch modules in (issue 26, items 1 and 2; docs/torch.md): `cnncalc.from_torch`,
`cnncalc import MODULE:FACTORY` and `cnncalc analyze --torch`.

Every torchvision classification model in specs/ is read from torchvision (weights=None,
eval mode, the spec's constructor arguments) and gives exactly the spec's parameters, buffers,
MACs and FLOPs, torchvision's published parameter count (``Weights.meta["num_params"]``) and
GFLOPS (``meta["_ops"]``, MACs in billions to 3 decimals), and the module's own tensors. The
names are the module's state_dict prefixes, so cnncalc's executor runs on the module's
state_dict, and `export --to pytorch` of the imported spec loads it strictly and computes the
same outputs. Tests that need torch or torchvision skip, saying why (the `torchvision` fixture
in conftest.py, which also applies the torchvision op shim); .ci/run installs both.
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

import cnncalc
from cnncalc.analysis.conventions import COUNTERS, count_nodes
from cnncalc.io.torch_map import to_source

from .conftest import SPECS
from .test_cli import run as cli

# torchvision model -> (spec in specs/, constructor arguments as the spec's header gives them,
# input shape, captured in training mode: Inception v3's aux head, which the spec has as a
# second output, runs only in training)
ZOO = {
    "resnet18": ("resnet18", {}, (3, 224, 224), False),
    "resnet34": ("resnet34", {}, (3, 224, 224), False),
    "resnet50": ("resnet50", {}, (3, 224, 224), False),
    "resnet101": ("resnet101", {}, (3, 224, 224), False),
    "resnet152": ("resnet152", {}, (3, 224, 224), False),
    "resnext50_32x4d": ("resnext50_32x4d", {}, (3, 224, 224), False),
    "vgg11": ("vgg11", {}, (3, 224, 224), False),
    "vgg13": ("vgg13", {}, (3, 224, 224), False),
    "vgg16": ("vgg16", {}, (3, 224, 224), False),
    "vgg19": ("vgg19", {}, (3, 224, 224), False),
    "vgg16_bn": ("vgg16_bn", {}, (3, 224, 224), False),
    "alexnet": ("alexnet_torchvision", {}, (3, 224, 224), False),
    "squeezenet1_0": ("squeezenet1_0", {}, (3, 224, 224), False),
    "mobilenet_v2": ("mobilenet_v2", {}, (3, 224, 224), False),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}, (3, 224, 224), False),
    "efficientnet_b0": ("efficientnet_b0", {}, (3, 224, 224), False),
    "densenet121": ("densenet121", {}, (3, 224, 224), False),
    "convnext_tiny": ("convnext_tiny", {}, (3, 224, 224), False),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, (3, 224, 224), False),
    # googlenet.yaml: "without the auxiliary classifiers, as torchvision counts it"
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}, (3, 224, 224), False),
    # inception_v3.yaml: "torchvision.models.inception_v3 (aux_logits=True)", 299x299
    "inception_v3": ("inception_v3", {"aux_logits": True, "init_weights": False}, (3, 299, 299), True),
    "regnet_y_400mf": ("regnet_y_400mf", {}, (3, 224, 224), False),
    # the attention layer types (issue 26, item 3): nn.MultiheadAttention read whole, class token,
    # position embedding; vit_b_16.yaml's header: 86,567,656 parameters, 17.564 GFLOPS
    "vit_b_16": ("vit_b_16", {}, (3, 224, 224), False),
}
# the largest (each builds a module of 60 to 144 M parameters): run by .ci/run, skipped by -m 'not slow'
SLOW = {"resnet101", "resnet152", "vgg13", "vgg19", "densenet121"}


def _model(tv, name: str, **extra):
    spec, kwargs, shape, training = ZOO[name]
    return tv.models.get_model(name, weights=None, **{**kwargs, **extra}), shape, training


def _meta(tv, name: str) -> dict:
    """torchvision's published figures: the first weights' meta (num_params, _ops in GFLOPS)."""
    return list(tv.models.get_model_weights(name))[0].meta


def _state_buffers(module) -> int:
    """The module's buffer elements that cnncalc counts: batch norm's running statistics
    (num_batches_tracked is a counter, not a per-channel buffer: docs/conventions.md)."""
    return sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked"))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in ZOO])
def test_every_torchvision_model_in_specs_has_the_specs_and_torchvisions_totals(torchvision, name):
    """Totals of the module read from PyTorch = the shipped spec's = torchvision's metadata."""
    module, shape, training = _model(torchvision, name)
    net = cnncalc.from_torch(module, shape, training=training)
    got = cnncalc.analyze(net).totals
    shipped = cnncalc.load(SPECS / f"{ZOO[name][0]}.yaml")
    spec = cnncalc.analyze(shipped).totals
    assert (got.params, got.buffers, got.macs, got.flops) == \
        (spec.params, spec.buffers, spec.macs, spec.flops)
    # the import marks how the module's forward writes each layer (torch: functional, mean,
    # Linear, LayerNorm2d) as the shipped spec does, so every FLOP counter's convention
    # (analyze --torch ... --convention NAME) gives the spec's figure: for the 14 nets of
    # tests/data/counters, the figure each counter printed (tests/test_conventions.py)
    for c in COUNTERS.values():
        assert sum(n.value for n in count_nodes(net, c)) == \
            sum(n.value for n in count_nodes(shipped, c)), c.name
    meta = _meta(torchvision, name)
    assert got.params == meta["num_params"] == sum(p.numel() for p in module.parameters())
    assert got.buffers == _state_buffers(module)
    macs = got.macs
    if name == "inception_v3":  # torchvision's 5.713 GFLOPS are the main path's (the spec's header)
        report = cnncalc.analyze(net)
        macs -= sum(r.macs for r in report.layers if r.name.startswith("AuxLogits."))
        assert macs < got.macs
    assert round(macs / 1e9, 3) == meta["_ops"]


def test_resnet50_analyses_to_the_specs_table_with_torchvisions_names(torchvision, capsys):
    """Done when (issue 26): `cnncalc analyze --torch torchvision.models:resnet50 -i 3x224x224`
    prints the table of specs/resnet50.yaml, row for row, with the module's names."""
    code, out, err = cli(capsys, "analyze", "--torch", "torchvision.models:resnet50",
                         "-i", "3x224x224", "-f", "json")
    assert code == 0, err
    got = json.loads(out)
    code, out, err = cli(capsys, "analyze", SPECS / "resnet50.yaml", "-f", "json")
    want = json.loads(out)

    def rows(report):
        return [{k: v for k, v in row.items() if k not in ("name", "inputs")} for row in report["layers"]]

    assert rows(got) == rows(want)
    assert got["totals"]["params"] == 25_557_032 and got["totals"]["macs"] == 4_089_184_256
    names = [row["name"] for row in got["layers"]]
    assert names[:5] == ["conv1", "bn1", "relu", "maxpool", "layer1.0.conv1"]
    assert "layer1.0.downsample.0" in names and "fc" in names
    code, text, err = cli(capsys, "analyze", "--torch", "torchvision.models:resnet50", "-i", "3x224x224")
    assert code == 0 and "layer4.2.conv3" in text and "25,557,032" in text


@pytest.mark.parametrize("name, counter", [("convnext_tiny", "fvcore"), ("googlenet", "thop"),
                                           ("shufflenet_v2_x1_0", "ptflops-pytorch")])
def test_analyze_torch_under_a_convention_prints_the_counters_own_figure(torchvision, capsys,
                                                                          name, counter):
    """`cnncalc analyze --torch torchvision.models:NAME --convention COUNTER` gives the figure the
    counter printed on that module (tests/data/counters/NAME.json, measured by
    benchmarks/measure_counters.py): the import's torch: forms (ConvNeXt's nn.Linear pwconvs
    and LayerNorm2d, GoogLeNet's F.relu and F.max_pool2d, ShuffleNetV2's x.mean) are what
    these counters see differently."""
    from fractions import Fraction

    record = json.loads((SPECS.parent / "tests" / "data" / "counters" / f"{name}.json").read_text())
    code, out, err = cli(capsys, "analyze", "--torch", f"torchvision.models:{name}",
                         "-i", "3x224x224", "--convention", counter, "-f", "json")
    assert code == 0, err
    got = json.loads(out)["convention"]
    assert got["name"] == counter
    assert Fraction(str(got["exact"])) == Fraction(str(record["counters"][counter]["value"]))


@pytest.mark.parametrize("name", ["resnet18", "vit_b_16", "convnext_tiny"])
def test_layer_names_are_the_state_dict_prefixes(torchvision, name):
    """Every tensor cnncalc's layers ask for is a state_dict key and the other way round (a
    tensor named '' is the layer's own name: ViT's class_token, encoder.pos_embedding,
    ConvNeXt's features.1.0.layer_scale)."""
    module, shape, _ = _model(torchvision, name)
    net = cnncalc.from_torch(module, shape)
    tensors = {f"{node.name}.{key}" if key else node.name for node in net.nodes
               for key in (*node.facts.params, *node.facts.buffers)}
    assert tensors == {k for k in module.state_dict() if not k.endswith("num_batches_tracked")}


def _randomise_norms(module, torch) -> None:
    """Running statistics other than 0 and 1, and layer scales other than ConvNeXt's 1e-6
    (at which every block adds about nothing to its residual), so that the test sees them used."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


@pytest.mark.parametrize("name", ["resnet18", "vit_b_16", "convnext_tiny"])
def test_the_executor_runs_on_the_modules_own_state_dict(torchvision, tmp_path, capsys, name):
    """At 64x64: `cnncalc run --weights` with the module's state_dict as .npz gives the
    module's outputs within float32 rounding (relative 1e-4 of the largest output)."""
    import torch

    extra = {"image_size": 64} if name == "vit_b_16" else {}
    module, _, _ = _model(torchvision, name, **extra)
    module.eval()
    _randomise_norms(module, torch)
    if name == "vit_b_16":  # torchvision starts the head at zero: every output would be 0
        with torch.no_grad():
            module.heads.head.weight.normal_(0, 0.02, generator=torch.Generator().manual_seed(2))
    net = cnncalc.from_torch(module, (3, 64, 64))
    weights = {k: v.numpy() for k, v in module.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    assert np.abs(want).max() > 0.1
    got = cnncalc.run(net, x, weights)[net.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    if name != "resnet18":
        return
    # the same through the command line: import, then run --weights state_dict.npz
    np.savez(tmp_path / "w.npz", **weights)
    np.save(tmp_path / "x.npy", x)
    code, _, err = cli(capsys, "import", "torchvision.models:resnet18", "-i", "3x64x64",
                       "-o", tmp_path / "net.yaml")
    assert code == 0, err
    code, _, err = cli(capsys, "run", tmp_path / "net.yaml", "--data", tmp_path / "x.npy",
                       "--weights", tmp_path / "w.npz", "--output", tmp_path / "out.npz")
    assert code == 0, err
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["fc"], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


# every torchvision model in specs/: the imported spec's `export --to pytorch` has the
# module's own tensor names and layouts; small inputs keep them fast
ROUND_TRIP = ["resnet18", "convnext_tiny", "resnext50_32x4d", "vgg16_bn", "alexnet", "squeezenet1_0", "mobilenet_v2",
              "mobilenet_v3_large", "efficientnet_b0", "densenet121", "shufflenet_v2_x1_0",
              "googlenet", "inception_v3", "regnet_y_400mf", "vit_b_16"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_export_of_the_imported_spec_loads_the_state_dict_and_computes_the_same(torchvision, name):
    import torch

    extra = {"aux_logits": False} if name == "inception_v3" else {}
    if name == "vit_b_16":
        extra = {"image_size": 64}  # 16 patches of 16x16 (its position embedding follows)
    module, _, _ = _model(torchvision, name, **extra)
    module.eval()
    _randomise_norms(module, torch)
    if name == "vit_b_16":  # torchvision starts the head at zero: every output would be 0
        with torch.no_grad():
            module.heads.head.weight.normal_(0, 0.02, generator=torch.Generator().manual_seed(2))
    shape = (3, 107, 107) if name == "inception_v3" else (3, 64, 64)  # Inception's least size: 75
    net = cnncalc.from_torch(module, shape)
    scope: dict = {}
    exec(compile(to_source(net), f"{name}.py", "exec"), scope)
    written = scope["Net"]().eval()
    written.load_state_dict(module.state_dict(), strict=True)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = module(x), written(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_import_writes_a_spec_with_the_modules_levels(torchvision, tmp_path, capsys):
    code, _, err = cli(capsys, "import", "torchvision.models:mobilenet_v2", "-i", "3x224x224",
                       "-o", tmp_path / "net.yaml")
    assert code == 0, err
    text = (tmp_path / "net.yaml").read_text()
    assert "- name: features\n    sequential:" in text
    assert '- name: "0"' in text  # nn.Sequential's numbered children keep their numbers
    net = cnncalc.load(tmp_path / "net.yaml")
    assert cnncalc.analyze(net).totals.params == 3_504_872  # torchvision's num_params
    assert "features.1.conv.0.0" in [n.name for n in net.nodes]  # the state_dict prefix


# -- bad input: a clear error, exit 2, no traceback --------------------------------------


def _error(capsys, *args) -> str:
    code, out, err = cli(capsys, *args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    return err


def test_a_module_that_does_not_import(torchvision, capsys):
    err = _error(capsys, "analyze", "--torch", "no_such_module_26:Net", "-i", "3x8x8")
    assert "error[torch]" in err and "cannot import no_such_module_26" in err
    assert "ModuleNotFoundError" in err


def test_from_torch_of_something_that_is_not_a_module(torchvision):
    # a located usage error, not an AttributeError from inside the capture
    with pytest.raises(cnncalc.SpecError, match="reads a torch.nn.Module, not str"):
        cnncalc.from_torch("notamodule", (3, 224, 224))


def test_a_factory_that_raises_and_one_that_is_missing(torchvision, tmp_path, capsys):
    path = tmp_path / "model.py"
    path.write_text("def Net():\n    raise ValueError('no weights here')\n")
    err = _error(capsys, "analyze", "--torch", f"{path}:Net", "-i", "3x8x8")
    assert "raised ValueError: no weights here" in err
    err = _error(capsys, "import", f"{path}:Other", "-i", "3x8x8")
    assert "has no 'Other'" in err and "Net" in err


def test_an_op_that_cannot_be_mapped_names_the_op_the_module_and_the_line(torchvision, tmp_path, capsys):
    path = tmp_path / "odd.py"
    path.write_text(textwrap.dedent("""\
        import torch
        from torch import nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)

            def forward(self, x):
                return torch.sin(self.conv(x))

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = Block()

            def forward(self, x):
                return self.body(x)
        """))
    err = _error(capsys, "analyze", "--torch", f"{path}:Net", "-i", "3x8x8")
    assert "ATen op aten.sin" in err
    assert "in module body" in err
    assert f"{path}:10" in err and "torch.sin(self.conv(x))" in err  # the source line
    assert "help: ops cnncalc reads:" in err and "aten.conv2d" in err


def test_a_module_needs_an_input_shape(torchvision, capsys):
    err = _error(capsys, "import", "torchvision.models:resnet18")
    assert "-i 3x224x224" in err
    err = _error(capsys, "analyze", "--torch", "torchvision.models:resnet18", SPECS / "lenet5.yaml")
    assert "one of them" in err
    err = _error(capsys, "analyze")  # neither: click's own missing argument
    assert "missing argument 'spec'" in err


def test_without_torch_the_error_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    err = _error(capsys, "analyze", "--torch", "torchvision.models:resnet18", "-i", "3x224x224")
    assert "error[torch]: PyTorch is not installed" in err
    assert "pip install 'cnncalc[torch]'" in err
    with pytest.raises(cnncalc.SpecError, match="not installed"):
        cnncalc.from_torch(object(), (3, 8, 8))


def test_import_cnncalc_does_not_import_torch():
    import subprocess

    code = "import sys, cnncalc; cnncalc.from_torch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_module_with_tensors_called_twice_is_refused(torchvision, tmp_path, capsys):
    path = tmp_path / "shared.py"
    path.write_text(textwrap.dedent("""\
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(4, 4, 3, padding=1)

            def forward(self, x):
                return self.conv(self.conv(x))
        """))
    err = _error(capsys, "analyze", "--torch", f"{path}:Net", "-i", "4x8x8")
    assert "module conv runs a second time" in err and f"{path}:9" in err


def test_a_module_torch_export_cannot_capture(torchvision, tmp_path, capsys):
    """Data-dependent control flow on the input's values: neither non-strict nor strict export
    captures it, nor torch.fx (tests/test_torch_fx.py); the error gives all three reasons."""
    path = tmp_path / "branchy.py"
    path.write_text(textwrap.dedent("""\
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)

            def forward(self, x):
                y = self.conv(x)
                return y.relu() if y.sum() > 0 else y
        """))
    err = _error(capsys, "analyze", "--torch", f"{path}:Net", "-i", "3x8x8")
    assert "torch.export could not capture Net on input [3, 8, 8]" in err and "strict=True" in err
    assert "torch.fx could not trace it: TraceError" in err
    assert "def forward" not in err  # torch's dumps of the failed graphs are not shown
