"""The CLI contract of issue 14: one option vocabulary, machine formats that lose
nothing, tables that never cut a number, and friendly errors for common mistakes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnncalc.core.window import dropped, tiles, unread_end, window_out
from cnncalc.homework.solve import solve_output, solve_padding, solve_stride
from tests.conftest import SPECS
from tests.test_cli import run

LENET = SPECS / "lenet5.yaml"


# -- 1. crashes -------------------------------------------------------------------------


def test_run_weights_given_a_single_npy_is_a_usage_error(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 32, 32), np.float32))
    code, _, err = run(capsys, "run", LENET, "--weights", tmp_path / "x.npy")
    assert code == 2, err
    assert "x.npy is a single array" in err and "numpy.savez" in err
    assert "internal error" not in err


def test_run_output_into_a_missing_folder_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "run", LENET, "--output", tmp_path / "nope" / "out.npz")
    assert code == 2, err
    assert "does not exist" in err and "mkdir" in err and "internal error" not in err


def test_run_output_without_suffix_reports_the_file_it_writes(capsys, tmp_path):
    code, out, err = run(capsys, "run", LENET, "--output", tmp_path / "out_noext")
    assert code == 0, err
    written = tmp_path / "out_noext.npz"
    assert written.is_file() and not (tmp_path / "out_noext").exists()
    assert out.strip() == f"wrote 13 arrays to {written}"  # input + 12 layers of LeNet-5


def test_run_output_into_a_folder_writes_inside_it(capsys, tmp_path):
    code, out, err = run(capsys, "run", LENET, "--output", tmp_path)
    assert code == 0, err
    assert (tmp_path / "lenet5.npz").is_file()
    assert not tmp_path.with_name(tmp_path.name + ".npz").exists()
    assert str(tmp_path / "lenet5.npz") in out


def test_run_reads_data_with_data_and_input_is_a_shape(capsys, tmp_path):
    x = np.zeros((2, 1, 32, 32), np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run(capsys, "run", LENET, "--data", tmp_path / "x.npy", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["logits"]["shape"] == [2, 10]
    code, _, err = run(capsys, "run", LENET, "--input", tmp_path / "x.npy")
    assert code == 2 and "--data" in err and "cnncalc run:" in err


def test_run_data_given_an_npz_says_so(capsys, tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    code, _, err = run(capsys, "run", LENET, "--data", tmp_path / "x.npz")
    assert code == 2 and "is an .npz archive of 1 array(s)" in err


# -- 1. wrong answers: the window primitive, solve --------------------------------------


def test_window_primitive():
    # O = floor((L + Pb + Pa - F)/S) + 1 (Dumoulin and Visin 2016, rel. 6)
    assert window_out(6, 3, 2, 1, 1) == (6 + 2 - 3) // 2 + 1 == 3
    # (6 + 2 - 3) mod 2 = 1 pixel unread, and it is the after-padding: no input dropped
    assert unread_end(6, 3, 2, 1, 1) == 1 and dropped(6, 3, 2, 1, 1) == 0 and tiles(6, 3, 2, 1, 1)
    # (7 - 3) mod 2 = 0; (8 - 3) mod 2 = 1 with no padding: the last input pixel is dropped
    assert tiles(7, 3, 2) and dropped(8, 3, 2) == 1 and not tiles(8, 3, 2)
    # ResNet's 1x1 stride-2 projection at 56: (56 - 1) mod 2 = 1 = S - F, the regular gap
    assert dropped(56, 1, 2) == 1 and tiles(56, 1, 2)
    # F = 2, S = 4 at 9: windows at 0, 4 read 0-1, 4-5; 6..8 unread, 3 > S - F = 2
    assert dropped(9, 2, 4) == 3 and not tiles(9, 2, 4)
    assert window_out(2, 5, 1) is None and not tiles(2, 5, 1)


def test_solve_padding_is_exhaustive():
    # 10 + P - 3 + 1 = 16 -> P = 8: symmetric 4 (the case "4 does")
    r = solve_padding(10, 3, 1, 16)
    assert r["totals"] == [16 - 1 + 3 - 10] == [8] and r["symmetric"] == [4]
    assert len(r["pairs"]) == 8 + 1  # every split of 8
    # output 12: P = 12 - 1 + 3 - 10 = 4: [2, 2] and the asymmetric [1, 3], [3, 1] (and [0, 4], [4, 0])
    r = solve_padding(10, 3, 1, 12)
    pairs = {(p["before"], p["after"]): p for p in r["pairs"]}
    assert set(pairs) == {(0, 4), (1, 3), (2, 2), (3, 1), (4, 0)}
    # [1, 3]: the last window starts at 11 = 1 + 10, past the input: it reads padding alone
    assert pairs[(1, 3)]["padding_only"] and not pairs[(2, 2)]["padding_only"]
    # stride 2: P in [2*111 + 7 - 224, 2*112 + 7 - 224 - 1] = [5, 6]
    r = solve_padding(224, 7, 2, 112)
    assert r["totals"] == [5, 6] and r["symmetric"] == [3] and r["same"] == (2, 3)
    pairs = {(p["before"], p["after"]): p for p in r["pairs"]}
    # [6, 0]: (224 + 6 - 7) mod 2 = 1 pixel unread, no after-padding: one input pixel dropped
    assert pairs[(6, 0)]["dropped"] == 1 and pairs[(5, 1)]["dropped"] == 0
    # 10 - 3 + 1 = 8 > 5 already without padding: nothing works
    assert solve_padding(10, 3, 1, 5)["totals"] == []


def test_solve_padding_cli(capsys):
    code, out, _ = run(capsys, "solve", "padding", "--input", 10, "--kernel", 3, "--output", 16)
    assert code == 0 and "symmetric padding (each side): 4" in out
    code, out, _ = run(capsys, "solve", "padding", "--input", 10, "--kernel", 3, "--output", 12)
    assert code == 0 and "[1, 3]" in out and "[3, 1]" in out and "[2, 2]" in out
    code, out, _ = run(capsys, "solve", "padding", "-i", 10, "-k", 3, "-o", 12, "-f", "json")
    data = json.loads(out)
    assert data["totals"] == [4] and {"before": 1, "after": 3, "padding_only": True, "dropped": 0} \
        in data["pairs"]
    code, out, _ = run(capsys, "solve", "padding", "--input", 10, "--kernel", 3, "--output", 5)
    assert code == 1 and "already 8" in out


def test_solve_output_unread_padding_is_not_dropped_input(capsys):
    # (6 - 3 + 2)/2: 5 mod 2 = 1 unread pixel, the right padding
    step = solve_output(6, 3, 2, 1)
    assert step.result == str((6 - 3 + 2) // 2 + 1) == "3"
    assert "never read" not in step.note and "padding" in step.note
    # (8 - 3 + 0) mod 2 = 1: the last input pixel is never read
    assert "the last 1 input pixel(s) are never read" in solve_output(8, 3, 2, 0).note
    code, out, _ = run(capsys, "solve", "output", "--input", 6, "--kernel", 3, "--stride", 2,
                       "--padding", 1, "-f", "json")
    assert code == 0 and json.loads(out)["output"] == 3


def test_solve_stride_exact_means_no_input_dropped():
    # 32, k 3, s 2, p 1: (32 + 2 - 3) mod 2 = 1 unread, the after-padding: exact
    assert (2, 1, True) in solve_stride(32, 3, 16)
    # p 0: (32 - 3) mod 2 = 1, no padding: the last input pixel is dropped
    assert (2, 0, False) in solve_stride(32, 3, 15)


# -- 4. errors not about a spec name the command ------------------------------------------


@pytest.mark.parametrize("args, label", [
    (("rule", "CC999"), "cnncalc rule:"),
    (("explain", LENET, "--layer", "fcc"), "cnncalc explain:"),
    (("analyze", LENET, "--input", "foo"), "cnncalc analyze:"),
    (("solve", "output", "--input", 2, "--kernel", 5), "cnncalc solve output:"),
])
def test_errors_not_about_a_spec_name_the_command(capsys, args, label):
    code, _, err = run(capsys, *args)
    assert code == 2 and err.startswith(label) and "<spec>" not in err


# -- 7. one definition of "tiles exactly" ------------------------------------------------


def test_sizes_lists_224_for_resnet50(capsys):
    # the 1x1 stride-2 projections leave (56 - 1) mod 2 = 1 pixel, the regular gap of S > F;
    # every 3x3 stride-2 conv leaves (56 + 2 - 3) mod 2 = 1 pixel of padding: 224 tiles exactly
    code, out, err = run(capsys, "sizes", SPECS / "resnet50.yaml", "--range", "224:224")
    assert code == 0, err
    assert out.strip() == "224: 1000"


# -- 2. the table never cuts a number ------------------------------------------------------


def _table_at(spec, width, **kwargs):
    import io

    from rich.console import Console

    from cnncalc import analyze, load
    from cnncalc.present.console import to_table

    report = analyze(load(spec))
    console = Console(width=width, file=io.StringIO(), highlight=False, color_system=None)
    to_table(report, console, **kwargs)
    return report, console.file.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120, 200])
@pytest.mark.parametrize("name", ["lenet5.yaml", "vgg16.yaml", "resnet50.yaml"])
def test_table_never_cuts_a_number(width, name):
    from cnncalc.present import render

    report, out = _table_at(SPECS / name, width)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= width
    hidden = out.split("Not shown at", 1)[1].split("(a wider")[0] if "Not shown at" in out else ""
    tokens = set(out.split())
    t = report.totals
    for row in report.layers:
        rf = render.rf_cells(row.receptive_field)
        for col in render.TABLE_COLUMNS:
            if col.number and col.header not in " ".join(hidden.split()):
                assert col.cell(row, t, rf) in tokens, (row.name, col.header)
    assert render.num(t.params) in tokens and render.num(t.macs) in tokens


def test_table_drops_least_important_columns_first_and_says_which():
    _, out = _table_at(SPECS / "lenet5.yaml", 60)
    footer = " ".join(out.split("Not shown at 60 columns:", 1)[1].split())
    assert footer.startswith("Params %, MACs %, FLOPs, Activations (B), Eff. stride, RF centre")
    header = out.splitlines()[1]
    assert header.split() == ["Layer", "Type", "Output", "shape", "Params", "MACs", "RF", "size"]
    _, wide = _table_at(SPECS / "lenet5.yaml", 200)
    assert "Not shown" not in wide


def test_readme_example_at_80_columns_shows_whole_numbers():
    # the issue's `conv2 conv 16x10x10 2,4… 240,… 480,…`: conv2 has 16(6·25 + 1) = 2,416
    # parameters and 16·10·10·6·25 = 240,000 MACs (LeCun et al. 1998, C3 fully connected)
    _, out = _table_at(SPECS / "lenet5.yaml", 80)
    conv2 = next(line for line in out.splitlines() if line.startswith("conv2"))
    assert f"{16 * (6 * 25 + 1):,}" in conv2.split() and f"{16 * 10 * 10 * 6 * 25:,}" in conv2.split()


def test_table_share_columns():
    from cnncalc.present.render import share

    _, out = _table_at(SPECS / "lenet5.yaml", 200)
    conv1 = next(line for line in out.splitlines() if line.startswith("conv1")).split()
    # 156 / 61,706 = 0.25 % of the parameters; 117,600 / 416,520 = 28.23 % of the MACs
    assert conv1[4] == "0.3%" and conv1[6] == "28.2%"
    assert share(48120, 61706) == "78.0%"  # 77.98 %
    assert share(1, 10_000) == "<0.1%" and share(0, 5) == "0%" and share(0, 0) == "-"
    assert share(1, 2000) == "0.1%"  # 0.05 % rounds half up


def test_columns_option_picks_columns(capsys):
    code, out, err = run(capsys, "analyze", LENET, "--columns", "params,macs_percent")
    assert code == 0, err
    assert out.splitlines()[1].split() == ["Layer", "Params", "MACs", "%"]
    code, out, _ = run(capsys, "analyze", LENET, "-f", "markdown", "--columns", "output_shape")
    assert "| Layer | Output shape |" in out
    code, _, err = run(capsys, "analyze", LENET, "--columns", "parms")
    assert code == 2 and "did you mean 'params'" in err


def test_totals_polish(capsys):
    code, out, _ = run(capsys, "analyze", LENET)
    buffers = next(line for line in out.splitlines() if line.startswith("Buffers"))
    assert buffers.split() == ["Buffers", "0"]  # not "0 (0 B, 0 B)"


# -- 3. CI loses no error ----------------------------------------------------------------

BROKEN = "input: [1, 4]\nlayers: [convv]\n"  # line 2, column 10: an unknown layer type


@pytest.fixture
def broken_and_good(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    good = tmp_path / "good.yaml"
    good.write_text("input: [1, 13, 13]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 3, stride: 2}\n")
    return broken, good


def test_lint_github_reports_unreadable_specs(capsys, broken_and_good):
    broken, good = broken_and_good
    code, out, err = run(capsys, "lint", broken, good, "-f", "github")
    assert code == 2
    (line,) = out.splitlines()
    assert line.startswith(f"::error file={broken},line=2,col=10,title=CC000 unreadable-spec::")
    assert "unknown layer type 'convv'" in line
    assert "2 spec(s): 1 error(s) (1 unreadable spec(s))" in err


def test_lint_json_reports_unreadable_specs(capsys, broken_and_good):
    broken, good = broken_and_good
    code, out, _ = run(capsys, "lint", broken, good, "-f", "json")
    assert code == 2
    (entry,) = json.loads(out)
    assert (entry["code"], entry["severity"], entry["file"], entry["line"], entry["column"]) == \
        ("CC000", "error", str(broken), 2, 10)
    assert "did you mean 'conv'" in entry["help"]


def test_lint_sarif_reports_unreadable_specs(capsys, broken_and_good):
    broken, _ = broken_and_good
    code, out, _ = run(capsys, "lint", broken, "-f", "sarif")
    assert code == 2
    (result,) = json.loads(out)["runs"][0]["results"]
    assert result["ruleId"] == "CC000" and result["level"] == "error"
    where = result["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"] == str(broken)
    assert where["region"] == {"startLine": 2, "startColumn": 10}


def test_lint_folder_summary_counts_unreadable(capsys, tmp_path):
    for i in range(3):
        (tmp_path / f"bad{i}.yaml").write_text(BROKEN)
    (tmp_path / "ok.yaml").write_text("input: [1, 8]\nlayers: [relu]\n")
    code, out, err = run(capsys, "lint", tmp_path)
    assert code == 2
    assert err.strip().endswith("4 spec(s): 3 error(s) (3 unreadable spec(s)), 0 warning(s), 0 info")
    assert err.count("unknown layer type 'convv'") == 3


def test_lint_unreadable_config_is_a_finding(capsys, tmp_path):
    (tmp_path / "cnncalc.toml").write_text("selec = ['CC1']\n")
    (tmp_path / "net.yaml").write_text("input: [1, 8]\nlayers: [relu]\n")
    code, out, _ = run(capsys, "lint", tmp_path / "net.yaml", "-f", "json")
    assert code == 2
    (entry,) = json.loads(out)
    assert entry["file"] == str(tmp_path / "cnncalc.toml") and "did you mean 'select'" in entry["help"]


# -- 6. rule sets ------------------------------------------------------------------------


def test_default_set_leaves_opinionated_rules_out():
    from cnncalc.lint.engine import RULES, Config, default_rules

    assert {c for c in RULES if not RULES[c].default} == {"CC103", "CC108", "CC109"}
    assert not Config().enabled("CC103") and Config().enabled("CC101")
    assert Config(extend_select=("CC103",)).enabled("CC103")
    assert Config(select=("CC",)).enabled("CC108") and not Config(select=("CC1",)).enabled("CC001")
    assert not Config(ignore=("CC1",)).enabled("CC101")
    assert "CC103" not in default_rules()


def test_zoo_passes_the_default_set_without_cc103_suppressions(capsys):
    # torchvision's ResNet: the projection shortcut is a 1x1 convolution with stride 2
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        assert "ignore[CC103]" not in (SPECS / f"{name}.yaml").read_text()
    code, _, err = run(capsys, "lint", SPECS)
    assert code == 0, err
    code, out, _ = run(capsys, "lint", SPECS / "resnet50.yaml", "--extend-select", "CC103")
    # three stages downsample with a projection: layer2, layer3, layer4
    assert code == 1 and out.count("CC103 [warning]") == 3


def test_extend_select_in_config(capsys, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [1, 9]\nlayers:\n  - maxpool: {kernel_size: 2, stride: 3}\n")
    assert run(capsys, "lint", spec)[0] == 0  # CC103 is opt-in
    (tmp_path / "cnncalc.toml").write_text('extend-select = ["CC103"]\n')
    code, out, _ = run(capsys, "lint", spec)
    assert code == 1 and "CC103" in out
    code, _, err = run(capsys, "lint", spec, "--extend-select", "CC9")
    assert code == 2 and "'CC9' is not a rule code or prefix" in err


def test_every_rule_documents_an_example_and_limits(capsys):
    from cnncalc.lint.catalogue import RULES

    for code, r in RULES.items():
        assert r.example and r.limits, code
        _, out, _ = run(capsys, "rule", code)
        assert "Example: " in out and "Known limits: " in out


def test_cc108_names_the_layer_that_pools_and_says_nothing_of_global_pooling(capsys):
    # LeNet-5 has no global pooling: flatten takes the 16x16-field map to the classifier
    code, out, _ = run(capsys, "lint", LENET, "--select", "CC108")
    assert "before flatten 'flatten1' combines every position" in out
    assert "global pooling" not in out


# -- 4. one option vocabulary -----------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("analyze", LENET),
    ("run", LENET),
    ("explain", LENET, "--layer", "conv1"),
    ("sizes", SPECS / "resnet50.yaml", "--range", "224:224"),
    ("solve", "padding", "-i", 224, "-k", 7, "-s", 2, "-o", 112),
    ("solve", "output", "-i", 32, "-k", 5, "-p", 2),
    ("solve", "stride", "-i", 32, "-k", 3, "-o", 16),
    ("layers",),
    ("rule", "CC101"),
    ("rule", "--list"),
    ("schema",),
    ("lint", LENET),
])
def test_every_command_speaks_json(capsys, args):
    code, out, err = run(capsys, *args, "-f", "json")
    assert code == 0, err
    json.loads(out)


@pytest.mark.parametrize("command, wrong", [
    (("check", LENET, SPECS / "exercises" / "conv1d.yaml"), "markdown"),
    (("check", LENET, SPECS / "exercises" / "conv1d.yaml"), "csv"),
    (("explain", LENET), "csv"),
    (("sizes", LENET, "--range", "32:32"), "markdown"),
    (("layers",), "csv"),
])
def test_formats_a_command_ignores_are_refused(capsys, command, wrong):
    code, _, err = run(capsys, *command, "-f", wrong)
    assert code == 2 and "json" in err  # the choices are listed


def test_check_json_gives_given_and_correct_the_same_types(capsys, tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("layers:\n  conv1: {params: 150, output_shape: 6x28x28, receptive_field: 5}\n"
                       "  avgpool1: {stride: 2}\n")
    code, out, _ = run(capsys, "check", LENET, answers, "-f", "json")
    assert code == 1
    by = {(a["layer"], a["field"]): a for a in json.loads(out)["answers"]}
    params = by[("conv1", "params")]
    # LeNet-5 C1: 6 filters of 5x5 plus a bias each (LeCun et al. 1998)
    assert (params["given"], params["correct"], params["ok"]) == (150, 6 * (5 * 5 + 1), False)
    assert by[("conv1", "output_shape")]["given"] == by[("conv1", "output_shape")]["correct"] == [6, 28, 28]
    assert by[("conv1", "receptive_field")]["correct"] == [5, 5]
    assert by[("avgpool1", "stride")]["correct"] == [2, 2]


def test_check_output_shape_of_a_vector_may_be_a_number(capsys, tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("layers:\n  logits: {output_shape: 10}\n")
    code, out, err = run(capsys, "check", LENET, answers)
    assert code == 0, err
    assert "✓ logits.output_shape: 10" in out


def test_check_swapped_arguments(capsys, tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("layout: chw\nlayers:\n  conv1: {params: 156}\n")
    code, _, err = run(capsys, "check", answers, LENET)
    assert code == 2
    assert "look swapped" in err and f"cnncalc check {LENET} {answers}" in err
    assert "unknown top-level key" not in err


def test_verify_takes_dash_i(capsys):
    code, _, err = run(capsys, "verify", LENET, "-i", "1x28x28")
    assert code == 0, err
    code, _, err = run(capsys, "verify", LENET, "-i", "x.npy")
    assert code == 2 and "--data" in err and err.startswith("cnncalc verify:")


def test_help_summaries_are_whole(capsys):
    import os

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        code, out, _ = run(capsys, "--help")
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    commands = out.split("Commands:", 1)[1]
    assert code == 0 and "..." not in commands
    assert "tiles exactly and every merge lines up" in " ".join(out.split())


# -- 5. friendly errors --------------------------------------------------------------------


def _error(capsys, tmp_path, name, content, *extra):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, out, err = run(capsys, "analyze", path, *extra)
    assert code == 2, (out, err)
    assert "Traceback" not in err and "internal error" not in err
    return path, err


def test_tab_indentation(capsys, tmp_path):
    path, err = _error(capsys, tmp_path, "net.yaml",
                       "input: [1, 32, 32]\nlayers:\n  - conv: {out_channels: 6, kernel_size: 5}\n\t- relu\n")
    assert err.startswith(f"{path}:4:1: error[syntax]: YAML does not allow tabs for indentation; "
                          "line 4 column 1")
    assert "indent with spaces" in err and "cannot start any token" not in err


def test_misindented_list_item(capsys, tmp_path):
    path, err = _error(capsys, tmp_path, "net.yaml",
                       "input: [1, 32, 32]\nlayers:\n  - conv: {out_channels: 6, kernel_size: 5}\n   - relu\n")
    assert f"{path}:4:4:" in err and "indented to column 4, the line above to column 3" in err


@pytest.mark.parametrize("name, content, what, todo", [
    # an ONNX file is read as a model (docs/onnx.md): this one's 2-D input is named as the problem
    ("model.onnx", None, "input 'X' has rank 2", "channels-first"),
    ("net.py", "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n",
     "Python source", "docs/spec-format.md"),
    ("x.npy", None, "a NumPy array (.npy)", "--data"),
    ("w.npz", None, "a NumPy archive (.npz)", "--weights"),
    ("report.json", None, "a cnncalc JSON report", "the YAML spec"),
    ("other.json", '{"name": "x", "layerz": []}', "this JSON file is not a spec", '"input"'),
])
def test_files_that_are_not_specs_are_named(capsys, tmp_path, name, content, what, todo):
    if name == "model.onnx":
        onnx = pytest.importorskip("onnx")
        from onnx import TensorProto, helper

        x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3])
        y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3])
        graph = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "g", [x], [y])
        onnx.save(helper.make_model(graph, producer_name="pytorch"), str(tmp_path / name))
        content = (tmp_path / name).read_bytes()
    elif name == "x.npy":
        np.save(tmp_path / name, np.zeros(3))
        content = (tmp_path / name).read_bytes()
    elif name == "w.npz":
        np.savez(tmp_path / name, w=np.zeros(3))
        content = (tmp_path / name).read_bytes()
    elif name == "report.json":
        content = run(capsys, "analyze", LENET, "-f", "json")[1]
    _, err = _error(capsys, tmp_path, name, content)
    assert what in err and todo in err
    assert "UTF-8" not in err and "unknown top-level key" not in err


def test_parameters_at_the_wrong_level(capsys, tmp_path):
    path, err = _error(capsys, tmp_path, "net.yaml",
                       "input: [1, 32, 32]\nlayers:\n  - conv:\n    out_channels: 6\n    kernel_size: 5\n")
    assert err.startswith(f"{path}:4:5: error[spec]: `out_channels` belongs under `conv:`")
    assert "- conv: {out_channels: 6, kernel_size: 5}" in err
    assert "two layer types" not in err


def test_dilation_zero_suggests_the_base(capsys, tmp_path):
    text = "input: [1, 32, 32]\nlayers:\n  - conv: {out_channels: 6, kernel_size: 3, dilation: 0}\n"
    path, err = _error(capsys, tmp_path, "net.yaml", text)
    assert f"{path}:3:55:" in err and "--dilation-base 0" in err
    code, out, _ = run(capsys, "analyze", path, "--dilation-base", "0", "-f", "json")
    data = json.loads(out)
    # cs231n's dilation 0 is PyTorch's 1: an ordinary 3x3 kernel, 32 - 3 + 1 = 30
    assert code == 0 and data["dilation_base"] == 0 and data["layers"][0]["output_shape"] == [6, 30, 30]
    assert json.loads(run(capsys, "analyze", LENET, "-f", "json")[1])["dilation_base"] == 1


def test_answers_file_given_as_a_spec(capsys, tmp_path):
    _, err = _error(capsys, tmp_path, "answers.yaml", "layout: chw\nlayers:\n  conv1: {params: 1}\n")
    assert "looks like an answers file" in err


def test_sizes_solve_and_cc101_agree_on_tiling(tmp_path):
    # one definition (cnncalc/core/window.py): over a grid of 1-D convolutions, lint CC101
    # fires, sizes rejects the size and solve output says input pixels are never read, all
    # exactly when tiles() is false
    import cnncalc
    from cnncalc.homework.solve import exact_tiling
    from cnncalc.lint.engine import Config, lint_network

    for size in range(5, 13):
        for k in (1, 2, 3):
            for s in (1, 2, 3):
                for p in (0, 1):
                    if k > s and p >= k:
                        continue
                    text = (f"input: [1, {size}]\nlayers:\n  - conv: {{out_channels: 1, kernel_size: {k}, "
                            f"stride: {s}, padding: {p}}}\n")
                    net = cnncalc.loads(text, "t.yaml")
                    ok = tiles(size, k, s, p, p)
                    assert ok == (dropped(size, k, s, p, p) <= max(s - k, 0))
                    lint = [f for f in lint_network(net, Config(select=("CC101",))) if f.code == "CC101"]
                    assert (not lint) == ok, (size, k, s, p)
                    assert (not exact_tiling(net)) == ok, (size, k, s, p)
                    if k >= s:  # solve output speaks of the end of the padded input
                        note = solve_output(size, k, s, p).note
                        assert ("input pixel(s) are never read" in note) == (not ok), (size, k, s, p)


# -- 9. docs and polish ----------------------------------------------------------------------


def test_torchinfo_forward_backward_size_relation():
    # torchinfo/model_statistics.py: 2 x the output bytes of leaf layers with parameters;
    # the issue measured 52,144 B (LeNet-5) and 108,453,696 B (VGG-16) with torchinfo
    import cnncalc

    for name, torchinfo, total in (("lenet5", 52_144, 60_008), ("vgg16", 108_453_696, 114_804_640)):
        report = cnncalc.analyze(cnncalc.load(SPECS / f"{name}.yaml"))
        assert 2 * sum(r.activation_bytes for r in report.layers if r.params > 0) == torchinfo
        assert report.totals.activation_bytes == total
    text = (SPECS.parent / "docs" / "conventions.md").read_text()
    assert "52,144" in text and "is the same\nsum" not in text


def test_explain_writes_shapes_as_tables_do_and_taps_per_axis(capsys):
    code, out, _ = run(capsys, "explain", LENET, "--layer", "avgpool1")
    assert code == 0 and "input 6x28x28" in out and "= 6x14x14" in out and "[6, 14, 14]" not in out
    code, out, _ = run(capsys, "explain", SPECS / "exercises" / "conv1d.yaml")
    assert "F·C_in/groups·K" in out and "F·F" not in out


def test_table_title_says_what_the_dtype_is_for(capsys):
    _, out, _ = run(capsys, "analyze", SPECS / "exercises" / "conv2d_5x5.yaml")
    assert out.splitlines()[0].endswith("batch 1, bytes counted as float32")
    _, out, _ = run(capsys, "run", SPECS / "exercises" / "conv2d_5x5.yaml")
    assert out.splitlines()[0].endswith("float64")  # values written in the spec run in float64


def test_json_report_writes_one_layer_per_line(capsys):
    import cnncalc

    code, out, _ = run(capsys, "analyze", LENET, "-f", "json")
    data = json.loads(out)
    lines = out.splitlines()
    report = cnncalc.analyze(cnncalc.load(LENET))
    for row in report.to_dict()["layers"]:
        assert sum(line.strip().rstrip(",") == json.dumps(row) for line in lines) == 1
    assert len(data["layers"]) == 12  # LeNet-5: 12 layers
