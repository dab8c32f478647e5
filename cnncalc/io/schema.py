"""A JSON Schema (draft-07) of the spec format, made from the layer registry.

Editors that speak yaml-language-server validate and complete specs with it:
put ``# yaml-language-server: $schema=cnncalc.schema.json`` at the top of a spec
after ``cnncalc schema > cnncalc.schema.json``. Uses of a spec's own blocks are
accepted as any mapping (their names are not known in advance); ``cnncalc
lint`` and ``cnncalc analyze`` check them.
"""

from __future__ import annotations

from typing import Any

from cnncalc.io.spec import META_KEYS, STRUCTURES
from cnncalc.layers import REGISTRY
from cnncalc.layers.base import (
    Bool,
    Choice,
    Int,
    IntList,
    Ints,
    Names,
    Number,
    OutputSize,
    Padding,
    Scale,
)
from cnncalc.layers.merge import merge_types

EXPR = {"type": "string", "pattern": "\\$\\{", "description": "${...} arithmetic on block arguments"}


def _kind(kind) -> dict[str, Any]:
    integer = {"type": "integer"}
    if isinstance(kind, Int):
        schema = dict(integer, **({"minimum": kind.minimum} if kind.minimum is not None else {}))
    elif isinstance(kind, Ints):
        one = {"type": "integer", "minimum": kind.minimum}
        schema = {"anyOf": [one, {"type": "array", "items": {"anyOf": [one, EXPR]}}]}
    elif isinstance(kind, Bool):
        schema = {"type": "boolean"}
    elif isinstance(kind, Number):
        schema = {"type": "number"}
    elif isinstance(kind, Choice):
        schema = {"enum": list(kind.options)}
    elif isinstance(kind, Padding):
        pair = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}
        per_axis = {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 0}, pair]}}
        schema = {"anyOf": [{"type": "integer", "minimum": 0}, per_axis, *([{"enum": list(kind.modes)}]
                                                                          if kind.modes else [])]}
    elif isinstance(kind, Scale):
        schema = {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                            {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}}]}
    elif isinstance(kind, OutputSize):
        one = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}
        schema = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "array", "items": one}]}
    elif isinstance(kind, IntList):
        schema = {"type": "array", "items": {"type": "integer"}}
    elif isinstance(kind, Names):
        schema = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    else:  # pragma: no cover - every kind is listed above
        schema = {}
    return {"anyOf": [schema, EXPR]}


META = {
    "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_\\-]*$"},
    "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "repeat": {"anyOf": [
        {"type": "integer", "minimum": 1}, EXPR,
        {"type": "object", "description": "count copies named NAME.start, NAME.start+1, ...",
         "properties": {"count": {"anyOf": [{"type": "integer", "minimum": 1}, EXPR]},
                        "start": {"anyOf": [{"type": "integer", "minimum": 0}, EXPR]}},
         "required": ["count"], "additionalProperties": False}]},
    "trainable": {"anyOf": [{"type": "boolean"}, EXPR]},
    "if": {"anyOf": [{"type": "boolean"}, EXPR]},
    "weights": {"type": "object", "additionalProperties": {"type": "array"}},
    "expect": {"type": "object"},
    "torch": {"type": "string", "description": "how the upstream PyTorch forward writes this "
              "layer (functional, LayerNorm2d, Linear, mean): read by the FLOP counters' conventions"},
}
assert set(META) == set(META_KEYS)


def spec_schema() -> dict[str, Any]:
    """The schema as a dict (``cnncalc schema`` prints it as JSON)."""
    names, items = [], []
    for name, cls in REGISTRY.items():
        aliases = [name] + ([f"{name}{n}d" for n in (1, 2, 3)] if cls.spatial else [])
        names += aliases
        props = {p.name: dict(_kind(p.kind), description=p.doc) for p in cls.params}
        params: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        required = [p.name for p in cls.params if p.required]
        if required:
            params["required"] = required
        value = {"anyOf": [params, {"type": "null"}]}
        if cls.primary:
            value["anyOf"].append(_kind(next(p.kind for p in cls.params if p.name == cls.primary)))
        for alias in aliases:
            items.append({"type": "object", "description": cls.summary, "required": [alias],
                          "properties": {alias: value, **META}, "additionalProperties": False})
    layers_ref = {"$ref": "#/definitions/layers"}
    structures = {
        "residual": {"type": "object", "properties": {"body": layers_ref, "shortcut": layers_ref,
                                                      "merge": {"enum": list(merge_types())}},
                     "required": ["body"], "additionalProperties": False},
        "parallel": {"type": "object", "properties": {"branches": {"type": "array", "items": layers_ref},
                                                      "merge": {"enum": list(merge_types())}},
                     "required": ["branches"], "additionalProperties": False},
        "sequential": layers_ref,
    }
    assert set(structures) == set(STRUCTURES)
    for key, value in structures.items():
        items.append({"type": "object", "required": [key], "properties": {key: value, **META},
                      "additionalProperties": False})
    known = sorted(set(names) | set(STRUCTURES))
    block_use = {"type": "object", "minProperties": 1, "description": "a use of one of the spec's blocks",
                 "not": {"anyOf": [{"required": [k]} for k in known]}}
    shape = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 4}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "cnncalc network spec",
        "description": "A convolutional network for cnncalc (docs/spec-format.md).",
        "type": "object",
        "required": ["input", "layers"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "input": {"anyOf": [shape, {"type": "object", "required": ["shape"], "additionalProperties": False,
                                        "properties": {"shape": shape, "batch": {"type": "integer", "minimum": 1},
                                                       "values": {"type": "array"}}}]},
            "layers": layers_ref,
            "blocks": {"type": "object", "additionalProperties": {"anyOf": [
                layers_ref,
                {"type": "object", "properties": {"args": {"type": "object"}, "layers": layers_ref,
                                                  "description": {"type": "string"}},
                 "required": ["layers"], "additionalProperties": False}]}},
            "expect": {"type": "object"},
            "upstream": {"type": ["array", "object"],
                         "description": "dLoss/dOutput for cnncalc grad: one output's values, "
                                        "or output name -> values"},
        },
        "definitions": {
            "layers": {"type": "array", "items": {"anyOf": [
                {"enum": sorted(set(names) | set(STRUCTURES))},
                {"type": "string", "description": "a use of one of the spec's blocks"},
                *items, block_use]}},
        },
    }
