"""``cnncalc layers``: the layer types with their parameters and defaults, as JSON or a table."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text

from cnncalc.layers import REGISTRY
from cnncalc.layers.base import REQUIRED


def _default(p):
    """A parameter's default as JSON: null when required, else the value (str() when it is not
    a JSON value)."""
    if p.default is REQUIRED:
        return None
    return p.default if isinstance(p.default, (int, float, str, bool, list)) or \
        p.default is None else str(p.default)


def layers_json() -> str:
    """Every registered type: family, summary, whether it has 1d/2d/3d forms, its parameters."""
    return json.dumps([{
        "type": name, "family": cls.family, "summary": cls.summary, "spatial": cls.spatial,
        "parameters": [{"name": p.name, "required": p.required, "default": _default(p),
                        "doc": p.doc} for p in cls.params]}
        for name, cls in REGISTRY.items()], indent=2) + "\n"


def layers_table() -> Table:
    """The same catalogue as a rich table: type (+1d/2d/3d), family, what, parameters (default)."""
    table = Table(title="cnncalc layer types")
    for col in ("type", "family", "what", "parameters (default)"):
        table.add_column(col)
    for name, cls in REGISTRY.items():
        params = ", ".join(
            p.name + ("" if p.default is REQUIRED else f" ({p.default})") for p in cls.params
        )
        suffix = " (+1d/2d/3d)" if cls.spatial else ""
        table.add_row(Text(name + suffix), Text(cls.family), Text(cls.summary), Text(params))
    return table
