"""The torch.fx fallback of the PyTorch import (docs/torch.md, "When torch.export cannot").

When ``torch.export`` cannot capture a module (both non-strict and strict), :func:`translate_fx`
traces it with ``torch.fx``'s symbolic tracer: Python runs once with proxies, and a branch on a
value fx does not trace (a buffer or a plain attribute read as a Python bool) is taken by its
real value, where export's fake tensors make it data-dependent. The leaves of the trace are
torch.nn's modules (fx's rule) and the module classes a cnncalc layer reads whole
(``torch_modules``).

Each node of the fx graph is then made ATen ops by exporting it alone: a leaf module, or the
one call (``torch.flatten(x, 1)``, ``x.view(...)``, ``a + b``), on zero inputs of the shapes
that node's inputs have; the ops are fed, in order, to the same translator the export path
walks (:class:`cnncalc.io.torch_import._Translator`, handed in), with the fx node's module
path and source line, so the mapping onto layers, the names and the levels are the export
path's. A module
class read whole (``nn.MultiheadAttention``) is one layer from its attributes, without export.
torch.export traces with fake tensors: no kernel runs. Python values (``x.size(0)``) are
computed on fake tensors too.

What it cannot do: fx cannot trace control flow on the input's values (neither can export),
and a call whose own export fails (an op without a fake kernel outside a module read whole) is
refused with the call, its module path and its source line.
"""

from __future__ import annotations

import operator
from typing import Any

from cnncalc.core.errors import SpecError
from cnncalc.io import torch_common as common
from cnncalc.io.torch_common import Act, Param, first_line, flat


def trace(module, whole: set[str]):
    """The fx graph of ``module`` with torch.nn's modules and the classes ``whole`` (qualified
    names) as leaves, with each node's module stack and stack trace."""
    torch = common.torch_module()

    class LeafTracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname: str) -> bool:
            return common.qualname(type(m)) in whole or super().is_leaf_module(m, qualname)

    tracer = LeafTracer()
    tracer.record_stack_traces = True
    return tracer.trace(module)


class _Call:
    """One fx call as a module torch.export captures alone: its tensor arguments are the
    inputs (in ``slots``), the rest are constants; a leaf module is held as ``m``."""

    @staticmethod
    def make(torch, fn, args, kwargs, slots: list):
        class Call(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                if isinstance(fn, torch.nn.Module):
                    self.m = fn

            def forward(self, *xs):
                fill = iter(xs)
                call = self.m if isinstance(fn, torch.nn.Module) else fn
                return call(*_refill(args, slots, fill), **dict(zip(
                    kwargs, _refill(list(kwargs.values()), slots, fill, len(args)))))
        return Call()


def _refill(values, slots, fill, offset: int = 0):
    """``values`` with the next tensor of ``fill`` at each slot (``i`` an argument, ``(i, j)``
    an item of a list argument, ``offset`` the index of the first value)."""
    out = []
    for i, v in enumerate(values):
        if isinstance(v, (list, tuple)) and any(isinstance(s, tuple) and s[0] == i + offset
                                                for s in slots):
            out.append(type(v)(next(fill) if (i + offset, j) in slots else x
                               for j, x in enumerate(v)))
        else:
            out.append(next(fill) if (i + offset) in slots else v)
    return out


class _FxWalk:
    """The fx graph's nodes, in order, made the translator's values: ``sample`` keeps each
    node's result as a fake tensor (or a Python value) to give the next calls their inputs."""

    def __init__(self, tr, module, input_shape: tuple[int, ...], training: bool):
        self.tr, self.module, self.training = tr, module, training
        self.torch = common.torch_module()
        self.input_shape = input_shape
        self.sample: dict[Any, Any] = {}  # fx node -> fake tensor (the real one's shape) or value
        from torch._subclasses.fake_tensor import FakeTensorMode

        self.fake = FakeTensorMode(allow_non_fake_inputs=True)  # no kernel runs, no memory
        self.root = {"": ("", type(module))}  # the stack export gives an op of the top module
        self.has_input = False
        self.outputs: list[str] = []

    def empty(self, shape, dtype=None):
        """A fake tensor of ``shape``: the sample of a tensor fx computes."""
        with self.fake:
            return self.torch.empty(tuple(shape), dtype=dtype)

    # -- one node's ATen ops ---------------------------------------------------------------

    def describe(self, node) -> str:
        """How an error names an fx node: "module Conv2d call", "function relu", "method view"."""
        if node.op == "call_module":
            return f"module {type(self.module.get_submodule(node.target)).__name__} call"
        target = node.target if isinstance(node.target, str) else \
            getattr(node.target, "__name__", str(node.target))
        return f"{'method' if node.op == 'call_method' else 'function'} {target}"

    def fail(self, node, message: str, help: str | None = None) -> SpecError:
        return SpecError(f"{self.tr.where(node, 'torch.fx ' + self.describe(node))}: {message}",
                         kind="torch", help=help)

    def lower(self, node, fn, prefix: str):
        """Export the call ``fn`` of ``node`` alone and feed its ATen ops to the translator;
        its value: the translator's values of the call's results (the call's structure)."""
        torch = self.torch
        args, kwargs = list(node.args), dict(node.kwargs)
        slots: list = []
        inputs: list = []  # (outer fx node) per slot

        def plain(v, slot):
            if isinstance(v, torch.fx.Node):
                s = self.sample[v]
                if isinstance(s, torch.Tensor):
                    slots.append(slot)
                    inputs.append(v)
                    return None
                return s
            return v
        values = [*args, *kwargs.values()]
        consts = []
        for i, v in enumerate(values):
            if isinstance(v, (list, tuple)):
                consts.append(type(v)(plain(x, (i, j)) for j, x in enumerate(v)))
            else:
                consts.append(plain(v, i))
        call = _Call.make(torch, fn, consts[:len(args)], dict(zip(kwargs, consts[len(args):])),
                          slots)
        call.train(self.training)  # the walk's mode (the module's own was set for the trace)
        examples = tuple(torch.zeros(self.sample[n].shape, dtype=self.sample[n].dtype)
                         for n in inputs)
        try:
            with common.quiet_export():
                ep = torch.export.export(call, examples, strict=False)
        except Exception as exc:  # the user's module: any error, reported without a traceback
            raise self.fail(node, f"torch.export cannot capture this call alone either "
                                  f"({type(exc).__name__}: {first_line(exc)})",
                            help="cnncalc maps what torch.export captures of each call "
                                 "(docs/torch.md)") from None
        stack = {**self.root, **(node.meta.get("nn_module_stack") or {})}
        names = common.state_names(ep)
        user = list(ep.graph_signature.user_inputs)
        tr = self.tr
        out = None
        for sub in ep.graph_module.graph.nodes:
            sub.meta["nn_module_stack"] = stack
            sub.meta["stack_trace"] = node.stack_trace
            if sub.op == "placeholder":
                if sub.name in names:
                    key = names[sub.name]
                    key = prefix + key[2:] if key.startswith("m.") else key
                    tr.v[sub] = Param(key, tuple(getattr(sub.meta.get("val"), "shape", ())))
                elif sub.name in user:
                    tr.v[sub] = tr.v[inputs[user.index(sub.name)]]
                else:
                    tr.v[sub] = None
            elif sub.op == "call_function":
                tr.v[sub] = tr.step(sub)
            elif sub.op == "output":
                out = sub
        results = list(flat([out.args[0]]))[-len(ep.graph_signature.user_outputs):]
        spec = ep.call_spec.out_spec
        unflatten = torch.utils._pytree.tree_unflatten
        value = unflatten([tr.value(x) for x in results], spec)
        meta = [self.empty(x.meta["val"].shape, x.meta["val"].dtype)
                if isinstance(x, torch.fx.Node) and isinstance(x.meta.get("val"), torch.Tensor)
                else x for x in results]
        self.sample[node] = unflatten(meta, spec)
        return value

    # -- the walk ----------------------------------------------------------------------------

    def meta_value(self, node):
        """The node's result computed on fake tensors (a Python value such as ``x.size(0)``),
        or None if it cannot be."""
        torch = self.torch

        def s(v):
            return self.sample.get(v) if isinstance(v, torch.fx.Node) else v
        args = torch.fx.node.map_aggregate(node.args, s)
        kwargs = torch.fx.node.map_aggregate(node.kwargs, s)
        try:
            with self.fake, torch.no_grad():
                if node.op == "call_method":
                    return getattr(args[0], node.target)(*args[1:], **kwargs)
                return node.target(*args, **kwargs)
        except Exception:  # no fake kernel: the call is exported alone, and refused if it fails
            return None

    def node(self, node) -> None:
        torch, tr = self.torch, self.tr
        if node.op == "placeholder":
            if not self.has_input:  # the first argument; the others keep their defaults
                self.has_input = True
                tr.v[node] = Act("input", self.input_shape)
                self.sample[node] = self.empty((2 if self.training else 1, *self.input_shape))
            else:
                tr.v[node] = self.sample[node] = None
        elif node.op == "get_attr":
            value = self.module
            for part in node.target.split("."):
                value = getattr(value, part)
            shape = tuple(getattr(value, "shape", ()))
            tr.v[node] = Param(node.target, shape)
            self.sample[node] = value  # a fake tensor mode reads a real one
        elif node.op == "call_module":
            sub = self.module.get_submodule(node.target)
            kind = common.qualname(type(sub))
            if "module:" + kind in tr.claims:
                self.whole(node, sub, kind)
            else:
                tr.v[node] = self.lower(node, sub, node.target + ".")
        elif node.op in ("call_function", "call_method"):
            value = self.meta_value(node)
            if value is not None and not any(isinstance(x, torch.Tensor) for x in flat([value])):
                tr.v[node] = self.sample[node] = value  # a Python value: x.size(0), x.dim()
                return
            held = tr.v.get(node.args[0]) if node.args else None
            if node.target is operator.getitem and isinstance(held, (list, tuple)):
                tr.v[node] = held[node.args[1]]
                self.sample[node] = self.sample[node.args[0]][node.args[1]]
                return
            tr.v[node] = self.lower(node, _method(node.target) if node.op == "call_method"
                                    else node.target, "")
        elif node.op == "output":
            self.outputs = tr.outputs(node)

    def whole(self, node, sub, kind: str) -> None:
        """A module class a layer reads whole: one layer from its attributes and tensors."""
        torch, tr = self.torch, self.tr
        acts: list[Act] = []
        for v in flat([list(node.args), list(node.kwargs.values())]):
            value = tr.v.get(v) if isinstance(v, torch.fx.Node) else None
            if isinstance(value, Act):
                act = tr.act(node, value)
                if all(a.node != act.node for a in acts):
                    acts.append(act)
        params = {n: Param(f"{node.target}.{n}", tuple(t.shape))
                  for n, t in [*sub.named_parameters(), *sub.named_buffers()]}
        node.meta["nn_module_stack"] = {**self.root, **(node.meta.get("nn_module_stack") or {})}
        act = tr.dispatch_whole(node, node.target, kind, acts, params)
        meta = self.empty((2 if self.training else 1, *act.shape))
        try:  # the call's structure (nn.MultiheadAttention gives (output, weights))
            with self.fake, torch.no_grad():
                result = sub(*torch.fx.node.map_aggregate(
                    node.args, lambda v: self.sample.get(v) if isinstance(v, torch.fx.Node) else v),
                    **torch.fx.node.map_aggregate(
                    node.kwargs, lambda v: self.sample.get(v) if isinstance(v, torch.fx.Node) else v))
        except Exception:  # no fake kernel: one result
            result = meta
        if isinstance(result, (list, tuple)):
            tr.v[node] = type(result)([act, *[None] * (len(result) - 1)])
            self.sample[node] = type(result)([meta, *result[1:]])
        else:
            tr.v[node], self.sample[node] = act, meta


def _method(name: str):
    def call(self, *args, **kwargs):
        return getattr(self, name)(*args, **kwargs)
    call.__name__ = name
    return call


def translate_fx(tr, module, input_shape: tuple[int, ...], training: bool,
                 export_failure: SpecError | None) -> None:
    """Feed ``module``'s layers, read through torch.fx (see the module's docstring), to the
    export walk's translator ``tr`` (:class:`cnncalc.io.torch_import._Translator`, made without
    an exported program). ``export_failure``: torch.export's error, named with fx's if fx
    fails too.

    Raises:
        SpecError: kind ``torch``: fx cannot trace the module (with export's failure), or a
            call that cannot be mapped (the call, its module path, its source line).
    """
    whole = {c[len("module:"):] for c in tr.claims if c.startswith("module:")}
    was = module.training
    module.train(training)
    try:
        try:
            with common.quiet_export():
                graph = trace(module, whole)
        except Exception as exc:  # the user's module: any error, reported without a traceback
            fx = f"torch.fx could not trace it: {type(exc).__name__}: {first_line(exc)}"
            if export_failure is None:
                raise SpecError(f"{type(module).__name__}: {fx}", kind="torch",
                                help="fx cannot trace control flow on the input's values "
                                     "(docs/torch.md)") from None
            raise SpecError(f"{export_failure.message}; {fx}", kind="torch",
                            help=export_failure.help) from None
        walk = _FxWalk(tr, module, input_shape, training)
        try:
            for node in graph.nodes:
                walk.node(node)
        except SpecError as exc:
            if export_failure is not None:  # say why fx read it
                exc.message += (" (read with torch.fx, as torch.export could not capture the "
                                f"module: {export_failure.failures[0]})")
            raise
    finally:
        module.train(was)
