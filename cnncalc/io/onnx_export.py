"""``cnncalc export --to onnx``: a network as an ONNX model with weights (docs/onnx.md).

Each layer class writes its own nodes (``Layer.to_onnx``); :mod:`cnncalc.io.onnx_map`
turns them into protobufs. This module chooses the weights (those given, else the
seeded ones of :mod:`cnncalc.core.weights`, which ``cnncalc run`` draws too) and
writes the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnncalc.core.errors import SpecError
from cnncalc.core.weights import check_weights, init_weights
from cnncalc.io.onnx_map import check_exportable, export_graph
from cnncalc.io.onnx_proto import require


def to_onnx(net, weights: dict | None = None, seed: int = 0, opset: int = 18,
            graph_only: bool = False):
    """A ModelProto of ``net``: ``weights`` (``"<layer>.<param>"`` -> array, PyTorch's
    layouts) where given, the seeded initialisation elsewhere (so
    ``cnncalc.run(net, x, weights, seed)`` computes what the model computes). With
    ``graph_only``, every weight is a shape without values (for analysis only).

    Raises:
        SpecError: the onnx package is missing; a weight of the wrong shape; a layer type
            with no ONNX equivalent.
    """
    require("onnx")
    check_exportable(net)  # before any weight is drawn
    if graph_only:
        return export_graph(net, None, opset)
    # the seeded tensors cnncalc run draws, then those given (checked against the network)
    tensors = {**init_weights(net, seed, np.float32), **check_weights(net, weights, seed, np.float32)}
    return export_graph(net, tensors, opset)


def write_onnx(net, path: str | Path, weights: dict | None = None, seed: int = 0,
               opset: int = 18) -> None:
    """Write ``net`` to ``path`` as an ONNX model; see :func:`to_onnx`."""
    onnx = require("onnx")
    model = to_onnx(net, weights, seed, opset)
    try:
        onnx.save(model, str(path))
    except OSError as exc:
        raise SpecError(f"cannot write {path}: {exc.strerror}", kind="io") from None
