"""``cnncalc import`` and ``cnncalc export``: ONNX models and PyTorch modules read into specs,
specs written as ONNX models or PyTorch modules. onnx and torch are optional extras, imported by
the io modules."""

from __future__ import annotations

import sys
from pathlib import Path

from cnncalc.commands.files import load_npz
from cnncalc.io.load import load
from cnncalc.io.onnx_export import write_onnx
from cnncalc.io.onnx_io import import_file
from cnncalc.io.torch_export import write_pytorch
from cnncalc.io.torch_import import import_torch, is_factory
from cnncalc.options import parse_input


def import_(model: str, output: Path | None, input: str | None, training: bool = False) -> None:
    """Translate an ONNX model (a file) or a PyTorch module (MODULE:FACTORY, not a file) into a
    spec, on stdout or into ``output``; notes on stderr."""
    shape = parse_input(input, "import")
    if is_factory(model):
        text, notes = import_torch(model, shape, training)
    else:
        text, notes = import_file(Path(model), shape)
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
