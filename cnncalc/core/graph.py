"""The network graph: nodes, names and scopes.

Nodes are created in definition order, and an input may only name a node
defined above it, so the list is a topological order and a cycle cannot be
written (a forward reference is an error that says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cnncalc.core.errors import Loc
from cnncalc.core.facts import Facts, Shape
from cnncalc.core.rf import ReceptiveField

if TYPE_CHECKING:
    from cnncalc.layers.base import Layer

INPUT = "input"


def tensor_key(node: str, key: str) -> str:
    """The weight key of a node's tensor, ``"<node>.<key>"`` in PyTorch's state_dict naming
    (``layer1.0.conv1.weight``; ``...self_attention.out_proj.weight``: a tensor key may hold
    dots). A tensor a layer names ``""`` is the node itself: a parameter registered as a
    module's attribute (torchvision's ViT ``class_token``, ``encoder.pos_embedding``)."""
    return f"{node}.{key}" if key else node


def split_key(key: str, names) -> tuple[str, str] | None:
    """``(node, tensor)`` of a weight key, the node being the longest prefix of the key
    that is in ``names`` (the inverse of :func:`tensor_key`); None when no prefix is."""
    if key in names:
        return key, ""
    parts = key.split(".")
    for i in range(len(parts) - 1, 0, -1):
        node = ".".join(parts[:i])
        if node in names:
            return node, ".".join(parts[i:])
    return None


@dataclass
class Node:
    """One primitive layer in the graph.

    Attributes:
        name: full dotted name (``layer1.0.conv1``), unique in the network.
        type: canonical layer type (``conv``; aliases such as ``conv2d`` resolved).
        layer: the layer object holding parameters and formulas.
        inputs: names of the nodes whose outputs flow into this one (data edges).
        refs: names whose shape only is used (``crop: {like: NAME}``).
        loc: location of the YAML item that defined it.
        trainable: False when the item (or an enclosing one) says ``trainable: false``.
        path: names of the enclosing structures, outermost first (for grouping).
    """

    name: str
    type: str
    layer: Layer
    inputs: list[str]
    loc: Loc | None
    refs: list[str] = field(default_factory=list)
    trainable: bool = True
    path: tuple[str, ...] = ()
    inline_weights: dict | None = None  # tensors written in the spec: name -> nested lists
    uses: tuple[tuple[str, Loc], ...] = ()  # (block, where it was used), outermost first
    expect: dict | None = None  # figures the spec promises for this layer (checked by lint)
    facts: Facts | None = None  # the layer's figures, set once by analyze.infer_shapes (load)
    field: ReceptiveField | None = None  # its receptive field, set with facts
    # the field through the spatial paths alone, broadcast gates held constant (set with facts)
    local_field: ReceptiveField | None = None
    global_context: tuple[str, ...] = ()  # the merges whose broadcast gate brings global information


@dataclass
class Network:
    """A parsed, validated spec.

    Attributes:
        name: the spec's ``name`` (default: the file's stem).
        input_shape: per-sample input shape, channels first.
        batch: batch size the counts are multiplied by.
        nodes: every primitive node in topological order.
        outputs: names of the nodes nothing consumes (the network's outputs).
        file: the spec's path (for messages), or None.
        input_loc: where ``input`` was written.
        groups: full name of every structure, block use and named repeat ->
            (the node that is its output, its type).
        input_values: the input written inline in the spec (``input: {values: ...}``), or None.
    """

    name: str
    input_shape: Shape
    batch: int
    nodes: list[Node]
    outputs: list[str]
    file: str | None = None
    input_loc: Loc | None = None
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)
    input_values: tuple | None = None  # (nested lists, location) written in the spec
    expect: dict | None = None  # totals the spec promises (top-level expect:)
    upstream: tuple | None = None  # (values, location): dL/d(output) written for `cnncalc grad`

    @property
    def ndim(self) -> int:
        """Number of spatial axes (1, 2 or 3)."""
        return len(self.input_shape) - 1

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


class Scope:
    """Names visible at one level of the spec; a reference looks here first, then outward.

    ``prefix`` is the dotted path of the level (``layer1.0.``); ``names`` maps a
    local name to the full name of the node whose output it means.
    """

    def __init__(self, prefix: str = "", parent: Scope | None = None,
                 taken: set[str] | None = None) -> None:
        self.prefix = prefix
        self.parent = parent
        self.names: dict[str, str] = {}
        self.locs: dict[str, Loc | None] = {}
        self.counters: dict[str, int] = {}
        # full names used anywhere in the network, shared by all scopes
        self.taken = taken if taken is not None else (parent.taken if parent else set())

    def resolve(self, name: str) -> str | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        seen: list[str] = []
        scope: Scope | None = self
        while scope is not None:
            seen.extend(n for n in scope.names if n not in seen)
            scope = scope.parent
        return seen

    def auto_name(self, type_name: str) -> str:
        """``conv1``, ``conv2``, ...: the next free name for this type in this scope."""
        count = self.counters.get(type_name, 0)
        while True:
            count += 1
            local = f"{type_name}{count}"
            if local not in self.names and self.prefix + local not in self.taken:
                self.counters[type_name] = count
                return local
