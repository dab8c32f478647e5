"""The lint engine: which rules run (configuration, rule codes) and running them on a spec
(through :func:`cnncalc.lint.base.run_rules`, which applies severities and suppressions).

Configuration: ``[tool.cnncalc]`` in pyproject.toml or a ``cnncalc.toml``
(``select``, ``ignore``, ``severity = {CODE = "error"}``), found from the
spec's folder upward; per line, a YAML comment ``# cnncalc: ignore[CC101]``
(or ``# cnncalc: ignore`` for every rule) on the line of the finding. Every finding
carries the file, line and column of the YAML item (inside a block: the block's line,
and the line of the use). The rules are in :mod:`cnncalc.lint.rules`, one module each,
listed by :mod:`cnncalc.lint.catalogue`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cnncalc.analysis.analyze import Report, analyze
from cnncalc.core.errors import SpecError, suggestion
from cnncalc.core.files import read_bounded
from cnncalc.core.graph import Network
from cnncalc.core.yamlio import MAX_FILE_BYTES
from cnncalc.lint.base import (
    SEVERITIES,
    UNREADABLE,
    Finding,
    Rule,
    run_rules,
    suppressions,
    unreadable,
)
from cnncalc.lint.catalogue import RULES, rule_of

__all__ = ["RULES", "SEVERITIES", "UNREADABLE", "Config", "Finding", "Rule", "check_code",
           "default_rules", "lint_network", "load_config", "rule_of", "spec_files", "suppressions",
           "unreadable"]


@dataclass
class Config:
    """Which rules run, as ruff selects them.

    ``select``: codes or prefixes replacing the default set (None: the default set,
    every rule whose ``default`` is true; ``("CC",)``: every rule, opinionated ones
    included). ``extend_select``: codes or prefixes added to it. ``ignore``: codes or
    prefixes removed. ``severity``: per-code severity.
    """

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    extend_select: tuple[str, ...] = ()

    def enabled(self, code: str) -> bool:
        """Whether rule ``code`` runs under this configuration."""
        if self.ignore and code.startswith(self.ignore):
            return False
        if self.extend_select and code.startswith(self.extend_select):
            return True
        if self.select is None:
            return RULES[code].default if code in RULES else False
        return code.startswith(self.select)


def default_rules() -> list[str]:
    """The codes of the default set (every rule whose ``default`` is true)."""
    return [code for code, r in RULES.items() if r.default]


def load_config(start: Path) -> Config:
    """[tool.cnncalc] of the nearest pyproject.toml, or the nearest cnncalc.toml, from ``start`` up."""
    folder = start if start.is_dir() else start.parent
    for candidate in [folder.resolve(), *folder.resolve().parents]:
        for name in ("cnncalc.toml", "pyproject.toml"):
            path = candidate / name
            if not path.is_file():
                continue
            try:
                data = tomllib.loads(read_bounded(path, MAX_FILE_BYTES, "configuration").decode("utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
                raise SpecError(f"cannot read the configuration: {exc}", file=str(path), kind="io") from None
            table = data.get("tool", {}).get("cnncalc") if name == "pyproject.toml" else data
            if table is None:
                continue
            return _config(table, str(path))
    return Config()


def _config(table: dict, source: str) -> Config:
    settings = ("select", "extend-select", "ignore", "severity")
    unknown = set(table) - set(settings)
    if unknown:
        key = sorted(unknown)[0]
        raise SpecError(f"unknown setting '{key}'", file=source, kind="spec",
                        help=suggestion(key, settings, "settings"))
    for key in ("select", "extend-select", "ignore"):
        codes = table.get(key, [])
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise SpecError(f"{key} is a list of rule codes or prefixes", file=source, kind="spec",
                            help=f'e.g. {key} = ["CC103"]')
        for c in codes:
            check_code(c, source, key)
    severity = table.get("severity", {})
    for code, level in severity.items():
        if code not in RULES or level not in SEVERITIES:
            raise SpecError(f"severity: '{code} = {level}' is not a rule and a level", file=source,
                            help=f"levels: {', '.join(SEVERITIES)}; rules: cnncalc rule --list")
    select = table.get("select")
    return Config(None if select is None else tuple(select), tuple(table.get("ignore", [])),
                  dict(severity), source, tuple(table.get("extend-select", [])))


def check_code(code: str, source: str | None, what: str) -> str:
    """A code or prefix that names at least one rule ('CC1', 'CC103'), else a SpecError."""
    if not any(c.startswith(code) for c in RULES):
        raise SpecError(f"{what}: '{code}' is not a rule code or prefix", file=source, kind="usage",
                        help=suggestion(code.upper(), RULES, "rules"))
    return code


def lint_network(net: Network, config: Config = Config(), text: str = "",
                 report: Report | None = None) -> list[Finding]:
    """Run every enabled rule; apply severities and per-line suppressions.

    ``report``: the network's analysis, if the caller has it already.
    """
    rules = [r for code, r in RULES.items() if config.enabled(code)]
    return run_rules(net, rules, report if report is not None else analyze(net), config.severity, text)


def spec_files(paths: list[Path]) -> list[Path]:
    """The specs to lint: each file given, and every *.yaml / *.yml under each folder given."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*")  # a folder named x.yaml is no spec
                            if p.suffix in (".yaml", ".yml") and not p.is_dir())
        else:
            files.append(path)
    return files


