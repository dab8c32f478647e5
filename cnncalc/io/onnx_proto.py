"""The ONNX file format as cnncalc reads it: the optional ``onnx`` package, the
ModelProto class, tensors and attributes as Python values (onnx/onnx.proto).

The ``onnx`` package is an optional extra (``pip install 'cnncalc[onnx]'``): it is
imported only when a model is read or written, and a missing package is a
:class:`SpecError` with the install command, never a traceback. Nothing here knows
cnncalc's layer types; :mod:`cnncalc.io.onnx_map` maps ops to them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnncalc.core.errors import SpecError
from cnncalc.core.files import MAX_MODEL_BYTES, read_bounded
from cnncalc.layers.base import np  # NumPy, imported on first use (analysis never needs it)

INSTALL_HELP = "install the optional extra: pip install 'cnncalc[onnx]'"


def require(module: str = "onnx", file: str | None = None) -> Any:
    """Import ``onnx`` (or ``onnxruntime``), or raise a SpecError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = "onnx" if module == "onnx" else "onnxruntime"
        raise SpecError(
            f"reading and writing ONNX files needs the '{module}' package, which is not installed",
            file=file, kind="usage", help=f"install the optional extra: pip install 'cnncalc[{extra}]'",
        ) from None


def model_proto_class():
    """onnx's ModelProto class, without importing the whole ``onnx`` package when it is
    not imported yet: its protobuf schema module alone loads in a tenth of the time
    (``import onnx`` imports NumPy, its C++ checker and helpers; the reading path needs
    none of them). The class is the same object either way (protobuf keeps one class
    per message descriptor), so models read here work with ``onnx`` functions."""
    if "onnx" in sys.modules and hasattr(sys.modules["onnx"], "ModelProto"):
        return sys.modules["onnx"].ModelProto
    cached = sys.modules.get("cnncalc_onnx_ml_pb2")
    if cached is not None:
        return cached.ModelProto
    spec = importlib.util.find_spec("onnx") if "onnx" not in sys.modules else None
    if spec is None or spec.origin is None:
        require("onnx")  # raises the install message (or imports onnx when it is present)
        return sys.modules["onnx"].ModelProto
    path = os.path.join(os.path.dirname(spec.origin), "onnx_ml_pb2.py")
    if not os.path.exists(path):  # a layout we do not know: the ordinary import
        return require("onnx").ModelProto
    loader = importlib.util.spec_from_file_location("cnncalc_onnx_ml_pb2", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    sys.modules["cnncalc_onnx_ml_pb2"] = module
    return module.ModelProto


# TensorProto.DataType -> NumPy type name (onnx/onnx.proto)
NP_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
            9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def to_array(t):
    """A TensorProto's values as a NumPy array (raw_data or the typed fields).

    Raises:
        ValueError: an element type cnncalc does not read (strings, bfloat16, 8-bit floats).
    """
    if t.data_type not in NP_TYPES:
        raise ValueError(f"tensor '{t.name}' has element type {t.data_type}")
    dtype = np.dtype(NP_TYPES[t.data_type])
    shape = tuple(t.dims)
    if t.raw_data:
        return np.frombuffer(t.raw_data, dtype=dtype).reshape(shape).copy()
    if t.data_type in (1,):
        values = t.float_data
    elif t.data_type == 11:
        values = t.double_data
    elif t.data_type in (7,):
        values = t.int64_data
    elif t.data_type in (12, 13):
        values = t.uint64_data
    else:  # int32_data holds every small integer type, bool and float16 bits
        values = t.int32_data
        if t.data_type == 10:
            return np.array(values, dtype=np.uint16).view(np.float16).reshape(shape)
    return np.array(values, dtype=dtype).reshape(shape)


def attr_value(a):
    """An AttributeProto's value (onnx/onnx.proto AttributeType: FLOAT 1, INT 2, STRING 3,
    TENSOR 4, FLOATS 6, INTS 7, STRINGS 8); graphs and sparse tensors are not read."""
    kind = a.type
    if kind == 1:
        return a.f
    if kind == 2:
        return a.i
    if kind == 3:
        return a.s.decode("utf-8", "replace")
    if kind == 4:
        return a.t
    if kind == 6:
        return list(a.floats)
    if kind == 7:
        return list(a.ints)
    if kind == 8:
        return [s.decode("utf-8", "replace") for s in a.strings]
    return None


def looks_like_onnx(data: bytes) -> bool:
    """True when ``data`` is a serialized ONNX ModelProto rather than YAML text.

    Recognised by content, not by the file's extension: a ModelProto starts with
    field 1 (``ir_version``, a varint: tag byte 0x08) and YAML text never starts
    with that control character. Exporters write ``ir_version`` first.
    """
    return len(data) > 2 and data[0] == 0x08 and data[1] < 0x80


@dataclass
class Imported:
    """An ONNX graph translated to a cnncalc spec.

    Attributes:
        text: the spec as YAML text (one layer per line), loadable by :func:`cnncalc.loads`.
        items: the layer items (dicts) of ``text``, in order.
        node_of_line: YAML line number -> the ONNX node it came from (for errors).
        notes: facts the user should know (batch norm folded, value_info disagreements).
        recorded: ONNX tensor name -> (cnncalc node name, shape the file records, per sample).
        folds: the batch-norm folding the file shows: ``marked`` convolutions the exporter
            says it folded, with ``biased``/``unbiased`` channels (the folded bias kept or
            dropped as all zero); or ``guess`` convolutions with a bias (``biased`` channels)
            in a file with no BatchNormalization node. Empty when neither applies.
    """

    text: str
    items: list[dict]
    node_of_line: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    recorded: dict[str, tuple[str, tuple]] = field(default_factory=dict)
    name: str = "network"
    input_shape: tuple = ()
    folds: dict = field(default_factory=dict)


def read_model(path: str | Path, data: bytes | None = None):
    """The ModelProto of an ONNX file, read with ``load_external_data=False``
    (the figures need the graph and the tensors' shapes, not the weights)."""
    try:
        model_class = model_proto_class()
    except SpecError as exc:
        raise exc.located(file=str(path)) from None
    if data is None:
        data = read_bounded(path, MAX_MODEL_BYTES, "model")
    try:
        model = model_class()
        model.ParseFromString(data)  # what onnx.load(path, load_external_data=False) does
    except Exception as exc:  # the protobuf parser's errors are not one class
        raise SpecError(f"cannot read the ONNX model: {exc}", file=str(path), kind="io",
                        help="check that the file is a complete .onnx model") from None
    bad = _not_text(model, "the model")
    if bad is not None:
        raise SpecError(f"cannot read the ONNX model: {bad} is not UTF-8 text", file=str(path),
                        kind="io", help="the file is damaged: export the model again")
    return model


def _not_text(message, where: str) -> str | None:
    """Where ``message`` holds a string field that is not valid UTF-8 (protobuf's upb
    parser hands such a field over as bytes), or None. Walks every nested message once:
    linear in the file's size."""
    stack = [(message, where)]
    while stack:
        msg, at = stack.pop()
        for fd, value in msg.ListFields():
            if fd.type == fd.TYPE_STRING:
                values = value if _repeated(fd) else [value]
                for v in values:
                    if not isinstance(v, str):
                        return f"{at}'s {fd.name} {bytes(v)[:40]!r}"
            elif fd.type == fd.TYPE_MESSAGE:
                if _repeated(fd):
                    label = getattr(msg, "name", "") if fd.name != "node" else ""
                    for i, child in enumerate(value):
                        name = getattr(child, "name", "")
                        shown = f"'{name}'" if isinstance(name, str) and name else f"#{i}"
                        stack.append((child, f"{fd.name} {shown}" if not label else f"{fd.name} {shown}"))
                else:
                    stack.append((value, at))
    return None


def _repeated(fd) -> bool:
    """Whether a protobuf field descriptor is a repeated field (protobuf 4 to 6 APIs)."""
    if hasattr(fd, "is_repeated"):
        return fd.is_repeated
    return fd.label == fd.LABEL_REPEATED
