"""The torch.fx fallback of the PyTorch import (issue 26, item 1: "capture the graph with
torch.export, falling back to torch.fx where export cannot"; docs/torch.md, "When torch.export
cannot").

For a module both can capture, fx forced on (``capture="fx"``) gives the export path's spec
text, totals and names: the fx walk feeds the same translator. The real case export cannot
capture is a branch on a buffer's value (``if self.skip:``): export's fake tensors make it a
data-dependent guard (non-strict: GuardOnDataDependentSymNode; strict: "Data-dependent
branching"), while fx reads the buffer's real value. Tests skip, saying why, without torch or
torchvision (the ``torchvision`` fixture in conftest.py); .ci/run installs both.
"""

from __future__ import annotations

import json
import textwrap

import pytest

import cnncalc

from .test_cli import run as cli

GATED = textwrap.dedent("""\
    import torch
    from torch import nn
    import torch.nn.functional as F


    class Gated(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.register_buffer("skip", torch.tensor(True))

        def forward(self, x):
            y = F.relu(self.conv(x))
            if self.skip:
                y = y + x
            return y


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3)
            self.block = Gated(8)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = self.block(self.stem(x))
            return self.fc(x.mean([2, 3]))


    class Odd(Net):
        def forward(self, x):
            return torch.sin(self.block(self.stem(x)))


    if not hasattr(torch.ops.cnncalc_fx_test, "twice"):  # each test imports the file anew
        lib = torch.library.Library("cnncalc_fx_test", "FRAGMENT")
        lib.define("twice(Tensor x) -> Tensor")
        lib.impl("twice", lambda x: 2 * x, "CPU")  # a CPU kernel, no fake kernel
        torch.cnncalc_fx_test_lib = lib  # a Library's definitions live while it does


    class Custom(Net):
        def forward(self, x):
            return torch.ops.cnncalc_fx_test.twice(self.block(self.stem(x)))
    """)

FUNCS = textwrap.dedent("""\
    import torch
    from torch import nn
    import torch.nn.functional as F


    class Branch(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.a = nn.Conv2d(c, c, 1)
            self.b = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

        def forward(self, x):
            out = torch.cat([F.relu(self.a(x)), self.b(x)], 1)
            return F.max_pool2d(out, 2)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.branch = Branch(8)
            self.proj = nn.Conv2d(16, 16, 1)
            self.head = nn.Linear(16 * 8 * 8, 10)

        def forward(self, x):
            y = self.branch(torch.relu(self.stem(x)))
            y = y + self.proj(y)
            return self.head(y.view(y.size(0), -1))
    """)


def _load(tmp_path, text: str, stem: str):
    import importlib.util
    import sys

    path = tmp_path / f"{stem}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"fx_test_{stem}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return path, mod


def _line_of(code: str) -> int:
    """The line of GATED that holds ``code`` (1-based), where the refusal must point."""
    return next(i for i, line in enumerate(GATED.splitlines(), 1) if code in line)


def _spec_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def _same_network(module, shape):
    """Export's and fx's readings of ``module``: the same spec text (but the header's comment
    on the capture), totals and names."""
    from cnncalc.io.torch_import import translate

    text_export, used_export = translate(module, shape)
    text_fx, used_fx = translate(module, shape, capture_with="fx")
    assert (used_export, used_fx) == ("torch.export", "torch.fx")
    assert "# captured with torch.fx (asked for)" in text_fx
    assert _spec_lines(text_fx) == _spec_lines(text_export)
    a = cnncalc.analyze(cnncalc.from_torch(module, shape))
    b = cnncalc.analyze(cnncalc.from_torch(module, shape, capture="fx"))
    assert [x.name for x in b.layers] == [x.name for x in a.layers]
    assert (b.totals.params, b.totals.buffers, b.totals.macs) == \
        (a.totals.params, a.totals.buffers, a.totals.macs)
    return b


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "vit_b_16"])
def test_fx_forced_on_reads_a_torchvision_model_as_export_does(torchvision, name):
    """ResNet-18 (residual adds in the blocks' forward), MobileNetV2 (nn.Sequential levels,
    ReLU6), ViT-B/16 (nn.MultiheadAttention read whole, the class token, the position
    embedding, x, _ = attention(...) unpacked)."""
    model = getattr(torchvision.models, name)()
    report = _same_network(model, (3, 224, 224))
    # torchvision's parameter count (Weights.meta["num_params"]): the module's own
    assert report.totals.params == sum(p.numel() for p in model.parameters())


def test_fx_forced_on_reads_functional_calls_as_export_does(torchvision, tmp_path):
    """torch.cat of a list, F.relu, F.max_pool2d, torch.relu, a + b and y.view(y.size(0), -1),
    which fx sees as calls rather than ATen ops."""
    _, mod = _load(tmp_path, FUNCS, "funcs")
    report = _same_network(mod.Net(), (3, 16, 16))
    # stem 3·8·9+8 = 224; branch.a 8·8+8 = 72; branch.b.0 8·8·9 = 576, its batch norm 2·8
    # parameters and 2·8 running statistics (num_batches_tracked is a step counter, not counted:
    # docs/conventions.md); proj 16·16+16 = 272; head 1024·10+10 = 10250
    assert report.totals.params == 224 + 72 + 576 + 16 + 272 + 10250
    assert report.totals.buffers == 16
    # the level's input named by an identity (the branch reads it twice), the functional calls
    # named after their module and layer type
    assert [x.name for x in report.layers] == [
        "stem", "relu", "branch.input_", "branch.a", "branch.relu", "branch.b.0", "branch.b.1",
        "branch.concat", "branch.maxpool", "proj", "add", "flatten", "head"]


def test_a_branch_on_a_buffer_export_cannot_capture_is_read_with_fx(torchvision, tmp_path, capsys):
    path, _ = _load(tmp_path, GATED, "gated")
    out = tmp_path / "out.yaml"
    code, _, err = cli(capsys, "import", f"{path}:Net", "-i", "3x16x16", "-o", out)
    assert code == 0, err
    assert "note: captured with torch.fx, as torch.export could not capture it" in err
    assert "GuardOnDataDependentSymNode" in err  # non-strict export's reason
    text = out.read_text()
    assert "read from PyTorch by cnncalc" in text and "with torch.fx;" in text.splitlines()[0]
    assert _spec_lines(text)[3:] == [  # the branch taken: the buffer is True
        "  - {conv: {out_channels: 8, kernel_size: 3}, name: stem}",
        "  - name: block",
        "    sequential:",
        "    - {conv: {out_channels: 8, kernel_size: 3, padding: 1}, name: conv}",
        "    - {relu, name: relu, torch: functional}",
        "    - {add, name: add, from: [relu, stem]}",
        "  - {global_avgpool, name: global_avgpool, torch: mean}",
        "  - {flatten, name: flatten}",
        "  - {linear: {out_features: 10}, name: fc}"]
    code, stdout, err = cli(capsys, "analyze", "--torch", f"{path}:Net", "-i", "3x16x16",
                            "--format", "json")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["torch_capture"] == "torch.fx"
    assert "note: captured with torch.fx" in err
    # stem 3·8·3·3+8 = 224, block.conv 8·8·3·3+8 = 584, fc 8·10+10 = 90
    assert data["totals"]["params"] == 224 + 584 + 90


def test_analyze_json_says_torch_export_captured_a_plain_model(torchvision, capsys):
    code, stdout, err = cli(capsys, "analyze", "--torch", "torchvision.models:resnet18", "-i",
                            "3x64x64", "--format", "json")
    assert code == 0, err
    assert json.loads(stdout)["torch_capture"] == "torch.export"
    assert "captured with" not in err


def _error(capsys, *args) -> str:
    code, out, err = cli(capsys, *args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    return err


def test_an_op_fx_cannot_map_names_the_op_the_module_and_the_line(torchvision, tmp_path, capsys):
    path, _ = _load(tmp_path, GATED, "gated_odd")
    err = _error(capsys, "import", f"{path}:Odd", "-i", "3x16x16", "-o", tmp_path / "o.yaml")
    assert "ATen op aten.sin (graph node 'sin') in module (the top module)" in err
    code = "return torch.sin(self.block(self.stem(x)))"
    assert f"{path}:{_line_of(code)} (forward: {code})" in err
    assert "read with torch.fx, as torch.export could not capture the module" in err


def test_a_call_without_a_fake_kernel_is_refused_with_its_line(torchvision, tmp_path, capsys):
    """A custom op with a CPU kernel only: export cannot capture the model (nor the call alone),
    fx traces it, and the call is refused."""
    path, _ = _load(tmp_path, GATED, "gated_custom")
    err = _error(capsys, "import", f"{path}:Custom", "-i", "3x16x16")
    assert "torch.fx function twice (graph node 'twice') in module (the top module)" in err
    assert f"{path}:{_line_of('torch.ops.cnncalc_fx_test.twice(')}" in err and "torch.export cannot capture this call alone either" in err


def test_capture_must_be_one_of_three(torchvision):
    with pytest.raises(cnncalc.SpecError, match="not one of auto, export, fx"):
        cnncalc.from_torch(torchvision.models.resnet18(), (3, 32, 32), capture="jit")
