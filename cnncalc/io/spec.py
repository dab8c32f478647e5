"""YAML spec -> :class:`~cnncalc.core.graph.Network` (docs/spec-format.md).

Every error names the file, line and column of the item at fault and, for an
unknown name, the closest valid one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cnncalc.core.errors import Loc, SpecError, suggestion
from cnncalc.core.expr import substitute_string
from cnncalc.core.files import read_bounded
from cnncalc.core.graph import INPUT, Network, Node, Scope
from cnncalc.core.shapes import infer_shapes
from cnncalc.core.yamlio import MAX_FILE_BYTES, YList, YMap, parse_yaml
from cnncalc.layers import REGISTRY
from cnncalc.layers.base import Layer, describe
from cnncalc.layers.merge import STRUCTURE_MERGE, merge_types

TOP_KEYS = ("name", "input", "layers", "blocks", "description", "expect", "upstream")
META_KEYS = ("name", "from", "repeat", "trainable", "if", "weights", "expect", "torch")
STRUCTURES = ("residual", "parallel", "sequential")
MAX_NODES = 100_000
MAX_BLOCK_DEPTH = 50
SPEC_SIZE_HELP = "a spec is a page of YAML; split generated specs or use blocks and repeat"
_NAME_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*|[0-9]+)$")  # or a number: nn.Sequential's "0"
_ALIAS_RE = re.compile(r"^(.*?)([123])d$")


def _not_a_spec(doc: YMap, text: str | bytes) -> None:
    """Refuse, by its keys, a document that is another of cnncalc's files: a JSON report
    or an answers file (cnncalc check)."""
    if "input" in doc:
        return
    if "input_shape" in doc and "totals" in doc:
        raise SpecError("this is a cnncalc JSON report (cnncalc analyze -f json), not a spec",
                        doc.key_loc("input_shape"), kind="input",
                        help="give the YAML spec the report was made from")
    if "layout" in doc or "totals" in doc or isinstance(doc.get("layers"), YMap):
        key = next(k for k in ("layout", "totals", "layers") if k in doc)
        raise SpecError("this looks like an answers file (cnncalc check), not a spec",
                        doc.key_loc(key), kind="input",
                        help="cnncalc check takes the problem spec first: cnncalc check SPEC ANSWERS")
    start = text.lstrip()[:1] if isinstance(text, str) else text.lstrip()[:1].decode("latin-1")
    if start in ("{", "["):
        key = next(iter(doc), None)
        raise SpecError("this JSON file is not a spec: it has no 'input'",
                        doc.key_loc(key) if key is not None else doc.loc, kind="input",
                        help="a spec may be written as JSON, with the same keys as YAML: "
                             "{\"input\": [3, 32, 32], \"layers\": [...]} (docs/spec-format.md)")


def resolve_type(key: str) -> tuple[type[Layer], int | None] | None:
    """The layer class for a type name, and the rank an alias (``conv2d``) demands."""
    cls = REGISTRY.get(key)
    if cls is not None:
        return cls, None
    m = _ALIAS_RE.match(key)
    if m:
        cls = REGISTRY.get(m.group(1))
        if cls is not None and cls.spatial:
            return cls, int(m.group(2))
    return None


def parse_shape_text(text: str) -> tuple[int, ...]:
    """``3x224x224`` or ``3,224,224`` -> (3, 224, 224); ValueError if malformed."""
    parts = [p for p in re.split(r"[x×,\s]+", text.strip().strip("[]()")) if p]
    if not parts:
        raise ValueError("empty shape")
    values = tuple(int(p) for p in parts)
    if any(v < 1 for v in values):
        raise ValueError("sizes must be >= 1")
    return values


# -- blocks ---------------------------------------------------------------------


class Block:
    """A reusable, parameterised group of layers from the spec's ``blocks:``."""

    def __init__(self, name: str, args: dict[str, Any], layers: YList, loc: Loc) -> None:
        self.name, self.args, self.layers, self.loc = name, args, layers, loc


def _parse_blocks(doc: YMap) -> dict[str, Block]:
    raw = doc.get("blocks")
    if raw is None:
        return {}
    if not isinstance(raw, YMap):
        raise SpecError(f"'blocks' must be a mapping of block names, got {describe(raw)}",
                        doc.val_loc("blocks"))
    blocks = {}
    reserved = set(REGISTRY) | set(STRUCTURES)
    for name, body in raw.items():
        key_loc = raw.key_loc(name)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise SpecError(f"invalid block name {describe(name)}", key_loc, kind="name")
        if name in reserved or resolve_type(name) is not None:
            raise SpecError(f"the block name '{name}' is a layer type", key_loc, kind="name",
                            help="give the block another name")
        if isinstance(body, list):  # a block without arguments: just its layers
            body_map = YMap({"layers": body})
            body_map.loc, body_map.key_locs = raw.val_loc(name), {}
            body_map.val_locs = {"layers": raw.val_loc(name)}
            body = body_map
        if not isinstance(body, YMap):
            raise SpecError(f"block '{name}' must be a mapping with args and layers",
                            raw.val_loc(name))
        for key in body:
            if key not in ("args", "layers", "description"):
                raise SpecError(f"unknown key '{key}' in block '{name}'", body.key_loc(key),
                                help=suggestion(str(key), ("args", "layers"), "keys of a block"))
        args = body.get("args") or {}
        if not isinstance(args, dict):
            raise SpecError(f"'args' of block '{name}' must be a mapping of defaults",
                            body.val_loc("args"), help="args: {width: 64, stride: 1}")
        layers = body.get("layers")
        if not isinstance(layers, YList) or not layers:
            raise SpecError(f"block '{name}' needs a non-empty 'layers' list",
                            body.val_loc("layers") if "layers" in body else body.loc)
        blocks[name] = Block(name, dict(args), layers, key_loc)
    return blocks


def substitute(value: Any, env: dict[str, Any], loc: Loc) -> Any:
    """A copy of a YAML tree with every ``${...}`` evaluated; locations are kept."""
    if isinstance(value, YMap):
        out = YMap()
        out.loc, out.key_locs, out.val_locs = value.loc, dict(value.key_locs), dict(value.val_locs)
        for key, item in value.items():
            out[key] = substitute(item, env, value.val_loc(key))
        return out
    if isinstance(value, YList):
        out_list = YList(substitute(item, env, value.item_loc(i)) for i, item in enumerate(value))
        out_list.loc, out_list.item_locs = value.loc, list(value.item_locs)
        return out_list
    if isinstance(value, str):
        return substitute_string(value, env, loc)
    return value


def _find_name(value: Any, name: str) -> Loc | None:
    """Where an item named ``name`` is defined anywhere in the document."""
    if isinstance(value, YMap):
        if value.get("name") == name:
            return value.val_loc("name")
        for item in value.values():
            found = _find_name(item, name)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find_name(item, name)
            if found:
                return found
    return None


# -- the builder ---------------------------------------------------------------------


class _Builder:
    def __init__(self, root: YMap, ndim: int, max_nodes: int, blocks: dict[str, Block],
                 dilation_base: int = 1) -> None:
        self.dilation_base = dilation_base
        self.root = root
        self.ndim = ndim
        self.max_nodes = max_nodes
        self.blocks = blocks
        self.nodes: list[Node] = []
        self.consumed: set[str] = set()
        self.groups: dict[str, tuple[str, str]] = {}
        self.block_stack: list[str] = []
        self.use_stack: list[tuple[str, Loc]] = []
        # full name of a numbered repeat -> (its first copy's index, the next copy's index)
        self.numbered: dict[str, tuple[int, int]] = {}

    def sequence(self, items: Any, loc: Loc, scope: Scope, prev: str,
                 path: tuple[str, ...], trainable: bool) -> str:
        if not isinstance(items, list):
            raise SpecError(
                f"expected a list of layers, got {describe(items)}", loc,
                help="write each layer on its own line starting with '- '",
            )
        for index, item in enumerate(items):
            item_loc = items.item_loc(index) if isinstance(items, YList) else loc
            prev = self.item(item, item_loc, scope, prev, path, trainable)
        return prev

    def item(self, item: Any, loc: Loc, scope: Scope, prev: str,
             path: tuple[str, ...], trainable: bool) -> str:
        type_key, type_loc, raw, raw_loc, meta = self.split(item, loc)
        if "if" in meta and not meta["if"]:
            return prev
        if "trainable" in meta:
            trainable = trainable and meta["trainable"]
        name = meta.get("name")
        repeat, start = self.repeat_of(meta, item)
        numbered = start is not None or repeat > 1
        first = start or 0
        if name is not None and start is not None:
            self.check_start(scope, name, start, item)
        inputs = self.inputs(meta, item, scope, prev)
        if type_key in STRUCTURES or type_key in self.blocks:
            build = self.structure
        else:
            build = self.primitive
            if resolve_type(type_key) is None and isinstance(type_key, str) and " - " in type_key:
                # "- relu" then "   - flatten" one column deeper: YAML folds both lines into
                # one plain scalar, 'relu - flatten'
                first, _, rest = type_key.partition(" - ")
                raise SpecError(
                    f"'- {rest}' is indented deeper than '- {first}' above it, so YAML reads "
                    f"both as one name '{type_key}'", type_loc, kind="spec",
                    help=f"indent '- {rest}' to the same column as '- {first}'",
                )
            if resolve_type(type_key) is None:
                raise SpecError(
                    f"unknown layer type '{type_key}'", type_loc,
                    help=suggestion(type_key, [*REGISTRY, *STRUCTURES, *self.blocks],
                                    "types (and their 1d/2d/3d forms), structures and blocks"),
                )
        if len(self.nodes) + repeat > self.max_nodes:
            raise SpecError(
                f"the network would have more than {self.max_nodes:,} layers", type_loc,
                kind="limit", help="lower repeat, or raise the limit (--max-layers)",
            )
        if "weights" in meta and (build != self.primitive or repeat != 1):
            raise SpecError("'weights' can be written only on a single layer", item.key_loc("weights"),
                            help="remove repeat, or give the weights with --weights")
        out = prev
        for i in range(repeat):
            local = None if name is None else (f"{name}.{first + i}" if numbered else name)
            out = build(type_key, type_loc, raw, raw_loc, local, scope, inputs, path, trainable, loc)
            inputs = [out]
        if "weights" in meta:
            self.nodes[-1].inline_weights = self.inline_weights(self.nodes[-1], item)
        if "torch" in meta:
            self.torch_form(meta["torch"], item, build == self.primitive, repeat)
        if "expect" in meta:
            if not isinstance(meta["expect"], YMap):
                raise SpecError("'expect' maps figures to the values this layer must have",
                                item.val_loc("expect"), kind="value",
                                help="expect: {output_shape: [64, 56, 56], params: 36928}")
            target = self.nodes[-1] if build == self.primitive else None
            if target is None or target.name != out:
                target = next(n for n in self.nodes if n.name == out)
            target.expect = meta["expect"]
        if name is not None and numbered:
            full = scope.prefix + name
            family = self.numbered.get(full)
            if family is not None and family[1] == first and first > 0:
                scope.names[name] = out  # a continued numbering: NAME is its last copy
                self.numbered[full] = (family[0], first + repeat)
            else:
                self.register(scope, name, out, meta_loc(item, "name", loc))
                self.numbered[full] = (first, first + repeat)
            self.groups[full] = (out, f"{type_key} x{repeat}")
        return out

    def repeat_of(self, meta: dict, item: Any) -> tuple[int, int | None]:
        """(copies, first index) of an item's ``repeat``: ``N`` or ``{count: N, start: K}``;
        the first index is None for a bare ``N`` (then a single copy keeps the bare name)."""
        value = meta.get("repeat", 1)
        if not isinstance(value, YMap):
            return value, None
        return value["count"], value.get("start", 0)

    def check_start(self, scope: Scope, name: str, start: int, item: YMap) -> None:
        """A numbered repeat whose name is taken at its level must continue that name's copies
        (``layer1.0`` then ``start: 1``); any other start would name a copy twice or leave a gap."""
        if name not in scope.names:
            return
        family = self.numbered.get(scope.prefix + name)
        if family is not None and family[1] == start and start > 0:
            return
        repeat = item["repeat"]
        where = repeat.val_loc("start") if "start" in repeat else item.val_loc("repeat")
        if family is None:
            raise SpecError(f"the name '{name}' is used twice (first at line "
                            f"{scope.locs[name].line if scope.locs.get(name) else '?'})",
                            meta_loc(item, "name", item.loc), kind="name",
                            help="names must be unique within their level; only a numbered "
                                 "repeat (repeat: {count: N, start: K}) may continue a numbered "
                                 "repeat's name")
        low, after = family
        raise SpecError(f"'{name}' already has copies {name}.{low} to {name}.{after - 1}, so this "
                        f"repeat must start at {after}, got start {start}", where, kind="value",
                        help=f"write start: {after} to continue the numbering")

    def split(self, item: Any, loc: Loc):
        """(type key, its location, raw params, their location, meta keys) of one item."""
        if isinstance(item, str):
            return item, loc, None, loc, {}
        if not isinstance(item, YMap):
            raise SpecError(
                f"a layer is a type name or a mapping, got {describe(item)}", loc,
                help="e.g. '- relu' or '- conv: {out_channels: 16, kernel_size: 3}'",
            )
        types = [k for k in item if k not in META_KEYS]
        known = [k for k in types if isinstance(k, str) and
                 (resolve_type(k) is not None or k in STRUCTURES or k in self.blocks)]
        if len(types) > 1 and len(known) == 1 and item[known[0]] is None:
            # - conv:
            #   out_channels: 6      <- at the level of conv, not under it
            kind = known[0]
            stray = [k for k in types if k != kind]
            written = ", ".join(f"{k}: {item[k]}" for k in stray)
            raise SpecError(
                f"`{stray[0]}` belongs under `{kind}:`", item.key_loc(stray[0]),
                help=f"indent {', '.join(map(str, stray))} two spaces deeper than {kind}, "
                     f"or write - {kind}: {{{written}}}",
            )
        if len(types) > 1 and len(known) == 1 and isinstance(item[known[0]], YMap):
            # - {conv: {out_channels: 4}, kernel_size: 3}   <- a parameter beside the mapping
            kind = known[0]
            stray = [k for k in types if k != kind]
            cls = resolve_type(kind) if isinstance(kind, str) else None
            names = {p.name for p in cls[0].params} if cls else set()
            if all(k in names for k in stray):
                raise SpecError(
                    f"`{stray[0]}` belongs under `{kind}:`", item.key_loc(stray[0]),
                    help=f"move {', '.join(map(str, stray))} into {kind}'s mapping: "
                         f"{kind}: {{..., {stray[0]}: {item[stray[0]]}}}",
                )
        if len(types) != 1:
            unknown = [k for k in types if k not in known]
            what = ("no layer type" if not types else
                    "two layer types (" + ", ".join(map(str, types)) + ")" if not unknown else
                    "keys that are neither layer types nor meta keys (" + ", ".join(map(str, unknown)) + ")")
            raise SpecError(
                f"a layer item needs exactly one type key, found {what}",
                item.key_loc(types[1]) if len(types) > 1 else item.loc,
                help="put each layer in its own list item; meta keys are " + ", ".join(META_KEYS),
            )
        key = types[0]
        if not isinstance(key, str):
            raise SpecError(f"a layer type is a name, got {describe(key)}", item.key_loc(key))
        meta = {k: item[k] for k in META_KEYS if k in item}
        self.check_meta(item, meta)
        return key, item.key_loc(key), item[key], item.val_loc(key), meta

    def check_meta(self, item: YMap, meta: dict) -> None:
        if "name" in meta:
            name = meta["name"]
            if not isinstance(name, str) or not _NAME_RE.match(name) or name == INPUT:
                raise SpecError(
                    f"invalid layer name {describe(name)}", item.val_loc("name"), kind="name",
                    help="a name is letters, digits, _ or -, starts with a letter (or is a "
                    "number, as nn.Sequential's \"0\"), has no dots (dots separate levels), and "
                    "is not 'input'",
                )
        if "repeat" in meta:
            self.check_repeat(item)
        for key in ("trainable", "if"):
            if key in meta and not isinstance(meta[key], bool):
                raise SpecError(f"'{key}' must be true or false, got {describe(meta[key])}",
                                item.val_loc(key), kind="value")

    def check_repeat(self, item: YMap) -> None:
        """``repeat: N`` (N >= 1), or ``repeat: {count: N, start: K}`` (K >= 0, default 0)."""
        r, loc = item["repeat"], item.val_loc("repeat")
        form = "repeat: 3, or repeat: {count: 2, start: 1} to name the copies NAME.1 and NAME.2"
        if isinstance(r, YMap):
            for key in r:
                if key not in ("count", "start"):
                    raise SpecError(f"'repeat' takes count and start, not {describe(key)}",
                                    r.key_loc(key), kind="value",
                                    help=suggestion(str(key), ["count", "start"], "keys")
                                    + "; " + form)
            if "count" not in r:
                raise SpecError("'repeat' as a mapping needs count (how many copies)", loc,
                                kind="value", help=form)
            for key, least in (("count", 1), ("start", 0)):
                v = r.get(key, least)
                if isinstance(v, bool) or not isinstance(v, int) or v < least:
                    raise SpecError(f"'repeat' {key} must be a whole number >= {least}, "
                                    f"got {describe(v)}", r.val_loc(key), kind="value", help=form)
            return
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise SpecError(f"'repeat' must be a whole number >= 1, got {describe(r)}",
                            loc, kind="value", help=form)

    def inputs(self, meta: dict, item: Any, scope: Scope, prev: str) -> list[str]:
        if "from" not in meta:
            return [prev]
        value = meta["from"]
        names = value if isinstance(value, list) else [value]
        loc = item.val_loc("from")
        if not names or not all(isinstance(n, str) for n in names):
            raise SpecError(f"'from' must be a layer name or a list of names, got {describe(value)}",
                            loc, kind="value")
        return [self.lookup(n, scope, loc) for n in names]

    def inline_weights(self, node: Node, item: YMap) -> dict:
        """Tensors written in the spec for one layer, checked against its tensor names."""
        value, loc = item["weights"], item.val_loc("weights")
        if not isinstance(value, YMap) or not value:
            raise SpecError("'weights' must map tensor names to nested lists", loc, kind="value",
                            help="weights: {weight: [[[[1, 0], [0, 1]]]], bias: [0]}")
        for key, tensor in value.items():
            nested_shape(tensor, value.val_loc(key), f"weights.{key}")
        return {"values": value, "loc": loc}

    def lookup(self, name: str, scope: Scope, loc: Loc) -> str:
        full = scope.resolve(name)
        if full is not None:
            return full
        later = _find_name(self.root, name)
        if later is not None and (later.line, later.column) > (loc.line, loc.column):
            raise SpecError(
                f"'{name}' is defined below, at line {later.line}", loc, kind="name",
                help="a layer takes inputs only from layers above it, so the graph has no cycles; "
                "move the layers or the reference",
            )
        raise SpecError(
            f"no layer named '{name}' above this point", loc, kind="name",
            help=suggestion(name, scope.visible(), "names here")
            + "; a layer takes inputs only from layers defined before it",
        )

    def register(self, scope: Scope, local: str, full: str, loc: Loc | None) -> None:
        if local in scope.names:
            first = scope.locs.get(local)
            raise SpecError(
                f"the name '{local}' is used twice"
                + (f" (first at line {first.line})" if first else ""),
                loc, kind="name", help="names must be unique within their level",
            )
        scope.names[local] = full
        scope.locs[local] = loc

    def claim(self, scope: Scope, local: str, loc: Loc | None) -> str:
        full = scope.prefix + local
        if full in scope.taken:
            raise SpecError(f"the name '{full}' is used twice", loc, kind="name",
                            help="names must be unique within their level")
        scope.taken.add(full)
        return full

    def torch_form(self, form: Any, item: YMap, primitive: bool, repeat: int) -> None:
        """``torch: FORM`` on a layer: how the upstream PyTorch forward writes it (a
        functional call, torchvision's LayerNorm2d, ...), which the FLOP counters' conventions
        read (cnncalc/analysis/conventions.py). Sets it on the item's ``repeat`` nodes."""
        where = item.val_loc("torch")
        if not primitive:
            raise SpecError("'torch' can be written only on a layer, not on a structure or block",
                            where, help="write torch: on each layer it concerns")
        nodes = self.nodes[-repeat:]
        forms = nodes[-1].layer.torch_forms
        if form not in forms:
            kind = nodes[-1].type
            raise SpecError(
                f"torch: {form!r} is not a PyTorch form of {kind}", where, kind="value",
                help=suggestion(str(form), forms, f"forms of {kind}") if forms else
                f"{kind} has one PyTorch form; remove torch:")
        problem = nodes[-1].layer.torch_form_problem(form)
        if problem:
            raise SpecError(problem, where, kind="value",
                            help="remove torch:, or change the layer's parameters")
        for node in nodes:
            node.torch_form = form

    # -- primitives -----------------------------------------------------------------

    def primitive(self, type_key, type_loc, raw, raw_loc, local, scope: Scope,
                  inputs: list[str], path, trainable, item_loc) -> str:
        cls, alias_rank = resolve_type(type_key)  # type: ignore[misc]
        if alias_rank is not None and alias_rank != self.ndim and not getattr(cls, "alias_any_rank", False):
            raise SpecError(
                f"{type_key} in a {self.ndim}-D network (input has {self.ndim} spatial "
                f"ax{'is' if self.ndim == 1 else 'es'})",
                type_loc, kind="shape",
                help=f"write {cls.type_name} (the rank comes from the input) or fix the input shape",
            )
        raw_locs = raw.key_locs if isinstance(raw, YMap) else {}
        if self.dilation_base != 1 and isinstance(raw, YMap) and "dilation" in raw:
            raw = self.rebase_dilation(raw)
        elif isinstance(raw, YMap) and "dilation" in raw and \
                0 in (raw["dilation"] if isinstance(raw["dilation"], list) else [raw["dilation"]]):
            raise SpecError(
                "dilation 0: dilation counts from 1 here, as in PyTorch (1 = an ordinary kernel)",
                raw.val_loc("dilation"), kind="value",
                help="write dilation: 1 for an ordinary kernel; if your course counts from 0 "
                     "(cs231n: 0 = no gaps), run with --dilation-base 0",
            )
        values, locs = cls.parse_params(raw, self.ndim, raw_loc, raw_locs, type_loc)
        inputs = list(inputs)
        if values.get("with") is not None:  # a layer that declares with: (the merges) reads those too
            inputs += [self.lookup(n, scope, locs["with"]) for n in values["with"]]
        refs = []
        for key in cls.ref_params:
            if values.get(key) is not None:
                refs.extend(self.lookup(n, scope, locs[key]) for n in values[key])
        if len(inputs) < cls.min_inputs:
            raise SpecError(
                f"{cls.type_name} needs at least {cls.min_inputs} inputs, got {len(inputs)}",
                type_loc, help=f"name the other input(s): {cls.type_name}: {{with: NAME}}, "
                "or from: [a, b]",
            )
        if cls.max_inputs is not None and len(inputs) > cls.max_inputs:
            raise SpecError(
                f"{cls.type_name} takes one input, but 'from' names {len(inputs)}", type_loc,
                help="a list of names in 'from' is for merges (add, concat, multiply)",
            )
        layer = cls(self.ndim, values, loc=type_loc, param_locs=locs, input_names=inputs,
                    alias_rank=alias_rank)
        if local is None:
            local = scope.auto_name(cls.type_name)
        self.register(scope, local, scope.prefix + local, item_loc)
        full = self.claim(scope, local, item_loc)
        self.consumed.update(inputs)
        self.consumed.update(refs)
        self.nodes.append(Node(full, cls.type_name, layer, inputs, type_loc, refs, trainable, path,
                               uses=tuple(self.use_stack)))
        return full

    def rebase_dilation(self, raw: YMap) -> YMap:
        """Dilation written 0-based (cs231n: 0 = no gaps) -> PyTorch's 1-based."""
        out = YMap(raw)
        out.loc, out.key_locs, out.val_locs = raw.loc, raw.key_locs, raw.val_locs
        value, shift = raw["dilation"], 1 - self.dilation_base
        if isinstance(value, list):
            out["dilation"] = [v + shift if isinstance(v, int) and not isinstance(v, bool) else v
                               for v in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            out["dilation"] = value + shift
        return out

    def merge(self, kind: str, kind_loc: Loc, scope: Scope, inputs: list[str], path,
              trainable, loc: Loc) -> str:
        return self.primitive(kind, kind_loc, None, kind_loc, None, scope, inputs, path,
                              trainable, loc)

    # -- structures and blocks ----------------------------------------------------------

    def structure(self, type_key, type_loc, raw, raw_loc, local, scope: Scope,
                  inputs: list[str], path, trainable, item_loc) -> str:
        if len(inputs) != 1:
            raise SpecError(f"{type_key} takes one input, but 'from' names {len(inputs)}",
                            type_loc, help="merge the inputs first, then feed the result")
        if local is None:
            local = scope.auto_name(type_key)
        full = self.claim(scope, local, item_loc)
        inner = Scope(prefix=full + ".", parent=scope)
        inner_path = (*path, full)
        x = inputs[0]
        if type_key == "sequential":
            out = self.sequence(raw, raw_loc, inner, x, inner_path, trainable)
        elif type_key == "residual":
            out = self.residual(raw, raw_loc, inner, x, inner_path, trainable, type_loc)
        elif type_key == "parallel":
            out = self.parallel(raw, raw_loc, inner, x, inner_path, trainable, type_loc)
        else:
            out = self.block(self.blocks[type_key], raw, raw_loc, inner, x, inner_path,
                             trainable, type_loc)
        if out == x:
            raise SpecError(f"{type_key} '{full}' has no layers", type_loc,
                            help="give it at least one layer")
        self.register(scope, local, out, item_loc)
        self.groups[full] = (out, type_key)
        return out

    def keys(self, raw: Any, loc: Loc, what: str, allowed: tuple[str, ...], required: str) -> YMap:
        if not isinstance(raw, YMap):
            raise SpecError(f"{what} takes a mapping with {', '.join(allowed)}, got {describe(raw)}",
                            loc, help=f"{what}: {{{required}: [...]}}")
        for key in raw:
            if key not in allowed:
                raise SpecError(f"unknown key '{key}' in {what}", raw.key_loc(key),
                                help=suggestion(str(key), allowed, f"keys of {what}"))
        if required not in raw:
            raise SpecError(f"{what} needs '{required}'", loc, help=f"{what}: {{{required}: [...]}}")
        return raw

    def merge_kind(self, raw: YMap, default: str, what: str, type_loc: Loc) -> tuple[str, Loc]:
        """The merge and where it is written (an implicit merge: at the structure's key)."""
        kind = raw.get("merge", default)
        merges = merge_types()
        if kind not in merges:
            raise SpecError(f"'merge' of {what} must be one of {', '.join(merges)}, got {describe(kind)}",
                            raw.val_loc("merge"), kind="value",
                            help=suggestion(str(kind), merges, "merges"))
        return kind, raw.val_loc("merge") if "merge" in raw else type_loc

    def residual(self, raw, loc, scope: Scope, x: str, path, trainable, type_loc) -> str:
        """out = merge(shortcut(x), body(x)); the shortcut is the identity unless given."""
        raw = self.keys(raw, loc, "residual", ("body", "shortcut", "merge"), "body")
        body = self.sequence(raw["body"], raw.val_loc("body"), scope, x, path, trainable)
        shortcut = x
        if raw.get("shortcut"):
            sub = Scope(prefix=scope.prefix + "shortcut.", parent=scope)
            self.claim(scope, "shortcut", raw.key_loc("shortcut"))
            shortcut = self.sequence(raw["shortcut"], raw.val_loc("shortcut"), sub, x,
                                     (*path, scope.prefix + "shortcut"), trainable)
        kind, kind_loc = self.merge_kind(raw, STRUCTURE_MERGE["residual"], "residual", type_loc)
        return self.merge(kind, kind_loc, scope, [shortcut, body], path, trainable, type_loc)

    def parallel(self, raw, loc, scope: Scope, x: str, path, trainable, type_loc) -> str:
        """Every branch sees x; the outputs are merged (default concat), in order."""
        raw = self.keys(raw, loc, "parallel", ("branches", "merge"), "branches")
        branches = raw["branches"]
        if not isinstance(branches, YList) or len(branches) < 2:
            raise SpecError("parallel needs a list of at least two branches", raw.val_loc("branches"),
                            help="branches: [[conv: ...], [conv: ..., relu]]")
        outs = []
        for i, branch in enumerate(branches, start=1):
            bloc = branches.item_loc(i - 1)
            sub = Scope(prefix=scope.prefix + f"branch{i}.", parent=scope)
            self.claim(scope, f"branch{i}", bloc)
            outs.append(self.sequence(branch, bloc, sub, x, (*path, scope.prefix + f"branch{i}"),
                                      trainable) if branch else x)
        kind, kind_loc = self.merge_kind(raw, STRUCTURE_MERGE["parallel"], "parallel", type_loc)
        return self.merge(kind, kind_loc, scope, outs, path, trainable, type_loc)

    def block(self, block: Block, raw, raw_loc, scope: Scope, x: str, path, trainable,
              use_loc) -> str:
        if block.name in self.block_stack:
            chain = " -> ".join([*self.block_stack[self.block_stack.index(block.name):], block.name])
            raise _ChainError(f"block '{block.name}' uses itself ({chain})", use_loc, kind="limit",
                              help="a block cannot contain itself, directly or through another block")
        if len(self.block_stack) >= MAX_BLOCK_DEPTH:
            chain = " -> ".join([*self.block_stack, block.name])
            raise _ChainError(f"blocks nest {len(self.block_stack) + 1} deep, more than the limit of "
                              f"{MAX_BLOCK_DEPTH} ({chain})", use_loc, kind="limit",
                              help="the limit is fixed (docs/limits.md): use `repeat` "
                                   "instead of nesting a new block per level")
        given = raw if raw is not None else {}
        if not isinstance(given, dict):
            raise SpecError(f"block '{block.name}' takes a mapping of arguments, got {describe(raw)}",
                            raw_loc, kind="value",
                            help=f"{block.name}: {{{', '.join(f'{k}: ...' for k in block.args)}}}")
        env = dict(block.args)
        for key, value in given.items():
            if key not in block.args:
                raise SpecError(
                    f"block '{block.name}' has no argument '{key}'",
                    given.key_loc(key) if isinstance(given, YMap) else raw_loc,
                    help=suggestion(str(key), block.args, f"arguments of {block.name}")
                    if block.args else f"{block.name} takes no arguments",
                )
            env[key] = value
        missing = [k for k, v in env.items() if v is None]
        if missing:
            raise SpecError(f"block '{block.name}' needs argument '{missing[0]}'", use_loc,
                            help=f"add {missing[0]}: ... (its default is null: required)")
        self.block_stack.append(block.name)
        self.use_stack.append((block.name, use_loc))
        try:
            layers = substitute(block.layers, env, block.layers.loc)
            return self.sequence(layers, block.layers.loc, scope, x, path, trainable)
        except SpecError as exc:
            if not isinstance(exc, _ChainError):  # its message names every use already
                exc.notes.append(f"in block '{block.name}' used at line {use_loc.line}, "
                                 f"column {use_loc.column}")
            raise
        finally:
            self.block_stack.pop()
            self.use_stack.pop()


class _ChainError(SpecError):
    """A block cycle or the nesting limit: the message names the whole chain of uses, so no
    ``note:`` per use is added on the way out."""


def nested_shape(value: Any, loc: Loc, what: str) -> tuple[int, ...]:
    """The shape of a rectangular nested list of numbers; SpecError if it is ragged."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, dict)):
        raise SpecError(f"{what} must hold numbers, got {describe(value)}", loc, kind="value")
    if not isinstance(value, list):
        if not isinstance(value, (int, float)):
            raise SpecError(f"{what} must hold numbers, got {describe(value)}", loc, kind="value")
        return ()
    if not value:
        raise SpecError(f"{what} has an empty list", loc, kind="value")
    shapes = {nested_shape(v, loc, what) for v in value}
    if len(shapes) != 1:
        raise SpecError(f"{what} is ragged: its rows have different lengths", loc, kind="value",
                        help="every row of a tensor needs the same length")
    return (len(value), *shapes.pop())


def check_inline(net: Network) -> None:
    """Inline input values and weights have the shapes the network needs."""
    if net.input_values is not None:
        values, loc = net.input_values
        shape = nested_shape(values, loc, "input values")
        if shape != net.input_shape and shape[1:] != net.input_shape:
            raise SpecError(
                f"input values have shape {list(shape)}, but the input is {list(net.input_shape)}",
                loc, kind="shape", help="give one sample [C, ...] or a batch [N, C, ...]")
    for node in net.nodes:
        if not node.inline_weights:
            continue
        tensors = {**node.facts.params, **node.facts.buffers}
        given = node.inline_weights["values"]
        for key, value in given.items():
            if key not in tensors:
                raise SpecError(f"{node.type} '{node.name}' has no tensor '{key}'", given.key_loc(key),
                                kind="name", help=suggestion(str(key), tensors, "tensors"))
            shape = nested_shape(value, given.val_loc(key), f"weights.{key}")
            if shape != tuple(tensors[key]):
                raise SpecError(
                    f"{node.type} '{node.name}': {key} has shape {list(shape)}, needs {list(tensors[key])}",
                    given.val_loc(key), kind="shape",
                    help="PyTorch's layouts: conv weight [out, in/groups, *kernel], linear [out, in]")


def meta_loc(item: Any, key: str, default: Loc) -> Loc:
    return item.val_loc(key) if isinstance(item, YMap) and key in item else default


def _input(doc: YMap, file: str | None) -> tuple[tuple[int, ...], int, Loc]:
    if "input" not in doc:
        raise SpecError("the spec has no 'input'", doc.loc, file=file,
                        help="add e.g. input: [3, 224, 224] (channels first, no batch)")
    value, loc = doc["input"], doc.val_loc("input")
    batch = 1
    values = None
    if isinstance(value, YMap):
        unknown = [k for k in value if k not in ("shape", "batch", "values")]
        if unknown:
            raise SpecError(f"unknown key '{unknown[0]}' in input", value.key_loc(unknown[0]),
                            help=suggestion(str(unknown[0]), ("shape", "batch", "values"),
                                            "keys of input"))
        if "values" in value:
            values = (value["values"], value.val_loc("values"))
        if "shape" not in value:
            raise SpecError("input needs 'shape'", loc, help="input: {shape: [3, 224, 224], batch: 1}")
        if "batch" in value:
            batch = value["batch"]
            if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
                raise SpecError(f"'batch' must be a whole number >= 1, got {describe(batch)}",
                                value.val_loc("batch"), kind="value")
        loc = value.val_loc("shape")
        value = value["shape"]
    if isinstance(value, str):
        try:
            value = list(parse_shape_text(value))
        except ValueError:
            value = None
    if isinstance(value, list) and 2 <= len(value) <= 4:
        axes = {2: "CL", 3: "CHW", 4: "CDHW"}[len(value)]
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                where = value.item_loc(i) if isinstance(value, YList) else loc
                raise SpecError(f"input: element {i + 1} ({axes[i]}) must be a whole number >= 1, "
                                f"got {describe(v)}", where, kind="value",
                                help="channels first, without the batch axis: input: [3, 224, 224]")
    if not isinstance(value, list) or not 2 <= len(value) <= 4 or not all(isinstance(v, int) for v in value):
        raise SpecError(
            f"input must be [C, L], [C, H, W] or [C, D, H, W] of whole numbers >= 1, got {describe(value)}",
            loc, kind="value", help="channels first, without the batch axis: input: [3, 224, 224]",
        )
    return tuple(value), batch, loc, values


def loads(text: str | bytes, file: str | None = None, *, input_shape: tuple[int, ...] | None = None,
          batch: int | None = None, max_nodes: int = MAX_NODES, dilation_base: int = 1) -> Network:
    """Parse and validate a spec given as text.

    Args:
        text: the YAML document.
        file: the name used in messages and as the default network name.
        input_shape: per-sample shape overriding the spec's ``input`` (same rank).
        batch: batch size overriding the spec's.
        max_nodes: refuse specs that expand to more layers than this.
        dilation_base: 1 (PyTorch: dilation 1 = no gaps) or 0 (cs231n: 0 = no gaps).

    Returns:
        The Network, with every layer's output shape checked.

    Raises:
        SpecError: anything wrong with the spec, located.

    YAML only: :func:`cnncalc.io.load.loads` reads an ONNX model too (by content).
    """
    try:
        doc = parse_yaml(text, file)
        if doc is None:
            raise SpecError("the spec is empty", Loc(1, 1),
                            help="a spec needs at least input: and layers:")
        if not isinstance(doc, YMap):
            raise SpecError(f"a spec is a mapping with input: and layers:, got {describe(doc)}",
                            getattr(doc, "loc", Loc(1, 1)))
        _not_a_spec(doc, text)
        for key in doc:
            if key not in TOP_KEYS:
                raise SpecError(f"unknown top-level key '{key}'", doc.key_loc(key),
                                help=suggestion(str(key), TOP_KEYS, "top-level keys"))
        shape, spec_batch, in_loc, input_values = _input(doc, file)
        if input_shape is not None:
            if len(input_shape) != len(shape):
                raise SpecError(
                    f"--input has rank {len(input_shape)} but the spec's input {list(shape)} has rank {len(shape)}",
                    in_loc, kind="value", help="give channels and every spatial axis, e.g. 3x227x227",
                )
            shape = tuple(input_shape)
        name = doc.get("name")
        if name is None:
            name = Path(file).stem if file else "network"
        elif not isinstance(name, str):
            raise SpecError(f"'name' must be text, got {describe(name)}", doc.val_loc("name"), kind="value")
        if "layers" not in doc:
            raise SpecError("the spec has no 'layers'", doc.loc, help="add layers: followed by a list")
        layers = doc["layers"]
        if isinstance(layers, list) and not layers:
            raise SpecError("'layers' is empty", doc.val_loc("layers"), help="list at least one layer")
        builder = _Builder(doc, len(shape) - 1, max_nodes, _parse_blocks(doc), dilation_base)
        top = Scope(taken={INPUT})
        top.names[INPUT] = INPUT
        builder.sequence(layers, doc.val_loc("layers"), top, INPUT, (), True)
        if not builder.nodes:
            raise SpecError("no layers are left (every item has if: false)", doc.val_loc("layers"))
        outputs = [n.name for n in builder.nodes if n.name not in builder.consumed]
        net = Network(name, shape, batch if batch is not None else spec_batch, builder.nodes,
                      outputs, file, in_loc, builder.groups, input_values)
        if "expect" in doc:
            if not isinstance(doc["expect"], YMap):
                raise SpecError("'expect' maps totals to the values the network must have",
                                doc.val_loc("expect"), kind="value", help="expect: {params: 61706}")
            net.expect = doc["expect"]
        if "upstream" in doc:  # dL/d(output) for `cnncalc grad`; checked there (cnncalc/measure/grad.py)
            net.upstream = (doc["upstream"], doc.val_loc("upstream"))
        infer_shapes(net)
        check_inline(net)
        return net
    except SpecError as exc:
        raise exc.located(file=file) from None


def load(path: str | Path, **kwargs: Any) -> Network:
    """Read a YAML spec file; see :func:`loads` for the arguments and errors
    (:func:`cnncalc.io.load.load` reads ONNX files too).

    Raises:
        SpecError: also for a file that cannot be read.
    """
    return loads(read_bounded(path, MAX_FILE_BYTES, "spec", help=SPEC_SIZE_HELP), str(path),
                 **kwargs)
