"""Build small ONNX models with onnx.helper for the tests (no torch needed)."""

from __future__ import annotations

import numpy as np


def model(nodes, inits, x_shape, outputs, opset=17, value_info=(), output_shapes=None):
    """A ModelProto: input 'x' of ``x_shape``, the given nodes and initializers
    (name -> array), and graph outputs named in ``outputs``."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    outputs = [outputs] if isinstance(outputs, str) else outputs
    shapes = output_shapes or [None] * len(outputs)
    graph = h.make_graph(
        nodes, "test_graph", [h.make_tensor_value_info("x", T.FLOAT, list(x_shape))],
        [h.make_tensor_value_info(o, T.FLOAT, s if s is not None else ()) if s is not None
         else h.make_empty_tensor_value_info(o) for o, s in zip(outputs, shapes)],
        initializer=[nh.from_array(np.asarray(v), k) for k, v in inits.items()],
        value_info=[h.make_tensor_value_info(n, T.FLOAT, s) for n, s in value_info])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])


def node(op, inputs, outputs, name=None, **attrs):
    from onnx import helper as h

    outputs = [outputs] if isinstance(outputs, str) else outputs
    return h.make_node(op, inputs, outputs, name=name or outputs[0], **attrs)


def save(m, path):
    import onnx

    onnx.save(m, str(path))
    return path


def w(*shape):
    return np.zeros(shape, np.float32)


def ints(*values):
    return np.array(values, np.int64)


# Reports compared across a round trip use the graph memory policy: the eager policy's
# inference peak follows the module structure (a block holds its input for its call;
# docs/conventions.md, "Memory"), which an ONNX graph does not carry, so a flat import and
# a nested spec of one network rightly differ there, and only there.
GRAPH = "graph"


def same_totals(a: dict, b: dict, training: bool = True) -> bool:
    """Two JSON reports' totals agree, leaving out what names a layer (a nested
    structure renames layers, e.g. the memory peak's layer), and with ``training``
    False the training memory."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if not k.endswith("_layer") and (training or k != "training")}
        return value
    return strip(a["totals"]) == strip(b["totals"])
