"""``cnncalc import`` and ``cnncalc export``: ONNX models read into specs, specs written as ONNX
models or PyTorch modules. onnx itself is an optional extra, imported by the io modules."""

from __future__ import annotations

import sys
from pathlib import Path

from cnncalc.commands.files import load_npz
from cnncalc.io.load import load
from cnncalc.io.onnx_export import write_onnx
from cnncalc.io.onnx_io import import_file
from cnncalc.io.torch_export import write_pytorch
from cnncalc.options import parse_input


def import_(model: Path, output: Path | None, input: str | None) -> None:
    """Translate an ONNX model into a spec, on stdout or into ``output``; notes on stderr."""
    text, notes = import_file(model, parse_input(input, "import"))
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {output}\n")


def export(spec: Path, to: str, output: Path, weights: Path | None, seed: int, opset: int) -> None:
    """Write ``spec`` as an ONNX model (with weights) or as a torch.nn.Module's source."""
    net = load(spec)
    if to == "onnx":
        tensors = load_npz(weights) if weights is not None else None
        write_onnx(net, output, tensors, seed, opset)
    else:
        write_pytorch(net, output)
    sys.stderr.write(f"wrote {output}\n")
