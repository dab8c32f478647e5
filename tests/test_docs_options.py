"""docs/cli.md agrees with the command line (issue 21, item 5): the option table and the
formats per command are read from the typer application itself and held against the page."""

from __future__ import annotations

import re
from pathlib import Path

import typer
import yaml

from cnncalc.cli import app

ROOT = Path(__file__).resolve().parents[1]
CLI_MD = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
# commands whose output is no data, so no -f json: pictures, and the two that write files
NOT_DATA = {"view": "pictures (html, svg, png)", "export": "a model file", "import": "a spec file"}


def commands() -> dict[str, object]:
    """Every runnable command by its words ('analyze', 'solve output'), from the click tree."""
    found = {}

    def walk(cmd, words):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*words, name])
        else:
            found[" ".join(words)] = cmd
    walk(typer.main.get_command(app), [])
    return found


def option(cmd, flag: str):
    return next((p for p in cmd.params if flag in getattr(p, "opts", [])), None)


def code_formats() -> dict[str, list[str]]:
    """Each command's -f/--format choices, in their order (the first is the default)."""
    out = {}
    for name, cmd in commands().items():
        fmt = option(cmd, "--format")
        out[name] = [] if fmt is None else [str(c) for c in fmt.type.choices]
    return out


def docs_formats() -> dict[str, list[str]]:
    section = CLI_MD[CLI_MD.index("Formats per command"):]
    rows = re.findall(r"^\| ([a-z ]+) \| ([^|]+) \|$", section[:section.index("\n\n", section.index("|"))],
                      flags=re.M)
    return {name.strip(): [] if cell.startswith("none") else [f.strip() for f in cell.split(",")]
            for name, cell in rows if name.strip() != "command"}


def test_cli_md_lists_every_command_with_exactly_its_formats():
    assert docs_formats() == code_formats()


def test_every_command_whose_output_is_data_takes_json():
    for name, formats in code_formats().items():
        if name in NOT_DATA:
            assert "json" not in formats, name  # else it is data, and NOT_DATA is wrong
        else:
            assert "json" in formats, f"cnncalc {name} prints data but has no -f json"


def test_the_first_format_listed_is_the_default():
    for name, cmd in commands().items():
        fmt = option(cmd, "--format")
        if fmt is not None and fmt.default is not None:
            assert str(fmt.default) == code_formats()[name][0], name


def test_the_option_table_names_the_commands_that_take_each_option():
    everything = set(commands())
    solve = {n for n in everything if n.startswith("solve ")}
    flags = {"-i/--input": "--input", "--data": "--data", "-f/--format": "--format",
             "--dilation-base": "--dilation-base"}
    rows = dict(re.findall(r"^\| `([^`]+)` \| .* \| ([^|]+) \|$", CLI_MD, flags=re.M))
    for label, flag in flags.items():
        cell = rows[label].strip()
        if cell.startswith("all but "):
            listed = everything - set(re.split(r", | and ", cell[len("all but "):]))
        else:
            listed = set()
            for word in cell.split(", "):
                listed |= solve if word == "solve" else {word}
        taking = {n for n, cmd in commands().items() if option(cmd, flag) is not None}
        assert listed == taking, (label, listed ^ taking)


def test_readme_promises_json_only_where_the_output_is_data():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Every command takes `-f json`" not in readme
    assert "`json` on every command" not in CLI_MD


def test_limits_md_whitelist_names_every_function_the_evaluator_takes():
    # core/expr.py's calls: min, max, floor, ceil (its _Eval.children)
    limits = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")
    whitelist = limits[limits.index("evaluated on a whitelisted syntax tree"):][:400]
    for name in ("min", "max", "floor", "ceil"):
        assert f"`{name}`" in whitelist, name


def test_the_pre_commit_hook_lints_specs_only_by_default():
    hook = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
    pattern = re.compile(hook["files"])
    for path in ("specs/lenet5.yaml", "specs/exercises/conv1d.yaml", "models/specs/net.yml"):
        assert pattern.search(path), path
    # the files the issue found linted: pre-commit's own configuration, CI workflows
    for path in (".pre-commit-config.yaml", ".pre-commit-hooks.yaml", ".github/workflows/ci.yaml",
                 "docker-compose.yml", "notspecs/x.yaml"):
        assert not pattern.search(path), path
