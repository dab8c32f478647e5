"""Memory as PyTorch spends it (issue 24, item 1): each modelled case derived tensor by
tensor (float32: 4 bytes an element, batch 1 unless said), and the zoo's saved bytes
against PyTorch's own figures in tests/data/torch_memory.json.

That file was written by ``/work/scratch/cvenv/bin/python benchmarks/measure_torch_memory.py``
(torch 2.14.1+cu130 on CPU, torchvision 0.29.1; the versions and command are in the file):
the distinct storages ``torch.autograd.graph.saved_tensors_hooks`` sees in one training
forward, each untyped storage once, parameters and buffers left out. The in-place and
view facts below were checked the same way, one op at a time, on the same build."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import cnncalc
from cnncalc.analysis.memory import activation_sizes, backward_peak, estimate, saved_tensors
from tests.conftest import SPECS

TORCH = json.loads((Path(__file__).parent / "data" / "torch_memory.json").read_text())
CASES = TORCH["cases"]  # single ops, measured by the script's kernel_cases


def mem(text: str, batch: int = 1, policy: str = "graph"):
    return estimate(cnncalc.loads(text, "m.yaml"), 4, batch, "sgd", policy=policy)


CONV = "input: [2, 4]\nlayers:\n  - conv: {out_channels: 4, kernel_size: 1}\n"  # 4x4: 64 B


def test_dropout_in_training_writes_a_new_output_and_keeps_a_float_noise():
    # conv (keeps its input 2x4 = 32 B), dropout (CPU at::dropout: a float32 noise of its
    # input's shape, 64 B, and a new output), linear (keeps its input: dropout's output, a new
    # storage 64 B). At inference dropout is still a view.
    m = mem(CONV + "  - dropout: 0.5\n  - flatten\n  - linear: 3\n")
    assert m.training.saved_bytes == 32 + 64 + 64
    assert m.saved_bytes == {"conv1": 32, "dropout1": 64, "flatten1": 0, "linear1": 64}
    # p = 0 returns its input: no noise, and linear keeps conv1's output (64 B)
    assert mem(CONV + "  - dropout: 0.0\n  - flatten\n  - linear: 3\n").training.saved_bytes == 32 + 64


def test_inplace_relu6_keeps_a_copy_and_inplace_relu_its_result():
    # relu6 in place (hardtanh_): autograd keeps a copy of the input, 64 B, beside conv2's
    # input, the overwritten storage (64 B): 32 + 64 + 64. relu in place keeps its result,
    # which is the storage conv2 keeps too: 32 + 64.
    tail = "  - conv: {out_channels: 2, kernel_size: 1}\n"
    assert mem(CONV + "  - relu6: {inplace: true}\n" + tail).training.saved_bytes == 32 + 64 + 64
    assert mem(CONV + "  - relu: {inplace: true}\n" + tail).training.saved_bytes == 32 + 64
    # leaky_relu in place keeps its result (leaky_relu_backward with self_is_result)
    assert mem(CONV + "  - leaky_relu: {inplace: true}\n" + tail).training.saved_bytes == 32 + 64
    # not in place, relu6 keeps its input (conv1's output) and conv2 the new output: 32 + 64 + 64
    assert mem(CONV + "  - relu6\n" + tail).training.saved_bytes == 32 + 64 + 64


def test_a_saved_chunk_keeps_its_whole_base():
    # conv1 4x4 (64 B), chunk index 1 (a 2x4 view), conv2 keeps its input: the view keeps
    # conv1's whole storage alive, 64 B, not the 32 B of the half
    m = mem(CONV + "  - chunk: {chunks: 2, index: 1}\n  - conv: {out_channels: 2, kernel_size: 1}\n")
    assert m.training.saved_bytes == 32 + 64


def test_global_average_pooling_keeps_nothing():
    # adaptive_avg_pool2d to 1x1 is input.mean(): nothing saved. conv (input 2x4x4 = 128 B),
    # pooling nothing, linear its flattened 4-vector (the pooled 4x1x1 = 16 B)
    text = ("input: [2, 4, 4]\nlayers:\n  - conv: {out_channels: 4, kernel_size: 1}\n"
            "  - global_avgpool\n  - flatten\n  - linear: 3\n")
    assert mem(text).training.saved_bytes == 128 + 16


def test_stochastic_depth_keeps_a_noise_unless_p_is_zero():
    body = ("input: [4, 4]\nlayers:\n  - residual:\n      body:\n"
            "        - conv: {out_channels: 4, kernel_size: 1}\n        - stochastic_depth: P\n")
    # p > 0, mode row: a [N, 1, 1] noise, 4 B a sample; conv keeps the block input 64 B
    assert mem(body.replace("P", "0.1")).training.saved_bytes == 64 + 4
    assert mem(body.replace("P", "0.1"), batch=3).training.saved_bytes == 3 * (64 + 4)
    assert mem(body.replace("P", "0.0")).training.saved_bytes == 64


def test_batch_norm_statistics_are_fixed_not_per_sample():
    # conv (input 2x4 = 32 B a sample), batchnorm (input 4x4 = 64 B a sample, save_mean and
    # save_invstd 4 channels x 4 B each, whatever the batch)
    text = CONV + "  - batchnorm\n"
    for b in (1, 5):
        t = mem(text, batch=b).training
        assert t.saved_bytes == b * (32 + 64) + 2 * 16
        assert t.saved_fixed_bytes == 2 * 16
        # backward: the output's gradient (4x4, the caller's), and batchnorm's backward
        # allocates its input's gradient (4x4), its weight's and bias's (4 + 4) and a
        # temporary of its input's shape (native_batch_norm_backward on CPU, measured in
        # test_backward_peaks_equal_pytorchs' bn_pool): 3 x 64 B a sample + 32 B
        assert t.backward_peak_bytes == b * 3 * 64 + 32 and t.backward_fixed_bytes == 32
        # SGD: no step temporaries, so the footprint is affine in the batch
        assert t.total_bytes == t.fixed_bytes + t.saved_fixed_bytes + 32 + b * t.per_sample_bytes
        assert mem(text, batch=1).training.total_at(b) == t.total_bytes


def test_adam_step_temporaries_against_pytorch():
    # PyTorch, Linear(1000, 1000) - ReLU - Linear(1000, 10), the second step under the
    # profiler's memory events (tests/data/torch_memory.json "cases"): Adam's peak is 2 x the
    # 1000x1000 weight (4,000,000 B) + 12 B of scalars (not counted); momentum updates in
    # place (12 B of scalars).
    # a 1000-vector as cnncalc writes it: [1000, 1] flattened
    text = "input: [1000, 1]\nlayers:\n  - flatten\n  - linear: 1000\n  - relu\n  - linear: 10\n"
    net = cnncalc.loads(text, "m.yaml")
    assert estimate(net, 4, 1, "adam").training.step_bytes == 2 * 1000 * 1000 * 4 \
        == CASES["adam_step_mlp1000"] - 12
    assert estimate(net, 4, 1, "adamw").training.step_bytes == CASES["adamw_step_mlp1000"] - 12
    assert estimate(net, 4, 1, "momentum").training.step_bytes == CASES["momentum_step_mlp1000"] - 12 == 0


def test_eager_holds_a_blocks_input_and_counts_max_pooling_indices():
    # input 1x8 (32 B); block conv 4x8 (128 B) -> maxpool 2 -> 4x4 (64 B, int64 indices 4x4 x 8 =
    # 128 B while it runs) -> conv 1x4 (16 B).
    text = ("input: [1, 8]\nblocks:\n  b:\n    layers:\n      - conv: {out_channels: 4, kernel_size: 1}\n"
            "      - maxpool: 2\n      - conv: {out_channels: 1, kernel_size: 1}\n"
            "layers:\n  - b\n")
    graph, eager = mem(text), mem(text, policy="eager")
    # graph: the input freed after conv1; the peak is conv1 running (32 + 128) or maxpool
    # (128 + 64): 192
    assert graph.inference_peak_bytes == 128 + 64
    # eager: the caller holds the input (32) through the block, and maxpool runs with its
    # input, output and indices: 32 + 128 + 64 + 128
    assert eager.inference_peak_bytes == 32 + 128 + 64 + 128
    assert eager.inference_peak_layer == "b1.maxpool1"
    assert eager.policy == "eager" and eager.to_dict()["policy"] == "eager"


def test_unknown_policy_is_an_error():
    with pytest.raises(ValueError, match="memory policy"):
        mem(CONV, policy="lazy")


@pytest.mark.parametrize("name", sorted(TORCH["nets"]))
def test_saved_bytes_equal_pytorchs(name):
    # exact, at both measured batches (Inception-v3 at 2 and 4: its aux head's batch norm
    # refuses a batch of 1 in training)
    row = TORCH["nets"][name]
    net = cnncalc.load(SPECS / f"{name}.yaml")
    assert sum(n.facts.param_count for n in net.nodes) == row["params"]
    for batch, expected in row["saved_bytes"].items():
        assert estimate(net, 4, int(batch), "sgd").training.saved_bytes == expected, batch


def conv_net(cin: int, size: int, cout: int) -> str:
    return f"input: [{cin}, {size}, {size}]\nlayers:\n  - conv: {{out_channels: {cout}, kernel_size: 3, padding: 1}}\n"


def test_eager_onednn_convolution_temporaries():
    # 16x40x40 = 25,600 elements > 20,480: PyTorch's CPU conv takes oneDNN. Input 102,400 B
    # (held by the caller), output 16x40x40 102,400 B; phase 1 a blocked copy of the input
    # (C_in 16, 102,400 B) and of the weight (16·16·9·4 = 9,216 B, whatever the batch);
    # phase 2 the blocked output (102,400 B) beside the plain one.
    # PyTorch (tests/data/torch_memory.json "cases", the script's kernel_cases): the same.
    text = conv_net(16, 40, 16)
    assert mem(text, policy="eager").inference_peak_bytes == 102_400 + 102_400 + 102_400 + 9_216 \
        == CASES["conv16to16_40_b1"]
    assert mem(text, batch=2, policy="eager").inference_peak_bytes == 2 * 3 * 102_400 + 9_216 \
        == CASES["conv16to16_40_b2"]
    # the graph policy counts no kernel temporaries: input and output
    assert mem(text).inference_peak_bytes == 2 * 102_400


def test_eager_slow_convolution_columns():
    # 3x16x16 = 768 elements at batch 1, 3x3 kernel: slow_conv2d's im2col columns,
    # 3·9 x 256 positions x 4 B = 27,648 B, beside the input (3,072 B) and output 8x16x16
    # (8,192 B). PyTorch: the same (tests/data/torch_memory.json "cases").
    assert mem(conv_net(3, 16, 8), policy="eager").inference_peak_bytes == 3_072 + 8_192 + 27_648 \
        == CASES["conv3to8_16_b1"]


def test_eager_padded_blocked_output_lenet_conv1():
    # LeNet-5's conv1, 1x32x32 -> 6x28x28 with a 5x5 kernel: oneDNN (both kernel sides > 3).
    # Input 4,096 B (no copy: C_in 1); output 18,816 B; phase 1 the weight copy with 16 output
    # channels (16·25·4 = 1,600 B) and the blocked output's 10 padding channels (31,360 B);
    # phase 2 the blocked output, 16x28x28 (50,176 B): 4,096 + 18,816 + 50,176
    text = "input: [1, 32, 32]\nlayers:\n  - conv: {out_channels: 6, kernel_size: 5}\n"
    assert mem(text, policy="eager").inference_peak_bytes == 4_096 + 18_816 + 50_176 \
        == CASES["lenet_conv1_b1"]


def test_eager_max_pooling_indices_under_no_grad():
    # maxpool 2 on 4x8x8: input 1,024 B, output 4x4x4 256 B, int64 indices 64 x 8 = 512 B.
    # PyTorch, MaxPool2d under no_grad: the same (tests/data/torch_memory.json "cases")
    text = "input: [4, 8, 8]\nlayers:\n  - maxpool: 2\n"
    assert mem(text, policy="eager").inference_peak_bytes == 1_024 + 256 + 512 == CASES["maxpool2_4x8x8_b1"]


EAGER_EXACT = ["alexnet_torchvision", "efficientnet_b0", "mobilenet_v2", "mobilenet_v3_large",
               "shufflenet_v2_x1_0", "squeezenet1_0", "unet_original", "unet_padded", "vgg11", "vgg16"]


@pytest.mark.parametrize("name", EAGER_EXACT)
def test_eager_peak_equals_pytorchs(name):
    # PyTorch eager's no_grad peak (profiler memory events, tests/data/torch_memory.json). The
    # issue's bar for the two U-Nets is 1 %; they, and these nets, agree to the byte at both
    # measured batches (ratio 1.0000). Not asserted, the rest at batch 1 (2 for Inception):
    # ResNet-18 and ResNet-50 exact (512 and 2,048 B short at batch 2), GoogLeNet and
    # Inception-v3 512 B short (a fixed temporary not modelled), DenseNet-121 0.8644,
    # ConvNeXt-T 0.9048, RegNetY-400MF 0.9270 (docs/conventions.md, "Memory").
    row = TORCH["nets"][name]
    net = cnncalc.load(SPECS / f"{name}.yaml")
    for batch, expected in row["eager_peak_bytes"].items():
        assert estimate(net, 4, int(batch), policy="eager").inference_peak_bytes == expected, batch


BACKWARD = TORCH["backward_cases"]  # measured by the script's backward_cases


C4 = "conv: {out_channels: 4, kernel_size: 3, padding: 1}"
C16 = "conv: {out_channels: 16, kernel_size: 3, padding: 1}"
# the script's BACKWARD_CASES written as specs (the same layers in the same order)
BACKWARD_SPECS = {
    "residual_block": f"input: [4, 8, 8]\nlayers:\n  - {{{C4}, name: a}}\n  - {C4}\n  - relu\n"
                      f"  - {C4}\n  - add: {{with: a}}\n  - {C4}\n",
    "concat_skip": f"input: [4, 8, 8]\nlayers:\n  - {{{C4}, name: a}}\n  - {C4}\n  - concat: {{with: a}}\n"
                   f"  - {C4}\n",
    "onednn_chain": f"input: [16, 40, 40]\nlayers:\n  - {C16}\n  - relu\n  - {C16}\n",
    "bn_pool": f"input: [16, 40, 40]\nlayers:\n  - {C16}\n  - batchnorm\n  - relu\n  - maxpool: 2\n"
               "  - conv: {out_channels: 32, kernel_size: 3, padding: 1}\n",
    "downsample_block": f"input: [16, 40, 40]\nlayers:\n  - {{{C16}, name: a}}\n"
                        "  - conv: {out_channels: 32, kernel_size: 3, stride: 2, padding: 1}\n"
                        "  - batchnorm\n  - relu\n  - conv: {out_channels: 32, kernel_size: 3, padding: 1}\n"
                        "  - {batchnorm, name: body}\n"
                        "  - {conv: {out_channels: 32, kernel_size: 1, stride: 2}, from: a}\n"
                        "  - batchnorm\n  - add: {with: body}\n  - relu\n",
    "linear_head": f"input: [16, 40, 40]\nlayers:\n  - {C16}\n  - global_avgpool\n  - flatten\n"
                   "  - linear: 10\n",
}


def backward_figure(net, batch: int, frozen: bool) -> int:
    """estimate()'s backward peak as the script measures it: frozen, every parameter frozen
    and the input needing a gradient (saved_tensors' flags); less the output's gradient,
    which the caller allocated before (the model counts it, held through the pass)."""
    if frozen:
        _, needs = saved_tensors(net, 4, batch, input_grad=True, frozen=True)
        peak = backward_peak(net, 4, batch, needs, frozen=True)
    else:
        peak = estimate(net, 4, batch, "sgd").training.backward_peak_bytes
    size = activation_sizes(net, 4, batch)
    return peak - sum(size[o] for o in net.outputs)


# (case, measured key) that estimate() gives to the byte; the rest, with their ratios, in
# docs/conventions.md ("Memory"): at batch 2 the concat skip's 4-channel convolutions take
# oneDNN and copy their non-contiguous view of the concat's gradient (2,048 B, not modelled)
EXACT_CASES = [(n, k) for n in BACKWARD_SPECS for k in ("frozen_b1", "frozen_b2", "trainable_b1",
                                                          "trainable_b2")
               if not (n == "concat_skip" and k.endswith("b2"))]


@pytest.mark.parametrize(("name", "key"), EXACT_CASES)
def test_backward_peaks_of_small_blocks_equal_pytorchs(name, key):
    """PyTorch's measured backward peak (tests/data/torch_memory.json "backward_cases", the
    script's ``--backward`` mode, profiler memory events) equals estimate()'s.

    Two derived by hand, 4-channel 8x8 float32 activations (1,024 B each), weights frozen,
    the input needing a gradient, batch 1 (slow_conv2d: a convolution's backward allocates
    its input's gradient only). The engine runs the nodes in reverse creation order; a
    tensor with two consumers sums its incoming gradients in its node's InputBuffer
    (torch/csrc/autograd/input_buffer.cpp, accumulate): in place (``old.add_(new)``) when
    the first gradient is a dense tensor the buffer alone holds, else ``old + new``, a new
    tensor, after which the old one is dropped.

    Residual: conv3's backward allocates g_y (1); add's backward hands g_y itself to both
    of its inputs (no allocation); conv2 allocates g_r (2); relu's threshold_backward
    allocates g_c1 (3: the peak), then g_r is freed (2); conv1 allocates g_a (3), g_c1 is
    freed (2); a's buffer holds g_y alone: accumulated in place, g_a freed (1); conv0
    allocates g_x (2), g_y freed (1). Peak: 3 tensors.

    Concat skip: conv2 allocates the concat's gradient (2 tensors); cat's backward returns
    two narrow views of it (no allocation); conv1's backward on the second view allocates
    g_a (3); a's buffer holds the first view, so old + new allocates the sum (4: the peak),
    and dropping the view frees the whole concat gradient only then."""
    measured = BACKWARD[name][key]
    if key == "frozen_b1":
        t = 4 * 8 * 8 * 4
        assert BACKWARD["residual_block"]["frozen_b1"] == 3 * t
        assert BACKWARD["concat_skip"]["frozen_b1"] == 2 * t + t + t
    net = cnncalc.loads(BACKWARD_SPECS[name], f"{name}.yaml")
    kind, batch = key.split("_b")
    assert backward_figure(net, int(batch), kind == "frozen") == measured


@pytest.mark.parametrize(("name", "key", "batch"), [
    ("unet_padded", "backward_peak_frozen_bytes", 1), ("unet_padded", "backward_peak_frozen_bytes", 2),
    ("unet_padded", "backward_peak_bytes", 1), ("unet_padded", "backward_peak_bytes", 2),
    ("resnet18", "backward_peak_bytes", 1), ("resnet18", "backward_peak_bytes", 2),
    ("unet_original", "backward_peak_frozen_bytes", 1),
    ("unet_original", "backward_peak_bytes", 1), ("unet_original", "backward_peak_bytes", 2),
    *((n, k, b) for n in ("vgg11", "resnet50", "mobilenet_v2")
      for k in ("backward_peak_frozen_bytes", "backward_peak_bytes") for b in (1, 2))])
def test_backward_peak_of_zoo_nets_equals_pytorchs(name, key, batch):
    # PyTorch's backward peak (tests/data/torch_memory.json; measured twice, equal both
    # times: "backward_peak_bytes_repeat"): the model gives it to the byte. The other nets'
    # ratios are in docs/conventions.md ("Memory")
    row = TORCH["nets"][name]
    if key == "backward_peak_bytes":
        assert row["backward_peak_bytes_repeat"][str(batch)] == row[key][str(batch)]
    net = cnncalc.load(SPECS / f"{name}.yaml")
    assert backward_figure(net, batch, key == "backward_peak_frozen_bytes") == row[key][str(batch)]


def _shapes(name: str) -> dict[str, tuple]:
    net = cnncalc.load(SPECS / f"{name}.yaml")
    return {n.name: n.facts.out_shape for n in net.nodes}


def _b(shape) -> int:  # float32 bytes of one sample
    return 4 * math.prod(shape)


def test_original_unet_backward_peak_is_enc1s_convolution_not_an_accumulation():
    # PyTorch's peak (batch 1, weights frozen, the input needing a gradient) is enc1.conv2's
    # backward: the gradient of its output (relu2's threshold_backward, 64x568x568) and the
    # oneDNN blocked and plain gradients of its input (2 x 64x570x570); the skips' crops
    # have already been summed into e1's gradient and freed.
    s = _shapes("unet_original")
    peak = TORCH["nets"]["unet_original"]["backward_peak_frozen_bytes"]["1"]
    assert peak == _b(s["enc1.relu2"]) + 2 * _b(s["enc1.conv1"])


def test_padded_unet_backward_peak_holds_every_concat_gradient():
    # PyTorch's peak (batch 1, weights frozen, input needing a gradient) is bottom.conv2's
    # backward: each skip's buffer still holds a narrow view of its concat's gradient, so
    # the four concat gradients are whole; bottom.conv2 reads its output's gradient
    # (batchnorm2's backward, 1024x16x16) and allocates a blocked copy of it, a copy of its
    # 1024x1024x3x3 weight, and a blocked gradient of its input (1024x16x16).
    s = _shapes("unet_padded")
    concats = sum(_b(s[f"dec{i}.cat"]) for i in (1, 2, 3, 4))
    weight = 4 * 1024 * 1024 * 3 * 3
    peak = TORCH["nets"]["unet_padded"]["backward_peak_frozen_bytes"]["1"]
    assert peak == concats + weight + 3 * _b(s["bottom.conv2"])
