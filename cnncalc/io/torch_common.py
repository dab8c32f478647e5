"""What the torch.export walk (:mod:`cnncalc.io.torch_import`) and its torch.fx fallback
(:mod:`cnncalc.io.torch_fx`) share: torch itself, the values the walk tracks, quiet export."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass

from cnncalc.core.errors import SpecError

INSTALL = "pip install 'cnncalc[torch]'"


def torch_module():
    """``import torch``, or a SpecError (kind ``torch``) that says how to install it."""
    try:
        import torch
    except ImportError:
        raise SpecError("PyTorch is not installed; reading a torch.nn.Module needs it",
                        kind="torch", help=f"{INSTALL} (a CPU build will do)") from None
    return torch


def qualname(kind) -> str:
    """The qualified name of a module class, as ``nn_module_stack`` gives it (the class, or
    its name already written out)."""
    return kind if isinstance(kind, str) else f"{kind.__module__}.{kind.__qualname__}"


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, at most 300 characters."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


@contextlib.contextmanager
def quiet_export():
    """no_grad, with torch's logging and stderr silenced: a failed capture logs and prints its
    graphs, and the error cnncalc raises says what failed."""
    torch = torch_module()
    quiet = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(quiet)


@dataclass
class Act:
    """A tensor computed by the network: the spec item producing it (its full name), its
    shape per sample, channels first, and its layout in the graph: "cf" (N, C, *S) or "cl"
    (N, *S, C), after a permute that moved the channels last."""

    node: str
    shape: tuple
    layout: str = "cf"


@dataclass
class Param:
    """A parameter, buffer or constant of the module: its state_dict key and shape."""

    name: str
    shape: tuple


def state_names(ep) -> dict[str, str]:
    """Placeholder name -> state_dict key of the parameters, buffers and constants of an
    exported program."""
    sig = ep.graph_signature
    return {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
            **getattr(sig, "inputs_to_lifted_tensor_constants", {})}


def flat(values):
    """The items of ``values``, nested lists and tuples flattened, in order."""
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from flat(v)
        else:
            yield v
