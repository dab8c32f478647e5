"""The lint findings and the rule catalogue as text: plain text, GitHub Actions annotations,
JSON, SARIF 2.1.0; ``cnncalc rule`` and docs/rules.md. (``to_text`` is the findings' own
text, in :mod:`cnncalc.lint.base`.)"""

from __future__ import annotations

import json

from cnncalc.core.version import __version__
from cnncalc.lint.base import UNREADABLE, Finding, Rule, to_text
from cnncalc.lint.catalogue import RULES, rule_of

__all__ = ["rule_text", "rules_json", "rules_list", "rules_markdown", "to_github", "to_json",
           "to_sarif", "to_text"]


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def to_github(findings: list[Finding]) -> str:
    """GitHub Actions workflow commands: ::warning file=F,line=L,col=C,title=T::message
    (docs.github.com, 'Workflow commands for GitHub Actions', setting a warning message)."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for f in findings:
        props = [f"file={_gh_escape(f.file or '', True)}"]
        if f.loc:
            props += [f"line={f.loc.line}", f"col={f.loc.column}"]
        props.append(f"title={_gh_escape(f'{f.code} {rule_of(f.code).name}', True)}")
        message = f.message + (f"\n{f.help}" if f.help else "")
        lines.append(f"::{level[f.severity]} {','.join(props)}::{_gh_escape(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def to_json(findings: list[Finding]) -> str:
    """The findings as a JSON list (docs/lint.md)."""
    return json.dumps([{
        "code": f.code, "name": rule_of(f.code).name, "severity": f.severity, "message": f.message,
        "help": f.help, "file": f.file, "line": f.loc.line if f.loc else None,
        "column": f.loc.column if f.loc else None,
        "uses": [{"block": b, "line": loc.line, "column": loc.column} for b, loc in f.uses],
    } for f in findings], indent=2) + "\n"


def to_sarif(findings: list[Finding]) -> str:
    """SARIF 2.1.0 (OASIS), for code-scanning uploads."""
    level = {"error": "error", "warning": "warning", "info": "note"}

    rules = [{"id": r.code, "name": r.name, "shortDescription": {"text": r.summary},
              "fullDescription": {"text": r.explanation}, "help": {"text": r.fix},
              "defaultConfiguration": {"level": level[r.severity], "enabled": r.default}}
             for r in (UNREADABLE, *RULES.values())]
    results = []
    for f in findings:
        region = {"startLine": f.loc.line, "startColumn": f.loc.column} if f.loc else {}
        results.append({
            "ruleId": f.code, "level": level[f.severity],
            "message": {"text": f.message + (f" ({f.help})" if f.help else "")},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.file or ""},
                                                "region": region}}],
        })
    return json.dumps({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "cnncalc", "version": __version__, "rules": rules}},
                  "results": results}],
    }, indent=2) + "\n"


def rule_text(code: str) -> str:
    """``cnncalc rule CODE``: every field of one rule, and how to suppress it."""
    r = rule_of(code)
    where = "in the default set" if r.default else f"opt-in: --extend-select {r.code}"
    return (f"{r.code} {r.name} [{r.severity}, {where}]\n\n{r.summary}\n\nWhy it matters: "
            f"{r.explanation}\n\nHow to fix: {r.fix}\n\nExample: {r.example}\n\nKnown limits: "
            f"{r.limits}\n\nSuppress on a line: # cnncalc: ignore[{r.code}]\n")


def rules_json(rules: list[Rule]) -> str:
    """``cnncalc rule -f json``: every field of each rule."""
    return json.dumps([{
        "code": r.code, "name": r.name, "severity": r.severity, "default": r.default,
        "summary": r.summary, "explanation": r.explanation, "fix": r.fix,
        "example": r.example, "limits": r.limits} for r in rules], indent=2) + "\n"


def rules_list(rules: list[Rule]) -> str:
    """``cnncalc rule --list``: one line per rule (code, name, severity, default set, summary)."""
    return "".join(f"{r.code}  {r.name:<32} {r.severity:<8} {'default' if r.default else 'opt-in':<8} "
                   f"{r.summary}\n" for r in rules)


def rules_markdown() -> str:
    """docs/rules.md, made from the catalogue (tests/test_lint.py keeps the file in step)."""
    rules = (UNREADABLE, *RULES.values())
    lines = ["# Lint rules", "", "Made from the catalogue in `cnncalc/lint/rules/` (one module per rule; its "
             "fixtures in `tests/data/lint/CODE/`); `cnncalc rule CODE` prints the same text.", "",
             "The default set runs every rule marked *default*; the opinionated ones (*opt-in*) "
             "run when selected: `--extend-select CC103` or `extend-select = [\"CC103\"]` in the "
             "configuration (docs/lint.md). CC000 is always reported.", "",
             "| code | name | severity | set | what |", "|---|---|---|---|---|"]
    lines += [f"| {r.code} | {r.name} | {r.severity} | {'default' if r.default else 'opt-in'} | "
              f"{r.summary} |" for r in rules]
    for r in rules:
        lines += ["", f"## {r.code} {r.name} ({r.severity}, {'default' if r.default else 'opt-in'})",
                  "", r.summary, "", f"**Why it matters.** {r.explanation}", "",
                  f"**How to fix.** {r.fix}", "", f"**Example.** `{r.example}`", "",
                  f"**Known limits.** {r.limits}"]
    return "\n".join(lines) + "\n"
