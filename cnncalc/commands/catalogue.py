"""``cnncalc schema`` and ``cnncalc layers``: what a spec may say."""

from __future__ import annotations

import json
import sys

from cnncalc.io.schema import spec_schema
from cnncalc.present.catalogue import layers_json, layers_table
from cnncalc.present.console import console


def schema(format: str) -> None:
    """The JSON Schema of the spec format."""
    sys.stdout.write(json.dumps(spec_schema(), indent=2) + "\n")


def layers(format: str) -> None:
    """The layer types with their parameters and defaults, as JSON or a table."""
    if format == "json":
        sys.stdout.write(layers_json())
    else:
        console().print(layers_table())
