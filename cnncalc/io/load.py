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

from cnncalc.core.files import MAX_MODEL_BYTES, read_bounded
from cnncalc.core.graph import Network
from cnncalc.core.yamlio import MAX_FILE_BYTES
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
        SpecError: also for a file that cannot be read (a missing file, a folder, FIFO,
            device or socket, or a file over the limit: :func:`read_spec`).
    """
    return loads(read_spec(path), str(path), **kwargs)


def read_spec(path: str | Path) -> bytes:
    """The bytes of a spec file: a regular file of at most 4 MiB, or an ONNX model of at
    most 2 GiB (recognised by its first bytes); see :mod:`cnncalc.core.files`.

    Raises:
        SpecError: a missing file, a folder, FIFO, device or socket, or a file over the limit.
    """
    return read_bounded(path, MAX_FILE_BYTES, "spec", larger=(looks_like_onnx, MAX_MODEL_BYTES),
                        help=spec.SPEC_SIZE_HELP)
