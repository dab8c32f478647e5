"""PyTorch modules -> cnncalc networks (docs/torch.md).

:func:`capture` runs ``torch.export.export`` on the module in eval mode with one zero input
(N = 1) and :func:`translate` walks the exported graph's ATen ops in order, writing one spec
item per mapped op. Which ATen op becomes which layer type is declared by the layer classes
(``torch_ops``, ``from_torch``); this module owns what no single class does: the graph walk,
the parameters' state_dict names (``graph_signature``), ops that change no figure
(``contiguous``, the permutes of a channels-last stretch), the patterns of several ops
(torchvision's channel shuffle: view, transpose, view; ``chunk`` and its parts), and the
names. When torch.export cannot capture the module, :mod:`cnncalc.io.torch_fx` traces it with
torch.fx and feeds the same translator one call's ATen ops at a time.

Names: a layer is named after the module that computed it (``nn_module_stack``): a leaf
module's path (``layer1.0.conv1``, the state_dict prefix of its tensors), or, for an op a
module's ``forward`` calls itself (``out += identity``), the module's path and the layer
type (``layer1.0.add``). Each level of the path is a ``sequential`` in the spec (numbered
children of an ``nn.Sequential`` keep their numbers as names, ``"0"``), so the full names
are the module's own and ``cnncalc run --weights`` takes its state_dict.

torch is an optional extra: it is imported by :func:`torch_module`, inside the functions
that need it, and a missing torch is a SpecError naming ``pip install 'cnncalc[torch]'``.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnncalc.core.errors import Loc, SpecError
from cnncalc.core.yamlio import flow_text as _flow  # one writer for the specs import writes
from cnncalc.io.spec import loads
from cnncalc.io.torch_common import (
    Act,
    Param,
    first_line,
    flat,
    qualname,
    quiet_export,
    state_names,
    torch_module,
)
from cnncalc.io.torch_fx import translate_fx
from cnncalc.layers import REGISTRY
from cnncalc.layers.base import Layer

_LOC = Loc(1, 1)
# ops that return their input's values in another storage or order cnncalc does not track
PASS_THROUGH = ("aten.contiguous", "aten.clone", "aten.detach", "aten.lift_fresh_copy")
ANCHOR_OP = "aten.alias"  # the op of the layer that names a level's input (an identity)
SHUFFLE = "view, transpose(1, 2), view"  # torchvision's channel_shuffle, one pattern


def torchvision_ops_shim() -> bool:
    """Define the two op schemas torchvision registers fake kernels for (``torchvision::nms``,
    ``torchvision::qnms``; torchvision/_meta_registrations.py) when its compiled extension
    does not load (a torchvision wheel built for another torch), so that ``import torchvision``
    works; its models need neither op. Returns whether it defined them (False: they exist)."""
    torch = torch_module()
    if hasattr(torch.ops.torchvision, "nms"):
        return False
    lib = torch.library.Library("torchvision", "FRAGMENT")  # noqa: TOR901 - kept for the process
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _SHIM.append(lib)
    return True


_SHIM: list = []  # the Library objects of the shim (a Library's definitions live while it does)


def import_torchvision() -> None:
    """Import torchvision if installed; if its extension fails with "operator torchvision::nms
    does not exist", apply :func:`torchvision_ops_shim` and import it again (docs/torch.md)."""
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return
    try:
        importlib.import_module("torchvision")
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        torchvision_ops_shim()
        importlib.import_module("torchvision")


def resolve_factory(text: str):
    """The module that ``MODULE:FACTORY`` makes: ``torchvision.models:resnet50`` (a module
    path) or ``path/to/model.py:Net`` (a file), FACTORY a function or class called without
    arguments, or a module object itself.

    Raises:
        SpecError: kind ``torch``: not MODULE:FACTORY, a module that does not import, no such
            factory, a factory that raises, or something that is not a torch.nn.Module.
    """
    torch = torch_module()
    where, sep, attr = text.rpartition(":")
    if not sep or not where or not attr.isidentifier():
        raise SpecError(f"'{text}' is not MODULE:FACTORY", kind="usage",
                        help="for example torchvision.models:resnet50 or path/to/model.py:Net")
    try:
        import_torchvision()
        if where.endswith(".py") or "/" in where or "\\" in where:
            path = Path(where)
            if not path.is_file():
                raise SpecError(f"no file {where}", kind="torch", help="MODULE:FACTORY with "
                                "MODULE a module path (package.module) or a .py file")
            spec = importlib.util.spec_from_file_location(f"cnncalc_user_{path.stem}", path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod
            spec.loader.exec_module(mod)
        else:
            mod = importlib.import_module(where)
    except SpecError:
        raise
    except Exception as exc:  # the user's code: any error, reported without a traceback
        raise SpecError(f"cannot import {where}: {type(exc).__name__}: {first_line(exc)}",
                        kind="torch", help="check the module path (python -c 'import MODULE')"
                        ) from None
    if not hasattr(mod, attr):
        names = [n for n in dir(mod) if not n.startswith("_")][:12]
        raise SpecError(f"{where} has no '{attr}'", kind="torch",
                        help="it has: " + ", ".join(names) if names else None)
    factory = getattr(mod, attr)
    try:
        made = factory if isinstance(factory, torch.nn.Module) else factory()
    except Exception as exc:
        raise SpecError(f"{text}() raised {type(exc).__name__}: {first_line(exc)}", kind="torch",
                        help="FACTORY is called without arguments: wrap it in a function that "
                             "builds the module") from None
    if not isinstance(made, torch.nn.Module):
        raise SpecError(f"{text} gave a {type(made).__name__}, not a torch.nn.Module", kind="torch",
                        help="FACTORY must return (or be) a torch.nn.Module")
    return made


class CaptureError(SpecError):
    """torch.export could not capture the module: ``failures`` holds the first line of each
    attempt's error (non-strict, then strict)."""

    def __init__(self, message: str, failures: list[str], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.failures = failures


def check_module(module) -> None:
    """A SpecError (kind ``usage``) unless ``module`` is a torch.nn.Module."""
    torch = torch_module()
    if not isinstance(module, torch.nn.Module):
        raise SpecError(f"from_torch reads a torch.nn.Module, not {type(module).__name__}",
                        kind="usage", help="pass the module itself, e.g. "
                        "cnncalc.from_torch(torchvision.models.resnet18(), (3, 224, 224))")


def capture(module, input_shape: tuple[int, ...], training: bool = False):
    """``torch.export.export`` of ``module`` on a zero input of shape (1, *input_shape)
    (2 in training mode), in eval mode (``training``: in training mode, for a branch only training runs, such as
    Inception v3's auxiliary head). Non-strict tracing first; if it fails, TorchDynamo's
    (``strict=True``), which reads the Python differently. The module's mode is restored.

    Raises:
        CaptureError: kind ``torch``, with torch.export's first lines, when it cannot capture.
    """
    torch = torch_module()
    check_module(module)
    was = module.training
    module.train(training)
    # training: batch norm needs two values per channel (Inception's aux head pools to 1x1)
    x = torch.zeros(2 if training else 1, *input_shape)
    failures = []
    try:
        for strict in (False, True):  # non-strict tracing, then TorchDynamo's (strict=True)
            try:
                with quiet_export():
                    return torch.export.export(module, (x,), strict=strict)
            except Exception as exc:  # the user's module: any error, reported without a traceback
                failures.append(f"{type(exc).__name__}: {first_line(exc)}")
    finally:
        module.train(was)
    raise CaptureError(f"torch.export could not capture {type(module).__name__} on input "
                       f"{list(input_shape)}: {failures[0]} (strict=True: {failures[1]})",
                       failures, kind="torch", help="check that the module runs on "
                       f"torch.zeros(1, {', '.join(map(str, input_shape))}); cnncalc reads what "
                       "torch.export captures (docs/torch.md)")


@dataclass
class Parts:
    """The parts of an op with several outputs (aten.chunk), made into layers when used."""

    node: Any
    x: Act
    made: dict = field(default_factory=dict)


@dataclass
class Expanded:
    """A parameter expanded over the batch (``class_token.expand(n, -1, -1)``)."""

    param: Param


@dataclass
class Pending:
    """A step of the channel shuffle (view to (N, g, C/g, *S), then transpose(1, 2))."""

    step: str
    x: Act
    groups: int


class OpView:
    """One ATen op as a layer class's :meth:`~cnncalc.layers.base.Layer.from_torch` reads it:
    ``op`` ("aten.conv2d"), ``a`` (arguments by schema name, defaults filled in: an
    :class:`Act`, a :class:`Param`, or a Python value), ``inputs`` (the computed tensors),
    ``x`` (the first), ``rank`` (with the batch), ``ndim``, ``extra``."""

    def __init__(self, tr: _Translator, node, op: str, a: dict, inputs: list[Act],
                 extra: dict | None = None) -> None:
        self.tr, self.node, self.op, self.a = tr, node, op, a
        self.attrs: dict = a.get("attrs", {})  # a module read whole: its plain attributes
        self.params: dict = a.get("params", {})  # ... and its tensors used: name -> Param
        self.inputs = inputs
        self.x = inputs[0] if inputs else None
        self.extra = extra or {}
        self.ndim = tr.ndim
        self.rank = len(self.x.shape) + 1 if self.x is not None else 0

    def has_param(self, name: str) -> bool:
        """Whether a module read whole used its tensor ``name`` (``in_proj_bias``)."""
        return name in self.params

    @staticmethod
    def is_param(value) -> bool:
        """Whether an argument is a parameter, buffer or constant of the module."""
        return isinstance(value, Param)

    def fail(self, message: str, help: str | None = None) -> SpecError:
        """A SpecError naming the op, its module path and its source line."""
        return self.tr.fail(self.node, message, help)


def claims() -> dict[str, list[type[Layer]]]:
    """ATen op (or pattern) -> the layer classes that read it, the higher
    :attr:`~cnncalc.layers.base.Layer.torch_priority` first, then in registry order."""
    seen: list[type[Layer]] = []
    for cls in REGISTRY.values():
        if cls not in seen:
            seen.append(cls)
    out: dict[str, list[type[Layer]]] = {}
    for cls in sorted(seen, key=lambda c: -c.torch_priority):
        for op in (*cls.torch_ops, *("module:" + m for m in cls.torch_modules)):
            out.setdefault(op, []).append(cls)
    return out


def op_key(target) -> str:
    """``aten.relu_.default`` -> ``aten.relu``: the op's packet, without the overload and the
    in-place underscore (an in-place op has its out-of-place op's figures)."""
    text = str(target)
    if not text.startswith("aten."):
        return getattr(target, "__name__", text)
    packet = text.split(".")[1]
    return "aten." + (packet[:-1] if packet.endswith("_") and not packet.endswith("__") else packet)


_NAME_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*|[0-9]+)$")


class _Translator:
    def __init__(self, ep, module, input_shape: tuple[int, ...]) -> None:
        """``ep``: the exported program walked by :meth:`run`; None for the torch.fx walk
        (:mod:`cnncalc.io.torch_fx`), which feeds :meth:`step` one call's ops at a time."""
        self.ep = ep
        self.graph = ep.graph_module.graph if ep is not None else None
        self.input_shape = tuple(input_shape)
        self.ndim = len(input_shape) - 1
        self.claims = claims()
        self.state_names: dict[str, str] = state_names(ep) if ep is not None else {}
        self.user_inputs = list(ep.graph_signature.user_inputs) if ep is not None else []
        self.modules = dict(module.named_modules())
        self.leaves = {name for name, m in self.modules.items() if not any(True for _ in m.children())}
        self.containers = {name for name, m in module.named_modules() if name and name not in self.leaves}
        self.items: list[dict] = []
        self.taken: set[str] = set()
        self.v: dict[Any, Any] = {}  # fx node -> Act | Param | Parts | Pending | value

    # -- errors ---------------------------------------------------------------------

    def where(self, node, what: str | None = None) -> str:
        """The op (``what``, else the node's ATen op), its module path and its source
        file:line (the node's stack trace)."""
        path = self.module_path(node) or "(the top module)"
        what = what or f"ATen op {op_key(node.target)}"
        text = f"{what} (graph node '{node.name}') in module {path}"
        trace = node.meta.get("stack_trace") or ""
        lines = re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)', trace)
        user = [x for x in lines if "/torch/" not in x[0].replace("\\", "/")]
        if user or lines:
            file, line, func, code = (user or lines)[-1]
            text += f", at {file}:{line} ({func}: {code.strip()})"
        return text

    def fail(self, node, message: str, help: str | None = None) -> SpecError:
        return SpecError(f"{self.where(node)}: {message}", kind="torch", help=help)

    def unmapped(self, node, op: str) -> SpecError:
        known = sorted({o for o in self.claims if o.startswith("aten.")} | set(PASS_THROUGH)
                       | {"aten.permute", "aten.view", "aten.reshape", "aten.transpose"})
        return self.fail(node, "this op has no cnncalc equivalent",
                         help="ops cnncalc reads: " + ", ".join(known))

    # -- names ------------------------------------------------------------------------

    @staticmethod
    def module_path(node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        return list(stack.values())[-1][0] if stack else ""

    @staticmethod
    def module_class(node) -> str:
        """The class name of the innermost module the op ran in (``""``: the model's own
        forward, outside every submodule)."""
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        if len(stack) < 2:  # the root module only
            return ""
        return qualname(stack[-1][1]).rsplit(".", 1)[-1]

    def name_for(self, node, cls: type[Layer], suffix: str = "") -> str:
        path = self.module_path(node)
        if path in self.leaves:
            base = path
        else:
            base = (path + "." if path else "") + cls.type_name
        parts = [p if _NAME_PART.match(p) else re.sub(r"[^A-Za-z0-9_\-]", "_", p) or "m"
                 for p in base.split(".")]
        parts = [p if _NAME_PART.match(p) else "m" + p for p in parts]
        parts[-1] += suffix
        full, k = ".".join(parts), 0
        while full in self.taken or full in self.containers or full == "input":
            k += 1
            full = ".".join([*parts[:-1], f"{parts[-1]}_{k}"])
        self.taken.add(full)
        return full

    # -- values -------------------------------------------------------------------------

    def value(self, arg):
        torch_fx = sys.modules["torch.fx"]
        if isinstance(arg, torch_fx.Node):
            return self.v[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.value(a) for a in arg)
        return arg

    def args(self, node) -> dict[str, Any]:
        """The op's arguments by their ATen schema names, defaults filled in."""
        schema = getattr(node.target, "_schema", None)
        if schema is None:
            return {str(i): self.value(a) for i, a in enumerate(node.args)}
        out = {}
        for i, arg in enumerate(schema.arguments):
            if i < len(node.args):
                out[arg.name] = self.value(node.args[i])
            elif arg.name in node.kwargs:
                out[arg.name] = self.value(node.kwargs[arg.name])
            elif arg.has_default_value():
                out[arg.name] = arg.default_value
            else:
                out[arg.name] = None
        return out

    def act(self, node, value) -> Act:
        if isinstance(value, Pending):
            raise self.fail(node, "a view or transpose of the channels that is not torchvision's "
                                  "channel shuffle (view to (N, g, C/g, ...), transpose(1, 2), "
                                  "view back) has no cnncalc equivalent")
        if not isinstance(value, Act):
            raise self.fail(node, "its input must be computed from the network's input")
        return value

    # -- emitting -----------------------------------------------------------------------

    def dispatch(self, node, op: str, a: dict, inputs: list[Act], extra: dict | None = None,
                 suffix: str = "", name: str | None = None) -> Act:
        """Ask the layer classes reading ``op``, in order; emit the first that takes it."""
        if len({x.layout for x in inputs}) > 1:
            raise self.fail(node, "its inputs have the channels in different places")
        for cls in self.claims.get(op, ()):
            if inputs[0].layout == "cl" and op not in cls.torch_channels_last:
                continue
            params = cls.from_torch(OpView(self, node, op, a, inputs, extra))
            if params is not None:
                tensors = [x.param if isinstance(x, Expanded) else x for x in flat(a.values())
                           if isinstance(x, (Param, Expanded))]
                return self.emit(node, cls, params, inputs, suffix, stateful=bool(tensors),
                                 tensors=tensors, name=name,
                                 form=cls.torch_form_of(op, self.module_class(node)))
        if inputs and inputs[0].layout == "cl":
            raise self.fail(node, "its input has the channels last (after a permute); cnncalc maps "
                                  "elementwise ops, layer_norm over the channels and linear (a 1x1 "
                                  "convolution) there, until a permute moves the channels back")
        raise self.unmapped(node, op)

    def emit(self, node, cls: type[Layer], params: dict, inputs: list[Act], suffix: str = "",
             stateful: bool = False, tensors: list[Param] | None = None,
             name: str | None = None, form: str = "") -> Act:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        path = self.module_path(node)
        if stateful and path in self.leaves and path in self.taken:
            raise self.fail(node, f"module {path} runs a second time: its tensors are shared "
                                  "between two places, which a spec does not express (every "
                                  "layer has its own)")
        try:
            values, locs = cls.parse_params(params or None, self.ndim, _LOC, {}, _LOC)
            layer = cls(self.ndim, values, None, locs)
            bound = layer.bound([x.shape for x in inputs])
            shape, tensor_names = tuple(bound.out_shape), bound.param_shapes()
        except SpecError as exc:
            raise self.fail(node, exc.message, exc.help) from None
        if name is None and "" in tensor_names and len(tensors or ()) == 1:
            name = tensors[0].name  # a tensor named by its layer (class_token): the layer is named so
            self.taken.add(name)
        if name is None:
            name = self.name_for(node, cls, suffix)
        else:
            self.taken.add(name)
        self.items.append({"type": cls.type_name, "params": params or None, "name": name,
                           "from": [x.node for x in inputs], "cls": cls, "torch": form,
                           "where": self.where(node)})
        return Act(name, shape, inputs[0].layout if inputs else "cf")

    # -- the walk -----------------------------------------------------------------------

    def module_read_whole(self, node) -> tuple[str, str] | None:
        """(path, class) of the outermost module on the node's stack that a layer class reads
        whole (``torch_modules``: nn.MultiheadAttention), or None."""
        for path, kind in (node.meta.get("nn_module_stack") or {}).values():
            kind = qualname(kind)
            if path not in self.modules:
                continue
            if "module:" + kind in self.claims:
                return path, kind
            # a helper class cnncalc's export writes, in whatever file the user keeps it
            # (``torch_modules`` names it without a module: RelativePositionMultiheadAttention)
            if "module:" + kind.rsplit(".", 1)[-1] in self.claims:
                return path, kind.rsplit(".", 1)[-1]
        return None

    def read_module(self, group: list, path: str, kind: str) -> None:
        """One call of a module read whole (its ops ``group``, consecutive in the graph): one
        layer, its inputs the computed tensors entering the call, its output the one leaving."""
        inside = set(group)
        acts: list[Act] = []
        params: dict[str, Param] = {}
        for n in group:
            for arg in n.all_input_nodes:
                if arg in inside:
                    continue
                value = self.v.get(arg)
                if isinstance(value, Param):
                    params[value.name[len(path) + 1:] if value.name.startswith(path + ".")
                           else value.name] = value
                elif isinstance(value, (Act, Pending)):
                    act = self.act(n, value)
                    if all(a.node != act.node for a in acts):
                        acts.append(act)
        outs = [n for n in group if any(u not in inside for u in n.users)]
        if len(outs) != 1 or not acts:
            raise self.fail(group[-1], f"module {path} ({kind.rsplit('.', 1)[-1]}) gives "
                                       f"{len(outs)} results from {len(acts)} computed inputs; "
                                       "cnncalc maps one result of the network's tensors")
        act = self.dispatch_whole(group[0], path, kind, acts, params)
        for n in group:
            self.v[n] = None
        self.v[outs[0]] = act

    def dispatch_whole(self, node, path: str, kind: str, acts: list[Act],
                       params: dict[str, Param]) -> Act:
        """The layer of one call of the module ``path`` (class ``kind``) read whole: its plain
        attributes and ``params`` (its tensors used, by their names in the module)."""
        module = self.modules[path]
        attrs = {k: v for k, v in vars(module).items()
                 if isinstance(v, (bool, int, float, str)) or v is None}
        return self.dispatch(node, "module:" + kind, {"attrs": attrs, "params": params}, acts,
                             name=path)

    def run(self) -> list[str]:
        outputs: list[str] = []
        nodes = list(self.graph.nodes)
        i = 0
        while i < len(nodes):
            node = nodes[i]
            i += 1
            whole = self.module_read_whole(node) if node.op == "call_function" else None
            if whole is not None:
                path = whole[0]
                j = i
                while j < len(nodes) and nodes[j].op == "call_function" and any(
                        p == path for p, _ in (nodes[j].meta.get("nn_module_stack") or {}).values()):
                    j += 1
                self.read_module(nodes[i - 1:j], *whole)
                i = j
                continue
            if node.op == "placeholder":
                if node.name in self.state_names:
                    val = node.meta.get("val")
                    self.v[node] = Param(self.state_names[node.name], tuple(getattr(val, "shape", ())))
                elif node.name in self.user_inputs:
                    self.v[node] = Act("input", self.input_shape)
                else:
                    self.v[node] = None
            elif node.op == "call_function":
                self.v[node] = self.step(node)
            elif node.op == "output":
                outputs += self.outputs(node)
            else:
                raise self.fail(node, f"graph node of kind {node.op}; cnncalc reads ATen ops")
        return outputs

    def outputs(self, node) -> list[str]:
        """The names of the layers giving the module's results (the graph's output node)."""
        out = []
        for value in flat([self.value(node.args[0])]):
            if isinstance(value, Act):
                out.append(value.node)
            elif value is not None:
                raise self.fail(node, "an output of the module is not computed from its input")
        return out

    def step(self, node):
        op = op_key(node.target)
        a = self.args(node)
        if op == "getitem":
            parts, index = self.value(node.args[0]), node.args[1]
            if isinstance(parts, Parts):
                if index not in parts.made:
                    parts.made[index] = self.dispatch(parts.node, op_key(parts.node.target),
                                                      self.args(parts.node), [parts.x],
                                                      {"index": index})
                return parts.made[index]
            if isinstance(parts, (list, tuple)):
                return parts[index]
            raise self.fail(node, "an item of a value cnncalc does not read")
        if op in PASS_THROUGH:
            value = self.value(node.args[0])
            return value if isinstance(value, Pending) else self.act(node, value)
        handler = HANDLERS.get(op)
        if handler is not None:
            return handler(self, node, op, a)
        if op not in self.claims:
            raise self.unmapped(node, op)
        inputs = [self.act(node, x) for x in flat(a.values()) if isinstance(x, (Act, Pending))]
        if not inputs:  # state arithmetic (num_batches_tracked += 1 in training): no layer
            return None
        return self.dispatch(node, op, a, inputs)


def _permute(tr: _Translator, node, op: str, a: dict):
    """(0, 2, ..., 1) moves the channels last; (0, r-1, 1, ..., r-2) moves them back."""
    x = tr.act(node, a["self"])
    dims = [d % (len(x.shape) + 1) for d in a["dims"]]
    r = len(x.shape) + 1
    if x.layout == "cf" and r < 4:  # (N, C, L) or (N, L, E): a permute layer (ViT's tokens)
        return tr.dispatch(node, op, a, [x])
    if x.layout == "cf" and dims == [0, *range(2, r), 1]:
        return Act(x.node, x.shape, "cl")
    if x.layout == "cl" and dims == [0, r - 1, *range(1, r - 1)]:
        return Act(x.node, x.shape, "cf")
    raise tr.fail(node, f"permute {dims} of a {'channels-last' if x.layout == 'cl' else 'channels-first'} "
                        "tensor; cnncalc maps moving the channels last (0, 2, ..., 1) and back")


def _view(tr: _Translator, node, op: str, a: dict):
    """view / reshape: the first and last step of the channel shuffle, a flatten from axis 1,
    or a view to the same shape (nothing)."""
    value = a["self"]
    size = [int(d) for d in (a.get("size") or a.get("shape") or ())]
    if isinstance(value, Pending) and value.step == "transposed":
        x = value.x
        if size[1:] in ([x.shape[0], *x.shape[1:]], [-1, *x.shape[1:]]):
            return tr.dispatch(node, SHUFFLE, a, [x], {"groups": value.groups})
        raise tr.fail(node, f"view to {size} after a transpose; cnncalc maps the channel shuffle "
                            "view(N, g, C/g, ...), transpose(1, 2), view(N, C, ...)")
    x = tr.act(node, value)
    if x.layout != "cf":
        raise tr.fail(node, "a view of a channels-last tensor has no cnncalc equivalent")
    per = size[1:]
    if len(per) == len(x.shape) + 1 and per[2:] == list(x.shape[1:]) and per[0] > 0 \
            and per[0] * per[1] == x.shape[0]:
        return Pending("viewed", x, per[0])
    if per == list(x.shape):
        return x
    if len(per) == 1 and per[0] in (-1, math.prod(x.shape)):
        return tr.dispatch(node, "aten.flatten", {"self": x, "start_dim": 1, "end_dim": -1}, [x])
    return tr.dispatch(node, op, a, [x])  # any other reshape keeping the batch


def _transpose(tr: _Translator, node, op: str, a: dict):
    value = a["self"]
    dims = sorted(int(d) for d in (a["dim0"], a["dim1"]))
    if isinstance(value, Pending) and value.step == "viewed" and dims == [1, 2]:
        return Pending("transposed", value.x, value.groups)
    tr.act(node, value)
    raise tr.fail(node, f"transpose of axes {dims}; cnncalc maps it only inside torchvision's "
                        "channel shuffle (view, transpose(1, 2), view)")


def _chunk(tr: _Translator, node, op: str, a: dict):
    return Parts(node, tr.act(node, a["self"]))


def _reduce(tr: _Translator, node, op: str, a: dict):
    """mean / amax over the spatial axes; without keepdim the reader adds a flatten."""
    x = tr.act(node, a["self"])
    y = tr.dispatch(node, op, a, [x])
    if not a.get("keepdim"):
        y = tr.dispatch(node, "aten.flatten", {"self": y, "start_dim": 1, "end_dim": -1}, [y])
    return y


def _binary(tr: _Translator, node, op: str, a: dict):
    """add / mul of two computed tensors, or mul by a stored per-channel scale; a Python
    number on either side has no cnncalc equivalent."""
    first, second = a["self"], a["other"]
    inputs = [tr.act(node, v) for v in (first, second) if isinstance(v, (Act, Pending))]
    if not inputs:  # state arithmetic (num_batches_tracked += 1 in training): no layer
        return None
    if not all(isinstance(v, (Act, Pending, Param)) for v in (first, second)):
        raise tr.fail(node, f"{op} of a computed tensor and the number "
                            f"{second if isinstance(first, Act) else first}; cnncalc has no layer for it")
    return tr.dispatch(node, op, a, inputs)


def _expand(tr: _Translator, node, op: str, a: dict):
    """A parameter expanded over the batch: read by the op that uses it (a class token's cat)."""
    if isinstance(a["self"], Param):
        return Expanded(a["self"])
    tr.act(node, a["self"])
    raise tr.fail(node, "expand of a computed tensor has no cnncalc equivalent")


def _cat(tr: _Translator, node, op: str, a: dict):
    tokens = [x for x in a["tensors"] if isinstance(x, Expanded)]
    if tokens:
        rest = [x for x in a["tensors"] if not isinstance(x, Expanded)]
        if len(tokens) != 1 or len(rest) != 1 or a["tensors"][0] is not tokens[0]:
            raise tr.fail(node, "cat of an expanded parameter: cnncalc maps one class token put "
                                "before the tokens")
        return tr.dispatch(node, "cat(expand(parameter), x)", a, [tr.act(node, rest[0])],
                           {"parameter": tokens[0].param})
    inputs = [tr.act(node, x) for x in a["tensors"]]
    if len(inputs) == 1:
        return inputs[0]
    return tr.dispatch(node, op, a, inputs)


HANDLERS = {
    "aten.permute": _permute,
    "aten.view": _view,
    "aten.reshape": _view,
    "aten.transpose": _transpose,
    "aten.chunk": _chunk,
    "aten.mean": _reduce,
    "aten.amax": _reduce,
    "aten.add": _binary,
    "aten.mul": _binary,
    "aten.cat": _cat,
    "aten.expand": _expand,
}


# -- the spec text -------------------------------------------------------------------------


class _Unreachable(Exception):
    """A reference the spec's scoping cannot make: the level whose input it is, if any."""

    def __init__(self, level: str | None) -> None:
        self.level = level


class _Writer:
    """The items as nested ``sequential`` levels, one per module of the path, with ``from:``
    where an input is not the item above; a reference is the shortest local name that the
    spec's scoping (innermost level first, then outward) resolves to the producing layer.

    A level's input that an item inside it reads, but whose name a layer of the level hides
    (ViT's block reads its input ``dropout`` beside its own ``dropout``), is named at the
    level's start by an identity layer ``input_`` (``anchored``)."""

    def __init__(self, items: list[dict], anchored: set[str], anchor_type: str) -> None:
        self.items = items
        self.anchored = anchored
        self.anchor_type = anchor_type
        self.last_of: dict[str, str] = {}  # structure full name -> its last item's full name
        for item in items:
            parts = item["name"].split(".")
            for i in range(1, len(parts)):
                self.last_of[".".join(parts[:i])] = item["name"]
        self.names: dict[str, dict[str, str]] = {"": {}}  # level -> local name -> full name
        self.alias: dict[str, tuple[str, str]] = {}  # level -> (its anchor's name, its input)
        self.inputs: dict[str, str] = {}  # level -> its input
        self.lines: list[str] = []

    def ref(self, level: str, full: str) -> str | None:
        """A local name that resolves, from ``level``, to the output ``full``."""
        if full == "input":
            return "input"
        chain = level.split(".") if level else []
        for depth in range(len(chain), -1, -1):
            at = ".".join(chain[:depth])
            inner = [".".join(chain[:d]) for d in range(depth + 1, len(chain) + 1)]
            anchor = self.alias.get(at)
            if anchor is not None and anchor[1] == full and \
                    not any(anchor[0] in self.names.get(b, {}) for b in inner):
                return anchor[0]
            prefix = at + "." if at else ""
            if not full.startswith(prefix):
                continue
            local = full[len(prefix):].split(".")[0]
            if self.names.get(at, {}).get(local) != full:
                continue
            if not any(local in self.names.get(b, {}) for b in inner):
                return local
        return None

    def write(self) -> list[str]:
        stack: list[str] = []  # open levels (full names)
        prev: dict[str, str] = {"": "input"}  # level -> the output its next item reads by default
        closed: set[str] = set()
        for item in self.items:
            parts = item["name"].split(".")
            levels = [".".join(parts[:i]) for i in range(1, len(parts))]
            common = 0
            while common < min(len(stack), len(levels)) and stack[common] == levels[common]:
                common += 1
            while len(stack) > common:
                done = stack.pop()
                closed.add(done)
                parent = stack[-1] if stack else ""
                self.names.setdefault(parent, {})[done.split(".")[-1]] = self.last_of[done]
                prev[parent] = self.last_of[done]
            for level in levels[common:]:
                if level in closed:
                    raise SpecError(f"module {level} runs twice, with other modules between; "
                                    "cnncalc writes each module once", kind="torch",
                                    help="a module called twice has shared weights, which a "
                                         "spec does not express")
                parent = stack[-1] if stack else ""
                indent = "  " * (len(stack) + 1)
                local = level.split(".")[-1]
                first_input = item["from"][0]
                src = self.source(parent, first_input, prev.get(parent), item)
                self.lines.append(f"{indent}- name: {_flow(local)}")
                if src is not None:
                    self.lines.append(f"{indent}  from: {_flow(src)}")
                self.lines.append(f"{indent}  sequential:")
                stack.append(level)
                prev[level] = first_input
                self.inputs[level] = first_input
                self.names.setdefault(level, {})
                if level in self.anchored:
                    self.lines.append(f"{indent}  - {{{self.anchor_type}, name: input_}}")
                    self.alias[level] = ("input_", first_input)
                    self.names[level]["input_"] = level + ".input_"
            level = stack[-1] if stack else ""
            indent = "  " * (len(stack) + 1)
            type_text = item["type"] if item["params"] is None else \
                f"{item['type']}: {_flow(item['params'])}"
            srcs = item["from"]
            if len(srcs) == 1:
                src = self.source(level, srcs[0], prev.get(level), item)
                from_text = "" if src is None else f", from: {_flow(src)}"
            else:
                refs = [self.must_ref(level, x, item) for x in srcs]
                from_text = f", from: {_flow(refs)}"
            form_text = f", torch: {item['torch']}" if item.get("torch") else ""
            self.lines.append(f"{indent}- {{{type_text}, name: {_flow(parts[-1])}{from_text}{form_text}}}")
            self.names.setdefault(level, {})[parts[-1]] = item["name"]
            prev[level] = item["name"]
        return self.lines

    def source(self, level: str, full: str, default: str | None, item: dict) -> str | None:
        if full == default:
            return None
        return self.must_ref(level, full, item)

    def must_ref(self, level: str, full: str, item: dict) -> str:
        ref = self.ref(level, full)
        if ref is not None:
            return ref
        chain = level.split(".") if level else []
        for depth in range(len(chain), 0, -1):  # the innermost level whose input it is
            at = ".".join(chain[:depth])
            if self.inputs.get(at) == full and at not in self.anchored:
                raise _Unreachable(at)
        raise SpecError(f"{item['where']}: its input '{full}' is a layer inside another "
                        "module, not that module's output; a spec can name only a level's "
                        "own layers and the outputs of the levels above", kind="torch",
                        help="cnncalc writes each module as a level of the spec")


def _spec_lines(items: list[dict], anchor_type: str) -> list[str]:
    """The levels written, naming a level's input with an identity where it must be named."""
    anchored: set[str] = set()
    while True:
        try:
            return _Writer(items, anchored, anchor_type).write()
        except _Unreachable as need:
            anchored.add(need.level)


CAPTURES = ("auto", "export", "fx")


def translate(module, input_shape: tuple[int, ...], name: str | None = None,
              training: bool = False, source: str | None = None, capture_with: str = "auto"
              ) -> tuple[str, str]:
    """The spec text of ``module`` on input ``input_shape`` (channels first, no batch), and
    how it was captured: ``"torch.export"``, or ``"torch.fx"`` when torch.export could not
    capture it (:mod:`cnncalc.io.torch_fx`). ``capture_with``: ``"auto"`` (export, then fx),
    ``"export"`` or ``"fx"`` only.

    Raises:
        SpecError: kind ``torch``: missing torch, a graph neither torch.export nor torch.fx
            can capture (naming both failures), or an op that cannot be mapped (naming the op,
            the module path and the source line).
    """
    if not 2 <= len(input_shape) <= 4 or any(int(d) < 1 for d in input_shape):
        raise SpecError(f"input shape {list(input_shape)}: cnncalc reads (C, L), (C, H, W) or "
                        "(C, D, H, W), channels first, without the batch", kind="usage",
                        help="for example -i 3x224x224")
    if capture_with not in CAPTURES:
        raise SpecError(f"capture '{capture_with}' is not one of {', '.join(CAPTURES)}",
                        kind="usage")
    shape = tuple(int(d) for d in input_shape)
    check_module(module)
    note = ""
    if capture_with == "fx":
        tr, used = _Translator(None, module, shape), "torch.fx"
        translate_fx(tr, module, shape, training, None)
        note = "torch.fx (asked for)"
    else:
        try:
            ep = capture(module, shape, training)
        except CaptureError as exc:
            if capture_with == "export":
                raise
            tr, used = _Translator(None, module, shape), "torch.fx"
            translate_fx(tr, module, shape, training, exc)
            note = f"torch.fx, as torch.export could not capture it ({exc.failures[0]})"
        else:
            tr, used = _Translator(ep, module, shape), "torch.export"
            tr.run()
    if not tr.items:
        raise SpecError(f"{type(module).__name__} computes nothing cnncalc maps from its input",
                        kind="torch")
    lines = _spec_lines(tr.items, tr.claims[ANCHOR_OP][0].type_name)
    title = name or type(module).__name__
    head = [f"# {title}, read from PyTorch by cnncalc" + (f" ({source})" if source else "")
            + f" with {used}; layer names are the module's"]
    if note:
        head.append(f"# captured with {note}")
    head += [f"name: {_flow(title)}", f"input: {_flow(list(input_shape))}", "layers:"]
    return "\n".join(head + lines) + "\n", used


def from_torch(module, input_shape, *, name: str | None = None, training: bool = False,
               source: str | None = None, capture: str = "auto", **kwargs: Any):
    """The :class:`cnncalc.Network` of a ``torch.nn.Module`` on one input of per-sample shape
    ``input_shape`` (channels first, no batch: ``(3, 224, 224)``): the network its readable
    spec (:func:`translate`) loads to. ``capture``: ``"auto"`` (torch.export, falling back to
    torch.fx), ``"export"`` or ``"fx"``; the network's ``torch_capture`` says which was used
    (``"torch.export"``, ``"torch.fx"``) and ``torch_notes`` why fx was.
    Keyword arguments as for :func:`cnncalc.loads` (``batch``, ``max_nodes``).

    Raises:
        SpecError: see :func:`translate`.
    """
    text, used = translate(module, tuple(input_shape), name, training, source, capture)
    net = loads(text, f"<torch {source or type(module).__name__}>", **kwargs)
    net.torch_capture = used
    net.torch_notes = capture_notes(text)
    return net


def is_factory(text: str) -> bool:
    """Whether ``cnncalc import``'s argument means a PyTorch module (MODULE:FACTORY) rather
    than a model file: it is not an existing file and ends in ``:identifier``."""
    where, sep, attr = text.rpartition(":")
    return bool(sep and where and attr.isidentifier()) and not Path(text).exists()


def import_torch(text: str, input_shape: tuple[int, ...] | None, training: bool = False
                 ) -> tuple[str, list[str]]:
    """``cnncalc import MODULE:FACTORY``: the readable spec of the module, checked by loading
    it, and the notes for the user (torch.fx used, and why).

    Raises:
        SpecError: as :func:`resolve_factory` and :func:`translate`; no input shape given.
    """
    if input_shape is None:
        raise SpecError("a PyTorch module has no input shape of its own", kind="usage",
                        help="give it: -i 3x224x224")
    module = resolve_factory(text)
    spec_text, _ = translate(module, input_shape, name=text.rpartition(":")[2],
                             training=training, source=text)
    loads(spec_text, f"<torch {text}>")  # the spec written must load: the same path analyze takes
    return spec_text, capture_notes(spec_text)


def capture_notes(spec_text: str) -> list[str]:
    """The header's note on the capture when it was not torch.export's (see :func:`translate`)."""
    return [line[2:] for line in spec_text.splitlines()[1:3] if line.startswith("# captured")]


def load_torch(text: str, input_shape: tuple[int, ...] | None, training: bool = False,
               **kwargs: Any):
    """``cnncalc analyze --torch MODULE:FACTORY``: the module's network (see :func:`from_torch`)."""
    if input_shape is None:
        raise SpecError("a PyTorch module has no input shape of its own", kind="usage",
                        help="give it: -i 3x224x224")
    module = resolve_factory(text)
    return from_torch(module, input_shape, name=text.rpartition(":")[2], training=training,
                      source=text, **kwargs)
