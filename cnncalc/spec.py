"""YAML spec -> :class:`~cnncalc.graph.Network` (docs/spec-format.md).

Every error names the file, line and column of the item at fault and, for an
unknown name, the closest valid one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import Loc, SpecError, suggestion
from .graph import INPUT, Network, Node, Scope
from .layers import REGISTRY
from .layers.base import Layer, describe
from .yamlio import YList, YMap, parse_yaml

TOP_KEYS = ("name", "input", "layers", "description")
META_KEYS = ("name", "from", "repeat", "trainable")
MAX_NODES = 100_000
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_ALIAS_RE = re.compile(r"^(.*?)([123])d$")


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


def type_names() -> list[str]:
    names = []
    for key, cls in REGISTRY.items():
        names.append(key)
        if cls.spatial:
            names.extend(f"{key}{n}d" for n in (1, 2, 3))
    return names


def parse_shape_text(text: str) -> tuple[int, ...]:
    """``3x224x224`` or ``3,224,224`` -> (3, 224, 224); ValueError if malformed."""
    parts = [p for p in re.split(r"[x×,\s]+", text.strip().strip("[]()")) if p]
    if not parts:
        raise ValueError("empty shape")
    values = tuple(int(p) for p in parts)
    if any(v < 1 for v in values):
        raise ValueError("sizes must be >= 1")
    return values


class _Builder:
    def __init__(self, file: str | None, ndim: int, max_nodes: int) -> None:
        self.file = file
        self.ndim = ndim
        self.max_nodes = max_nodes
        self.nodes: list[Node] = []
        self.consumed: set[str] = set()

    # -- items -----------------------------------------------------------------

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
        found = resolve_type(type_key)
        if found is None:
            raise SpecError(
                f"unknown layer type '{type_key}'", type_loc,
                help=suggestion(type_key, REGISTRY, "types (and their 1d/2d/3d forms)"),
            )
        cls, alias_rank = found
        if alias_rank is not None and alias_rank != self.ndim and not getattr(cls, "alias_any_rank", False):
            raise SpecError(
                f"{type_key} in a {self.ndim}-D network (input has {self.ndim} spatial "
                f"ax{'is' if self.ndim == 1 else 'es'})",
                type_loc, kind="shape",
                help=f"write {cls.type_name} (the rank comes from the input) or fix the input shape",
            )
        name = meta.get("name")
        repeat = meta.get("repeat", 1)
        if "trainable" in meta:
            trainable = trainable and meta["trainable"]
        inputs = self.inputs(meta, item, scope, prev)
        if len(self.nodes) + repeat > self.max_nodes:
            raise SpecError(
                f"the network would have more than {self.max_nodes:,} layers", type_loc, kind="limit",
                help="lower repeat, or raise the limit (--max-layers)",
            )
        for i in range(repeat):
            local = None if name is None else (name if repeat == 1 else f"{name}.{i}")
            out = self.primitive(cls, alias_rank, type_key, type_loc, raw, raw_loc,
                                 local, scope, inputs, path, trainable, loc)
            inputs = [out]
        if name is not None and repeat > 1:
            self.register(scope, name, out, meta_loc(item, "name", loc))
        return out

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
        if len(types) != 1:
            what = "no layer type" if not types else "two layer types (" + ", ".join(map(str, types)) + ")"
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
                    help="a name is letters, digits, _ or -, starts with a letter, has no dots "
                    "(dots separate levels), and is not 'input'",
                )
        if "repeat" in meta:
            r = meta["repeat"]
            if isinstance(r, bool) or not isinstance(r, int) or r < 1:
                raise SpecError(f"'repeat' must be a whole number >= 1, got {describe(r)}",
                                item.val_loc("repeat"), kind="value")
        if "trainable" in meta and not isinstance(meta["trainable"], bool):
            raise SpecError(f"'trainable' must be true or false, got {describe(meta['trainable'])}",
                            item.val_loc("trainable"), kind="value")

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

    def lookup(self, name: str, scope: Scope, loc: Loc) -> str:
        full = scope.resolve(name)
        if full is None:
            raise SpecError(
                f"no layer named '{name}' above this point", loc, kind="name",
                help=suggestion(name, scope.visible(), "names here")
                + "; a layer takes inputs only from layers defined before it",
            )
        return full

    def register(self, scope: Scope, local: str, full: str, loc: Loc | None) -> None:
        if local in scope.names and local != INPUT:
            first = scope.locs.get(local)
            raise SpecError(
                f"the name '{local}' is used twice"
                + (f" (first at line {first.line})" if first else ""),
                loc, kind="name", help="names must be unique within their level",
            )
        scope.names[local] = full
        scope.locs[local] = loc

    def primitive(self, cls: type[Layer], alias_rank, type_key, type_loc, raw, raw_loc,
                  local, scope: Scope, inputs: list[str], path, trainable, item_loc) -> str:
        raw_locs = raw.key_locs if isinstance(raw, YMap) else {}
        values, locs = cls.parse_params(raw, self.ndim, raw_loc, raw_locs, type_loc)
        layer = cls(self.ndim, values, loc=type_loc, param_locs=locs)
        if alias_rank is not None:
            layer.alias_rank = alias_rank
        refs = []
        for key in cls.ref_params:
            if values.get(key) is not None:
                refs.extend(self.lookup(n, scope, locs[key]) for n in values[key])
        if len(inputs) < cls.min_inputs or (cls.max_inputs is not None and len(inputs) > cls.max_inputs):
            raise SpecError(
                f"{cls.type_name} takes one input, but 'from' names {len(inputs)}", type_loc,
                kind="spec", help="a list of names in 'from' is for merges (add, concat, multiply)",
            )
        if local is None:
            local = scope.auto_name(cls.type_name)
        full = scope.prefix + local
        self.register(scope, local, full, item_loc)
        if full in scope.taken:
            raise SpecError(f"the name '{full}' is used twice", item_loc, kind="name",
                            help="names must be unique within their level")
        scope.taken.add(full)
        self.consumed.update(inputs)
        self.consumed.update(refs)
        self.nodes.append(Node(full, cls.type_name, layer, list(inputs), type_loc, refs,
                               trainable, path))
        return full


def meta_loc(item: Any, key: str, default: Loc) -> Loc:
    return item.val_loc(key) if isinstance(item, YMap) and key in item else default


def _input(doc: YMap, file: str | None) -> tuple[tuple[int, ...], int, Loc]:
    if "input" not in doc:
        raise SpecError("the spec has no 'input'", doc.loc, file=file,
                        help="add e.g. input: [3, 224, 224] (channels first, no batch)")
    value, loc = doc["input"], doc.val_loc("input")
    batch = 1
    if isinstance(value, YMap):
        unknown = [k for k in value if k not in ("shape", "batch")]
        if unknown:
            raise SpecError(f"unknown key '{unknown[0]}' in input", value.key_loc(unknown[0]),
                            help=suggestion(str(unknown[0]), ("shape", "batch"), "keys of input"))
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
    if (
        not isinstance(value, list)
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        or not 2 <= len(value) <= 4
    ):
        raise SpecError(
            f"input must be [C, L], [C, H, W] or [C, D, H, W] of whole numbers >= 1, got {describe(value)}",
            loc, kind="value", help="channels first, without the batch axis: input: [3, 224, 224]",
        )
    return tuple(value), batch, loc


def loads(text: str | bytes, file: str | None = None, *, input_shape: tuple[int, ...] | None = None,
          batch: int | None = None, max_nodes: int = MAX_NODES) -> Network:
    """Parse and validate a spec given as text.

    Args:
        text: the YAML document.
        file: the name used in messages and as the default network name.
        input_shape: per-sample shape overriding the spec's ``input`` (same rank).
        batch: batch size overriding the spec's.
        max_nodes: refuse specs that expand to more layers than this.

    Returns:
        The Network, with every layer's output shape checked.

    Raises:
        SpecError: anything wrong with the spec, located.
    """
    from .analyze import infer_shapes

    try:
        doc = parse_yaml(text, file)
        if doc is None:
            raise SpecError("the spec is empty", Loc(1, 1),
                            help="a spec needs at least input: and layers:")
        if not isinstance(doc, YMap):
            raise SpecError(f"a spec is a mapping with input: and layers:, got {describe(doc)}",
                            getattr(doc, "loc", Loc(1, 1)))
        for key in doc:
            if key not in TOP_KEYS:
                raise SpecError(f"unknown top-level key '{key}'", doc.key_loc(key),
                                help=suggestion(str(key), TOP_KEYS, "top-level keys"))
        shape, spec_batch, in_loc = _input(doc, file)
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
        builder = _Builder(file, len(shape) - 1, max_nodes)
        top = Scope(taken={INPUT})
        top.names[INPUT] = INPUT
        builder.sequence(layers, doc.val_loc("layers"), top, INPUT, (), True)
        outputs = [n.name for n in builder.nodes if n.name not in builder.consumed]
        net = Network(name, shape, batch if batch is not None else spec_batch, builder.nodes,
                      outputs, file, in_loc)
        infer_shapes(net)
        return net
    except SpecError as exc:
        raise exc.located(file=file) from None


def load(path: str | Path, **kwargs: Any) -> Network:
    """Read a spec file; see :func:`loads` for the arguments and errors.

    Raises:
        SpecError: also for a file that cannot be read.
    """
    path_text = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the spec: {exc.strerror}", file=path_text, kind="io",
                        help="check the path") from None
    return loads(data, path_text, **kwargs)
