"""``cnncalc export --to pytorch``: a network as the source of a torch.nn.Module.

Each layer class writes its own text (``Layer.to_torch``); :mod:`cnncalc.io.torch_map`
assembles the module. Writing does not import torch (reading a module does:
:mod:`cnncalc.io.torch_import`).
"""

from __future__ import annotations

from pathlib import Path

from cnncalc.core.errors import SpecError
from cnncalc.io.torch_map import to_source


def write_pytorch(net, path: str | Path, source: str | None = None) -> None:
    """Write ``class Net(nn.Module)`` for ``net`` to ``path`` (see torch_map.to_source)."""
    text = to_source(net, source or net.file)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot write {path}: {exc.strerror}", kind="io") from None
