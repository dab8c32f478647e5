"""cnncalc lint: each rule fires on a spec at a known line and not on its near miss;
suppression, configuration, expectations and the four output formats."""

from __future__ import annotations

import json
import re

import pytest

import cnncalc
from cnncalc.lint.catalogue import MODULES, RULES
from cnncalc.lint.engine import Config, lint_network
from cnncalc.lint.render import rules_markdown, to_github, to_json, to_sarif, to_text
from tests.conftest import ROOT, SPECS
from tests.test_cli import run as cli


def lint(text: str, **config):
    """Every rule, opinionated ones included, unless ``select`` says otherwise."""
    net = cnncalc.loads(text, "net.yaml")
    config.setdefault("select", ("CC",))
    return lint_network(net, Config(**config), text)


FIXTURES = ROOT / "tests" / "data" / "lint"
_WHERE = re.compile(r"# (CC\d+) fires above, and no other rule: at line (\d+), column (\d+)\n\Z")


def _fixture(code: str) -> tuple[str, tuple[int, int], str]:
    """(bad.yaml, the (line, column) its last line promises, good.yaml) of one rule."""
    bad = (FIXTURES / code / "bad.yaml").read_text(encoding="utf-8")
    good = (FIXTURES / code / "good.yaml").read_text(encoding="utf-8")
    m = _WHERE.search(bad)
    assert m and m.group(1) == code, f"{code}/bad.yaml must end with its promise"
    return bad, (int(m.group(2)), int(m.group(3))), good


# (spec that triggers the rule, line and column of the finding, spec that does not): each rule's
# runnable fixtures, tests/data/lint/CCNNN/{bad,good}.yaml
CASES = {path.name: _fixture(path.name) for path in sorted(FIXTURES.iterdir()) if path.is_dir()}


def test_every_rule_has_fixtures():
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_fires_at_its_line_and_not_on_the_near_miss(code):
    """bad.yaml triggers exactly its rule (every rule enabled, opt-in ones too), at the line and
    column its last line promises, with the rule's severity; good.yaml triggers nothing."""
    bad, (line, column), good = CASES[code]
    found = lint(bad)
    assert found, f"{code} did not fire"
    assert {f.code for f in found} == {code}, [f.message for f in found]
    assert (found[0].loc.line, found[0].loc.column) == (line, column)
    assert found[0].severity == RULES[code].severity
    assert lint(good) == []


def test_each_rule_is_one_module():
    """One rule a unit: cnncalc/lint/rules/ccNNN_<name>.py declares RULE (with its check) for
    the code and name in its file name."""
    for module in MODULES:
        stem = module.__name__.rsplit(".", 1)[1]
        assert stem == f"{module.RULE.code.lower()}_{module.RULE.name.replace('-', '_')}"
        assert module.RULE.check is module.check


def test_even_same_reads_the_resolved_padding():
    # issue 11: CC104 fired on conv_transpose k4 s2 'same', whose crop is k - s = 2 = (1, 1):
    # symmetric, no half-pixel shift (lint read the raw parameters, not the layer's facts)
    text = "input: [1, 8]\nlayers:\n  - conv_transpose: {out_channels: 1, kernel_size: 4, stride: 2, padding: same}\n"
    assert not [f for f in lint(text) if f.code == "CC104"]
    # k4 s1 'same' pads 4 - 1 = 3 = (1, 2): shifted, as the rule says
    assert [f for f in lint(CASES["CC104"][0]) if f.code == "CC104"]


def test_messages_give_the_numbers():
    (f,) = [f for f in lint(CASES["CC101"][0]) if f.code == "CC101"]
    # (12 - 3) = 9 is odd: the 12th pixel of each axis is never read
    assert "on axes H and W, (12 + 0 - 3) = 9 is not a multiple of the stride 2: the last 1 input" in f.message
    (f,) = [f for f in lint(CASES["CC106"][0]) if f.code == "CC106"]
    # conv k3 s2 p1: 17 -> 9; transposed with output_padding 1: (9 - 1)*2 - 2 + 3 + 1 = 18
    assert "gives 18, but 'conv1', the downsampling it mirrors, took 17" in f.message
    assert f.help == "change the kernel, stride or padding"  # no output_padding can take one away
    (f,) = [f for f in lint(CASES["CC001"][0]) if f.code == "CC001"]
    assert f.message == "conv 'conv1': expected params 7, the analysis gives 8"  # 2*1*3 + 2


def test_findings_inside_blocks_point_at_the_use_too():
    text = ("input: [1, 12, 12]\nblocks:\n  down:\n    layers:\n"
            "      - conv: {out_channels: 1, kernel_size: 3, stride: 2}\n"
            "layers:\n  - down\n")
    (f,) = [f for f in lint(text) if f.code == "CC101"]
    assert (f.loc.line, f.loc.column) == (5, 9)
    assert [(b, loc.line) for b, loc in f.uses] == [("down", 7)]
    assert "note: in block 'down' used at net.yaml:7:5" in to_text([f])


def test_suppression_comments():
    bad = CASES["CC101"][0].replace("stride: 2}", "stride: 2}  # cnncalc: ignore[CC101]")
    assert not [f for f in lint(bad) if f.code == "CC101"]
    other = CASES["CC101"][0].replace("stride: 2}", "stride: 2}  # cnncalc: ignore[CC104]")
    assert [f for f in lint(other) if f.code == "CC101"]
    everything = CASES["CC101"][0].replace("stride: 2}", "stride: 2}  # cnncalc: ignore")
    assert not lint(everything)


def test_select_ignore_and_severity():
    text = CASES["CC101"][0]
    assert not lint(text, select=("CC2",))
    assert not [f for f in lint(text, ignore=("CC1",)) if f.code.startswith("CC1")]
    (f,) = [f for f in lint(text, severity={"CC101": "error"}) if f.code == "CC101"]
    assert f.severity == "error"


def test_configuration_files(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.cnncalc]\nignore = ["CC101"]\n')
    spec = tmp_path / "net.yaml"
    spec.write_text(CASES["CC101"][0])
    code, out, _ = cli(capsys, "lint", spec)
    assert code == 0 and "CC101" not in out
    (tmp_path / "cnncalc.toml").write_text('severity = {CC101 = "error"}\n')
    code, out, _ = cli(capsys, "lint", spec, "--error-on", "error")
    assert code == 1 and "CC101 [error]" in out
    (tmp_path / "cnncalc.toml").write_text('selct = ["CC1"]\n')
    code, _, err = cli(capsys, "lint", spec)
    assert code == 2 and "unknown setting 'selct'" in err


def test_exit_codes_and_text_format(capsys, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(CASES["CC101"][2])
    bad = tmp_path / "bad.yaml"
    bad.write_text(CASES["CC101"][0])
    assert cli(capsys, "lint", good)[0] == 0
    code, out, _ = cli(capsys, "lint", bad)
    assert code == 1
    assert out.startswith(f"{bad}:3:5: CC101 [warning] conv 'conv1':")
    assert cli(capsys, "lint", bad, "--select", "CC104")[0] == 0
    assert cli(capsys, "lint", bad, "--error-on", "error")[0] == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("input: [1, 4]\nlayers: [convv]\n")
    code, _, err = cli(capsys, "lint", good, broken)
    assert code == 2 and "unknown layer type 'convv'" in err


# GitHub's documented syntax: ::warning file={name},line={line},col={col},title={title}::{message}
GITHUB = re.compile(r"^::(error|warning|notice) file=[^,:]+,line=\d+,col=\d+,title=[^:]+::[^\n]+$")


def test_github_format_follows_the_workflow_command_syntax():
    findings = lint(CASES["CC101"][0]) + lint(CASES["CC001"][0]) + lint(CASES["CC108"][0])
    text = to_github(findings)
    lines = text.strip().split("\n")
    assert len(lines) == len(findings)
    for line in lines:
        assert GITHUB.match(line), line
    assert lines[0].startswith("::warning file=net.yaml,line=3,col=5,title=CC101 window-does-not-tile::")
    assert "%0Ahelp" not in text and "%0Amake the division exact" in text  # newline escaped as %0A


def test_json_and_sarif():
    findings = lint(CASES["CC107"][0])
    data = json.loads(to_json(findings))
    cc107 = next(d for d in data if d["code"] == "CC107")
    assert (cc107["line"], cc107["column"], cc107["severity"]) == (5, 6, "warning")
    sarif = json.loads(to_sarif(findings))
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == set(RULES) | {"CC000"}
    result = next(r for r in run["results"] if r["ruleId"] == "CC107")
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 5, "startColumn": 6}


def test_expectations_fail_analyze_too(capsys, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [1, 8]\nexpect: {params: 9}\nlayers:\n  - conv1d: {out_channels: 2, kernel_size: 3}\n")
    code, _, err = cli(capsys, "analyze", spec, "-f", "json")
    assert code == 1
    assert "net.yaml:2:18: CC001 [error] the network's totals: expected params 9, the analysis gives 8" in err


def test_zoo_lints_clean(capsys):
    # every warning in specs/ is a true one, suppressed on its line with the reason
    code, _, _ = cli(capsys, "lint", SPECS)
    assert code == 0


def test_rule_command_and_docs(capsys):
    code, out, _ = cli(capsys, "rule", "CC101")
    assert code == 0 and "window-does-not-tile" in out and "How to fix" in out
    code, out, _ = cli(capsys, "rule", "--list")
    assert all(c in out for c in RULES)
    assert cli(capsys, "rule", "CC999")[0] == 2
    # docs/rules.md is made from the catalogue: regenerate with --update-golden
    assert (ROOT / "docs" / "rules.md").read_text() == rules_markdown()


def test_schema_validates_the_zoo_and_rejects_typos(capsys):
    import jsonschema
    import yaml

    code, out, _ = cli(capsys, "schema")
    schema = json.loads(out)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for path in sorted(SPECS.glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, (path, errors[0].message)
    assert list(validator.iter_errors({"input": [3, 8, 8], "layerz": []}))
    assert list(validator.iter_errors({"input": [3, 8, 8], "layers": [{"conv": {"out_channels": "x"}}]}))
    # repeat: N or {count: N, start: K} (docs/spec-format.md); a start below 0, a missing
    # count or another key is refused, as the loader refuses it
    net = {"input": [3, 8, 8]}
    good = [{"relu": None, "name": "b", "repeat": {"count": 2, "start": 1}},
            {"relu": None, "repeat": 2}, {"relu": None, "repeat": {"count": 1}}]
    assert not list(validator.iter_errors({**net, "layers": good}))
    for bad in ({"count": 2, "start": -1}, {"start": 1}, {"count": 2, "strat": 1}, {"count": 0}):
        assert list(validator.iter_errors({**net, "layers": [{"relu": None, "repeat": bad}]})), bad


def test_pre_commit_hook_is_declared():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "cnncalc-lint" and hooks[0]["entry"] == "cnncalc lint"
