"""Mutation tests: ``verify`` shares no geometry with the analyzer it checks (issue 20, item 4).

Each test patches one of the analyzer's size rules in cnncalc/core/window.py to be off by
one (one more pixel of padding after, one more output, a crop one pixel too many, a chunk
bound shifted, a broadcast size off), loads a small spec that exercises the rule, and
shows that ``cnncalc.verify`` then fails and names the figure the wrong rule corrupts. If
the executor or verify's probes used the analyzer's rule, the two sides would agree on
the wrong number and verify would say ok: these tests would fail.

The correct values in the comments come from the rules' sources: Dumoulin and Visin
2016 (relationships 6, 14, 15), TensorFlow's "same", PyTorch's pooling_output_shape_pad_lr,
torch.chunk, torch.split, nn.Upsample, nn.PixelUnshuffle, AdaptivePooling.h and NumPy's
broadcasting; each test first checks that the unpatched spec verifies.

Specs are analysed when they are loaded (``cnncalc.loads`` runs every layer's setup), so
the rule is patched before loading; pytest's monkeypatch restores it after the test.
"""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
import textwrap
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

import cnncalc
from cnncalc.core import window
from cnncalc.measure.execute import backward, forward
from cnncalc.measure.verify import _measure_forward, _separable, probe_network

ROOT = Path(__file__).resolve().parents[1]


def patch_rule(monkeypatch, name: str, wrong) -> None:
    """Replace the analyzer's rule ``name`` in core/window.py and in every cnncalc module
    that imported it by name (the layer modules, base's re-export, rf)."""
    original = getattr(window, name)
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("cnncalc") and \
                getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, wrong)


def net_of(layers: str, input_shape: str = "[1, 13, 13]"):
    return cnncalc.loads(f"input: {input_shape}\nlayers:\n{textwrap.indent(layers, '  ')}", "m.yaml")


def mismatched(result, layer: str) -> set[str]:
    """The labels of the figures of ``layer`` that verify found wrong."""
    row = next(r for r in result.rows if r.name == layer)
    return {f.label for f in row.mismatched}


def assert_caught(layers: str, layer: str, figure: str, input_shape: str = "[1, 13, 13]"):
    """verify of the (patched) spec fails, and ``layer``'s row names ``figure``."""
    result = cnncalc.verify(net_of(layers, input_shape))
    assert not result.ok
    wrong = mismatched(result, layer)
    assert figure in wrong, f"{layer}: mismatched {sorted(wrong)}, expected {figure}"


def assert_sound(layers: str, input_shape: str = "[1, 13, 13]"):
    """The unpatched spec verifies: a failure under the patch is the patch's doing."""
    result = cnncalc.verify(net_of(layers, input_shape))
    assert result.ok, [r.note for r in result.rows if not r.ok]


def one_more_after(original):
    """A padding rule that pads one more pixel after, on every axis."""
    def wrong(*args, **kwargs):
        return tuple((b, a + 1) for b, a in original(*args, **kwargs))
    return wrong


# -- padding resolution: explicit, same, full, pairs ------------------------------------

CONV = "- {conv: {out_channels: 2, kernel_size: 3, padding: %s}, name: c}\n"


@pytest.mark.parametrize("padding, size", [
    ("1", 13),  # explicit: (13 + 2 - 3) / 1 + 1 = 13; patched 14
    ("same", 13),  # ceil(13 / 1) = 13 (TensorFlow's "same"); patched 14
    ("full", 15),  # (13 + 2·2 - 3) + 1 = 15 (Dumoulin and Visin 2016, section 2.2.2); patched 16
    ("[[0, 1], [2, 0]]", 12),  # pairs: 13 + 1 - 3 + 1 = 12 and 13 + 2 - 3 + 1 = 13
])
def test_padding_resolution(monkeypatch, padding, size):
    spec = CONV % padding
    assert_sound(spec)
    assert net_of(spec).nodes[0].facts.out_shape[1] == size
    patch_rule(monkeypatch, "resolve_padding", one_more_after(window.resolve_padding))
    assert_caught(spec, "c", "output_shape")
    assert_caught(spec, "c", "macs")  # one more output column, every one 2·3·3 products


def test_same_padding_of_pooling(monkeypatch):
    # stride 1: every pixel of padding is read. (With stride 2 on 13, "same" pads 1 + 1 and
    # a third pixel after is never read by a window: floor((13 + 3 - 3) / 2) + 1 = 7 either
    # way, the same network, which no measurement can tell apart.)
    spec = "- {maxpool: {kernel_size: 3, stride: 1, padding: same}, name: p}\n"
    assert_sound(spec)  # ceil(13 / 1) = 13
    patch_rule(monkeypatch, "resolve_padding", one_more_after(window.resolve_padding))
    assert_caught(spec, "p", "output_shape")


# -- window extents, convolution and pooling output sizes (with ceil_mode) --------------


def test_dilated_extent(monkeypatch):
    spec = "- {conv: {out_channels: 1, kernel_size: 3, dilation: 2}, name: c}\n"
    assert_sound(spec)  # extent 2·(3 - 1) + 1 = 5: 13 - 5 + 1 = 9
    original = window.effective_kernel
    patch_rule(monkeypatch, "effective_kernel", lambda k, d: original(k, d) + 1)
    assert_caught(spec, "c", "output_shape")


def test_conv_output_size(monkeypatch):
    spec = "- {conv: {out_channels: 2, kernel_size: 3, stride: 2}, name: c}\n"
    assert_sound(spec)  # floor((13 - 3) / 2) + 1 = 6 (Dumoulin and Visin, relationship 6)
    original = window.conv_out
    patch_rule(monkeypatch, "conv_out", lambda *a: original(*a) + 1)
    assert_caught(spec, "c", "output_shape")


@pytest.mark.parametrize("mutation", ["one more", "floor instead of ceil"])
def test_pool_output_size_in_ceil_mode(monkeypatch, mutation):
    spec = "- {maxpool: {kernel_size: 3, stride: 2, ceil_mode: true}, name: p}\n"
    assert_sound(spec, "[1, 14, 14]")  # ceil((14 - 3) / 2) + 1 = 7; floor would give 6
    original = window.pool_out
    if mutation == "one more":
        wrong = lambda *a: original(*a) + 1  # noqa: E731
    else:
        wrong = lambda size, k, s, b, a, ceil: original(size, k, s, b, a, False)  # noqa: E731
    patch_rule(monkeypatch, "pool_out", wrong)
    assert_caught(spec, "p", "output_shape", "[1, 14, 14]")


# -- transposed convolution: output_padding, and the crop of "same" ---------------------


def test_transposed_output_padding(monkeypatch):
    spec = ("- {conv_transpose: {out_channels: 2, kernel_size: 3, stride: 2, padding: 1, "
            "output_padding: 1}, name: t}\n")
    assert_sound(spec, "[1, 7, 7]")  # (7 - 1)·2 - 2 + 3 + 1 = 14 (relationship 14)
    original = window.transposed_out
    patch_rule(monkeypatch, "transposed_out",
               lambda size, k, s, b, a, op: original(size, k, s, b, a, 0))  # output_padding lost
    assert_caught(spec, "t", "output_shape", "[1, 7, 7]")


def test_transposed_same_crop(monkeypatch):
    spec = "- {conv_transpose: {out_channels: 2, kernel_size: 4, stride: 2, padding: same}, name: t}\n"
    assert_sound(spec, "[1, 7, 7]")  # L·s = 14: the full 16 cropped by 4 - 2 = 1 + 1
    patch_rule(monkeypatch, "transposed_padding", one_more_after(window.transposed_padding))
    assert_caught(spec, "t", "output_shape", "[1, 7, 7]")


# -- crops: explicit, and centred like another layer (a U-Net skip) ----------------------
# (without the concat that follows in a U-Net: a crop of the wrong size would make the
# analyzer refuse the concat at load, before verify is asked)

UNET_SKIP = """\
- {conv: {out_channels: 2, kernel_size: 3}, name: enc}
- {maxpool: 2, name: down}
- {conv: {out_channels: 2, kernel_size: 3}, name: mid}
- {conv_transpose: {out_channels: 2, kernel_size: 2, stride: 2}, name: up}
- {crop: {like: up}, from: enc, name: skip}
"""


def test_centre_crop_like(monkeypatch):
    # 20 -> enc 18 -> down 9 -> mid 7 -> up 14; the skip crops 18 to 14: 2 before, 2 after
    assert_sound(UNET_SKIP, "[1, 20, 20]")
    original = window.centre_crop_padding
    patch_rule(monkeypatch, "centre_crop_padding",
               lambda size, target: (lambda b, a: (b, a + 1))(*original(size, target)))
    assert_caught(UNET_SKIP, "skip", "output_shape", "[1, 20, 20]")


def test_centre_crop_like_off_centre(monkeypatch):
    # the same crop moved one pixel (3 before, 1 after): the shape is right, the field is not
    original = window.centre_crop_padding
    patch_rule(monkeypatch, "centre_crop_padding",
               lambda size, target: (lambda b, a: (b + 1, a - 1))(*original(size, target)))
    assert_caught(UNET_SKIP, "skip", "rf_center[0]", "[1, 20, 20]")


def test_explicit_crop(monkeypatch):
    spec = "- {crop: 2, name: k}\n"
    assert_sound(spec)  # 13 - 2 - 2 = 9
    original = window.crop_out
    patch_rule(monkeypatch, "crop_out", lambda *a: original(*a) - 1)
    assert_caught(spec, "k", "output_shape")


# -- chunk and split bounds ------------------------------------------------------------


def test_chunk_of_an_odd_axis(monkeypatch):
    spec = "- {conv: {out_channels: 5, kernel_size: 1}}\n- {chunk: {chunks: 2, index: 1}, name: h}\n"
    assert_sound(spec)  # torch.chunk(5 channels, 2): 3 and 2, part 1 is channels 3..4
    original = window.chunk_bounds
    patch_rule(monkeypatch, "chunk_bounds",
               lambda *a: (lambda start, stop: (start - 1, stop))(*original(*a)))
    assert_caught(spec, "h", "output_shape")


def test_chunk_along_space_shifted(monkeypatch):
    spec = "- {chunk: {chunks: 2, index: 0, dim: 2}, name: h}\n"
    assert_sound(spec)  # rows 0..6 of 13 (ceil(13 / 2) = 7)
    original = window.chunk_bounds
    patch_rule(monkeypatch, "chunk_bounds",
               lambda *a: (lambda start, stop: (start + 1, stop + 1))(*original(*a)))
    assert_caught(spec, "h", "rf_center[0]")  # the same 7 rows, one row further down


def test_split_bounds(monkeypatch):
    spec = "- {conv: {out_channels: 5, kernel_size: 1}}\n- {split: {sizes: [2, 3], index: 1}, name: s}\n"
    assert_sound(spec)  # torch.split(5, [2, 3])[1]: channels 2..4
    original = window.split_bounds
    patch_rule(monkeypatch, "split_bounds",
               lambda *a: (lambda start, stop: (start - 1, stop))(*original(*a)))
    assert_caught(spec, "s", "output_shape")


# -- resampling: upsample, pixel (un)shuffle, adaptive pooling ----------------------------


def test_upsample_by_one_and_a_half(monkeypatch):
    spec = "- {upsample: {scale_factor: 1.5}, name: u}\n"
    assert_sound(spec)  # floor(13 · 1.5) = 19 (nn.Upsample)
    original = window.upsample_axis
    patch_rule(monkeypatch, "upsample_axis",
               lambda *a: (lambda out, ratio: (out + 1, ratio))(*original(*a)))
    assert_caught(spec, "u", "output_shape")


def test_upsample_source_ratio(monkeypatch):
    spec = "- {upsample: {scale_factor: 2}, name: u}\n"
    assert_sound(spec)  # nearest: unit o copies input floor(o / 2): a field of 1, stride 1/2
    original = window.upsample_axis
    patch_rule(monkeypatch, "upsample_axis",
               lambda *a: (lambda out, ratio: (out, ratio * 2))(*original(*a)))
    assert_caught(spec, "u", "rf_stride[0]")


def test_pixel_unshuffle(monkeypatch):
    spec = "- {pixel_unshuffle: 2, name: d}\n"
    assert_sound(spec, "[1, 12, 12]")  # [1·2², 12 / 2, 12 / 2] = [4, 6, 6]
    original = window.pixel_unshuffle_shape
    patch_rule(monkeypatch, "pixel_unshuffle_shape",
               lambda shape, r: (lambda c, *s: (c, *(v + 1 for v in s)))(*original(shape, r)))
    assert_caught(spec, "d", "output_shape", "[1, 12, 12]")


def test_pixel_shuffle(monkeypatch):
    spec = "- {conv: {out_channels: 8, kernel_size: 1}}\n- {pixel_shuffle: 2, name: p}\n"
    assert_sound(spec, "[1, 6, 6]")  # [8 / 2², 6·2, 6·2] = [2, 12, 12] (ESPCN, eq. 4)
    original = window.pixel_shuffle_shape
    patch_rule(monkeypatch, "pixel_shuffle_shape",
               lambda shape, r: (lambda c, *s: (c + 1, *s))(*original(shape, r)))
    assert_caught(spec, "p", "output_shape", "[1, 6, 6]")


def test_adaptive_pooling_windows(monkeypatch):
    spec = "- {adaptive_avgpool: 3, name: a}\n"
    # 7 -> 3: units pool [0, 3), [2, 5), [4, 7) (floor(o·7/3), ceil((o + 1)·7/3)): 3 wide
    assert_sound(spec, "[1, 7, 7]")
    original = window.adaptive_window
    patch_rule(monkeypatch, "adaptive_window",
               lambda *a: (lambda start, end: (start, end + 1))(*original(*a)))
    assert_caught(spec, "a", "rf_size[0]", "[1, 7, 7]")


# -- merges: NumPy broadcasting, explicit padding ------------------------------------------

SQUEEZE_EXCITE = """\
- {conv: {out_channels: 4, kernel_size: 3, padding: same}, name: x}
- {global_avgpool, name: squeeze}
- {conv: {out_channels: 4, kernel_size: 1}, name: excite}
- {multiply: {with: x}, name: scale}
"""


def test_broadcasting_multiply(monkeypatch):
    assert_sound(SQUEEZE_EXCITE, "[2, 8, 8]")  # [4, 1, 1] * [4, 8, 8] -> [4, 8, 8]
    original = window.broadcast_shape
    patch_rule(monkeypatch, "broadcast_shape",
               lambda shapes: (lambda *s: (*s[:-1], s[-1] + 1))(*original(shapes)))
    assert_caught(SQUEEZE_EXCITE, "scale", "output_shape", "[2, 8, 8]")


def test_explicit_pad(monkeypatch):
    spec = "- {pad: 1, name: z}\n"
    assert_sound(spec)  # 13 + 1 + 1 = 15
    original = window.pad_out
    patch_rule(monkeypatch, "pad_out", lambda *a: original(*a) + 1)
    assert_caught(spec, "z", "output_shape")


# -- from outside the project, as a user would run it --------------------------------------


def test_the_cli_fails_under_a_patched_same_padding_rule(tmp_path):
    spec = tmp_path / "same.yaml"
    spec.write_text("input: [1, 13, 13]\nlayers:\n  - " + (CONV % "same").strip("- \n") + "\n")
    script = tmp_path / "mutate.py"
    script.write_text(textwrap.dedent(f"""\
        import sys

        import cnncalc.cli
        import cnncalc.layers  # every layer module, so that their imported names are patched
        from cnncalc.core import window

        right = window.resolve_padding

        def wrong(*args, **kwargs):  # one more pixel after on every axis
            return tuple((b, a + 1) for b, a in right(*args, **kwargs))

        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("cnncalc") and \\
                    getattr(module, "resolve_padding", None) is right:
                module.resolve_padding = wrong
        sys.argv = ["cnncalc", "verify", {str(spec)!r}]
        cnncalc.cli.main()
        """))
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "output_shape" in run.stdout + run.stderr
    # and the same spec, unpatched, verifies: exit 0
    ok = subprocess.run([sys.executable, "-m", "cnncalc", "verify", str(spec)], cwd=tmp_path,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr


# -- the executor and verify's probes run with every analyzer rule broken -------------------

# every layer type whose size the rules above decide, in one small network each
EXECUTED = [
    ("[1, 13, 13]", CONV % "same" + CONV.replace("name: c", "name: c2") % "[[0, 1], [2, 0]]"
     + "- {conv: {out_channels: 2, kernel_size: 3, stride: 2, dilation: 2, padding: full}}\n"
     + "- {maxpool: {kernel_size: 3, stride: 2, ceil_mode: true}}\n"
     + "- {avgpool: {kernel_size: 3, stride: 1, padding: same}}\n"),
    ("[1, 7, 7]", "- {conv_transpose: {out_channels: 2, kernel_size: 3, stride: 2, padding: 1, "
                  "output_padding: 1}}\n"
                  "- {conv_transpose: {out_channels: 2, kernel_size: 4, stride: 2, padding: same}}\n"
                  "- {adaptive_maxpool: 5}\n- {adaptive_avgpool: 3}\n"),
    ("[1, 20, 20]", UNET_SKIP + "- {crop: 1}\n- {pad: {padding: 2, mode: reflect}}\n"),
    ("[1, 12, 12]", "- {conv: {out_channels: 5, kernel_size: 1}}\n- {chunk: {chunks: 2, index: 1}}\n"
                    "- {split: {sizes: [1, 1], index: 0}}\n- {chunk: {chunks: 2, index: 1, dim: 3}}\n"
                    "- {upsample: {scale_factor: 1.5}}\n- {pixel_unshuffle: 3}\n"
                    "- {pixel_shuffle: 3}\n- {upsample: {size: [8, 5], mode: bilinear}}\n"),
    ("[2, 8, 8]", SQUEEZE_EXCITE),
]


def break_every_rule(monkeypatch) -> None:
    """Make every rule of core/window.py raise wherever it was imported."""
    for name in window.__all__:
        def broken(*args, _name=name, **kwargs):
            raise AssertionError(f"the analyzer's rule {_name} was called")
        patch_rule(monkeypatch, name, broken)


@pytest.mark.parametrize("input_shape, layers", EXECUTED)
def test_executor_and_probes_never_call_the_analyzer_rules(monkeypatch, input_shape, layers):
    net = net_of(layers, input_shape)  # analysed with the real rules
    report = cnncalc.analyze(net)
    break_every_rule(monkeypatch)
    x = np.random.default_rng(0).standard_normal((2, *net.input_shape)).astype(np.float64)
    run = forward(net, x, seed=1)
    grads = backward(net, run, {name: np.ones_like(run.values[name]) for name in net.outputs})
    assert grads["input"].shape == x.shape
    _, shapes = _measure_forward(net, report, 0, None)
    nodes, _ = _separable(net)
    for axis in range(net.ndim):  # verify's per-axis probes, built and run at the network's size
        probe = probe_network(net, axis, nodes, net.input_shape[1 + axis], 4, shapes)
        seen = forward(probe, np.ones((4, 1, net.input_shape[1 + axis])), checked=True, probe=True,
                       max_memory=None)
        backward(probe, seen, {n: np.ones_like(seen.values[n]) for n in probe.outputs}, probe=True)


# -- no layer is mutated after parsing (issue 20, item 1) -----------------------------------


def layer_state(layer) -> dict:
    """A comparable copy of a parsed layer's attributes (its read-only mappings as dicts)."""
    return {key: dict(value) if isinstance(value, MappingProxyType) else copy.deepcopy(value)
            for key, value in vars(layer).items()}


def test_parsed_layers_are_immutable_and_untouched_by_analysis_and_verify():
    specs = sorted((ROOT / "specs").glob("*.yaml"))
    assert len(specs) > 40  # the whole zoo, not a sample of it
    nets = {path.name: cnncalc.load(path) for path in specs}
    before = {(name, node.name): layer_state(node.layer)
              for name, net in nets.items() for node in net.nodes}
    for net in nets.values():
        for node in net.nodes:
            with pytest.raises(AttributeError, match="immutable"):
                node.layer.pads = ((0, 0),)
            with pytest.raises(AttributeError, match="immutable"):
                node.layer.out_shape = (1,)
            assert node.layer.in_shapes == [] and node.layer.out_shape == ()  # never bound
        cnncalc.analyze(net)
    result = cnncalc.verify(nets["lenet5.yaml"])
    assert result.ok
    after = {(name, node.name): layer_state(node.layer)
             for name, net in nets.items() for node in net.nodes}
    assert after == before


# -- and by reading the code: what a pass can reach ------------------------------------------

ENTRY = ("forward", "backward", "probe_values", "probe_layer", "probe_padding")
ANALYZER = {"bounds", "bind", "bound", "setup", "facts", "windows", "unit_maps"}  # self.<name>()


def test_no_pass_reaches_an_analyzer_rule_in_the_source():
    """Every function a layer's forward/backward/probe hook can call (by ``self.NAME(...)`` or
    ``NAME(...)``, followed through every layer module) names no rule of core/window.py
    and calls no analyzer method (``bounds``, ``bind``, ``setup``, ...)."""
    functions: dict[str, list[ast.FunctionDef]] = {}
    for path in sorted((ROOT / "cnncalc" / "layers").glob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef):
                functions.setdefault(fn.name, []).append(fn)
    rules = set(window.__all__)
    seen, todo, found = set(), list(ENTRY), []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for fn in functions.get(name, []):
            local = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)} | \
                {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            for node in ast.walk(fn):
                if isinstance(node, ast.Name) and node.id in rules - local:
                    found.append(f"{name}() names {node.id}")
                if isinstance(node, ast.Call):
                    callee = node.func
                    if isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name) \
                            and callee.value.id == "self":
                        if callee.attr in ANALYZER:
                            found.append(f"{name}() calls self.{callee.attr}()")
                        todo.append(callee.attr)
                    elif isinstance(callee, ast.Name):
                        todo.append(callee.id)
    assert {"forward", "_cols", "gather", "box_index", "sources", "plan", "exec_bounds",
            "exec_crop", "exec_pads"} <= seen  # the walk reaches the executor's helpers
    assert found == []
