"""Reading a network file of either kind, recognised by its content, not its name:
an ONNX model (a serialized ModelProto, :func:`cnncalc.io.onnx_proto.looks_like_onnx`)
or a YAML spec (docs/spec-format.md, docs/onnx.md).

This is the one module that knows both readers, so that neither imports the other:
:mod:`cnncalc.io.spec` reads YAML, :mod:`cnncalc.io.onnx_io` translates ONNX into YAML
and reads that with the spec loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnncalc.core.errors import SpecError
from cnncalc.core.graph import Network
from cnncalc.io import spec
from cnncalc.io.onnx_io import load_onnx
from cnncalc.io.onnx_proto import looks_like_onnx


def loads(text: str | bytes, file: str | None = None, **kwargs: Any) -> Network:
    """A network from a YAML spec's text, or from an ONNX model's bytes; keyword
    arguments and errors as for :func:`cnncalc.io.spec.loads`.

    Raises:
        SpecError: anything wrong with the spec or the model, located.
    """
    if isinstance(text, bytes) and looks_like_onnx(text):
        return load_onnx(file or "<model>", text, **kwargs)
    return spec.loads(text, file, **kwargs)


def load(path: str | Path, **kwargs: Any) -> Network:
    """Read a spec or ONNX file; see :func:`loads` for the arguments and errors.

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
