"""The command line as a user runs it: outputs, formats and exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

import cnncalc
from cnncalc.cli import main
from tests.conftest import SPECS


def run(capsys, *args):
    """Run `cnncalc ARGS` in-process; return (exit code, stdout, stderr)."""
    old = sys.argv
    sys.argv = ["cnncalc", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_vgg16_table(capsys):
    code, out, err = run(capsys, "analyze", SPECS / "vgg16.yaml")
    assert code == 0, err
    assert "VGG-16" in out
    assert "138,357,544" in out  # torchvision's published parameter count
    assert "15,470,264,320" in out  # and MACs
    assert "conv13" in out and "logits" in out


def test_json_is_the_report(capsys):
    code, out, _ = run(capsys, "analyze", SPECS / "lenet5.yaml", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data.pop("dilation_base") == 1  # the convention the spec was read under (issue 14)
    assert data == cnncalc.analyze(cnncalc.load(SPECS / "lenet5.yaml")).to_dict()
    first = data["layers"][0]
    # spec-format.md section 4, the worked example
    assert first == {
        "name": "conv1", "type": "conv", "inputs": ["input"], "output_shape": [6, 28, 28],
        "params": 156, "trainable_params": 156, "buffers": 0, "macs": 117600, "flops": 235200,
        "activation_bytes": 18816,
        # live after conv1 (the default eager policy): its output and the input 1x32x32, which
        # the caller holds for the whole forward
        "live_bytes": 6 * 28 * 28 * 4 + 32 * 32 * 4,
        "receptive_field": {"size": [5, 5], "stride": [1, 1], "center": [2, 2], "aligned": True,
                            "data_dependent": False},
        # no broadcast gate: the local field is the field (issue 22)
        "local_receptive_field": {"size": [5, 5], "stride": [1, 1], "center": [2, 2],
                                  "aligned": True, "data_dependent": False},
        "global_context": [],
    }
    assert data["outputs"] == ["logits"]
    assert data["totals"]["params"] == 61706
    assert data["totals"]["macs"] == 416520


def test_input_and_batch_overrides(capsys):
    code, out, _ = run(capsys, "analyze", SPECS / "alexnet.yaml", "--input", "3x227x227",
                       "--batch", "32", "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert data["batch"] == 32
    conv1 = data["layers"][0]
    assert conv1["macs"] == 32 * 55 * 55 * 96 * 3 * 11 * 11
    assert conv1["activation_bytes"] == 32 * 96 * 55 * 55 * 4


def test_csv_and_markdown(capsys, golden):
    code, out, _ = run(capsys, "analyze", SPECS / "lenet5.yaml", "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["name"] == "conv1" and rows[0]["macs"] == "117600"
    assert rows[0]["rf_size"] == "5 5"
    golden("lenet5.csv", out)
    code, out, _ = run(capsys, "analyze", SPECS / "lenet5.yaml", "-f", "markdown")
    assert code == 0
    golden("lenet5.md", out)


def test_table_golden(capsys, golden):
    code, out, _ = run(capsys, "analyze", SPECS / "lenet5.yaml")
    assert code == 0
    golden("lenet5.table.txt", out)


def test_dtype_changes_bytes(capsys):
    code, out, _ = run(capsys, "analyze", SPECS / "lenet5.yaml", "--dtype", "float16", "-f", "json")
    assert json.loads(out)["layers"][0]["activation_bytes"] == 6 * 28 * 28 * 2


def test_bad_spec_exits_2_with_location(capsys, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [3, 5, 5]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 7}\n")
    code, out, err = run(capsys, "analyze", spec)
    assert code == 2
    assert out == ""
    assert err.startswith(f"{spec}:3:42: error[shape]: conv 'conv1': kernel 7x7 does not fit")
    assert "help:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["analyze", "missing.yaml"],
    ["analyze", SPECS / "lenet5.yaml", "--input", "axb"],
    ["analyze", SPECS / "lenet5.yaml", "--input", "1x32"],  # rank differs from the spec
    ["analyze", SPECS / "lenet5.yaml", "--format", "xml"],
    ["analyze", SPECS / "lenet5.yaml", "--batch", "0"],
    ["analyse", SPECS / "lenet5.yaml"],
])
def test_usage_errors_exit_2(capsys, args):
    code, _, err = run(capsys, *args)
    assert code == 2
    assert "Traceback" not in err
    assert err.strip()


def test_the_spec_file_is_never_written(capsys, tmp_path):
    spec = tmp_path / "net.yaml"
    text = "input: [1, 8]\nlayers: [relu]  # a comment\n"
    spec.write_text(text)
    run(capsys, "analyze", spec)
    assert spec.read_text() == text


def test_layers_command(capsys):
    code, out, _ = run(capsys, "layers")
    assert code == 0
    for name in ("conv", "conv_transpose", "maxpool", "upsample", "batchnorm", "linear"):
        assert name in out


def test_console_script_runs():
    # the installed entry point, as README's main command uses it
    proc = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", str(SPECS / "lenet5.yaml"),
                           "-f", "json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["totals"]["params"] == 61706


def test_run_inline_exercise_prints_outputs(capsys):
    code, out, _ = run(capsys, "run", SPECS / "exercises" / "conv2d_5x5.yaml")
    assert code == 0
    assert "feature: shape [1, 1, 3, 3]" in out
    assert "[4. 3. 4.]" in out


def test_run_with_files(capsys, tmp_path):
    import numpy as np

    x = np.arange(7, dtype=np.float32).reshape(1, 1, 7)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "w.npz", **{"out.weight": np.array([[[2.0, -1.0]]], dtype=np.float32)})
    code, out, err = run(capsys, "run", SPECS / "exercises" / "conv1d.yaml", "--data",
                         tmp_path / "x.npy", "--weights", tmp_path / "w.npz", "--output",
                         tmp_path / "out.npz")
    assert code == 0, err
    with np.load(tmp_path / "out.npz") as data:
        # 2 x[i] - x[i + 1] for x = 0..6
        np.testing.assert_array_equal(data["out"][0, 0], [2 * i - (i + 1) for i in range(6)])
        assert "input" in data.files


def test_run_errors_exit_2(capsys, tmp_path):
    import numpy as np

    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 3)))
    code, _, err = run(capsys, "run", SPECS / "lenet5.yaml", "--data", tmp_path / "bad.npy")
    assert code == 2 and "batch first" in err
    code, _, err = run(capsys, "run", SPECS / "vgg16.yaml", "--max-memory", "10MiB")
    assert code == 2 and "more than the limit of 10,485,760" in err


def test_verify_command(capsys):
    code, out, _ = run(capsys, "verify", SPECS / "lenet5.yaml")
    assert code == 0
    assert "12 layers, 0 mismatched" in out


def test_verify_exits_1_on_disagreement(capsys, monkeypatch):
    from cnncalc.layers.conv import Conv

    monkeypatch.setattr(Conv, "macs", lambda self: 1)  # a wrong formula
    code, out, _ = run(capsys, "verify", SPECS / "lenet5.yaml")
    assert code == 1
    assert "MISMATCH" in out
