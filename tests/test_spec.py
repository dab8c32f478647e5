"""The spec format of docs/spec-format.md: item forms, names, from, repeat, trainable,
aliases, input forms; and located errors for bad specs."""

from __future__ import annotations

import pytest

import cnncalc
from cnncalc import SpecError
from tests.conftest import SPECS, error_of, report_of

# -- forms -----------------------------------------------------------------------


def test_item_forms_and_auto_names():
    rep = report_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - relu\n"  # a bare type name
        "  - conv: {out_channels: 4, kernel_size: 3}\n"  # a mapping of parameters
        "  - {relu: null}\n"  # an empty value
        "  - {identity, name: x}\n"  # flow style with a meta key
        "  - linear: 5\n"  # scalar shorthand: the primary parameter (out_features)
    )
    assert [r.name for r in rep.layers] == ["relu1", "conv1", "relu2", "x", "linear1"]
    assert rep.layer("linear1").output_shape == (4, 6, 5)


def test_auto_names_skip_taken_names():
    rep = report_of("input: [1, 4]\nlayers:\n  - {relu, name: relu1}\n  - relu\n")
    assert [r.name for r in rep.layers] == ["relu1", "relu2"]


def test_repeat_named_and_unnamed():
    rep = report_of(
        "input: [2, 16]\nlayers:\n"
        "  - {conv: {out_channels: 2, kernel_size: 3, padding: 1}, repeat: 3, name: body}\n"
        "  - {relu, repeat: 2}\n"
        "  - {identity, from: body}\n"
    )
    assert [r.name for r in rep.layers] == ["body.0", "body.1", "body.2", "relu1", "relu2",
                                            "identity1"]
    assert rep.layer("body.1").inputs == ("body.0",)
    assert rep.layer("identity1").inputs == ("body.2",)  # a repeat's name means its last copy
    assert rep.layer("body.2").receptive_field.size == (1 + 3 * 2,)


def test_repeat_with_a_start_numbers_copies_from_it():
    # docs/spec-format.md, repeat: {count: N, start: K} names the copies NAME.K, NAME.K+1, ...;
    # a later numbered repeat of the same name continues at the next number, and NAME means
    # the last copy of all of them
    rep = report_of(
        "input: [2, 16]\nlayers:\n"
        "  - {conv: {out_channels: 2, kernel_size: 3, padding: 1}, name: body,"
        " repeat: {count: 1, start: 0}}\n"
        "  - {conv: {out_channels: 2, kernel_size: 3, padding: 1}, name: body,"
        " repeat: {count: 2, start: 1}}\n"
        "  - {identity, from: body}\n"
        "  - {relu, name: act, repeat: {count: 2, start: 1}}\n"
        "  - {tanh, name: one, repeat: {count: 1}}\n"
    )
    assert [r.name for r in rep.layers] == ["body.0", "body.1", "body.2", "identity1", "act.1",
                                            "act.2", "one.0"]
    assert rep.layer("body.1").inputs == ("body.0",)
    assert rep.layer("identity1").inputs == ("body.2",)
    assert rep.layer("act.1").inputs == ("identity1",)
    # three 3-wide convs in a row see 1 + 3 * 2 positions, as three copies of one repeat do
    assert rep.layer("body.2").receptive_field.size == (1 + 3 * 2,)


def test_repeat_with_a_start_on_structures_and_blocks():
    # the bottleneck of docs/spec-format.md's "Blocks", written with torchvision's numbering
    net = cnncalc.loads(
        "input: [64, 8, 8]\n"
        "blocks:\n"
        "  unit:\n"
        "    args: {n: 2}\n"
        "    layers:\n"
        "      - {relu, name: r, repeat: {count: \"${n}\", start: \"${n - 1}\"}}\n"
        "layers:\n"
        "  - {residual: {body: [{conv: {out_channels: 64, kernel_size: 1}, name: c}]}, name: stage,"
        " repeat: {count: 1, start: 0}}\n"
        "  - {residual: {body: [{conv: {out_channels: 64, kernel_size: 1}, name: c}]}, name: stage,"
        " repeat: {count: 2, start: 1}}\n"
        "  - {unit: {n: 3}, name: u}\n"
    )
    names = [n.name for n in net.nodes]
    assert [n for n in names if n.endswith(".c")] == ["stage.0.c", "stage.1.c", "stage.2.c"]
    # n = 3: three copies numbered from n - 1 = 2
    assert [n for n in names if n.startswith("u.")] == ["u.r.2", "u.r.3", "u.r.4"]


@pytest.mark.parametrize("body, at, says, hint", [
    # (the second item, the text the error points at, the message, the help)
    ("{relu, name: b, repeat: {count: 2, start: -1}}", "-1}", "start must be a whole number >= 0",
     "repeat: {count: 2, start: 1}"),
    ("{relu, name: b, repeat: {count: 2, start: 1.5}}", "1.5", "start must be a whole number >= 0",
     "repeat: {count: 2, start: 1}"),
    ("{relu, name: b, repeat: {count: 0, start: 1}}", "0, start",
     "count must be a whole number >= 1", "repeat: 3"),
    ("{relu, name: b, repeat: {count: 2, strat: 1}}", "strat", "takes count and start",
     "did you mean 'start'"),
    ("{relu, name: b, repeat: {start: 1}}", "{start", "needs count",
     "repeat: {count: 2, start: 1}"),
    # b.0 to b.2 exist: start 1 would name b.1 and b.2 again
    ("{relu, name: b, repeat: {count: 2, start: 1}}", "1}}", "must start at 3, got start 1",
     "start: 3"),
])
def test_a_bad_repeat_start_is_located(body, at, says, hint):
    line = "  - " + body + "\n"
    err = error_of("input: [1, 4]\nlayers:\n  - {relu, name: b, repeat: 3}\n" + line)
    assert (err.line, err.column) == (4, line.index(at) + 1)
    assert says in err.message and hint in err.help


def test_a_name_used_before_is_not_continued_by_a_start():
    # a plain layer named b is no numbered repeat: its name cannot be continued
    err = error_of("input: [1, 4]\nlayers:\n  - {relu, name: b}\n"
                   "  - {relu, name: b, repeat: {count: 2, start: 1}}\n")
    # the second name's value: "  - {relu, name: " is 17 characters, so column 18
    assert err.kind == "name" and (err.line, err.column) == (4, 18)
    assert "used twice (first at line 3)" in err.message and "start" in err.help
    # nor does a start of 0 reuse a numbered name (it would name b.0 twice)
    err = error_of("input: [1, 4]\nlayers:\n  - {relu, name: b, repeat: {count: 1, start: 0}}\n"
                   "  - {relu, name: b, repeat: {count: 1, start: 0}}\n")
    assert "must start at 1, got start 0" in err.message and "start: 1" in err.help


def test_from_branches_and_outputs():
    rep = report_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - {conv: {out_channels: 4, kernel_size: 3}, name: trunk}\n"
        "  - {linear: 2, name: head_a}\n"
        "  - {conv: {out_channels: 1, kernel_size: 1}, from: trunk, name: head_b}\n"
    )
    assert rep.layer("head_b").inputs == ("trunk",)
    assert rep.outputs == ("head_a", "head_b")
    assert rep.to_dict()["outputs"] == ["head_a", "head_b"]


def test_from_input():
    rep = report_of("input: [1, 8]\nlayers:\n  - relu\n  - {tanh, from: input}\n")
    assert rep.layer("tanh1").inputs == ("input",)


def test_trainable_false_freezes():
    rep = report_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - {conv: {out_channels: 4, kernel_size: 3}, trainable: false}\n"
        "  - batchnorm\n"
    )
    frozen = 4 * 3 * 9 + 4
    assert rep.layers[0].trainable_params == 0
    assert rep.totals.params == frozen + 2 * 4
    assert rep.totals.frozen_params == frozen
    assert rep.totals.trainable_params == 2 * 4
    assert rep.totals.buffers == 2 * 4
    assert rep.totals.param_bytes == 4 * rep.totals.params


def test_input_mapping_batch_and_overrides():
    text = "input: {shape: [3, 32, 32], batch: 8}\nlayers:\n  - conv: {out_channels: 2, kernel_size: 3}\n"
    rep = report_of(text)
    assert rep.batch == 8
    assert rep.layers[0].macs == 8 * 30 * 30 * 2 * 27
    rep = report_of(text, input_shape=(3, 10, 10), batch=2)
    assert rep.layers[0].output_shape == (2, 8, 8)
    assert rep.batch == 2


def test_name_defaults_to_file_stem():
    net = cnncalc.loads("input: [1, 4]\nlayers: [relu]\n", "dir/my_net.yaml")
    assert net.name == "my_net"


def test_rank_aliases():
    assert report_of("input: [1, 9]\nlayers: [maxpool1d: 3]").layers[0].output_shape == (1, 3)
    err = error_of("input: [1, 9, 9]\nlayers:\n  - conv3d: {out_channels: 1, kernel_size: 3}\n")
    assert (err.line, err.column) == (3, 5)
    assert "conv3d in a 2-D network" in err.message


def test_yaml_anchors_and_merge_keys():
    rep = report_of(
        "input: [1, 16]\nlayers:\n"
        "  - conv: &c {out_channels: 2, kernel_size: 3}\n"
        "  - conv: {<<: *c, stride: 2}\n"
    )
    assert rep.layers[1].output_shape == (2, (14 - 3) // 2 + 1)


# -- errors: each names the line and column and gives help --------------------------


@pytest.mark.parametrize(
    "text, line, column, words",
    [
        ("input: [3, 8, 8]\nlayers:\n  - convv: {out_channels: 1}\n", 3, 5,
         ["unknown layer type 'convv'", "did you mean 'conv'"]),
        ("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: 1, kernal_size: 3}\n", 3, 29,
         ["unknown parameter 'kernal_size'", "did you mean 'kernel_size'"]),
        ("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: 1.5, kernel_size: 3}\n", 3, 26,
         ["'out_channels' must be a whole number >= 1"]),
        ("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: '4', kernel_size: 3}\n", 3, 26,
         ["got string '4'"]),
        ("input: [3, 5, 5]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 7}\n", 3, 42,
         ["kernel 7x7 does not fit input 5x5 (padding 0)", "conv 'conv1'"]),
        ("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: 1, kernel_size: [3, 3, 3]}\n", 3, 42,
         ["'kernel_size' has 3 values but the network has 2 spatial axes"]),
        ("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: 1, kernel_size: -3}\n", 3, 42,
         ["'kernel_size' must be a whole number >= 1"]),
        ("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 1, in_channels: 4}\n",
         3, 58, ["in_channels is 4 but the input has 3 channels"]),
        ("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: 4, kernel_size: 1, groups: 2}\n", 3, 53,
         ["groups=2 does not divide the 3 input channels"]),
        ("input: [3, 8, 8]\nlayers:\n  - flatten\n  - conv: {out_channels: 1, kernel_size: 1}\n", 4, 5,
         ["conv needs a [C, H, W] input, got [192]"]),
        ("input: [3, -8, 8]\nlayers: [relu]\n", 1, 12, ["input: element 2 (H) must be"]),  # the element
        ("input: [3, 8, 8]\nlayerz: [relu]\n", 2, 1, ["unknown top-level key 'layerz'",
                                                       "did you mean 'layers'"]),
        ("input: [3, 8, 8]\nlayers:\n  - {relu, from: nowhere}\n", 3, 18,
         ["no layer named 'nowhere'"]),
        ("input: [3, 8, 8]\nlayers:\n  - {relu, name: a}\n  - {tanh, name: a}\n", 4, 5,
         ["the name 'a' is used twice (first at line 3)"]),
        ("input: [3, 8, 8]\nlayers:\n  - {relu: null, tanh: null}\n", 3, 18,
         ["exactly one type key"]),
        ("input: [3, 8, 8]\nlayers:\n  - {relu, repeat: 0}\n", 3, 20, ["'repeat' must be"]),
        ("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: 1}\n", 3, 5, ["conv needs 'kernel_size'"]),
        ("input: [3, 8, 8]\nlayers:\n  - maxpool: {kernel_size: 2, padding: 2}\n", 3, 40,
         ["padding 2 is more than half the kernel size 2"]),
        ("input: [1, 4]\nlayers:\n  - conv_transpose: {out_channels: 1, kernel_size: 3, stride: 2,"
         " output_padding: 2}\n", 3, 82, ["output_padding 2 must be smaller than stride or dilation"]),
        ("input: [1, 4]\nlayers:\n  - pad: {padding: 4, mode: reflect}\n", 3, 20,
         ["reflect padding 4 must be smaller than the input size 4"]),
        ("input: [1, 4]\nlayers:\n  - upsample: {scale_factor: 2, mode: bilinear}\n", 3, 39,
         ["mode bilinear is for 2-D inputs"]),
        ("input: [1, 4]\nlayers:\n  - {relu, from: [input, input]}\n", 3, 6, ["takes one input"]),
        ("input: [1, 4]\nlayers:\n  - {relu, trainable: 1}\n", 3, 23, ["'trainable' must be true or false"]),
        ("input: [1, 4]\nlayers:\n  - {relu, name: encoder}\n  - {relu, from: encodr}\n", 4, 18,
         ["did you mean 'encoder'"]),
        ("input: [1, 4]\nlayers:\n  - 42\n", 3, 5, ["a layer is a type name or a mapping"]),
        ("input: [1, 4]\nlayers:\n  - reshape: [3, -1]\n", 3, 14, ["cannot reshape [1, 4]"]),
        ("input: [1, 4]\nlayers: [relu]\nlayers: [tanh]\n", 3, 1, ["duplicate key 'layers'"]),
        ("input: [1, 4]\nlayers: !!python/object:os.system [relu]\n", 2, 9, ["tag", "not allowed"]),
        ("input: [1, 4]\nlayers: [relu\n", 2, 9, ["invalid YAML", "never closed"]),  # where the [ opened
    ],
)
def test_bad_spec_is_located(text, line, column, words):
    err = error_of(text)
    assert (err.line, err.column) == (line, column), err.format()
    assert err.file == "net.yaml"
    for w in words:
        assert w in err.format(), err.format()


def test_empty_and_non_mapping_documents():
    assert "empty" in error_of("").message
    assert "mapping" in error_of("- relu\n").message
    assert "no 'input'" in error_of("layers: [relu]\n").message


def test_non_utf8_bytes():
    with pytest.raises(SpecError) as info:
        cnncalc.loads(b"input: [1, 4]\nlayers: [relu]  # caf\xe9\n", "net.yaml")
    assert (info.value.line, info.value.column) == (2, 22)
    assert "UTF-8" in info.value.message


def test_repeat_limit():
    err = error_of("input: [1, 4]\nlayers:\n  - {relu, repeat: 1000000000}\n")
    assert err.kind == "limit"
    assert "--max-layers" in err.help


def test_each_layer_is_set_up_once_per_command(monkeypatch):
    # issue 11: spec.loads ran the analyzer, then analyze and lint ran it again: each layer's
    # setup() ran two or three times per command. Now load computes every record once.
    from cnncalc.lint.engine import Config, lint_network

    calls = []
    for cls in {type(n.layer) for n in cnncalc.load(SPECS / "resnet18.yaml").nodes}:
        original = cls.setup

        def counting(self, *args, _original=original, **kwargs):
            calls.append(self)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "setup", counting)
    net = cnncalc.load(SPECS / "resnet18.yaml")
    cnncalc.analyze(net)
    lint_network(net, Config())
    assert len(calls) == len(net.nodes)
    assert len({id(layer) for layer in calls}) == len(net.nodes)


def test_flow_parameter_beside_its_layer_is_named():
    # found in review: the flow form still said "found two layer types (conv, kernel_size)"
    err = error_of("input: [2, 8, 8]\nlayers:\n  - {conv: {out_channels: 4}, kernel_size: 3}\n")
    assert err.message == "`kernel_size` belongs under `conv:`"
    assert (err.loc.line, err.loc.column) == (3, 31) and "conv: {..., kernel_size: 3}" in err.help
    err = error_of("input: [2, 8, 8]\nlayers:\n  - {relu, name: c}\n  - {merge: multiply, with: c}\n")
    assert "neither layer types nor meta keys (merge, with)" in err.message


def test_unclosed_bracket_points_where_it_opened():
    # found in review: an unclosed [ was reported at the end of the file, with no help
    err = error_of("input: [2, 8, 8]\nlayers:\n  - relu\n  - conv: {out_channels: 4, kernel_size: [3\n")
    assert err.kind == "syntax" and "never closed" in err.message
    assert (err.loc.line, err.loc.column) == (4, 42) and err.help


def test_item_indented_under_a_bare_name_is_explained():
    # found in review: "- relu" then "   - flatten" (one column deeper) read as the unknown
    # type 'relu - flatten'; YAML folds the two lines into one plain scalar
    err = error_of("input: [2, 8, 8]\nlayers:\n  - relu\n   - flatten\n")
    assert err.message.startswith("'- flatten' is indented deeper than '- relu' above it")
    assert err.loc.line == 3 and "same column" in err.help
