"""``cnncalc lint`` and ``cnncalc rule``: specs checked against the rule catalogue, and what a
rule means. Exit codes: 0 clean, 1 findings at or above --error-on, 2 an unreadable spec."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import typer

from cnncalc.core.errors import SpecError, suggestion
from cnncalc.io.load import loads, read_spec
from cnncalc.lint import engine as L
from cnncalc.lint import render as R
from cnncalc.options import usage

EXIT_FINDINGS, EXIT_USAGE = 1, 2
RENDER = {"text": R.to_text, "github": R.to_github, "json": R.to_json, "sarif": R.to_sarif}


def codes(text: str | None, option: str) -> tuple[str, ...] | None:
    """The rule codes or prefixes given to ``option`` (comma-separated), checked; None if not given."""
    if text is None:
        return None
    return tuple(L.check_code(c.strip().upper(), None, option) for c in text.split(",") if c.strip())


def run(paths: list[Path], format: str, select: str | None, extend_select: str | None,
        ignore: str | None, error_on: str) -> None:
    """Lint every spec under ``paths``; findings on stdout, the count on stderr."""
    picked, extra, skipped = (codes(select, "--select"), codes(extend_select, "--extend-select"),
                              codes(ignore, "--ignore"))
    files = L.spec_files(paths)
    findings, unreadable = [], 0
    for path in files:
        try:
            config = L.load_config(path)
            if picked is not None:
                config = replace(config, select=picked)
            if extra is not None:
                config = replace(config, extend_select=config.extend_select + extra)
            if skipped is not None:
                config = replace(config, ignore=skipped)
            data = read_spec(path)
            net = loads(data, str(path))
            text = data.decode("utf-8", errors="replace")
            findings += L.lint_network(net, config, text)
        except SpecError as exc:
            unreadable += 1
            findings.append(L.unreadable(exc, path))
            if format == "text":
                sys.stderr.write(exc.format() + "\n")
    shown = [f for f in findings if f.code != L.UNREADABLE.code] if format == "text" else findings
    sys.stdout.write(RENDER[format](shown))
    counts = {s: sum(f.severity == s for f in findings) for s in L.SEVERITIES}
    sys.stderr.write(f"{len(files)} spec(s): {counts['error']} error(s)"
                     + (f" ({unreadable} unreadable spec(s))" if unreadable else "")
                     + f", {counts['warning']} warning(s), {counts['info']} info\n")
    if unreadable:
        raise typer.Exit(EXIT_USAGE)
    bar = L.SEVERITIES.index(error_on)
    if any(L.SEVERITIES.index(f.severity) >= bar for f in findings):
        raise typer.Exit(EXIT_FINDINGS)


def rule(code: str | None, list_: bool, format: str) -> None:
    """One rule explained (or every rule listed) as text or JSON."""
    if code is not None and code.upper() not in L.RULES and code.upper() != L.UNREADABLE.code:
        raise usage("rule", f"no rule '{code}'", suggestion(code.upper(), L.RULES, "rules"))
    picked = [L.rule_of(code.upper())] if code is not None and not list_ else \
        [L.UNREADABLE, *L.RULES.values()]
    if format == "json":
        sys.stdout.write(R.rules_json(picked))
    elif len(picked) > 1:
        sys.stdout.write(R.rules_list(picked))
    else:
        sys.stdout.write(R.rule_text(picked[0].code))
