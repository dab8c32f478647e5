"""cnncalc networks -> PyTorch source (``cnncalc export --to pytorch``).

Each layer class writes its own ``forward`` expression and module constructor
(``Layer.to_torch``); this module assembles the file and names no layer type.

Each layer with learnable tensors or buffers becomes a ``torch.nn`` module registered at
its cnncalc name (``layer1.0.conv1`` under ``nn.ModuleDict`` containers), so the
module's ``state_dict`` keys are cnncalc's weight keys (``layer1.0.conv1.weight``) and
``cnncalc run --weights`` and ``load_state_dict`` exchange weights. Layers without
state are written as functional calls in ``forward``. Writing never imports torch:
this module writes text.
"""

from __future__ import annotations

import keyword
import re

from cnncalc.core.errors import SpecError
from cnncalc.core.exchange import TorchCall
from cnncalc.core.shapes import infer_shapes
from cnncalc.layers import REGISTRY

# nn.Module's own attributes: a submodule of that name would be shadowed by them
_MODULE_ATTRS = frozenset({
    "training", "forward", "modules", "parameters", "buffers", "children", "eval", "train",
    "apply", "cuda", "cpu", "float", "half", "double", "type", "to", "state_dict",
    "load_state_dict", "zero_grad", "add_module", "register_module", "register_buffer",
    "register_parameter", "get_submodule", "get_parameter", "requires_grad_", "named_modules",
    "named_parameters", "named_buffers", "named_children", "extra_repr", "share_memory",
    "bfloat16", "ipu", "xpu", "mtia", "compile", "dump_patches", "call_super_init"})


class _Writer:
    def __init__(self, net) -> None:
        self.net = net
        self.init: list[str] = []
        self.body: list[str] = []
        self.containers: set[str] = set()
        self.var: dict[str, str] = {"input": "x"}
        self.used = {"x", "self"}
        self.helpers: dict[str, tuple[str, ...]] = {}  # class name -> its source lines

    def ref(self, parts: list[str]) -> str:
        first = parts[0]
        ref = f"self.{first}" if first.isidentifier() and not keyword.iskeyword(first) \
            else f'getattr(self, "{first}")'
        return ref + "".join(f'["{p}"]' for p in parts[1:])

    def assign(self, parts: list[str], value: str) -> str:
        if len(parts) == 1 and not (parts[0].isidentifier() and not keyword.iskeyword(parts[0])):
            return f'self.add_module("{parts[0]}", {value})'
        return f"{self.ref(parts)} = {value}"

    def parameter_ref(self, parts: list[str]) -> str:
        """The reference of an nn.Parameter registered at a dotted name: an attribute of its
        container (a ModuleDict holds modules under [...], parameters as attributes)."""
        owner = "self" if len(parts) == 1 else self.ref(parts[:-1])
        return f"{owner}.{parts[-1]}" if parts[-1].isidentifier() and not keyword.iskeyword(parts[-1]) \
            else f'getattr({owner}, "{parts[-1]}")'

    def add(self, name: str, ctor: str, parameter: bool = False) -> str:
        """Register a module (or, with ``parameter``, an nn.Parameter) at the node's dotted
        name (ModuleDicts for the levels above)."""
        parts = name.split(".")
        if parts[0] in _MODULE_ATTRS:
            raise SpecError(f"layer '{name}': '{parts[0]}' is an nn.Module attribute; rename it",
                            kind="export")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in self.containers:
                self.containers.add(prefix)
                self.init.append(self.assign(parts[:i], "nn.ModuleDict()"))
        if parameter:
            owner = "self" if len(parts) == 1 else self.ref(parts[:-1])
            self.init.append(f'{owner}.register_parameter("{parts[-1]}", {ctor})')
            return self.parameter_ref(parts)
        self.init.append(self.assign(parts, ctor))
        return self.ref(parts)

    def variable(self, name: str) -> str:
        base = re.sub(r"\W", "_", name)
        if not base.isidentifier() or base in ("torch", "nn", "F"):
            base = "v_" + base
        v, k = base, 1
        while v in self.used:
            k += 1
            v = f"{base}_{k}"
        self.used.add(v)
        self.var[name] = v
        return v


def torch_types() -> list[str]:
    """The layer types cnncalc writes as PyTorch source (the others declare why not)."""
    return sorted(name for name, cls in REGISTRY.items() if cls.writes_torch() and not cls.torch_refusal)


def to_source(net, source: str | None = None) -> str:
    """A Python module defining ``class Net(torch.nn.Module)`` equivalent to ``net``.

    Raises:
        SpecError: a layer type or padding PyTorch's modules cannot express (named).
    """
    for node in net.nodes:
        cls = type(node.layer)
        if cls.torch_refusal or not cls.writes_torch():
            why = f": {cls.torch_refusal}" if cls.torch_refusal else ""
            raise SpecError(f"layer '{node.name}' ({node.type}) has no torch.nn equivalent{why}",
                            kind="export", help="types cnncalc writes as PyTorch: "
                            + ", ".join(torch_types()))
    infer_shapes(net)  # every node's facts
    w = _Writer(net)
    for node in net.nodes:
        parameter = type(node.layer).torch_parameter
        parts = node.name.split(".")
        call = TorchCall(node.name, [w.var[i] for i in node.inputs],
                         w.parameter_ref(parts) if parameter else w.ref(parts), node.torch_form)
        code = node.layer.to_torch(node.facts, call)
        if code.module is not None:
            w.add(node.name, code.module, parameter)
        if code.helper is not None:
            w.helpers[code.helper[0]] = code.helper[1]
        shape = "x".join(map(str, node.facts.out_shape))
        w.body.append(f"{w.variable(node.name)} = {code.expr}  # {shape}")
    outs = [w.var[o] for o in net.outputs]
    title = f'"""{net.name}: written by cnncalc export --to pytorch' + (f" from {source}" if source else "")
    lines = [
        title + ".",
        "",
        "Parameter names are cnncalc's weight keys: Net().state_dict() loads into",
        "`cnncalc run --weights` (saved with numpy.savez) and back with load_state_dict.",
        f"Input: (N, {', '.join(map(str, net.input_shape))}), batch first.",
        '"""',
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        "",
        *(line for name in sorted(w.helpers) for line in (*w.helpers[name], "", "")),
        "class Net(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        *("        " + line for line in w.init),
        "",
        "    def forward(self, x):",
        *("        " + line for line in w.body),
        f"        return {outs[0] if len(outs) == 1 else '(' + ', '.join(outs) + ')'}",
        "",
    ]
    return "\n".join(lines)
