"""Attention for hybrid vision networks (issue 26, item 3): multi-head self-attention, the
scaled-dot-product core, ViT's class token and position embedding, permute and select_index;
ViT-B/16 against torchvision's published figures and code, and a non-local ResNet-50
against Wang et al. 2018's block derived by formula."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import cnncalc
from cnncalc.core.weights import tensor_shapes
from cnncalc.homework.explain import explain
from cnncalc.io.torch_map import to_source
from cnncalc.measure.execute import backward, forward
from tests.conftest import SPECS
from tests.test_execute import _finite_difference_check, net_of

DATA = Path(__file__).parent / "data" / "torchvision"
RNG = np.random.default_rng(26)

# ViT-B/16 (Dosovitskiy et al. 2021, table 1): 12 layers, hidden E = 768, MLP 3072, 12 heads,
# patch 16 at 224 x 224: 14 x 14 = 196 patches and the class token, L = 197 tokens
L, E, MLP, LAYERS, HEADS = 197, 768, 3072, 12, 12


@pytest.fixture(scope="module")
def vit():
    return cnncalc.load(SPECS / "vit_b_16.yaml")


@pytest.fixture(scope="module")
def vit_report(vit):
    return cnncalc.analyze(vit)


# -- ViT-B/16: torchvision's figures ------------------------------------------------------------


def test_vit_b_16_params_and_macs_are_torchvisions(vit_report):
    # torchvision ViT_B_16_Weights.IMAGENET1K_V1.meta: num_params 86,567,656, _ops 17.564
    # (GFLOPS = GMACs); recorded with the state_dict in data/torchvision (make_reference.py)
    meta = json.loads((DATA / "vit_b_16_state_dict.json").read_text())
    assert vit_report.totals.params == meta["num_params"] == 86_567_656
    assert f"{vit_report.totals.macs / 1e9:.3f}" == f"{meta['_ops']:.3f}" == "17.564"
    assert vit_report.totals.macs == 17_563_828_224  # the unrounded figure


def test_vit_b_16_counts_derived_term_by_term(vit_report):
    # parameters: conv_proj 768·3·16·16 + 768, class_token 768, pos_embedding 197·768; per
    # layer ln_1, ln_2 2·768 each, in_proj 3·768² + 3·768, out_proj 768² + 768, mlp
    # 768·3072 + 3072 + 3072·768 + 768; encoder.ln 2·768; heads.head 768·1000 + 1000
    per_layer = 2 * 2 * E + (3 * E * E + 3 * E) + (E * E + E) + (E * MLP + MLP + MLP * E + E)
    params = (E * 3 * 16 * 16 + E) + E + L * E + LAYERS * per_layer + 2 * E + (E * 1000 + 1000)
    assert vit_report.totals.params == params
    # MACs: the patch embedding on 196 positions; per layer the projections 3·L·E² and L·E²,
    # the attention products L²·E twice (Vaswani et al. 2017, 3.2), the MLP 2·L·E·3072; the head
    per_layer = 3 * L * E * E + 2 * L * L * E + L * E * E + 2 * L * E * MLP
    assert vit_report.totals.macs == E * 3 * 16 * 16 * 196 + LAYERS * per_layer + E * 1000


def test_vit_b_16_attention_products_are_shown_and_explained(vit):
    # the issue: 715,327,488 of the 17,563,828,224 MACs are Q·K^T and A·V, which PyTorch's
    # FlopCounterMode misses on CPU (it reports 16,848,500,736)
    products = 0
    attention = [item for item in explain(vit) if item.type == "multihead_attention"]
    assert len(attention) == LAYERS
    for item in attention:
        terms = {s.formula.split("]")[0] + "]": s.value for s in item.steps
                 if s.field == "macs" and s.formula.startswith("[")}
        assert terms == {"[Q, K, V projections]": 3 * L * E * E, "[Q·K^T]": L * L * E,
                         "[A·V]": L * L * E, "[output projection]": L * E * E}
        products += terms["[Q·K^T]"] + terms["[A·V]"]
    assert products == LAYERS * 2 * L * L * E == 715_327_488
    total = cnncalc.analyze(vit).totals.macs
    assert total - products == 16_848_500_736


def test_multihead_attention_flops_by_the_conventions():
    # L = 5 tokens, E = 64, h = 4: projections L·3E·2E and L·E·2E (with bias, as linear),
    # scaling L·E, Q·K^T L²·(2E - h), softmax h·L·(3L - 1), A·V L·E·(2L - 1)
    row = _row("input: [64, 5, 1]\nlayers:\n  - reshape: [64, 5]\n  - permute: [0, 2, 1]\n"
               "  - multihead_attention: 4\n")
    Lq, e, h = 5, 64, 4
    assert row.macs == 4 * Lq * e * e + 2 * Lq * Lq * e
    assert row.flops == (Lq * 3 * e * 2 * e + Lq * e + Lq * Lq * (2 * e - h) + h * Lq * (3 * Lq - 1)
                         + Lq * e * (2 * Lq - 1) + Lq * e * 2 * e)
    assert row.params == 4 * e * e + 4 * e


def test_vit_b_16_names_are_torchvisions(vit):
    # every state_dict key of torchvision.models.vit_b_16 and its shape (torchvision 0.29.1,
    # recorded by data/torchvision/make_reference.py) is a weight key of the spec, and no other
    recorded = json.loads((DATA / "vit_b_16_state_dict.json").read_text())["state_dict"]
    assert tensor_shapes(vit) == {k: tuple(v) for k, v in recorded.items()}


def test_vit_b_16_shapes(vit_report):
    # torchvision's _process_input: (n, 768, 14, 14) -> (n, 768, 196) -> (n, 196, 768), then
    # the class token (197), x[:, 0] and the head
    shapes = {r.name: r.output_shape for r in vit_report.layers}
    assert shapes["conv_proj"] == (E, 14, 14)
    assert shapes["flatten_patches"] == (E, 196)
    assert shapes["tokens"] == (196, E)
    assert shapes["class_token"] == (L, E)
    assert shapes["encoder.layers.encoder_layer_11.self_attention"] == (L, E)
    assert shapes["class_output"] == (E,)
    assert shapes["heads.head"] == (1000,)


# -- the executor and the PyTorch export against torchvision's code ---------------------------


def _reference_weights(shapes):
    """The weights make_reference.py gave torchvision's small VisionTransformer: U(-0.5, 0.5)
    from default_rng(2026), drawn in the order of the sorted keys."""
    rng = np.random.default_rng(2026)
    return {k: rng.uniform(-0.5, 0.5, shapes[k]).astype(np.float32) for k in sorted(shapes)}


def test_executor_equals_torchvision_vit():
    # torchvision's VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=4,
    # hidden_dim=32, mlp_dim=64, num_classes=10) in eval mode, its output recorded on two inputs
    ref = np.load(DATA / "vit_small_reference.npz")
    net = cnncalc.load(DATA / "vit_small.yaml")
    shapes = tensor_shapes(net)
    assert sorted(shapes) == sorted(ref["keys"].tolist())
    out = cnncalc.run(net, ref["x"], _reference_weights(shapes), keep="outputs")
    np.testing.assert_allclose(out["heads.head"], ref["y"], rtol=0, atol=2e-5)  # float32 rounding


def _module(source: str, tmp_path):
    path = tmp_path / "net.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("exported_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pytorch_export_loads_torchvisions_state_dict(tmp_path):
    # the exported module takes torchvision's state_dict with strict=True (the same names) and
    # computes torchvision's output; written against the recorded names, shapes and output
    # (torchvision does not import beside this venv's torch)
    torch = pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install 'cnncalc[torch]')")
    ref = np.load(DATA / "vit_small_reference.npz")
    net = _module(to_source(cnncalc.load(DATA / "vit_small.yaml")), tmp_path).Net().eval()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert sorted(shapes) == sorted(ref["keys"].tolist())
    weights = _reference_weights(shapes)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    with torch.no_grad():
        y = net(torch.from_numpy(ref["x"])).numpy()
    np.testing.assert_allclose(y, ref["y"], rtol=0, atol=2e-5)
    # ViT-B/16 itself: built on the meta device (no memory), its state_dict is torchvision's
    recorded = json.loads((DATA / "vit_b_16_state_dict.json").read_text())["state_dict"]
    with torch.device("meta"):
        full = _module(to_source(cnncalc.load(SPECS / "vit_b_16.yaml")), tmp_path / "..").Net()
    assert {k: list(v.shape) for k, v in full.state_dict().items()} == recorded
    assert "nn.MultiheadAttention(768, 12, batch_first=True)" in to_source(cnncalc.load(SPECS / "vit_b_16.yaml"))


def test_spatial_attention_export_equals_the_executor(tmp_path):
    # BoTNet-style attention over a map's positions and the non-local core, exported
    torch = pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install 'cnncalc[torch]')")
    net = cnncalc.loads(
        "input: [4, 5, 6]\nlayers:\n"
        "  - {multihead_attention: 2, name: mhsa}\n"
        "  - {conv: {out_channels: 4, kernel_size: 1}, name: theta}\n"
        "  - {conv: {out_channels: 4, kernel_size: 2, stride: 2}, name: phi, from: mhsa}\n"
        "  - {conv: {out_channels: 6, kernel_size: 2, stride: 2}, name: g, from: mhsa}\n"
        "  - {scaled_dot_product_attention: {num_heads: 2, scale: 0.5}, from: [theta, phi, g]}\n", "s.yaml")
    x = RNG.standard_normal((2, 4, 5, 6)).astype(np.float32)
    run = forward(net, x, seed=3)
    module = _module(to_source(net), tmp_path).Net().eval()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in run.weights.items()}, strict=True)
    with torch.no_grad():
        y = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, run.values[net.outputs[0]], rtol=0, atol=1e-5)


# -- gradients, for verify's probes and cnncalc grad ------------------------------------------


@pytest.mark.parametrize("spec", [
    ([4, 3, 2], ["multihead_attention: 2"]),                                  # a map's positions
    ([6, 5, 1], ["reshape: [6, 5]", "permute: [0, 2, 1]", "multihead_attention: {num_heads: 3, bias: false}"]),
    ([4, 3, 2], ["{identity, name: a}", "{conv: {out_channels: 2, kernel_size: 1}, name: v}",
                 "{scaled_dot_product_attention: {num_heads: 2, scale: 0.7}, from: [a, a, v]}"]),
    ([3, 4, 1], ["reshape: [3, 4]", "permute: [0, 2, 1]", "class_token", "position_embedding",
              "layernorm: last", "select_index: {dim: 1, index: 0}"]),
    ([4, 3, 2], ["multihead_attention: {num_heads: 2, relative_position_bias: true}"]),
], ids=["mhsa-map", "mha-sequence", "sdpa", "vit-parts", "mhsa-relpos"])
def test_backward_matches_finite_differences(spec):
    shape, layers = spec
    _finite_difference_check(net_of(shape, *layers), RNG.standard_normal((2, *shape)))


# -- the non-local block (Wang et al. 2018) ----------------------------------------------------


def test_nonlocal_block_figures_by_formula():
    # section 3.2-3.3, Fig. 2: theta, phi, g 1x1 convs C -> C/2 (with bias), softmax(theta^T phi) g
    # without scaling, W_z 1x1 C/2 -> C and batch norm, on res4's 1024 x 14 x 14 (N = 196)
    report = cnncalc.analyze(cnncalc.load(SPECS / "nonlocal_resnet50.yaml"))
    rows = [r for r in report.layers if r.name.startswith("nonlocal.")]
    c, half, n = 1024, 512, 14 * 14
    assert sum(r.params for r in rows) == 3 * (c * half + half) + (half * c + c) + 2 * c == 2_101_760
    assert sum(r.buffers for r in rows) == 2 * c
    assert sum(r.macs for r in rows) == 3 * n * c * half + 2 * n * n * half + n * half * c == 450_379_776
    y = report.layer("nonlocal.y")
    assert y.macs == 2 * n * n * half and y.output_shape == (half, 14, 14)
    # FLOPs of the core: no scaling, N²(2·512 - 1) for theta^T phi, N(3N - 1) for the softmax,
    # 512·N·(2N - 1) for the product with g
    assert y.flops == n * n * (2 * half - 1) + n * (3 * n - 1) + half * n * (2 * n - 1)
    # the whole network: torchvision's ResNet-50 (25,557,032 parameters, 4,089,184,256 MACs)
    # and the block
    assert report.totals.params == 25_557_032 + 2_101_760
    assert report.totals.macs == 4_089_184_256 + 450_379_776


def test_receptive_field_through_attention_is_global_and_the_local_one_convolutional():
    report = cnncalc.analyze(cnncalc.load(SPECS / "nonlocal_resnet50.yaml"))
    x, z = report.layer("nonlocal.x"), report.layer("nonlocal.z")
    # every position reaches every unit through softmax(theta^T phi) g: global
    assert report.layer("nonlocal.y").receptive_field is None and z.receptive_field is None
    # the residual path holds the attention branch: z's local field is x's (res4 at 224: 235,
    # stride 16, as ResNet-50's layer3 output) and the context came through nonlocal.y
    assert z.local_receptive_field == x.receptive_field
    assert x.receptive_field.size == (235, 235) and x.receptive_field.stride == (16, 16)
    assert z.global_context == ("nonlocal.y",)
    after = report.layer("layer3_last.relu1")
    assert after.receptive_field is None and after.global_context == ("nonlocal.y",)


def _small_nonlocal():
    text = (SPECS / "nonlocal_resnet50.yaml").read_text()
    blocks = text[text.index("blocks:"):text.index("layers:\n  - {conv: {out_channels: 64, kernel_size: 7")]
    return cnncalc.loads(
        "input: [3, 20, 20]\n" + blocks +
        "layers:\n  - {conv: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}, name: stem}\n"
        "  - {nonlocal: {channels: 16}, name: nonlocal}\n"
        "  - {conv: {out_channels: 8, kernel_size: 3, padding: 1}, name: after}\n", "nl.yaml")


def test_verify_passes_on_the_nonlocal_block_and_measures_the_local_field():
    result = cnncalc.verify(_small_nonlocal())
    assert result.ok, [r.note for r in result.rows if not r.ok]
    after = next(r for r in result.rows if r.name == "after")
    # measured: global exact field; the local one through stem and after: 3 + 2·(3 - 1) = 7
    assert after.figure("rf_size[0]").measured == "global"
    assert after.figure("local_rf_size[0]").measured == 7
    assert not after.not_measured


def test_verify_catches_a_local_field_that_ignores_attention(monkeypatch):
    # the analysis holding nothing at the merge: its local field becomes global, the probe's
    # (which holds the attention branch by the layer classes) stays 7
    import cnncalc.core.shapes as shapes

    monkeypatch.setattr(shapes, "held_context", lambda node, mixing: [])
    result = cnncalc.verify(_small_nonlocal())
    assert not result.ok
    after = next(r for r in result.rows if r.name == "after")
    assert after.figure("local_rf_size[0]").status == "mismatch"


def test_verify_passes_on_vit_at_small_size():
    # ViT-B/16's structure at 32 x 32 with two layers (torchvision's small VisionTransformer);
    # specs/vit_b_16.yaml at 224 x 224: benchmarks/bench_verify.py (drawing its 86.6 million
    # weights alone costs about as much as verifying ResNet-50)
    result = cnncalc.verify(cnncalc.load(DATA / "vit_small.yaml"))
    assert result.ok and result.counts()["failed"] == 0
    mha = next(r for r in result.rows if r.name.endswith("encoder_layer_1.self_attention"))
    assert mha.macs[0] == mha.macs[1] == 4 * 5 * 32 * 32 + 2 * 5 * 5 * 32  # measured = analysed


# -- memory: what PyTorch's backward keeps -----------------------------------------------------


def test_saved_tensors_are_pytorchs():
    # nn.MultiheadAttention in training (torch 2.13, CPU flash kernel; saved_tensors_hooks):
    # the input, the packed Q, K, V (L x 3E), the attention output (L x E) and a float32
    # logsumexp per head and token
    net = cnncalc.loads("input: [8, 7, 1]\nlayers:\n  - reshape: [8, 7]\n  - permute: [0, 2, 1]\n"
                        "  - multihead_attention: 2\n", "m.yaml")
    saved = {s.what: s.shape for s in net.nodes[-1].facts.saved}
    assert saved == {"input0": (7, 8), "qkv": (7, 24), "logsumexp": (2, 7), "attention": (7, 8)}


# -- the small types and their errors ----------------------------------------------------------


def _row(text):
    return cnncalc.analyze(cnncalc.loads(text, "t.yaml")).layers[-1]


def test_permute_select_index_class_token_position_embedding():
    assert _row("input: [3, 4, 5]\nlayers:\n  - permute: [0, 1, 3, 2]\n").output_shape == (3, 5, 4)
    row = _row("input: [3, 4, 5]\nlayers:\n  - select_index: {dim: 2, index: -1}\n")
    assert row.output_shape == (3, 5) and row.flops == 0
    row = _row("input: [6, 4, 1]\nlayers:\n  - reshape: [6, 4]\n  - permute: [0, 2, 1]\n  - class_token\n")
    assert row.output_shape == (5, 6) and row.params == 6 and row.flops == 0
    row = _row("input: [5, 6]\nlayers:\n  - position_embedding\n")
    assert row.params == 5 * 6 and row.flops == 5 * 6  # (1, 5, 6), one addition per element


@pytest.mark.parametrize("layers, says, fix", [
    (["multihead_attention: 5"], "embed_dim 12 is not divisible by num_heads=5", "num_heads must divide"),
    (["multihead_attention: {num_heads: 2, embed_dim: 8}"], "embed_dim is 8", "remove embed_dim"),
    (["class_token"], "class_token needs a sequence [L, E]", "reshape and permute"),
    (["permute: [1, 0, 2, 3]"], "keep the batch axis first", "permute the other axes"),
    (["permute: [0, 1, 1, 2]"], "not a permutation", "every axis once"),
    (["{scaled_dot_product_attention: 1, from: [input, input]}"], "3", ""),
])
def test_bad_attention_is_a_located_error(layers, says, fix):
    from tests.conftest import error_of

    err = error_of("input: [12, 4, 4]\nlayers:\n" + "".join(f"  - {x}\n" for x in layers))
    assert says in err.message and err.loc.line == 3
    assert fix in (err.help or "")


def test_bad_attention_exits_2_naming_the_place(tmp_path, capsys):
    from tests.test_cli import run

    path = tmp_path / "bad.yaml"
    path.write_text("input: [12, 4, 4]\nlayers:\n  - multihead_attention: {num_heads: 5}\n")
    code, _, err = run(capsys, "analyze", path)
    assert code == 2
    assert "bad.yaml:3:" in err and "num_heads" in err and "Traceback" not in err


def test_grad_walks_attention():
    # cnncalc grad (backpropagation per layer) runs through every new type
    from cnncalc.measure.grad import gradients

    net = net_of([3, 4, 1], "reshape: [3, 4]", "permute: [0, 2, 1]", "class_token", "position_embedding",
                 "multihead_attention: 3", "select_index: {dim: 1, index: 0}")
    result = gradients(net, RNG.standard_normal((1, 3, 4, 1)))
    names = [row.name for row in result.layers]
    assert "multihead_attention1" in names
    run = forward(net, RNG.standard_normal((1, 3, 4, 1)), seed=0, dtype=np.float64)
    grads = backward(net, run, {net.nodes[-1].name: np.ones((1, 3))})
    assert grads["multihead_attention1.out_proj.weight"].shape == (3, 3)
    assert grads["class_token1"].shape == (1, 1, 3)


def test_training_memory_of_a_vit_is_pytorchs():
    # torchvision's small VisionTransformer layout (data/torchvision/vit_small.yaml), batch 2,
    # float32: the exported module's training forward in torch 2.13 keeps 58,576 bytes of
    # saved tensors besides the parameters (saved_tensors_hooks, distinct storages), which is:
    n, length, e, mlp, heads = 2, 5, 32, 64, 4
    token = n * length * e * 4  # one [L, E] activation
    per_layer = (token + 2 * n * length * 4  # ln_1: input, float32 mean and rstd per token
                 + token + 3 * token + n * heads * length * 4 + token  # attention: x, qkv, lse, output
                 + token + 2 * n * length * 4  # ln_2
                 + token + 2 * token * mlp // e)  # mlp.0's input, GELU's and mlp.3's inputs
    expected = (n * 3 * 32 * 32 * 4 + 2 * per_layer + token + 2 * n * length * 4
                + token)  # heads.head keeps x[:, 0], a view: the whole [L, E] storage of encoder.ln
    # (dropout with p = 0 returns its input and keeps no mask)
    assert expected == 58_576
    memory = cnncalc.analyze(cnncalc.load(DATA / "vit_small.yaml", batch=2)).totals.memory
    assert memory.training.saved_bytes == expected


# -- Swin's relative position bias (Liu et al. 2021, section 3.2, Eq. 4) ------------------------

RELPOS = json.loads((Path(__file__).parent / "data" / "relpos_attention.json").read_text())
# recorded by `/work/scratch/cvenv/bin/python benchmarks/measure_relpos_attention.py` (torch
# 2.14.1, torchvision 0.29.1, CPU): torchvision's ShiftedWindowAttention(8, [3, 4], [0, 0], 2),
# and the module `export --to pytorch` writes for RELPOS["spec"] (E = 8, h = 2, 3 x 4 map)


def _relpos(text=None):
    return cnncalc.loads(text or RELPOS["spec"], "relpos.yaml")


def test_relative_position_bias_figures_by_formula():
    # E = 8, h = 2 on H x W = 3 x 4, L = 12: the table (2H - 1)(2W - 1) x h = 35 x 2, the index
    # L·L = 144 (int64), as torchvision's ShiftedWindowAttention registers them
    net = _relpos()
    row = cnncalc.analyze(net).layers[-1]
    e, h, length = 8, 2, 12
    assert row.params == 4 * e * e + 4 * e + 5 * 7 * h == 358
    assert row.buffers == length * length == 144
    assert row.macs == 4 * length * e * e + 2 * length * length * e  # unchanged by the bias
    # FLOPs: multihead_attention's terms and one addition per logit, h·L²
    plain = cnncalc.analyze(cnncalc.loads(RELPOS["spec"].replace(", relative_position_bias: true", ""),
                                          "p.yaml")).layers[-1]
    assert row.flops - plain.flops == h * length * length == 288
    assert row.receptive_field is None  # global, as attention without the bias
    facts = net.nodes[-1].facts
    window = RELPOS["torchvision_window"]
    assert window["index_persistent"]  # a buffer of the state_dict: counted as buffer elements
    assert facts.params["relative_position_bias_table"] == tuple(window["state_dict"]["relative_position_bias_table"][0])
    assert facts.buffers == {"relative_position_index": tuple(window["state_dict"]["relative_position_index"][0])}
    assert window["state_dict"]["relative_position_index"][1] == "torch.int64"
    # its bytes at int64's 8 whatever the report's dtype (the table at the report's width)
    for dtype, width in (("float32", 4), ("float16", 2)):
        report = cnncalc.analyze(net, dtype=dtype)
        assert report.totals.buffer_bytes == 144 * 8 == report.totals.memory.buffer_bytes
        assert report.totals.param_bytes == 358 * width


def test_relative_position_index_is_torchvisions():
    # torchvision's define_relative_position_index for a 3 x 4 window, recorded; the executor's
    # seeded weights hold the same values (computed, never drawn)
    from cnncalc.core.weights import init_weights
    from cnncalc.layers.attention import relative_position_index

    recorded = RELPOS["torchvision_window"]["relative_position_index"]
    assert relative_position_index(3, 4).tolist() == recorded
    weights = init_weights(_relpos(), seed=7)
    assert weights["mhsa.relative_position_index"].dtype == np.int64
    assert weights["mhsa.relative_position_index"].tolist() == recorded
    assert forward(_relpos(), RNG.standard_normal((1, 8, 3, 4)), seed=7).weights[
        "mhsa.relative_position_index"].tolist() == recorded


def test_relative_position_bias_adds_the_table_to_the_logits():
    # the executor against Eq. 4 written out: softmax(Q·K^T/sqrt(d) + B)·V per head, with
    # B[j, a, b] = table[(y_a - y_b + H - 1)(2W - 1) + x_a - x_b + W - 1, j] (loops, no index)
    net = _relpos()
    x = RNG.standard_normal((1, 8, 3, 4))
    weights = {"mhsa.relative_position_bias_table": RNG.standard_normal((35, 2))}
    run = forward(net, x, weights, seed=1, dtype=np.float64)
    w = run.weights
    t = x.reshape(8, 12).T
    qkv = t @ w["mhsa.in_proj_weight"].T + w["mhsa.in_proj_bias"]
    heads = []
    for j in range(2):
        q, k, v = (qkv[:, i * 8 + 4 * j:i * 8 + 4 * j + 4] for i in range(3))
        logits = q @ k.T / 2.0
        for a in range(12):
            for b in range(12):
                (ya, xa), (yb, xb) = divmod(a, 4), divmod(b, 4)
                logits[a, b] += weights["mhsa.relative_position_bias_table"][(ya - yb + 2) * 7 + xa - xb + 3, j]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        heads.append(p / p.sum(axis=1, keepdims=True) @ v)
    y = np.concatenate(heads, axis=1) @ w["mhsa.out_proj.weight"].T + w["mhsa.out_proj.bias"]
    np.testing.assert_allclose(run.values["mhsa"][0], y.T.reshape(8, 3, 4), rtol=1e-12, atol=1e-12)


def test_relative_position_bias_export_equals_the_executor(tmp_path):
    # the exported RelativePositionMultiheadAttention loads cnncalc's seeded weights (the table
    # given larger than the seeded U(-0.1, 0.1), so that the bias decides) under torchvision's
    # names, strict, and computes the executor's output within float32 rounding
    torch = pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install 'cnncalc[torch]')")
    net = _relpos()
    x = RNG.standard_normal((2, 8, 3, 4)).astype(np.float32)
    table = {"mhsa.relative_position_bias_table": RNG.standard_normal((35, 2)).astype(np.float32)}
    run = forward(net, x, table, seed=3)
    module = _module(to_source(net), tmp_path).Net()
    state = module.state_dict()
    assert state["mhsa.relative_position_index"].dtype == torch.int64
    assert state["mhsa.relative_position_index"].tolist() == RELPOS["torchvision_window"]["relative_position_index"]
    module.load_state_dict({k: torch.from_numpy(v) for k, v in run.weights.items()}, strict=True)
    for mode in (False, True):  # eval (no_grad) and training (the math path with a gradient)
        module.train(mode)
        y = module(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(y, run.values["mhsa"], rtol=0, atol=1e-5)
    # the bias decides: without it the output differs by far more than the rounding
    plain = forward(net, x, {"mhsa.relative_position_bias_table": np.zeros((35, 2), np.float32)}, seed=3)
    assert np.abs(plain.values["mhsa"] - run.values["mhsa"]).max() > 1e-2


def test_relative_position_bias_saved_tensors_are_pytorchs():
    # measured (RELPOS, saved_tensors_hooks, distinct storages, no parameter or buffer): the bias
    # as a float attn_mask needing a gradient sends F.scaled_dot_product_attention to its math
    # path, which keeps the tokens (L x E), Q and K scaled (L x E each), the packed Q, K, V
    # (L x 3E, through v), the attention weights (h x L x L) and the output (L x E)
    e, h, length = 8, 2, 12
    per_sample = 4 * (length * e + 2 * length * e + 3 * length * e + h * length * length + length * e)
    assert per_sample == 3840
    for batch in (1, 2):
        memory = cnncalc.analyze(cnncalc.loads(RELPOS["spec"], "r.yaml", batch=batch)).totals.memory
        assert memory.training.saved_bytes == batch * per_sample == RELPOS["saved_bytes"][str(batch)]["total"]


def test_relative_position_bias_under_each_counter():
    # each counter's count from cnncalc's rule tables (the ops the layer declares), derived by
    # hand and equal to what the counters printed (RELPOS["counters"]); none counts the bias
    # addition h·L²: fvcore ignores aten::index and cannot count F.scaled_dot_product_attention;
    # the module is an nn.MultiheadAttention subclass, which thop and ptflops' pytorch backend
    # do not look up and torchinfo does not see as a leaf; the mask's gradient sends F.sdpa to
    # its math path, whose two bmm ptflops' aten backend and FlopCounterMode count
    from cnncalc.analysis.conventions import COUNTERS, count_nodes

    e, length = 8, 12
    proj, products, out_bias = 4 * length * e * e, 2 * length * length * e, length * e
    expected = {"fvcore": proj, "ptflops-pytorch": 0, "thop": 0, "torchinfo": 0,
                "ptflops-aten": proj + products + out_bias,  # addmm of out_proj counts its bias
                "calflops": 2 * proj, "flop-counter": 2 * (proj + products),
                "deepspeed": 2 * (proj + products)}  # DeepSpeed not installed: by its rule only
    net = _relpos()
    for name, value in expected.items():
        assert sum(n.value for n in count_nodes(net, COUNTERS[name])) == value, name
        if name in RELPOS["counters"]:
            assert RELPOS["counters"][name] == value, name


@pytest.mark.parametrize("text, says", [
    # a 1-D map [C, L]: no 2-D offsets
    ("input: [8, 12]\nlayers:\n  - multihead_attention: {num_heads: 2, relative_position_bias: true}\n",
     "needs a 2-D map [E, H, W]"),
    # a sequence [L, E] in a 2-D network
    ("input: [8, 3, 4]\nlayers:\n  - reshape: [8, 12]\n  - permute: [0, 2, 1]\n"
     "  - multihead_attention: {num_heads: 2, relative_position_bias: true}\n", "got [12, 8]"),
])
def test_relative_position_bias_needs_a_2d_map(text, says):
    from tests.conftest import error_of

    err = error_of(text)
    assert says in err.message and "relative_position_bias" in err.message
    assert err.loc.line == text.count("\n") and "remove relative_position_bias" in err.help


def test_verify_passes_on_the_bot_block_with_a_relative_position_bias():
    # specs/bot_block_relpos.yaml: figures derived in its header
    net = cnncalc.load(SPECS / "bot_block_relpos.yaml")
    report = cnncalc.analyze(net)
    e, h, length = 64, 4, 196
    assert report.totals.params == (256 * 64 + 2 * 64 + 4 * e * e + 4 * e + 27 * 27 * h + 2 * 64 + 64 * 256
                                    + 2 * 256) == 53_092
    assert report.totals.buffers == 2 * 64 + length * length + 2 * 64 + 2 * 256 == 39_184
    assert report.totals.macs == (length * 256 * 64 + 4 * length * e * e + 2 * length * length * e
                                  + length * 64 * 256) == 14_551_040
    result = cnncalc.verify(net)
    assert result.ok and result.counts()["failed"] == 0


def test_relative_position_bias_imports_back_from_pytorch(tmp_path):
    # from_torch reads the exported RelativePositionMultiheadAttention whole (its class named
    # without the file it lives in): the same layer, parameters, buffers, MACs and FLOPs
    pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install 'cnncalc[torch]')")
    net = cnncalc.loads("input: [8, 3, 4]\nlayers:\n  - {conv: {out_channels: 8, kernel_size: 1}, name: conv}\n"
                        "  - {multihead_attention: {num_heads: 2, relative_position_bias: true}, name: mhsa}\n"
                        "  - {relu, name: relu}\n", "r.yaml")
    back = cnncalc.from_torch(_module(to_source(net), tmp_path).Net(), (8, 3, 4))
    mhsa = next(n for n in back.nodes if n.type == "multihead_attention")
    assert mhsa.name == "mhsa" and mhsa.layer.p["relative_position_bias"] is True
    assert tensor_shapes(back) == tensor_shapes(net)
    a, b = cnncalc.analyze(net).totals, cnncalc.analyze(back).totals
    assert (a.params, a.buffers, a.macs) == (b.params, b.buffers, b.macs) == (
        8 * 8 + 8 + 358, 144, 12 * 8 * 8 + 4 * 12 * 64 + 2 * 144 * 8)
    assert a.flops == b.flops


def test_bot_block_saved_tensors_are_pytorchs():
    # the module exported from specs/bot_block_relpos.yaml in training (RELPOS, torch 2.14.1):
    # PyTorch's saved bytes at batch 2 and 3 exactly; at batch 1 the attention's tokens
    # (N, L, E) of the transposed map reshape to (L, E) as a view of relu's output, which relu
    # keeps already, so PyTorch keeps one L·E·4-byte tensor fewer than cnncalc's copy
    measured = RELPOS["bot_block_saved_bytes"]
    for batch in (1, 2, 3):
        saved = cnncalc.analyze(cnncalc.load(SPECS / "bot_block_relpos.yaml", batch=batch)).totals.memory.training
        shared = 196 * 64 * 4 if batch == 1 else 0
        assert saved.saved_bytes - shared == measured[str(batch)]
