"""Every message says what happened (issue 21, item 3): each case of the issue's list
"Messages that say something else than what happened", run as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnncalc
from cnncalc import SpecError
from cnncalc.io.spec import MAX_BLOCK_DEPTH
from cnncalc.lint.engine import Config, lint_network
from tests.conftest import error_of
from tests.test_hostile import cli as hostile_cli

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    """``cnncalc ARGS`` in a new Python process: for what only a real process shows (a
    warning printed at exit, the bare command's help)."""
    return subprocess.run([sys.executable, "-m", "cnncalc", *args], capture_output=True,
                          text=True, timeout=120)


def run(*args) -> subprocess.CompletedProcess:
    """``cnncalc ARGS`` in this process (tests/test_hostile.py's runner: the same main(), the
    same streams' text, without a Python start-up per call), as a CompletedProcess."""
    code, out, err = hostile_cli(args)
    return subprocess.CompletedProcess(["cnncalc", *map(str, args)], code, out, err)


def nested_blocks(count: int) -> str:
    """A spec whose block b0 uses b1, ..., b{count-1} uses relu: ``count`` nested blocks, no cycle."""
    lines = ["input: [3, 8, 8]", "blocks:"]
    for i in range(count):
        lines += [f"  b{i}:", "    layers:", f"      - b{i + 1}" if i < count - 1 else "      - relu"]
    return "\n".join(lines + ["layers:", "  - b0"]) + "\n"


def test_51_nested_blocks_is_the_nesting_limit_not_a_cycle():
    err = error_of(nested_blocks(MAX_BLOCK_DEPTH + 1))
    assert err.message.startswith("blocks nest 51 deep, more than the limit of 50 (b0 -> b1 -> ")
    assert err.message.endswith("b49 -> b50)")
    assert "uses itself" not in err.message
    assert err.notes == []  # the chain in the message names every use: no 50 note lines
    assert cnncalc.loads(nested_blocks(MAX_BLOCK_DEPTH), "net.yaml")  # 50 deep is within the limit


def test_a_real_cycle_names_only_the_cycle():
    err = error_of("input: [3, 8]\nblocks:\n  a: [c]\n  c: [d]\n  d: [c]\nlayers: [a]\n")
    assert err.message == "block 'c' uses itself (c -> d -> c)"
    assert err.notes == []


def test_an_error_without_help_has_no_help_note_line():
    err = error_of("input: [3, 8, 8]\nblocks:\n  b:\n    args: {w: 8}\n    layers:\n"
                   '      - conv: {out_channels: "${w // 0}", kernel_size: 1}\nlayers:\n  - b\n')
    assert err.help is None
    assert err.format().splitlines() == [
        "net.yaml:6:30: error[value]: in ${w // 0}: division by zero",
        "  note: in block 'b' used at line 8, column 5",
    ]


def test_the_command_line_gives_every_error_a_help_line(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [3, 8, 8]\nblocks:\n  b:\n    args: {w: 8}\n    layers:\n"
                    '      - conv: {out_channels: "${w // 0}", kernel_size: 1}\nlayers:\n  - b\n')
    done = run("analyze", str(spec))
    lines = done.stderr.splitlines()
    assert done.returncode == 2
    assert lines[1].startswith("  help: ") and "note" not in lines[1]
    assert lines[2] == "  note: in block 'b' used at line 8, column 5"


@pytest.mark.parametrize("shape, element, column", [
    ("[3, -32, 32]", "element 2 (H) must be a whole number >= 1, got int -32", 12),
    ("[3, 32, 0]", "element 3 (W) must be a whole number >= 1, got int 0", 16),
    ("[0, 32]", "element 1 (C) must be a whole number >= 1, got int 0", 9),
    ("[3, 4, 4.5, 4]", "element 3 (H) must be a whole number >= 1, got float 4.5", 15),
])
def test_a_bad_input_element_is_named_and_located(shape, element, column):
    err = error_of(f"input: {shape}\nlayers: [relu]\n")
    assert err.message == f"input: {element}"
    assert (err.line, err.column) == (1, column)  # the element itself, not the list


def test_ceil_window_without_padding_says_past_the_end():
    # PyTorch (aten/src/ATen/native/Pool.h, pooling_output_shape_pad_lr): with ceil_mode the size is
    # ceil((5 - 1) / 3) + 1 = 3, and the last window, starting at (3 - 1)·3 = 6 >= 5 + 0, is dropped: 2
    net = cnncalc.loads("input: [1, 5]\nlayers:\n  - maxpool: {kernel_size: 1, stride: 3, ceil_mode: true}\n",
                        "net.yaml")
    found = [f for f in lint_network(net, Config(select=("CC105",))) if f.code == "CC105"]
    assert len(found) == 1
    assert found[0].message == ("maxpool 'maxpool1': on axis L the last ceil_mode window would start at 6 >= 5 "
                                "(past the input's end): PyTorch drops it, giving 2, not 3")
    assert found[0].help == "remove ceil_mode"
    assert "padding" not in found[0].help


def test_lint_names_the_spatial_axes_h_and_w(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [1, 9, 12]\nlayers:\n  - conv: {out_channels: 1, kernel_size: [3, 1], stride: [1, 4]}\n")
    done = run("lint", str(spec), "--select", "CC103", "-f", "json")
    # kernel [3, 1] and stride [1, 4]: on W (spatial axis 2 of [C, H, W]) the stride 4 > kernel 1
    assert "larger than the kernel extent 1 on axis W" in done.stdout
    assert "on axis 1" not in done.stdout


def test_control_and_bidi_characters_are_escaped_when_echoed(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text('name: "net\\u202eevil\\x1b[31m"\ninput: [3, 8, 8]\nlayers:\n'
                    '  - {relu, name: "ok\\u202ebad"}\n', encoding="utf-8")
    done = run("analyze", str(spec))
    assert done.returncode == 2
    assert "\u202e" not in done.stderr and "\x1b" not in done.stderr
    assert "ok\\u202ebad" in done.stderr  # the name, shown as it is held
    spec.write_text('name: "net\\u202eevil\\x1b[31m"\ninput: [3, 8, 8]\nlayers: [relu]\n', encoding="utf-8")
    for fmt in ("table", "markdown", "csv", "json"):
        done = run("analyze", str(spec), "-f", fmt)
        assert done.returncode == 0, done.stderr
        assert "\u202e" not in done.stdout and "\x1b" not in done.stdout, fmt
    assert cnncalc.load(spec).name == "net\u202eevil\x1b[31m"  # nothing the user wrote is changed


@pytest.mark.parametrize("args, command, message, hint", [
    (["analyze", "specs/lenet5.yaml", "--batch", "x"], "cnncalc analyze",
     "invalid value for '--batch' / '-b': 'x' is not a valid int", None),
    (["analyze", "specs/lenet5.yaml", "--formt", "json"], "cnncalc analyze", "no such option: --formt",
     "did you mean --format?"),
    (["analyze"], "cnncalc analyze", "missing argument 'spec'", None),
    (["anlyze"], "cnncalc", "no such command 'anlyze'", "did you mean 'analyze'?"),
    (["solve", "output", "-i", "5", "-k", "3", "-s", "0"], "cnncalc solve output",
     "invalid value for '--stride' / '-s': 0 is not in the range x>=1", None),
])
def test_clicks_own_errors_take_cnncalcs_shape(args, command, message, hint, monkeypatch):
    monkeypatch.chdir(ROOT)
    done = run(*args)
    assert done.returncode == 2
    first, help_line = done.stderr.splitlines()[:2]
    assert first.startswith(f"{command}: error[usage]: {message}")
    assert help_line.startswith("  help: ") and f"`{command} --help` lists the options" in help_line
    if hint:
        assert hint in help_line
    assert "Usage:" not in done.stderr and "Error:" not in done.stderr


def test_cnncalc_alone_still_shows_the_help():
    done = cli()
    assert "Usage: " in done.stdout + done.stderr and "analyze" in done.stdout + done.stderr


def test_every_error_category_in_the_code_is_in_cli_md():
    kinds = set()
    for path in (ROOT / "cnncalc").rglob("*.py"):
        text = path.read_text()
        if "SpecError" in text or "usage(" in text:
            kinds |= set(re.findall(r"""kind=["']([a-z]+)["']""", text))
    kinds.discard("stable")  # numpy.argsort(kind="stable") in measure/verify.py, no error
    table = (ROOT / "docs" / "cli.md").read_text()
    listed = set(re.findall(r"^\| `([a-z]+)` \|", table, flags=re.M))
    assert {"input", "weights", "onnx"} <= kinds  # the ones the issue found missing
    assert kinds == listed, (kinds - listed, listed - kinds)


def test_verify_leaks_no_numpy_overflow_warning(tmp_path):
    # 1e308 + 1e308 overflows float64 (max about 1.8e308, IEEE 754): the sum is inf, silently
    spec = tmp_path / "net.yaml"
    spec.write_text("input: {shape: [1, 2], values: [[[1.0e+308, 1.0e+308]]]}\n"
                    "layers:\n  - {relu, name: a}\n  - {add, from: [a, a]}\n")
    done = cli("run", str(spec))
    assert done.returncode == 0 and "inf inf" in done.stdout
    assert "RuntimeWarning" not in done.stderr and "overflow" not in done.stderr
    done = cli("grad", str(spec))
    assert "RuntimeWarning" not in done.stderr


def test_a_spec_error_raised_as_python_keeps_the_raw_name():
    with pytest.raises(SpecError) as caught:
        cnncalc.loads('input: [3, 8]\nlayers:\n  - {relu, name: "a\\u202eb"}\n', "net.yaml")
    assert "a\u202eb" in caught.value.message  # the message holds it; format() escapes it
    assert "a\\u202eb" in caught.value.format()
