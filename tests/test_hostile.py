"""Hostile input (issue 8): no spec crashes cnncalc, hangs it, exhausts memory or runs code.

Property tests generate valid networks and corruptions of them and run the real
command line: the exit code is 0, 1 or 2, an error names the file, and there is
never a traceback or an internal error (exit 3). A differential property test
holds the analyzer against the executor on random valid networks.
"""

from __future__ import annotations

import contextlib
import io
import sys

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import SpecError
from cnncalc.cli import main
from cnncalc.measure.verify import verify
from tests.conftest import error_of

# -- generating specs -----------------------------------------------------------------------

LAYERS = [
    "conv: {{out_channels: {c}, kernel_size: {k}, stride: {s}, padding: {p}, dilation: {d}}}",
    "conv_transpose: {{out_channels: {c}, kernel_size: {k}, stride: {s}, padding: {p}}}",
    "maxpool: {{kernel_size: {k}, stride: {s}, ceil_mode: {b}}}",
    "avgpool: {{kernel_size: {k}, stride: {s}, count_include_pad: {b}}}",
    "upsample: {{scale_factor: {s}, mode: {mode}}}",
    "pad: {{padding: [[{p}, {d}]], mode: replicate}}",
    "crop: {{cropping: {p}}}",
    "relu", "batchnorm", "sigmoid",
    "residual: {{body: [conv: {{out_channels: {c}, kernel_size: 3, padding: 1}}], "
    "shortcut: [conv: {{out_channels: {c}, kernel_size: 1}}]}}",
    "parallel: {{branches: [[conv: {{out_channels: {c}, kernel_size: 1}}], [maxpool: {{kernel_size: 3, "
    "stride: 1, padding: 1}}]]}}",
    "adaptive_avgpool: {s}",
]


@st.composite
def layer_text(draw):
    template = draw(st.sampled_from(LAYERS))
    return template.format(c=draw(st.integers(1, 3)), k=draw(st.integers(1, 4)), s=draw(st.integers(1, 3)),
                           p=draw(st.integers(0, 1)), d=draw(st.integers(1, 2)),
                           b=draw(st.sampled_from(["true", "false"])),
                           mode=draw(st.sampled_from(["nearest", "linear"])))


@st.composite
def spec_text(draw, max_layers=4):
    length = draw(st.integers(6, 20))
    layers = draw(st.lists(layer_text(), min_size=1, max_size=max_layers))
    return f"input: [{draw(st.integers(1, 3))}, {length}]\nlayers:\n" + "".join(f"  - {x}\n" for x in layers)


CORRUPTIONS = [
    lambda t: t.replace("kernel_size", "kernal_size", 1),  # a key renamed
    lambda t: t.replace("out_channels: ", "out_channels: '", 1),  # a broken quote
    lambda t: t.replace("layers:", "layer:", 1),
    lambda t: t.replace("input: [", "input: [0, ", 1),  # a zero size
    lambda t: t.replace("kernel_size: ", "kernel_size: -", 1),  # negative
    lambda t: t.replace("stride: ", "stride: 99999999999999999999", 1),  # huge
    lambda t: t.replace("out_channels: ", "out_channels: three", 1),  # a string where a number goes
    lambda t: t + "  - {add: {with: nowhere}}\n",  # a dangling name
    lambda t: t + "  - {add: {with: later}, name: first}\n  - {relu, name: later}\n",  # a cycle
    lambda t: t.replace("relu", "ReLU\u00e9", 1),  # unicode
    lambda t: t.replace("\n", "\n\t", 1),  # a tab in the indentation
    lambda t: t[: len(t) // 2],  # truncated
    lambda t: "",  # empty
    lambda t: t.replace("input: [", "input: {shape: [", 1).replace("]\nlayers", "]}\nlayers", 1),  # fine
    lambda t: t.replace("- ", "- - ", 1),
    lambda t: t + "  - {conv: {out_channels: 2, kernel_size: 100000000}}\n",  # a kernel that does not fit
    lambda t: t.replace("input:", "input: !!python/object/apply:os.system ['echo owned']\nx:", 1),
]


def cli(args) -> tuple[int, str, str]:
    """Run the command line in-process; never let an exception escape."""
    old, out, err = sys.argv, io.StringIO(), io.StringIO()
    sys.argv = ["cnncalc", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


def assert_clean(path, *extra):
    code, out, err = cli(["analyze", path, "-f", "json", *extra])
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert str(path) in err and "error[" in err, err  # the message names the file
    return code


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_text(), st.sampled_from(range(len(CORRUPTIONS))))
def test_valid_and_corrupted_specs_exit_cleanly(tmp_path_factory, text, which):
    folder = tmp_path_factory.mktemp("fuzz")
    valid = folder / "valid.yaml"
    valid.write_text(text, encoding="utf-8")
    assert_clean(valid)
    broken = folder / "broken.yaml"
    broken.write_text(CORRUPTIONS[which](text), encoding="utf-8")
    assert_clean(broken)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_exit_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "x.yaml"
    path.write_bytes(data)
    assert assert_clean(path) in (0, 2)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_exits_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("text") / "x.yaml"
    path.write_text(text, encoding="utf-8")
    assert assert_clean(path) in (0, 2)


# -- resources -------------------------------------------------------------------------------


def test_billion_laughs_is_refused_quickly():
    levels = ["a0: &a0 [relu, relu, relu, relu, relu, relu, relu, relu, relu, relu]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "input: [1, 4]\nlayers: [relu]\nx:\n" + "\n".join("  " + line for line in levels) + "\n"
    err = error_of(text)  # 10^9 relus if expanded; refused from the file's own size
    assert err.kind == "limit" and "YAML nodes" in err.message


def test_deep_nesting_is_refused():
    err = error_of("input: [1, 4]\nlayers: " + "[" * 5000 + "]" * 5000 + "\n")
    assert err.kind in ("limit", "syntax")


def test_object_tags_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    err = error_of(f"input: [1, 4]\nlayers: [relu]\nname: !!python/object/apply:os.system ['touch {marker}']\n")
    assert "not allowed" in err.message and err.line == 3
    assert not marker.exists()
    assert "not allowed" in error_of("input: !!binary aGVsbG8=\nlayers: [relu]\n").message
    assert "not allowed" in error_of("input: [1, 4]\nlayers: !!set {relu: null}\n").message


def test_oversized_files_and_literals():
    err = error_of(b"input: [1, 4]\nlayers: [relu]\n# " + b"x" * (5 * 1024 * 1024) + b"\n")
    assert err.kind == "limit" and "4,194,304" in err.message
    err = error_of("input: [1, " + "9" * 5000 + "]\nlayers: [relu]\n")
    assert err.kind == "limit" and (err.line, err.column) == (1, 12)


def test_huge_repeat_in_a_block_is_refused_early():
    err = error_of("input: [1, 4]\nblocks:\n  b:\n    args: {n: 1}\n    layers: [{relu, repeat: '${n}'}]\n"
                   "layers:\n  - b: {n: 1000000000}\n")
    assert err.kind == "limit" and "--max-layers" in err.help


def test_expressions_cannot_explode():
    err = error_of("input: [1, 4]\nblocks:\n  b:\n    args: {n: 9}\n    layers: [{relu, repeat: '${n ** 64 ** 64}'}]\n"
                   "layers: [b]\n")
    assert err.kind == "value"
    err = error_of("input: [1, 4]\nblocks:\n  b:\n    args: {n: 99999999999}\n"
                   "    layers: [{relu, repeat: '${n * n * n * n * n * n * n * n * n * n}'}]\nlayers: [b]\n")
    assert "digits" in err.message or err.kind == "limit"


def test_huge_sizes_do_not_allocate(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text("input: [3, 100000, 100000]\nlayers:\n  - conv: {out_channels: 64, kernel_size: 3}\n")
    code, out, _ = cli(["analyze", spec, "-f", "json"])
    assert code == 0 and '"macs": ' + str(99998 * 99998 * 64 * 27) in out
    code, _, err = cli(["run", spec])
    assert code == 2 and "more than the limit" in err
    code, _, err = cli(["verify", spec])
    assert code == 2 and "more than the limit" in err


# -- the analyzer and the executor agree on random networks ----------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_text(max_layers=3))
def test_differential_analyzer_equals_executor(text):
    try:
        net = cnncalc.loads(text, "random.yaml")
    except SpecError:
        assume(False)
    result = verify(net)
    bad = [(r.name, r.shape, r.params, r.macs, r.note) for r in result.rows if not r.ok]
    assert not bad, (text, bad)
