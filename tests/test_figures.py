"""The figure catalogue (cnncalc/core/figures.py) serves every list of figure names, and what it
serves is what docs/report.md, docs/cli.md and docs/homework.md document."""

from __future__ import annotations

import csv
import io

import pytest

import cnncalc
from cnncalc.core import figures as F
from cnncalc.homework.answers import FIELDS
from cnncalc.lint.engine import lint_network
from cnncalc.measure.verify import LABELS
from cnncalc.present import render
from tests.conftest import SPECS


@pytest.fixture(scope="module")
def lenet():
    net = cnncalc.load(SPECS / "lenet5.yaml")
    return net, cnncalc.analyze(net)


def test_json_layer_keys_are_the_documented_ones(lenet):
    # docs/report.md, "JSON": a layer's keys in this order
    _, report = lenet
    assert list(report.layers[0].to_dict()) == [
        "name", "type", "inputs", "output_shape", "params", "trainable_params", "buffers", "macs",
        "flops", "activation_bytes", "live_bytes", "receptive_field", "local_receptive_field",
        "global_context"]


@pytest.mark.parametrize("figure", F.FIGURES, ids=lambda f: f.name)
def test_each_figure_is_where_its_json_key_says(lenet, figure):
    """The JSON key of each figure holds the LayerResult's value (conv1 of LeNet-5, whose figures
    docs/report.md lists: output [6, 28, 28], 156 params, 117,600 MACs, RF 5, stride 1, centre 2)."""
    _, report = lenet
    row = report.layers[0]
    data = row.to_dict()
    for part in figure.json_key.split("."):
        data = data[part]
    if figure.per_axis:
        field, part = figure.json_key.split(".")
        assert data == [int(v) for v in getattr(getattr(row, field), part)]
    elif figure.compare == F.SHAPE:
        assert data == list(row.output_shape) == [6, 28, 28]
    else:
        assert data == getattr(row, figure.name)


def test_csv_header_is_name_type_inputs_then_the_figures(lenet):
    # docs/report.md: "one row per layer with the JSON keys; receptive-field values per axis"
    _, report = lenet
    header = next(csv.reader(io.StringIO(render.to_csv(report))))
    assert header == ["name", "type", "inputs", "output_shape", "params", "trainable_params",
                      "buffers", "macs", "flops", "activation_bytes", "rf_size", "rf_stride",
                      "rf_center"]


def test_table_columns_are_the_documented_ones():
    # docs/cli.md and `cnncalc analyze --help`: the names --columns takes
    assert render.COLUMN_KEYS == ("layer", "type", "output_shape", "params", "params_percent", "macs",
                                  "macs_percent", "flops", "activations", "rf_size", "rf_stride",
                                  "rf_centre")
    shown = {f.column[0] for f in F.FIGURES if f.column}
    assert shown <= set(render.COLUMN_KEYS)


def test_verify_measures_the_catalogued_figures():
    # docs/executor.md: verify holds output shape, params, buffers, MACs, activation bytes and
    # the receptive field's size, stride and centre against measurements
    assert LABELS == {"output_shape": "output shape", "params": "params", "buffers": "buffers",
                      "macs": "MACs", "activation_bytes": "activation bytes", "rf_size": "RF size",
                      "rf_stride": "RF stride", "rf_center": "RF centre",
                      "local_rf_size": "local RF size", "local_rf_stride": "local RF stride",
                      "local_rf_center": "local RF centre"}


def test_answers_and_expectations_take_the_catalogued_names(lenet):
    # docs/homework.md: the figures an answers file may give
    assert set(FIELDS) == {"output_shape", "params", "macs", "flops", "receptive_field", "stride",
                           "activation_bytes"}
    # an expect: block also takes trainable_params and buffers (docs/lint.md, "expect")
    assert set(F.EXPECT_FIELDS) == set(FIELDS) | {"trainable_params", "buffers"}
    _, report = lenet
    values = F.answer_values(report.layers[0])
    assert values["receptive_field"] == (5, 5) and values["stride"] == (1, 1)
    assert values["output_shape"] == (6, 28, 28) and values["params"] == 156


def test_an_expectation_on_every_expect_field_is_checked():
    """Each EXPECT_FIELDS key is read by lint CC001: a wrong value for it is a finding.
    LeNet-5's conv1: 156 params (6·(5·5·1) + 6), 117,600 MACs (6·28·28·25)."""
    right = {"output_shape": "[6, 28, 28]", "params": 156, "trainable_params": 156, "buffers": 0,
             "macs": 117600, "flops": 235200, "activation_bytes": 18816,
             "receptive_field": "[5, 5]", "stride": "[1, 1]"}
    assert set(right) == set(F.EXPECT_FIELDS)
    base = "input: [1, 32, 32]\nlayers:\n  - {conv: {out_channels: 6, kernel_size: 5}, expect: {%s}}\n"
    text = base % ", ".join(f"{k}: {v}" for k, v in right.items())
    assert lint_network(cnncalc.loads(text)) == []
    for key in right:
        wrong = dict(right, **{key: "[7, 7]" if key in ("receptive_field", "stride") else
                               ("[6, 27, 28]" if key == "output_shape" else 1)})
        text = base % ", ".join(f"{k}: {v}" for k, v in wrong.items())
        found = lint_network(cnncalc.loads(text))
        assert [f.code for f in found] == ["CC001"], key
