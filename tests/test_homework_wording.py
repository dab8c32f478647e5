"""Homework wording that says what the numbers are (issue 21, item 4): every answer was
right; these pin the words around them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cnncalc
from cnncalc.homework.explain import explain
from cnncalc.homework.solve import solve_output
from tests.test_hostile import cli as hostile_cli

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    """``cnncalc ARGS`` run in this process (tests/test_hostile.py's runner: the same main()
    and output, without a Python start-up per call; the words are what is tested here)."""
    code, out, err = hostile_cli(args)
    return subprocess.CompletedProcess(["cnncalc", *args], code, out, err)


def test_solve_output_says_padding_is_per_side():
    # cs231n's O = (W - F + 2P)/S + 1 counts P on each side: W = 5, F = 3, P = 1 gives 5; a
    # lecture's total P = 1 (half a pixel a side) is not -p 1, which gives (5 - 3 + 2)/1 + 1 = 5
    step = solve_output(5, 3, 1, 1)
    assert step.result == "5" and "P: padding on each side" in step.formula
    text = " ".join(cli("solve", "output", "--help").stdout.split())  # the help, unwrapped
    assert "Padding on EACH side (PyTorch's padding=p), 2p in all" in text


def test_receptive_field_step_names_the_dilated_extent():
    # conv 3x3 then conv 3x3 dilation 2: F_d = 2·(3 - 1) + 1 = 5 (Dumoulin and Visin 2016,
    # relationship 15); r = 3 + (5 - 1)·1 = 7
    net = cnncalc.loads("input: [1, 16]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 3}\n"
                        "  - conv: {out_channels: 1, kernel_size: 3, dilation: 2}\n", "x.yaml")
    steps = [s for s in explain(net, "conv2")[0].steps if s.field == "receptive_field"]
    assert (steps[0].formula, steps[0].substituted, steps[0].result) == \
        ("F_d = d(k - 1) + 1", "2·(3 - 1) + 1", "5")
    assert (steps[1].formula, steps[1].substituted, steps[1].result) == \
        ("r = r_in + (F_d - 1)·j_in", "3 + (5 - 1)·1", "7")
    plain = [s for s in explain(net, "conv1")[0].steps if s.field == "receptive_field"]
    assert plain[0].formula == "r = r_in + (F - 1)·j_in"  # no dilation: F is the kernel


def test_same_padding_shows_tensorflows_derivation():
    # TensorFlow's 'same' (tf.nn.conv2d docs; CS5242): o = ceil(l / s) = ceil(8 / 2) = 4,
    # p = max(s(o - 1) + k - l, 0) = max(2·3 + 3 - 8, 0) = 1: 0 before, 1 after
    net = cnncalc.loads("input: [1, 8]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 3, stride: 2, "
                        "padding: same}\n", "x.yaml")
    step = next(s for s in explain(net)[0].steps if "TensorFlow" in s.formula)
    assert step.formula == "TensorFlow 'same': o = ceil(L / S), P = max(S·(o - 1) + F - L, 0)"
    assert (step.substituted, step.result) == ("max(2·(ceil(8 / 2) - 1) + 3 - 8, 0)", "1")
    assert step.note == "o = 4; 0 before, 1 after (the odd pixel after)"
    done = cli("solve", "padding", "-i", "7", "-k", "3", "-s", "2", "-o", "4")
    # o = ceil(7 / 2) = 4, p = max(2·3 + 3 - 7, 0) = 2: [1, 1]
    assert ("TensorFlow 'same' (o = ceil(l / s) = ceil(7 / 2) = 4, p = max(s(o - 1) + k - l, 0) = "
            "max(2·(4 - 1) + 3 - 7, 0) = 2): [1, 1]") in done.stdout


def test_max_pooling_switches_say_when_a_window_ties(tmp_path):
    # windows [2, 2] and [1, 3]: the first is a tie, and PyTorch's max pooling keeps the first
    # maximum (aten's max_pool kernels take a later value only if it is greater): x[0]
    spec = tmp_path / "tie.yaml"
    spec.write_text("input: {shape: [1, 4], values: [[2, 2, 1, 3]]}\nlayers:\n"
                    "  - {maxpool1d: {kernel_size: 2, stride: 2}, name: pool}\n")
    text = cli("grad", str(spec), "--explain").stdout
    assert ("y[0, 0] = max(window 0..1) = 2 at x[0, 0] (a tie with 1 other input(s) of the window: the "
            "first maximum in row-major order wins, as in PyTorch, and takes the whole gradient): "
            "dx[0, 0] += 1") in text
    assert "y[0, 1] = max(window 2..3) = 3 at x[0, 3]: dx[0, 3] += 1" in text  # no tie, no words
    assert "[0, 0] <- [0, 0] (first of 2 tied); [0, 1] <- [0, 3]" in cli("grad", str(spec)).stdout


def test_separable_explanation_defines_dm():
    # Chollet 2017: depthwise M·dm·K² + pointwise N·M·dm (+ N): 3·2·9 + 4·6 + 4 = 82
    net = cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - separable_conv: {out_channels: 4, kernel_size: 3, "
                        "depth_multiplier: 2}\n", "x.yaml")
    params = next(s for s in explain(net)[0].steps if s.field == "params")
    assert params.result == "82"
    assert "dm = depth_multiplier = 2" in params.formula and "M = C_in" in params.formula
    macs = next(s for s in explain(net)[0].steps if s.field == "macs")
    assert "dm = depth_multiplier" in macs.formula


def test_weight_gradient_index_form_is_the_correlations():
    # y_rc = Σ_ij w_ij x_(r+i, c+j) (cross-correlation, PyTorch's conv2d) gives
    # dL/dw_ij = Σ_rc dL/dy_rc x_(r+i, c+j); x_(r-i, c-j) belongs to the flipped-kernel convolution
    for path in ("docs/homework.md", "cnncalc/measure/grad.py"):
        text = (ROOT / path).read_text(encoding="utf-8")
        assert "x_(r+i, c+j)" in text, path
        assert "dL/dw_ij = Σ dL/da_rc x_(r−i, c−j)" not in text and \
            "dL/dw_ij = sum dL/da_rc x_(r-i, c-j)" not in text, path
