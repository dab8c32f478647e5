"""One row per layer type: shape, parameters, MACs, FLOPs and receptive field,
each expected value written as the arithmetic that produces it, with its source."""

from __future__ import annotations

from fractions import Fraction as Fr

import pytest

from cnncalc.layers import REGISTRY
from tests.conftest import one_layer, report_of, rf

# -- convolution ----------------------------------------------------------------


def test_conv2d_lecture_32x32_problem():
    # cs231n lecture: 32x32x3 input, 6 filters 5x5, padding 2 -> 32x32x6;
    # each filter has 5*5*3 weights + 1 bias
    row = one_layer([3, 32, 32], "conv: {out_channels: 6, kernel_size: 5, padding: 2}")
    assert row.output_shape == (6, (32 - 5 + 2 * 2) // 1 + 1, 32)
    assert row.params == 6 * (5 * 5 * 3 + 1)
    assert row.macs == 32 * 32 * 6 * (5 * 5 * 3)
    # per output: 75 products + 74 additions + 1 bias addition = 2 * 75
    assert row.flops == 32 * 32 * 6 * (2 * 75)
    assert rf(row) == ((5, 5), (1, 1), (0, 0))  # unit 0 sees [-2, 2]: centre 0


def test_lecture_problem_continues_pool_then_fc():
    # ... then 2x2 max pooling -> 16x16x6, then a fully connected layer of N units
    # has (16*16*6 + 1) * N weights
    n = 10
    rep = report_of(
        "input: [3, 32, 32]\nlayers:\n"
        "  - conv: {out_channels: 6, kernel_size: 5, padding: 2}\n"
        "  - maxpool: 2\n  - flatten\n"
        f"  - linear: {n}\n"
    )
    assert rep.layers[1].output_shape == (6, 16, 16)
    assert rep.layers[3].params == (16 * 16 * 6 + 1) * n


def test_conv_bias_false_and_flops_without_bias():
    row = one_layer([4, 8, 8], "conv: {out_channels: 2, kernel_size: 3, bias: false}")
    assert row.params == 2 * 4 * 3 * 3
    n = 4 * 3 * 3  # products per output
    assert row.flops == 2 * 6 * 6 * (2 * n - 1)  # n multiplications, n - 1 additions


def test_conv_groups_alexnet_conv2():
    # Krizhevsky et al. 2012, Fig. 2: conv2 has 256 kernels 5x5x48 (two groups of 96 inputs)
    row = one_layer([96, 27, 27], "conv: {out_channels: 256, kernel_size: 5, padding: 2, groups: 2}")
    assert row.params == 256 * (96 // 2) * 5 * 5 + 256
    assert row.macs == 27 * 27 * 256 * (96 // 2) * 5 * 5


def test_conv1d_and_conv3d():
    row = one_layer([2, 100], "conv1d: {out_channels: 4, kernel_size: 7, stride: 3}")
    assert row.output_shape == (4, (100 - 7) // 3 + 1)
    assert row.params == 4 * 2 * 7 + 4
    assert rf(row) == ((7,), (3,), (3,))
    row = one_layer([1, 8, 16, 16], "conv3d: {out_channels: 2, kernel_size: [3, 5, 5], padding: [1, 2, 2]}")
    assert row.output_shape == (2, 8, 16, 16)
    assert row.params == 2 * 1 * 3 * 5 * 5 + 2
    assert row.macs == 2 * 8 * 16 * 16 * (3 * 5 * 5)


def test_conv_dilation_effective_kernel():
    # Dumoulin and Visin 2016, relationship 15: o = floor((i + 2p - k - (k-1)(d-1))/s) + 1
    i, k, d = 7, 3, 2
    row = one_layer([1, i, i], f"conv: {{out_channels: 1, kernel_size: {k}, dilation: {d}}}")
    assert row.output_shape == (1, i - k - (k - 1) * (d - 1) + 1, 3)
    assert row.receptive_field.size == (d * (k - 1) + 1,) * 2


@pytest.mark.parametrize(
    "i, k, s, p, o",
    [
        # Dumoulin and Visin, "A guide to convolution arithmetic" (2016)
        (4, 3, 1, 0, 2),  # relationship 1, figure 2.1: o = i - k + 1
        (5, 4, 1, 2, 6),  # relationship 2, figure 2.2: o = i - k + 2p + 1
        (5, 3, 1, 1, 5),  # relationship 3 (half padding), figure 2.3: o = i
        (5, 3, 1, 2, 7),  # relationship 4 (full padding), figure 2.4: o = i + k - 1
        (5, 3, 2, 0, 2),  # relationship 5, figure 2.5: o = floor((i - k)/s) + 1
        (5, 3, 2, 1, 3),  # relationship 6, figure 2.6: o = floor((i + 2p - k)/s) + 1
        (6, 3, 2, 1, 3),  # relationship 6, figure 2.7: the floor drops a row
    ],
)
def test_conv_arithmetic_relationships(i, k, s, p, o):
    assert (i + 2 * p - k) // s + 1 == o
    row = one_layer([1, i, i], f"conv: {{out_channels: 1, kernel_size: {k}, stride: {s}, padding: {p}}}")
    assert row.output_shape == (1, o, o)


@pytest.mark.parametrize(
    "size, k, s, out, before, after",
    [
        # TensorFlow 'same': out = ceil(L/s), total = max((out-1)s + k - L, 0), odd pixel after
        (7, 3, 2, 4, 1, 1),  # total (4-1)*2 + 3 - 7 = 2
        (8, 3, 2, 4, 0, 1),  # total (4-1)*2 + 3 - 8 = 1: the odd pixel goes after
        (224, 7, 2, 112, 2, 3),  # total 111*2 + 7 - 224 = 5
        (5, 4, 1, 5, 1, 2),  # even kernel: total 3
    ],
)
def test_padding_same_any_stride(size, k, s, out, before, after):
    row = one_layer([1, size], f"conv: {{out_channels: 1, kernel_size: {k}, stride: {s}, padding: same}}")
    assert row.output_shape == (1, out)
    assert out == -(-size // s)
    # unit 0 reads positions -before .. -before + k - 1
    assert row.receptive_field.center == (Fr(-before + (-before + k - 1), 2),)


def test_padding_forms():
    # per-axis pairs, per axis ints, valid and full (Dumoulin and Visin, section 2.2.2: k - 1 each side)
    assert one_layer([1, 10, 10], "conv: {out_channels: 1, kernel_size: 3, padding: [[0, 2], [1, 1]]}"
                     ).output_shape == (1, 10 + 0 + 2 - 3 + 1, 10 + 1 + 1 - 3 + 1)
    assert one_layer([1, 10, 10], "conv: {out_channels: 1, kernel_size: 3, padding: [0, 1]}"
                     ).output_shape == (1, 8, 10)
    assert one_layer([1, 10, 10], "conv: {out_channels: 1, kernel_size: 3, padding: valid}"
                     ).output_shape == (1, 8, 8)
    assert one_layer([1, 10, 10], "conv: {out_channels: 1, kernel_size: 3, padding: full}"
                     ).output_shape == (1, 10 + 3 - 1, 12)


def test_conv_in_channels_checked():
    assert one_layer([3, 8, 8], "conv: {out_channels: 4, kernel_size: 1, in_channels: 3}").params == 16


# -- transposed convolution ---------------------------------------------------------


def test_conv_transpose_16_to_31_and_32():
    # Dumoulin and Visin relationship 14: o = s(i - 1) + k - 2p (+ output_padding)
    row = one_layer([1, 16, 16], "conv_transpose: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}")
    assert row.output_shape == (1, 2 * (16 - 1) + 3 - 2 * 1, 31)
    row = one_layer([1, 16, 16], "conv_transpose: {out_channels: 1, kernel_size: 3, stride: 2, "
                                 "padding: 1, output_padding: 1}")
    assert row.output_shape == (1, 2 * (16 - 1) + 3 - 2 * 1 + 1, 32)


def test_conv_transpose_macs_on_input_grid():
    # ConvTranspose2d(3, 1, 2, stride=2) on 2x2: every input element (2*2*3) meets
    # each of the 2*2 taps of the one output channel once
    row = one_layer([3, 2, 2], "conv_transpose: {out_channels: 1, kernel_size: 2, stride: 2}")
    assert row.output_shape == (1, 4, 4)
    assert row.macs == 2 * 2 * 3 * 1 * 2 * 2 == 48
    assert row.params == 3 * 1 * 2 * 2 + 1  # weight (in, out/groups, k, k) + bias
    # each of the 16 outputs receives 3 products: 3 multiplications, 2 additions, 1 bias
    assert row.flops == 16 * (3 + 2 + 1)


def test_conv_transpose_rf_depends_on_phase():
    # k=3, s=2, p=1: output o reads inputs (o + 1 - k)/2 for taps k with o + 1 - k even:
    # even o -> one input (k=1), odd o -> two inputs (k=0, 2); the maximum extent is 2
    row = one_layer([1, 16], "conv_transpose: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}")
    assert rf(row) == ((2,), (Fr(1, 2),), (0,))


def test_conv_transpose_flops_when_products_fall_in_the_crop():
    # k=3, s=2, p=1 on 2 inputs: full output 5, cropped to 3. Products on the input
    # grid: 2 * 3 = 6 (the MACs); landing inside: outputs 0,1,2 get 1, 2, 1
    row = one_layer([1, 2], "conv_transpose: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}")
    assert row.output_shape == (1, 3)
    assert row.macs == 2 * 3
    landed, reached = 1 + 2 + 1, 3
    assert row.flops == row.macs + (landed - reached) + 3  # + 3 bias additions


def test_conv_transpose_weight_layout_groups():
    row = one_layer([4, 5, 5], "conv_transpose: {out_channels: 6, kernel_size: 3, groups: 2}")
    assert row.param_shapes["weight"] == (4, 6 // 2, 3, 3)
    assert row.output_shape == (6, 7, 7)
    assert row.macs == 4 * 5 * 5 * (6 // 2) * 3 * 3


# -- pooling ---------------------------------------------------------------------------


def test_maxpool_ceil_mode_window_starting_in_padding_is_dropped():
    # PyTorch (aten Pool.h): ceil((12 - 1)/2) + 1 = 7, but the 7th window would start
    # at 12 >= 12 + 0: it is dropped -> 6
    row = one_layer([1, 12, 12], "maxpool: {kernel_size: 1, stride: 2, ceil_mode: true}")
    assert row.output_shape == (1, 6, 6)


def test_avgpool_ceil_mode_window_longer_than_the_padded_input():
    # issue 11: PyTorch accepts avg_pool2d(k=4, padding=1, ceil_mode=True) on a 1x1 input.
    # aten Pool.h pooling_output_shape_pad_lr: div_rtn(1 + 1 + 1 - 4 + (4 - 1), 4) + 1
    # = div_rtn(2, 4) + 1 = 1; the window starts at -1 inside the left padding (0 < 1 + 1),
    # so it is kept: output 1x1 (checked by hand with torch 2.13: torch.Size([1, 2, 1, 1]))
    row = one_layer([2, 1, 1], "avgpool: {kernel_size: 4, padding: 1, ceil_mode: true, "
                               "count_include_pad: false}")
    assert row.output_shape == (2, (1 + 1 + 1 - 4 + (4 - 1)) // 4 + 1, 1) == (2, 1, 1)
    # without ceil_mode the same window gives div_rtn(-1, 4) + 1 = 0 outputs: an error
    from tests.conftest import error_of
    err = error_of("input: [2, 1, 1]\nlayers:\n  - avgpool: {kernel_size: 4, padding: 1}\n")
    assert "does not fit" in err.message


def test_maxpool_ceil_mode_keeps_a_partial_window():
    # (13 - 3)/2 + 1 = 6; with ceil_mode ceil((13 - 3)/2)... 13: 5 + 1 = 6; 14: ceil(11/2) + 1 = 7
    assert one_layer([1, 14], "maxpool: {kernel_size: 3, stride: 2, ceil_mode: true}").output_shape == (1, 7)
    assert one_layer([1, 14], "maxpool: {kernel_size: 3, stride: 2}").output_shape == (1, 6)


def test_maxpool_flops_and_rf():
    row = one_layer([2, 8, 8], "maxpool: {kernel_size: 3, stride: 2, padding: 1}")
    assert row.output_shape == (2, (8 + 2 - 3) // 2 + 1, 4)
    assert row.flops == 2 * 4 * 4 * (3 * 3 - 1)  # k^2 - 1 comparisons per window
    assert rf(row) == ((3, 3), (2, 2), (0, 0))  # unit 0 sees [-1, 1]


def test_maxpool_dilation():
    row = one_layer([1, 10], "maxpool: {kernel_size: 3, dilation: 2, stride: 1}")
    assert row.output_shape == (1, 10 - 2 * (3 - 1))
    assert row.receptive_field.size == (5,)


def test_avgpool_default_stride_is_kernel():
    row = one_layer([3, 6, 6], "avgpool: 2")
    assert row.output_shape == (3, 3, 3)
    assert row.flops == 3 * 3 * 3 * 4  # 3 additions + 1 division per 2x2 window
    assert rf(row) == ((2, 2), (2, 2), (Fr(1, 2), Fr(1, 2)))


def test_global_pools():
    row = one_layer([8, 7, 7], "global_avgpool")
    assert row.output_shape == (8, 1, 1)
    assert row.flops == 8 * 7 * 7  # 48 additions + 1 division per channel
    assert row.receptive_field is None
    row = one_layer([8, 7, 7], "global_maxpool")
    assert row.flops == 8 * (7 * 7 - 1)


def test_adaptive_avgpool_pytorch_windows():
    # PyTorch start = floor(o L / O), end = ceil((o + 1) L / O); L = 10, O = 4:
    # [0,3) [2,5) [5,8) [7,10): 3 elements each, so windows overlap by one
    row = one_layer([2, 10], "adaptive_avgpool: 4")
    assert row.output_shape == (2, 4)
    assert row.flops == 2 * (3 + 3 + 3 + 3)
    assert row.receptive_field.size == (3,)
    assert row.receptive_field.stride == (Fr(10, 4),)
    row = one_layer([2, 10], "adaptive_maxpool: 4")
    assert row.flops == 2 * (4 * (3 - 1))


def test_adaptive_pool_null_keeps_axis():
    assert one_layer([1, 6, 9], "adaptive_avgpool: [3, null]").output_shape == (1, 3, 9)


# -- resampling and shape ------------------------------------------------------------


def test_upsample_nearest():
    row = one_layer([2, 5, 5], "upsample: 2")
    assert row.output_shape == (2, 10, 10)
    assert row.flops == 0
    # unit o copies floor(o / 2): two units per input pixel
    assert rf(row) == ((1, 1), (Fr(1, 2), Fr(1, 2)), (0, 0))


def test_upsample_bilinear():
    row = one_layer([1, 4, 4], "upsample: {scale_factor: 2, mode: bilinear}")
    assert row.output_shape == (1, 8, 8)
    assert row.flops == 8 * 8 * 3 * (2 ** 2 - 1)  # three lerps of 3 FLOPs each
    # align_corners=False: src(0) = (0 + 1/2)/2 - 1/2 = -1/4 -> inputs -1 and 0
    assert rf(row) == ((2, 2), (Fr(1, 2), Fr(1, 2)), (Fr(-1, 2), Fr(-1, 2)))


def test_upsample_size_and_fractional_scale():
    row = one_layer([1, 4], "upsample: {size: 6}")
    assert row.output_shape == (1, 6)
    assert row.receptive_field.stride == (Fr(4, 6),)
    row = one_layer([1, 4], "upsample: 1.5")
    assert row.output_shape == (1, int(4 * 1.5))


def test_pad_and_crop():
    row = one_layer([1, 5, 5], "pad: {padding: [[1, 2], 0], mode: reflect}")
    assert row.output_shape == (1, 5 + 1 + 2, 5)
    assert row.receptive_field.center == (-1, 0)
    row = one_layer([1, 9, 9], "crop: [[1, 2], 3]")
    assert row.output_shape == (1, 9 - 1 - 2, 9 - 3 - 3)
    assert row.receptive_field.center == (1, 3)


def test_crop_like_centre():
    # U-Net (Ronneberger et al. 2015, Fig. 1): 64x64 cropped to 56x56 keeps the centre
    rep = report_of(
        "input: [1, 64, 64]\nlayers:\n"
        "  - {identity, name: skip}\n"
        "  - conv: {out_channels: 1, kernel_size: 9}\n"
        "  - {crop: {like: conv1}, from: skip}\n"
    )
    row = rep.layer("crop1")
    assert row.output_shape == (1, 56, 56)
    assert row.inputs == ("skip",)
    assert row.receptive_field.center == ((64 - 56) // 2,) * 2


def test_flatten_and_reshape():
    assert one_layer([4, 3, 3], "flatten").output_shape == (36,)
    assert one_layer([4, 3, 3], "reshape: [9, -1]").output_shape == (9, 4)
    assert one_layer([4, 3, 3], "flatten").receptive_field is None


# -- elementwise and normalization -----------------------------------------------------

# FLOPs per element, docs/conventions.md
ELEMENTWISE = {
    "identity": 0, "dropout": 0, "relu": 1, "relu6": 2, "leaky_relu": 2, "prelu": 2, "elu": 4,
    "selu": 5, "gelu": 5, "silu": 4, "hardswish": 5, "sigmoid": 3, "tanh": 1,
    "hardsigmoid": 4, "hardtanh": 2, "mish": 5, "softplus": 6, "swish": 4,
}


@pytest.mark.parametrize("name, per", sorted(ELEMENTWISE.items()))
def test_elementwise_rows(name, per):
    row = one_layer([3, 4, 4], name)
    assert row.output_shape == (3, 4, 4)
    assert row.flops == per * 3 * 4 * 4
    assert row.macs == 0
    assert row.params == (1 if name == "prelu" else 0)  # PReLU: one shared slope by default
    assert rf(row) == ((1, 1), (1, 1), (0, 0))


def test_gelu_tanh_and_prelu_per_channel():
    assert one_layer([2, 3], "gelu: tanh").flops == 9 * 6
    assert one_layer([4, 3, 3], "prelu: 4").params == 4


def test_swish_is_silu():
    # Ramachandran et al. 2017's swish (beta 1) is Elfwing et al. 2018's SiLU: one class, two names
    assert REGISTRY["swish"] is REGISTRY["silu"]
    row = one_layer([3, 4, 4], "swish")
    assert row.type == "silu"
    assert row.flops == 4 * 3 * 4 * 4  # sigmoid (3) and a multiplication


def test_schema_lists_every_registered_name():
    # the JSON Schema is built from the registry: every type, aliases such as swish included
    import json

    from cnncalc.io.schema import spec_schema

    text = json.dumps(spec_schema())
    for name in REGISTRY:
        assert f'"required": ["{name}"]' in text, name


def test_hardtanh_softplus_parameters():
    # torch.nn.Hardtanh(min_val, max_val): max_val must exceed min_val
    from tests.conftest import error_of

    err = error_of("input: [2, 3]\nlayers:\n  - hardtanh: {min_val: 1, max_val: 0}\n")
    assert "max_val" in err.message and err.loc.line == 3
    assert one_layer([2, 3], "softplus: {beta: 2, threshold: 10}").flops == 6 * 2 * 3


def test_softmax_flops():
    # over n classes: n exp + (n - 1) additions + n divisions
    row = report_of("input: [10, 1, 1]\nlayers: [flatten, softmax]").layers[-1]
    assert row.flops == 3 * 10 - 1
    row = one_layer([5, 2, 2], "softmax")  # per pixel, over 5 channels
    assert row.flops == 2 * 2 * (3 * 5 - 1)


def test_batchnorm_params_buffers_flops():
    row = one_layer([16, 8, 8], "batchnorm")
    assert row.params == 2 * 16  # weight and bias
    assert row.buffers == 2 * 16  # running_mean and running_var
    assert row.flops == 2 * 16 * 8 * 8  # folded scale and shift
    assert one_layer([16, 8, 8], "batchnorm: {affine: false}").params == 0
    after_flatten = report_of("input: [5, 2, 2]\nlayers: [flatten, batchnorm1d]").layers[-1]
    assert after_flatten.params == 2 * (5 * 2 * 2)  # BatchNorm1d(20) after flatten


def test_lrn():
    # Krizhevsky et al. 2012 section 3.3; n + 4 FLOPs per element with n = 5
    row = one_layer([96, 55, 55], "lrn: {size: 5, alpha: 0.0005, beta: 0.75, k: 2}")
    assert row.output_shape == (96, 55, 55)
    assert row.flops == (5 + 4) * 96 * 55 * 55


def test_linear():
    row = report_of("input: [16, 5, 5]\nlayers: [flatten, linear: 120]").layers[-1]
    assert row.params == 400 * 120 + 120
    assert row.macs == 400 * 120
    assert row.flops == 120 * (2 * 400)
    # on a spatial tensor, Linear acts on the last axis (PyTorch)
    row = one_layer([3, 5, 7], "linear: 2")
    assert row.output_shape == (3, 5, 2)
    assert row.macs == 3 * 5 * 2 * 7
    assert row.receptive_field.size == (1, None)


def test_batch_scales_counts_not_params():
    one = one_layer([3, 8, 8], "conv: {out_channels: 4, kernel_size: 3}")
    many = one_layer([3, 8, 8], "conv: {out_channels: 4, kernel_size: 3}", batch=32)
    assert many.macs == 32 * one.macs
    assert many.flops == 32 * one.flops
    assert many.activation_bytes == 32 * 4 * 6 * 6 * 4  # float32
    assert many.params == one.params


def test_every_registered_type_has_a_row_here():
    # the one-place rule: adding a type to the registry needs a test row in this file
    tested = set(ELEMENTWISE) | {
        "conv", "conv_transpose", "maxpool", "avgpool", "global_avgpool", "global_maxpool",
        "adaptive_avgpool", "adaptive_maxpool", "upsample", "pad", "crop", "flatten", "reshape",
        "softmax", "batchnorm", "lrn", "linear", "add", "multiply", "concat",
        "depthwise_conv", "separable_conv", "locally_connected", "tiled_conv", "deform_conv",
        "add_coords", "lppool", "sumpool", "instancenorm", "groupnorm", "layernorm",
        "chunk", "split", "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "layer_scale",
        "stochastic_depth",
        # tests/test_attention.py (issue 26, item 3)
        "multihead_attention", "scaled_dot_product_attention", "class_token", "position_embedding",
        "permute", "select_index",
    }
    assert set(REGISTRY) <= tested, set(REGISTRY) - tested


# -- chunk, split, shuffles, layer scale, stochastic depth ---------------------------------


def test_chunk_halves_shufflenet_v2():
    # Ma et al. 2018 (ShuffleNetV2), Fig. 3c and torchvision's InvertedResidual:
    # x1, x2 = x.chunk(2, dim=1) on 116 channels gives 58 and 58
    row = one_layer([116, 28, 28], "chunk: {chunks: 2, index: 1}")
    assert row.output_shape == (116 // 2, 28, 28)
    assert (row.params, row.macs, row.flops) == (0, 0, 0)
    assert rf(row) == ((1, 1), (1, 1), (0, 0))
    # torch.chunk: parts of ceil(5 / 4) = 2, so 5 channels give 2, 2, 1 (three parts, not four)
    assert one_layer([5, 2, 2], "chunk: {chunks: 4, index: 2}").output_shape == (5 - 2 * 2, 2, 2)
    from tests.conftest import error_of

    err = error_of("input: [5, 2, 2]\nlayers:\n  - chunk: {chunks: 4, index: 3}\n")
    assert "3 parts" in err.message and err.loc.line == 3


def test_chunk_and_split_along_a_spatial_axis_shift_the_field():
    # dim 3 is W (batch 0, channels 1, H 2): the second of chunks of ceil(10 / 2) = 5 starts at 5
    row = one_layer([2, 4, 10], "chunk: {chunks: 2, index: 1, dim: 3}")
    assert row.output_shape == (2, 4, 10 - 5)
    assert rf(row) == ((1, 1), (1, 1), (0, 5))  # unit 0 is input column 5
    row = one_layer([2, 10, 10], "split: {sizes: [3, 7], index: 1, dim: 2}")  # along H
    assert row.output_shape == (2, 10 - 3, 10)
    assert rf(row)[2] == (3, 0)  # unit 0 is input row 3


def test_split_sizes_must_add_up():
    row = one_layer([10, 3, 3], "split: {sizes: [2, 3, 5], index: 2}")
    assert row.output_shape == (5, 3, 3)
    from tests.conftest import error_of

    err = error_of("input: [10, 3, 3]\nlayers:\n  - split: {sizes: [2, 3], index: 1}\n")
    assert "add up to 5" in err.message and "10" in err.message


def test_channel_shuffle():
    # Zhang et al. 2018 (ShuffleNet) section 3.1: reshape to (g, n), transpose, flatten
    row = one_layer([6, 5, 5], "channel_shuffle: 3")
    assert row.output_shape == (6, 5, 5)
    assert (row.params, row.macs, row.flops) == (0, 0, 0)
    from tests.conftest import error_of

    assert "does not divide the 6 channels" in error_of(
        "input: [6, 5, 5]\nlayers:\n  - channel_shuffle: 4\n").message


def test_pixel_shuffle_fractional_stride():
    # Shi et al. 2016 (ESPCN), eq. 4: [C r^2, H, W] -> [C, rH, rW]; r = 3, C = 1
    row = one_layer([9, 5, 4], "pixel_shuffle: 3")
    assert row.output_shape == (9 // 3 ** 2, 5 * 3, 4 * 3)
    assert (row.params, row.macs, row.flops) == (0, 0, 0)
    # output unit o reads input floor(o / 3): size 1, effective stride 1/3, centre of unit 0 at 0
    assert rf(row) == ((1, 1), (Fr(1, 3), Fr(1, 3)), (0, 0))
    # after a 3x3 conv, three neighbouring outputs share one input unit's 3x3 field
    rep = report_of("input: [1, 12, 12]\nlayers:\n  - conv: {out_channels: 4, kernel_size: 3}\n"
                    "  - pixel_shuffle: 2\n")
    assert rep.layers[-1].output_shape == (4 // 2 ** 2, (12 - 3 + 1) * 2, 20)
    assert rf(rep.layers[-1]) == ((3, 3), (Fr(1, 2), Fr(1, 2)), (1, 1))


def test_pixel_unshuffle_window():
    # torch.nn.PixelUnshuffle(2): [C, H, W] -> [4C, H/2, W/2]; unit o reads 2o, 2o + 1
    row = one_layer([3, 8, 6], "pixel_unshuffle: 2")
    assert row.output_shape == (3 * 2 ** 2, 8 // 2, 6 // 2)
    assert rf(row) == ((2, 2), (2, 2), (Fr(1, 2), Fr(1, 2)))
    from tests.conftest import error_of

    assert "divisible by 2" in error_of("input: [3, 7, 6]\nlayers:\n  - pixel_unshuffle: 2\n").message


def test_layer_scale_convnext_gamma():
    # torchvision ConvNeXt CNBlock: layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * 1e-6),
    # dim 96 in the first stage of ConvNeXt-Tiny (Liu et al. 2022, section 2.6)
    # The tensor is the layer itself (key ''): its weight key is the layer's name, as
    # torchvision's state_dict key features.1.0.layer_scale is the block's attribute
    row = one_layer([96, 56, 56], "layer_scale: 1.0e-6")
    assert row.param_shapes == {"": (96, 1, 1)}
    assert row.params == 96
    assert row.flops == 96 * 56 * 56  # one multiplication per element
    assert row.macs == 0
    flat = report_of("input: [6, 4, 4]\nlayers: [global_avgpool, flatten, layer_scale]").layers[-1]
    assert flat.param_shapes == {"": (6,)}  # (C,) without spatial axes


def test_stochastic_depth_is_identity_at_inference():
    # torchvision.ops.StochasticDepth: in eval mode it returns its input
    row = one_layer([24, 14, 14], "stochastic_depth: {p: 0.1, mode: row}")
    assert row.output_shape == (24, 14, 14)
    assert (row.params, row.macs, row.flops) == (0, 0, 0)
    assert rf(row) == ((1, 1), (1, 1), (0, 0))


def test_convnext_linear_on_channels_equals_a_1x1_conv():
    # ConvNeXt's pwconv1 is nn.Linear(96, 384) after permute(0, 2, 3, 1) (torchvision CNBlock);
    # cnncalc writes it as a 1x1 conv. Channels-last [56, 56, 96] with linear on the last axis
    # and the 1x1 conv on [96, 56, 56] give the same figures:
    linear = one_layer([56, 56, 96], "linear: 384")
    conv = one_layer([96, 56, 56], "conv: {out_channels: 384, kernel_size: 1}")
    assert linear.params == conv.params == 96 * 384 + 384
    assert linear.macs == conv.macs == 56 * 56 * 384 * 96
    assert linear.flops == conv.flops == 56 * 56 * 384 * (2 * 96)
    # nn.LayerNorm(96) on channels-last = layernorm over the channels: per position n = 96,
    # 6n + 2 for the statistics, 2 per element for the affine transform
    row = one_layer([96, 56, 56], "layernorm: {over: channels, eps: 1.0e-6}")
    assert row.params == 2 * 96
    assert row.flops == 56 * 56 * (6 * 96 + 2) + 2 * 96 * 56 * 56


# -- the closed forms against their definitions -------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnncalc.core.rf import transposed_map  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 9), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 3),
       st.integers(0, 3))
def test_transposed_flops_count_landed_products_by_definition(size, k, s, d, p, op):
    if op >= max(s, d) or (size - 1) * s - 2 * p + d * (k - 1) + 1 + op < 1:
        return
    row = one_layer([1, size], f"conv_transpose: {{out_channels: 1, kernel_size: {k}, stride: {s}, "
                               f"dilation: {d}, padding: {p}, output_padding: {op}}}")
    n = row.output_shape[1]
    # definition: input i, tap t lands on output o = i s - p + t d when 0 <= o < n
    per_output = [sum(1 for i in range(size) for t in range(k) if i * s - p + t * d == o) for o in range(n)]
    landed, reached = sum(per_output), sum(1 for c in per_output if c)
    assert row.flops == row.macs + (landed - reached) + n  # + n bias additions


@given(st.integers(1, 5), st.integers(0, 4), st.integers(1, 6), st.integers(1, 4), st.integers(-12, 12))
def test_transposed_unit_map_by_definition(s, crop, k, d, o):
    # output o reads the inputs i with o + crop = i s + t d for a tap t < k
    expected = sorted((o + crop - t * d) // s for t in range(k) if (o + crop - t * d) % s == 0)
    assert list(transposed_map(s, crop, k, d).contrib(o)) == expected


@given(st.integers(1, 60), st.integers(1, 20))
def test_adaptive_window_sum_closed_form(size, out):
    # sum over o of ceil((o + 1) L / O) - floor(o L / O)  ==  L + O - gcd(L, O)
    brute = sum(-(-((o + 1) * size) // out) - (o * size) // out for o in range(out))
    row = one_layer([1, size], f"adaptive_avgpool: {out}")
    assert row.flops == brute


def test_huge_sizes_are_exact_and_fast():
    # integers of any size stay exact Python ints: a 10^12-wide 1D input
    L = 10 ** 12
    row = one_layer([1, L], "conv_transpose: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}")
    assert row.output_shape == (1, (L - 1) * 2 - 2 + 3)
    assert row.macs == L * 3
    row = one_layer([1, L], "adaptive_avgpool: 7")
    assert row.flops == L + 7 - 1  # gcd(10^12, 7) = 1


# -- the rest of the lectures' convolutions (issue 7) --------------------------------------


def test_depthwise_conv():
    # Howard et al. 2017, section 3.1: D_K * D_K * M parameters for M input channels
    row = one_layer([32, 112, 112], "depthwise_conv: {kernel_size: 3, padding: 1, bias: false}")
    assert row.output_shape == (32, 112, 112)
    assert row.params == 3 * 3 * 32
    assert row.macs == 112 * 112 * 32 * 3 * 3  # D_K * D_K * M * D_F * D_F (eq. 3)
    row = one_layer([4, 8, 8], "depthwise_conv: {kernel_size: 3, depth_multiplier: 2}")
    assert row.output_shape == (8, 6, 6) and row.params == 4 * 2 * 9 + 8


def test_separable_conv_lecture_formula():
    # M inputs, N outputs, K x K kernel: N*M + M*K^2 without bias (against N*M*K^2)
    m, n, k = 16, 32, 3
    row = one_layer([m, 10, 10], f"separable_conv: {{out_channels: {n}, kernel_size: {k}, bias: false}}")
    assert row.params == n * m + m * k * k
    assert row.output_shape == (n, 8, 8)
    assert row.macs == 8 * 8 * (m * k * k + m * n)  # Howard et al. eq. 5
    assert rf_of(row) == ((3, 3), (1, 1), (1, 1))


def test_spatially_separable_kernels():
    # a k x 1 then 1 x k pair: M*N*k + N*N*k parameters against M*N*k^2 (no bias)
    rep = report_of("input: [8, 10, 10]\nlayers:\n"
                    "  - conv: {out_channels: 8, kernel_size: [3, 1], bias: false}\n"
                    "  - conv: {out_channels: 8, kernel_size: [1, 3], bias: false}\n")
    assert rep.totals.params == 8 * 8 * 3 + 8 * 8 * 3
    assert rep.layers[-1].receptive_field.size == (3, 3)  # the same field as one 3x3


def test_locally_connected_published_figures():
    # Keras LocallyConnected2D docs: 32x32x3 input, 64 filters 3x3 -> 30x30x64, 1,612,800 params
    row = one_layer([3, 32, 32], "locally_connected: {out_channels: 64, kernel_size: 3}")
    assert row.output_shape == (64, 30, 30)
    assert row.params == 30 * 30 * 64 * (3 * 3 * 3 + 1) == 1_612_800
    # AlexNet's first layer without weight sharing: 55*55 * 96 * (11*11*3 + 1) = 105,705,600
    row = one_layer([3, 227, 227], "locally_connected: {out_channels: 96, kernel_size: 11, stride: 4}")
    assert row.params == 55 * 55 * 96 * (11 * 11 * 3 + 1) == 105_705_600
    assert row.macs == 55 * 55 * 96 * 11 * 11 * 3  # the same work as the shared convolution


def test_tiled_conv():
    # Goodfellow et al. 2016, section 9.5: t kernel sets per axis, rotated through space
    row = one_layer([2, 9, 9], "tiled_conv: {out_channels: 4, kernel_size: 3, tiles: 2}")
    assert row.params == 2 * 2 * 4 * 2 * 3 * 3 + 4  # t^2 kernel sets, one shared bias
    assert row.macs == 7 * 7 * 4 * 2 * 3 * 3


def test_deform_conv_counts():
    # Dai et al. 2017: the offset field has 2K channels (K = 9 taps), v2 adds K masks
    row = one_layer([8, 10, 10], "deform_conv: {out_channels: 4, kernel_size: 3, padding: 1}")
    assert row.params == (4 * 8 * 9 + 4) + (2 * 9 * 8 * 9 + 2 * 9)
    assert row.macs == 10 * 10 * 4 * 8 * 9 + 10 * 10 * 18 * 8 * 9
    v2 = one_layer([8, 10, 10], "deform_conv: {out_channels: 4, kernel_size: 3, padding: 1, modulated: true}")
    assert v2.params == (4 * 8 * 9 + 4) + (3 * 9 * 8 * 9 + 3 * 9)
    assert row.receptive_field.size == (3, 3) and row.receptive_field.data_dependent


def test_deform_conv_with_zero_offsets_is_a_convolution():
    import numpy as np

    from cnncalc.measure.execute import run

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 7, 6))
    w, b = rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    deform = report_net("input: [4, 7, 6]\nlayers:\n  - {deform_conv: {out_channels: 6, kernel_size: 3, "
                        "padding: 1, stride: [2, 1], groups: 2}, name: d}\n")
    plain = report_net("input: [4, 7, 6]\nlayers:\n  - {conv: {out_channels: 6, kernel_size: 3, "
                       "padding: 1, stride: [2, 1], groups: 2}, name: d}\n")
    zero = {"d.weight": w, "d.bias": b, "d.offset_weight": np.zeros((18, 4, 3, 3)),
            "d.offset_bias": np.zeros(18)}
    np.testing.assert_allclose(run(deform, x, zero)["d"], run(plain, x, {"d.weight": w, "d.bias": b})["d"],
                               rtol=1e-12)
    # a whole-pixel offset of (0, 1) on every tap samples one column to the right
    shift = dict(zero, **{"d.offset_bias": np.tile([0.0, 1.0], 9)})
    shifted = run(deform, x, shift)["d"]
    moved = np.concatenate([x[:, :, :, 1:], np.zeros((2, 4, 7, 1))], axis=3)
    # from output column 1 on (at column 0 the deformed tap reads the real pixel x[0] where the
    # shifted copy reads padding)
    np.testing.assert_allclose(shifted[..., 1:], run(plain, moved, {"d.weight": w, "d.bias": b})["d"][..., 1:],
                               rtol=1e-12)


def test_add_coords():
    # Liu et al. 2018, section 4: i and j channels in [-1, 1], with_r the radius
    row = one_layer([3, 5, 4], "add_coords: {with_r: true}")
    assert row.output_shape == (3 + 2 + 1, 5, 4) and row.params == 0
    import numpy as np

    from cnncalc.measure.execute import run

    out = run(report_net("input: [1, 3, 2]\nlayers:\n  - {add_coords, name: c}\n"), np.zeros((1, 1, 3, 2)))["c"]
    np.testing.assert_allclose(out[0, 1], [[-1, -1], [0, 0], [1, 1]])
    np.testing.assert_allclose(out[0, 2], [[-1, 1], [-1, 1], [-1, 1]])


def test_lppool_and_sumpool():
    import numpy as np

    from cnncalc.measure.execute import run

    row = one_layer([2, 6, 6], "lppool: {kernel_size: 2, norm_type: 2}")
    assert row.output_shape == (2, 3, 3) and row.flops == 2 * 3 * 3 * (2 * 4)
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    out = run(report_net("input: [1, 4, 4]\nlayers:\n  - {lppool: 2, name: p}\n  - {sumpool: 2, from: input, name: s}\n"), x)
    # L2 pooling (Goodfellow et al. 2016, section 9.3): sqrt of the window's sum of squares
    np.testing.assert_allclose(out["p"][0, 0, 0, 0], np.sqrt(0 + 1 + 16 + 25))
    np.testing.assert_allclose(out["s"][0, 0, 1, 1], 10 + 11 + 14 + 15)


def test_instance_group_layer_norm():
    import numpy as np

    from cnncalc.measure.execute import run

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3, 3))
    net = report_net("input: [4, 3, 3]\nlayers:\n  - {instancenorm, name: i}\n  - {groupnorm: 2, from: input, name: g}\n"
                     "  - {layernorm, from: input, name: l}\n  - {layernorm: channels, from: input, name: c}\n")
    out = run(net, x, {"g.weight": np.ones(4), "g.bias": np.zeros(4), "l.weight": np.ones((4, 3, 3)),
                       "l.bias": np.zeros((4, 3, 3)), "c.weight": np.ones(4), "c.bias": np.zeros(4)})

    def norm(v, axes):
        return (v - v.mean(axis=axes, keepdims=True)) / np.sqrt(v.var(axis=axes, keepdims=True) + 1e-5)

    np.testing.assert_allclose(out["i"], norm(x, (2, 3)))  # Ulyanov et al.: per sample and channel
    np.testing.assert_allclose(out["g"], norm(x.reshape(2, 2, 2, 3, 3), (2, 3, 4)).reshape(x.shape))
    np.testing.assert_allclose(out["l"], norm(x, (1, 2, 3)))
    np.testing.assert_allclose(out["c"], norm(x, (1,)))
    rep = cnncalc_analyze(net)
    assert rep.layer("g").params == 2 * 4 and rep.layer("l").params == 2 * 4 * 3 * 3
    n = 9  # instance norm: per (sample, channel) group of 9: 6n + 2
    assert rep.layer("i").flops == 4 * (6 * n + 2)
    # statistics over every position: every input position reaches every unit
    assert rep.layer("i").receptive_field is None and rep.layer("g").receptive_field is None
    assert rep.layer("c").receptive_field.size == (1, 1)


def rf_of(row):
    r = row.receptive_field
    return r.size, r.stride, r.center


def report_net(text):
    import cnncalc

    return cnncalc.loads(text, "t.yaml")


def cnncalc_analyze(net):
    import cnncalc

    return cnncalc.analyze(net)


def test_rank_aliases_of_statistics_norms_match_the_input():
    # issue 11: groupnorm3d was accepted in a 2-D net while batchnorm3d was refused.
    # PyTorch's InstanceNorm3d takes (N, C, D, H, W) only; a [4, 8, 8] sample is 2-D.
    from tests.conftest import error_of
    for alias in ("groupnorm3d: 2", "instancenorm3d", "layernorm1d: channels", "batchnorm3d"):
        err = error_of(f"input: [4, 8, 8]\nlayers:\n  - {alias}\n")
        assert (err.loc.line, err.loc.column) == (3, 5), alias
        assert "3d" in err.message or "1d" in err.message, err.message
    # the matching rank is accepted: InstanceNorm2d on [4, 8, 8], no parameters by default
    assert one_layer([4, 8, 8], "instancenorm2d").output_shape == (4, 8, 8)
    assert one_layer([4, 8, 8], "groupnorm2d: 2").params == 2 * 4  # weight and bias per channel
