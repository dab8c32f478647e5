"""Issue 23: each FLOP counter's number, reproduced from the spec (cnncalc/analysis/conventions.py).

The ground truth is tests/data/counters/<spec stem>.json: what the installed counters print
for the same network in PyTorch, each record naming the counter's version and the command
that produced it (benchmarks/measure_counters.py, run with torch 2.14.1 and torchvision
0.29.1 on CPU: `python benchmarks/measure_counters.py --net NAME`). Every test here computes
cnncalc's reproduction from the spec and compares it with the recorded value: exactly for
the integer counters, to thop's float64 value and to torchvision's 3-decimal GFLOPS.
"""

from __future__ import annotations

import json
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest

import cnncalc
from cnncalc.analysis.conventions import (
    ATTN,
    ATTN_PROJ,
    COUNTERS,
    TWICE,
    count_nodes,
    needed_by,
    reconcile,
)
from cnncalc.core.errors import SpecError
from cnncalc.present.conventions_text import rules_markdown
from tests.test_hostile import cli as hostile_cli

ROOT = Path(__file__).resolve().parent.parent
DATA = sorted((ROOT / "tests/data/counters").glob("*.json"))


@cache
def record(path: Path) -> dict:
    return json.loads(path.read_text())


@cache
def network(spec: str):
    net = cnncalc.load(ROOT / spec)
    # torchvision's models run only the main output in eval mode: Inception-v3's aux head
    # (the spec's second output, AuxLogits.fc) runs in training only; its main output is fc
    nodes = needed_by(net, "fc") if len(net.outputs) > 1 else None
    return net, nodes


CASES = [(p, name) for p in DATA for name in record(p)["counters"] if name in COUNTERS]


def test_every_recorded_counter_is_reproduced():
    """Every counter the measuring script records has a table here (no record is skipped)."""
    recorded = {name for p in DATA for name in record(p)["counters"]}
    assert recorded <= set(COUNTERS), recorded - set(COUNTERS)
    assert {p.stem for p in DATA} >= {"resnet18", "resnet50", "unet_small"}


@pytest.mark.parametrize("path, name", CASES, ids=[f"{p.stem}-{n}" for p, n in CASES])
def test_counter_total_equals_the_installed_counter(path, name):
    rec = record(path)
    net, nodes = network(rec["spec"])
    assert list(rec["input"]) == [net.batch, *net.input_shape]
    r = reconcile(net, COUNTERS[name], net.batch, nodes)
    want = rec["counters"][name]["value"]
    # the recorded number, as the counter printed it (its version and call in the record)
    assert r.printed == want, (name, r.printed, want)
    if COUNTERS[name].printed == "integer":
        assert r.value == want


@pytest.mark.parametrize("path", DATA, ids=[p.stem for p in DATA])
def test_differences_by_family_add_up_to_the_difference(path):
    """For every counter, the per-family differences from cnncalc's MACs sum exactly to its
    number minus cnncalc's MACs (torchvision: its GFLOPS times 10^9, the rounding a family)."""
    rec = record(path)
    net, nodes = network(rec["spec"])
    for c in COUNTERS.values():
        r = reconcile(net, c, net.batch, nodes)
        total = Fraction(str(r.printed)) * 10**9 if c.printed == "gflops3" else r.value
        assert sum(r.by_family.values()) == total - r.macs, c.name
    if nodes is None:  # cnncalc's MACs are the report's
        assert r.macs == rec["cnncalc"]["macs"]


def _module(node: str) -> str:
    # specs/unet_small.yaml names each layer by its module's qualified name; the second
    # call of a reused module is NAME-2
    return node.removesuffix("-2")


@pytest.mark.parametrize("name", ["fvcore", "thop", "torchinfo", "calflops", "deepspeed",
                                  "flop-counter", "ptflops-pytorch"])
def test_unet_per_module(name):
    """Per module of the small U-Net, the count each counter attributes to it (a reused ReLU
    module's two calls summed, as the counters do)."""
    rec = record(ROOT / "tests/data/counters/unet_small.json")
    got_rec = rec["counters"][name]
    want = dict(got_rec["by_module"])
    for module, ops in got_rec.get("functional_by_module", {}).items():  # ptflops' patched F.*
        want[module] = want.get(module, 0) + sum(ops.values())
    net, _ = network(rec["spec"])
    ours: dict[str, Fraction] = {}
    for row in count_nodes(net, COUNTERS[name]):
        if row.name in ("cat1", "cat2"):
            continue  # torch.cat in the forward: no module
        ours[_module(row.name)] = ours.get(_module(row.name), 0) + row.value
    compared = [m for m in ours if m in want]
    assert len(compared) >= 20
    assert {m: ours[m] for m in compared} == {m: want[m] for m in compared}


def test_transposed_convolution_grid_by_hand():
    """ConvTranspose2d(3, 1, 2, stride=2) on 2x2 (docs/conventions.md): 48 MACs on the input
    grid (2·2·3 inputs · 1 · 2·2 taps); thop 0.1.1 (basic_hooks.py:22, calc_func.py:28)
    counts output elements · in/groups · taps = 4·4 · 3 · 4 = 192, stride² = 4 times more."""
    net = cnncalc.loads("input: [3, 2, 2]\nlayers:\n"
                        "  - conv_transpose: {out_channels: 1, kernel_size: 2, stride: 2}\n")
    thop = reconcile(net, COUNTERS["thop"])
    assert thop.macs == 2 * 2 * 3 * 1 * 2 * 2
    assert thop.value == 4 * 4 * 3 * 2 * 2
    assert thop.by_family == {"transposed convolution (output grid)": 192 - 48}
    # fvcore 0.1.5 (jit_handles.py:149): prod(input spatial): the input grid
    assert reconcile(net, COUNTERS["fvcore"]).value == 48
    # ptflops 0.7.5 (pytorch_ops.py:76-88): the input grid + the bias on the 1x4x4 output
    assert reconcile(net, COUNTERS["ptflops-pytorch"]).value == 48 + 16
    # calflops 0.3.2 (pytorch_ops.py:128): 2·48 + the bias on a forward convolution's
    # grid, floor((2 - 2) / 2) + 1 = 1 per axis, times weight.shape[1] = 1
    assert reconcile(net, COUNTERS["calflops"]).value == 2 * 48 + 1 * 1
    # DeepSpeed 0.19.8 (profiler.py:614): the bias on the output grid
    assert reconcile(net, COUNTERS["deepspeed"]).value == 2 * 48 + 16


def test_counters_skip_and_say_unsupported():
    """fvcore warns about an op it has no handle for (max pooling, the residual add) and
    ignores ReLU by design (jit_analysis.py:28); thop has no rule for SiLU."""
    net = cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - {conv: {out_channels: 4, kernel_size: 3}, name: c}\n"
                        "  - relu\n  - {maxpool: 2, name: p}\n  - silu\n")
    fv = reconcile(net, COUNTERS["fvcore"])
    assert fv.unsupported == ["aten::max_pool (1)", "aten::silu (1)"]
    assert fv.skipped == ["aten::relu (1)"]
    assert reconcile(net, COUNTERS["thop"]).unsupported == ["nn.SiLU (1)"]


def test_torch_form_is_checked_where_it_is_written():
    with pytest.raises(SpecError) as e:
        cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - {relu, torch: functionl}\n")
    text = str(e.value)
    assert "torch: 'functionl' is not a PyTorch form of relu" in text and ":3:" in text
    assert "functional" in e.value.help
    with pytest.raises(SpecError, match="only on a layer"):
        cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - {sequential: [relu], torch: functional}\n")
    net = cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - {relu, torch: functional, repeat: 2}\n")
    assert [n.torch_form for n in net.nodes] == ["functional", "functional"]


def test_conventions_tables_in_the_docs():
    """docs/conventions.md prints every counter's table as the code holds it."""
    page = (ROOT / "docs/conventions.md").read_text()
    assert rules_markdown() in page


def test_every_zoo_layer_macs_are_in_its_ops():
    """The ops a layer declares carry all of its MACs (else a counter's difference would not
    add up), for every spec in the zoo the data covers."""
    for path in DATA:
        net, _ = network(record(path)["spec"])
        for node in net.nodes:
            assert sum(op.macs for op in node.facts.aten_ops_as(node.torch_form)) == node.facts.macs


EDGES = """input: [4, 6, 6]
layers:
  - conv: {out_channels: 4, kernel_size: 3, padding: 1, groups: 4}   # depthwise, with bias
  - gelu
  - upsample: {scale_factor: 2, mode: nearest}
  - adaptive_avgpool: {output_size: 5}                               # 12x12 -> 5x5: windows overlap
  - softmax: 1
"""


def test_edge_cases_by_hand():
    """Depthwise convolution with bias, GELU, nearest upsampling, adaptive pooling with a
    ratio that is not whole, softmax: each counter's number derived by hand from its rules,
    and equal to what the installed counters print for the same nn.Module (Conv2d(4, 4, 3,
    padding=1, groups=4), GELU(), Upsample(scale_factor=2), AdaptiveAvgPool2d(5),
    Softmax(dim=1); versions as in COUNTERS, run in the measuring venv on 2026-12-04)."""
    net = cnncalc.loads(EDGES)
    got = {name: reconcile(net, c).printed for name, c in COUNTERS.items()}
    conv, bias = 4 * 6 * 6 * 1 * 3 * 3, 4 * 6 * 6      # MACs; one bias addition per output
    act, up, pooled, vectors, n = 4 * 6 * 6, 4 * 12 * 12, 4 * 5 * 5, 5 * 5, 4
    # fvcore: conv; upsample_nearest2d 1 per output; adaptive_avg_pool2d its input; GELU and
    # softmax unsupported (jit_handles.py:127, 261; flop_count.py:40, 42)
    assert got["fvcore"] == conv + up + up
    # thop: conv without bias; no rule for GELU; nearest 1 per output; adaptive pooling
    # (144/25 + 1) per output; softmax 3n - 1 per vector (basic_hooks.py:22, 114, 98, 125)
    assert got["thop"] == float(conv + up + (Fraction(144, 25) + 1) * pooled + vectors * (3 * n - 1))
    # ptflops pytorch: conv + bias; GELU, Upsample and the pooling each by module hook and
    # patched functional; softmax by F.softmax only (pytorch_ops.py:60, 30, 21, 46, 347)
    assert got["ptflops-pytorch"] == conv + bias + 2 * act + 2 * up + 2 * up + pooled
    # ptflops aten and torchinfo: the convolution and its bias only
    assert got["ptflops-aten"] == got["torchinfo"] == conv + bias
    # calflops: 2 MACs + bias, GELU, interpolate by scale counts its input (the product with
    # the scale is dropped), pooling its input, softmax its input (pytorch_ops.py:83, 67,
    # 229, 71, 254); DeepSpeed the same but interpolate counts the output (profiler.py:720)
    assert got["calflops"] == 2 * conv + bias + act + act + up + pooled
    assert got["deepspeed"] == 2 * conv + bias + act + up + up + pooled
    # FlopCounterMode: 2 FLOPs per MAC of the convolution, nothing else
    assert got["flop-counter"] == 2 * conv
    # the installed counters' output for the same module (edge.py in the measuring venv)
    assert got == {"fvcore": 2448, "ptflops-pytorch": 4132, "ptflops-aten": 1440, "thop": 2823.0,
                   "torchinfo": 1440, "calflops": 3700, "flop-counter": 2592, "deepspeed": 4132,
                   "torchvision": 0.0}


def cli(*args) -> tuple[int, str, str]:
    """The command line in-process (tests/test_hostile.py's runner): (code, stdout, stderr)."""
    return hostile_cli(args)


def test_cli_conventions():
    """`cnncalc conventions -f json` has the contract's keys; an unknown counter name is an
    error (exit 2) listing the known ones; analyze's JSON gains a convention section."""
    unet = ROOT / "specs/unet_small.yaml"
    code, out, err = cli("conventions", unet, "-f", "json", "--paper")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"spec", "input", "counters", "paper"}
    assert data["input"] == [1, 3, 64, 64]
    thop = data["counters"]["thop"]
    assert set(thop) >= {"version", "unit", "value", "by_family", "unsupported"}
    assert thop["value"] == record(ROOT / "tests/data/counters/unet_small.json")["counters"]["thop"]["value"]
    code, out, err = cli("analyze", unet, "--convention", "fvcor")
    assert code == 2 and "unknown convention 'fvcor'" in err and "did you mean 'fvcore'" in err
    code, out, err = cli("analyze", unet, "--convention", "fvcore", "-f", "json")
    assert code == 0, err
    section = json.loads(out)["convention"]
    # the report's MACs (specs/unet_small.yaml's header: 25,591,808) plus the differences
    assert section["value"] == 25_591_808 + sum(section["by_family"].values())
    code, out, err = cli("analyze", unet, "--convention", "thop")
    assert code == 0 and "thop: total_ops (MAC)" in out and "nn.MaxPool2d: skipped" in out


BY_TYPE = ["fvcore", "thop", "torchinfo", "calflops", "deepspeed", "flop-counter", "ptflops-pytorch"]
TYPE_CASES = [(p, n) for p in DATA for n in BY_TYPE
              if isinstance(record(p)["counters"].get(n, {}).get("by_module"), dict)]


@pytest.mark.parametrize("path, name", TYPE_CASES, ids=[f"{p.stem}-{n}" for p, n in TYPE_CASES])
def test_counts_per_module_type(path, name):
    """What a counter attributes to the leaf modules of each torch.nn class (the record's
    by_module, grouped by its module_types) equals the sum of cnncalc's rules over the ops
    that class runs: e.g. thop's BatchNorm2d total, torchinfo's Linear total, calflops'
    ReLU total. An op called in a parent's forward (`torch: functional`) belongs to no leaf.
    ptflops' by_module is its module hooks alone (its patched functionals are recorded apart)."""
    rec = record(path)
    types = rec["module_types"]
    want: dict[str, Fraction] = {}
    for module, value in rec["counters"][name]["by_module"].items():
        if module in types and value:
            want[types[module]] = want.get(types[module], 0) + Fraction(value)
    if name == "ptflops-pytorch":  # its hook on a module with children: nn.MultiheadAttention
        containers = rec.get("container_types", {})
        for module, value in rec["counters"][name].get("by_module_nonleaf_own", {}).items():
            want[containers[module]] = want.get(containers[module], 0) + Fraction(value)
    c = COUNTERS[name]
    net, nodes = network(rec["spec"])
    ours: dict[str, Fraction] = {}
    for node in net.nodes:
        if nodes is not None and node.name not in nodes:
            continue
        for op in node.facts.aten_ops_as(node.torch_form):
            if not op.module:
                continue
            for key, rule in c.rules_for(op):
                if rule.count is None or (name == "ptflops-pytorch" and not key.startswith("nn.")):
                    continue
                value = sum(rule.count(op).values())
                if value:
                    ours[op.module] = ours.get(op.module, 0) + value
    assert ours == want


def test_batch():
    """Every rule grows with the batch but calflops' count of an interpolation to a given
    size: prod(size), the spatial size only (calflops/pytorch_ops.py:229-239)."""
    spec = ("input: [2, 4, 4]\nlayers:\n  - {conv: {out_channels: 2, kernel_size: 3}}\n"
            "  - upsample: {size: 5, mode: nearest}\n")
    one, four = cnncalc.loads(spec), cnncalc.loads(spec, batch=4)
    for c in COUNTERS.values():
        if c.printed == "gflops3":
            continue
        r1, r4 = reconcile(one, c), reconcile(four, c, 4)
        per_call = 5 * 5 if c.name in ("calflops", "deepspeed") else 0
        assert r4.value - per_call == 4 * (r1.value - per_call), c.name


# -- attention (ViT-B/16 and the non-local ResNet-50; tests/data/counters/vit_b_16.json and
# nonlocal_resnet50.json, recorded by `/work/scratch/cvenv/bin/python
# benchmarks/measure_counters.py --net vit_b_16 --net nonlocal_resnet50` with torch 2.14.1,
# torchvision 0.29.1 and the counters' versions named in each record)

VIT = ROOT / "tests/data/counters/vit_b_16.json"
NONLOCAL = ROOT / "tests/data/counters/nonlocal_resnet50.json"
L, E, H, BLOCKS = 197, 768, 12, 12  # ViT-B/16: 196 patches + the class token, hidden 768
PROJ = BLOCKS * 4 * L * E * E  # Q, K, V and output projections: 5,577,375,744
PRODUCTS = BLOCKS * 2 * L * L * E  # Q·K^T and A·V: 715,327,488 (the figure)
NL_PRODUCTS = 2 * 196 * 196 * 512  # the non-local block: 14·14 positions, 512 channels


def test_vit_attention_by_family():
    """What each counter does with ViT-B/16's attention, as the families of its difference
    from cnncalc's 17,563,828,224 MACs (torchvision's 17.564 GFLOPS), each from the formula
    and equal to the recorded total (test_counter_total_equals_the_installed_counter)."""
    net, _ = network("specs/vit_b_16.yaml")
    assert PROJ == 5_577_375_744 and PRODUCTS == 715_327_488
    got = {n: reconcile(net, COUNTERS[n]) for n in COUNTERS}
    assert got["fvcore"].macs == 17_563_828_224 == record(VIT)["cnncalc"]["macs"]
    # fvcore 0.1.5, ptflops-aten 0.7.5, FlopCounterMode (torch 2.14.1), calflops 0.3.2: the
    # projections (F.linear), not the products inside the fused CPU kernel
    for n in ("fvcore", "ptflops-aten", "flop-counter", "calflops"):
        assert got[n].by_family[ATTN] == -PRODUCTS, n
        assert ATTN_PROJ not in got[n].by_family, n
    # thop 0.1.1 and torchinfo 1.8.0: nothing of nn.MultiheadAttention
    for n in ("thop", "torchinfo"):
        assert (got[n].by_family[ATTN_PROJ], got[n].by_family[ATTN]) == (-PROJ, -PRODUCTS), n
    assert {"nn.MultiheadAttention (12)"} <= set(got["thop"].unsupported)
    # DeepSpeed 0.19.8 patches F.scaled_dot_product_attention: every MAC twice
    assert ATTN not in got["deepspeed"].by_family
    assert got["deepspeed"].by_family[TWICE] == 17_563_828_224
    # ptflops 0.7.5's nn.MultiheadAttention hook (pytorch_ops.py:180): every MAC, and per
    # block the biases 4·L·E, the softmax H·L², the scaling L·E
    pt = got["ptflops-pytorch"]
    assert ATTN not in pt.by_family and ATTN_PROJ not in pt.by_family
    rec = record(VIT)["counters"]["ptflops-pytorch"]["by_module_nonleaf_own"]
    per_block = 4 * L * E * E + 2 * L * L * E + 4 * L * E + H * L * L + L * E
    assert per_block == 525_614_124
    assert rec == {f"encoder.layers.encoder_layer_{i}.self_attention": per_block for i in range(BLOCKS)}
    assert got["torchvision"].printed == record(VIT)["counters"]["torchvision"]["value"] == 17.564


def test_vit_attention_in_the_records():
    """The recorded counters see attention as the rules say: DeepSpeed and calflops count each
    nn.MultiheadAttention on its own (its patched F.* run in its forward), FlopCounterMode and
    ptflops' aten backend see the projections as addmm and the fused kernel as no formula;
    under no_grad in eval mode (the fast path, torch._native_multi_head_attention)
    FlopCounterMode counts no attention at all: 2 × (17,563,828,224 - PROJ - PRODUCTS)."""
    rec = record(VIT)["counters"]
    block = "encoder.layers.encoder_layer_0.self_attention"
    assert rec["deepspeed"]["by_module_nonleaf_own"][block] == {
        "flops": 2 * (4 * L * E * E + 2 * L * L * E), "macs": 4 * L * E * E + 2 * L * L * E}
    assert rec["calflops"]["by_module_nonleaf_own"][block] == {"flops": 2 * 4 * L * E * E,
                                                               "macs": 4 * L * E * E}
    assert rec["ptflops-aten"]["unsupported"]["aten._scaled_dot_product_flash_attention_for_cpu"] == BLOCKS
    assert rec["fvcore"]["unsupported"]["aten::scaled_dot_product_attention"] == BLOCKS
    assert "aten.bmm" not in rec["flop-counter"]["by_operator"]
    assert rec["flop-counter"]["value"] == 2 * (17_563_828_224 - PRODUCTS)
    assert rec["flop-counter"]["no_grad"]["value"] == 2 * (17_563_828_224 - PROJ - PRODUCTS)
    assert rec["torchinfo"]["calls_per_module"][block + ".out_proj"] == 0  # never runs


def test_nonlocal_attention_runs_the_math_path():
    """F.scaled_dot_product_attention on the non-local block's tokens (stride L on the last
    axis) runs the math path on CPU: two bmm, which ptflops' aten backend (MACs) and
    FlopCounterMode (2 per MAC) count, and cnncalc's rules with them; fvcore, calflops, thop
    and torchinfo count nothing of it, DeepSpeed 2 per MAC."""
    rec = record(NONLOCAL)
    assert rec["params"] == rec["cnncalc"]["params"] == 27_658_792
    assert NL_PRODUCTS == 39_337_984
    c = rec["counters"]
    assert c["ptflops-aten"]["by_operator"]["aten.bmm"] == NL_PRODUCTS
    assert c["flop-counter"]["by_operator"]["aten.bmm"] == 2 * NL_PRODUCTS
    assert c["deepspeed"]["by_module_nonleaf_own"]["layer3.5"] == {"flops": 2 * NL_PRODUCTS,
                                                                   "macs": NL_PRODUCTS}
    net, _ = network(rec["spec"])
    for n in ("ptflops-aten", "flop-counter", "deepspeed"):
        assert ATTN not in reconcile(net, COUNTERS[n]).by_family, n
    for n in ("fvcore", "ptflops-pytorch", "thop", "torchinfo", "calflops"):
        assert reconcile(net, COUNTERS[n]).by_family[ATTN] == -NL_PRODUCTS, n


def test_attention_rules_by_hand():
    """Self-attention over a map [4, 8] (8 positions are the tokens, L = 8, of E = 4 features,
    2 heads): ptflops 0.7.5's hook (pytorch_ops.py:180) L·E + 3·L·E² + 3·L·E + 2·(2·L²·E/2
    + L²) + L·E·(E + 1), without in_proj_bias still the output projection's bias (L·E, 'bias
    is always enabled'); fvcore the projections 4·L·E²; ptflops' aten backend those and
    out_proj's bias (addmm; in_proj runs mm on a map, test_attention_on_a_map_by_hand);
    DeepSpeed 2·(4·L·E² + 2·L²·E); thop nothing."""
    n, e = 8, 4
    for bias in (True, False):
        net = cnncalc.loads(f"input: [{e}, {n}]\nlayers:\n"
                            f"  - multihead_attention: {{num_heads: 2, bias: {str(bias).lower()}}}\n")
        proj, products = 4 * n * e * e, 2 * n * n * e
        assert reconcile(net, COUNTERS["thop"]).macs == proj + products == 512 + 512
        pt = n * e + 3 * n * e * e + (3 * n * e if bias else 0) + 2 * (2 * n * n * e // 2 + n * n) + n * e * (e + 1)
        assert reconcile(net, COUNTERS["ptflops-pytorch"]).value == pt
        assert reconcile(net, COUNTERS["fvcore"]).value == proj
        # a map's tokens are not contiguous: in_proj runs mm, its bias apart (uncounted)
        assert reconcile(net, COUNTERS["ptflops-aten"]).value == proj + (n * e if bias else 0)
        assert reconcile(net, COUNTERS["deepspeed"]).value == 2 * (proj + products)
        assert reconcile(net, COUNTERS["thop"]).value == 0


def test_attention_on_a_map_by_hand():
    """nn.MultiheadAttention(64, 4, batch_first=True) on a map 64x8x8 through cnncalc's
    SpatialMultiheadAttention helper (tokens x.flatten(2).transpose(1, 2), not contiguous):
    its in-projection runs as aten.mm with the bias added apart. Measured with torch 2.14.1
    and ptflops 0.7.5 in /work/scratch/cvenv (`FlopCounterMode(display=False)` around one
    forward of the helper's module on torch.randn(1, 64, 8, 8): 2,097,152 FLOPs, aten.mm
    1,572,864 + aten.addmm 524,288; `get_model_complexity_info(m, (64, 8, 8),
    backend='aten', as_strings=False)`: 1,052,672 MACs): 2·4·L·E² with L = E = 64, and
    4·L·E² + L·E (out_proj's addmm bias only)."""
    net = cnncalc.loads("input: [64, 8, 8]\nlayers:\n  - multihead_attention: {num_heads: 4}\n")
    n = e = 64
    assert reconcile(net, COUNTERS["flop-counter"]).value == 2 * 4 * n * e * e == 2_097_152
    assert reconcile(net, COUNTERS["ptflops-aten"]).value == 4 * n * e * e + n * e == 1_052_672


@pytest.mark.parametrize("spec", sorted(p.name for p in (Path(__file__).parent.parent / "specs").glob("*.yaml")))
def test_cnncalc_macs_are_the_reports_on_every_spec(spec):
    # the reconciliation starts from cnncalc's own MACs (cnncalc analyze's total), also where
    # a layer has no PyTorch form (separable_conv, locally_connected): its MACs count for
    # cnncalc, and a counter's difference there is the family "no PyTorch form"
    net = cnncalc.load(Path(__file__).parent.parent / "specs" / spec)
    total = cnncalc.analyze(net).totals.macs  # for the spec's batch
    r = reconcile(net, COUNTERS["fvcore"], net.batch)
    assert r.macs == total
    assert sum(r.by_family.values()) == r.value - total
