"""Writing PyTorch source: parameter names are cnncalc's weight keys, and (where torch
is installed; it is never a dependency) the module computes what cnncalc run computes."""

from __future__ import annotations

import numpy as np
import pytest

import cnncalc
from cnncalc.core.weights import torch_layout
from cnncalc.io.torch_map import to_source
from cnncalc.measure.execute import init_weights

from .conftest import SPECS

MIXED = """
input: [4, 12, 12]
layers:
  - {conv: {out_channels: 8, kernel_size: 3, padding: [[0, 1], [2, 1]], dilation: [1, 2]}, name: c1}
  - {batchnorm, name: bn}
  - leaky_relu: {negative_slope: 0.1}
  - {depthwise_conv: {kernel_size: 3, padding: 1, depth_multiplier: 2}, name: dw}
  - prelu: {num_parameters: 16}
  - conv_transpose: {out_channels: 6, kernel_size: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}
  - {groupnorm: {num_groups: 3}}
  - silu
  - {maxpool: {kernel_size: 3, stride: 2, ceil_mode: true}, name: mp}
  - {upsample: {scale_factor: 2, mode: bilinear}, name: up}
  - pad: {padding: [[1, 0], [0, 2]], mode: reflect}
  - crop: {cropping: [[1, 0], [0, 2]]}
  - {avgpool: {kernel_size: 3, stride: 1, padding: 1, count_include_pad: false}, name: ap}
  - {hardswish, name: hs}
  - {sigmoid, name: sg}
  - {multiply: {with: hs}}
  - {concat: {with: [sg]}}
  - lrn: {size: 3}
  - {adaptive_avgpool: 4}
  - {dropout: 0.3}
  - flatten
  - linear: 10
  - softmax
"""

NETS = [("mixed", MIXED), *((p.name, None) for p in (SPECS / "resnet18.yaml", SPECS / "mobilenet_v2.yaml",
                                                      SPECS / "googlenet.yaml", SPECS / "unet_padded.yaml",
                                                      SPECS / "convnext_tiny.yaml"))]


def _net(name, text):
    return cnncalc.loads(text, "mixed.yaml") if text else cnncalc.load(SPECS / name)


@pytest.mark.parametrize("name, text", NETS)
def test_source_compiles_and_names_every_weight(name, text):
    net = _net(name, text)
    source = to_source(net)
    compile(source, "net.py", "exec")
    for key in init_weights(net):  # every tensor is registered at its cnncalc path
        *path, leaf = key.split(".")
        assert "".join(f'["{p}"]' for p in path[1:]) in source, key


@pytest.mark.parametrize("name, text", NETS)
def test_torch_module_agrees_with_run(name, text):
    torch = pytest.importorskip("torch", reason="torch is not installed (never a dependency: "
                                "the generated source is checked where it is)")
    net = _net(name, text)
    namespace: dict = {}
    exec(compile(to_source(net), "net.py", "exec"), namespace)
    module = namespace["Net"]().eval()
    weights = init_weights(net, seed=3)
    # torch_layout: nn.Linear's (out, in) for ConvNeXt's pwconvs (torch: Linear)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in torch_layout(net, weights).items()},
                           strict=False)
    missing = set(module.state_dict()) - set(weights) - {k for k in module.state_dict()
                                                           if k.endswith("num_batches_tracked")}
    assert not missing and set(weights) <= set(module.state_dict())
    x = np.random.default_rng(0).standard_normal((1, *net.input_shape)).astype(np.float32)
    ours = cnncalc.run(net, x, weights)[net.outputs[0]]
    with torch.no_grad():
        theirs = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5)


def test_unexpressible_type_is_named():
    net = cnncalc.load(SPECS / "deepface.yaml")
    with pytest.raises(cnncalc.SpecError, match="locally_connected"):
        to_source(net)
