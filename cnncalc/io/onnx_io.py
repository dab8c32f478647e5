"""Reading ONNX files as networks: load the graph without weights, translate it
into a cnncalc spec (:mod:`cnncalc.io.onnx_map`), and check the shapes it records
(docs/onnx.md). The file format itself is :mod:`cnncalc.io.onnx_proto`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cnncalc.core.errors import SpecError
from cnncalc.core.files import MAX_MODEL_BYTES, read_bounded
from cnncalc.io.onnx_map import translate
from cnncalc.io.onnx_proto import Imported, looks_like_onnx, read_model
from cnncalc.io.spec import loads, parse_shape_text


def import_model(model, file: str | None = None, readable: bool = False,
                 input_shape: tuple | None = None) -> Imported:
    """Translate a ModelProto into a cnncalc spec; see :mod:`cnncalc.io.onnx_map`.

    Raises:
        SpecError: an op that cannot be mapped (naming the node, its op type and
            the supported ops), or a graph with no single image-like input.
    """
    folder = str(Path(file).resolve().parent) if file else None
    try:
        return translate(model, input_shape, readable, folder)
    except SpecError as exc:
        raise exc.located(file=file) from None


def load_onnx(path: str | Path, data: bytes | None = None, **kwargs: Any):
    """Load an ONNX file as a :class:`cnncalc.Network` (for analyze, lint, verify,
    explain, sizes); keyword arguments as for :func:`cnncalc.loads`.

    The network carries ``onnx_notes``: batch-norm folding and every shape the
    file records (``value_info``) that disagrees with cnncalc's own.
    """
    path_text = str(path)
    model = read_model(path, data)
    imp = import_model(model, path_text, input_shape=kwargs.pop("input_shape", None))
    kwargs.pop("dilation_base", None)  # the generated spec writes PyTorch's (1-based) dilation
    try:
        net = loads(imp.text, path_text, **kwargs)
    except SpecError as exc:
        node = imp.node_of_line.get(exc.line) if exc.line else None
        if node is not None:
            exc.message = f"ONNX node {node}: {exc.message}"
        exc.loc = None  # lines of the generated YAML mean nothing in a binary file
        raise exc from None
    net.onnx_notes = imp.notes + fold_notes(net, imp) + cross_check(net, imp)
    for node in net.nodes:  # lines of the generated YAML mean nothing in a binary file
        node.loc = None
        node.layer = node.layer.parsed_copy(located=False)
    net.input_loc = None
    return net


def fold_notes(net, imp: Imported) -> list[str]:
    """The batch-norm folding note, with this file's figures (docs/onnx.md). Folding
    w' = w·γ/σ, b' = β + (b − μ)·γ/σ removes each norm's γ and β (2·C parameters) and
    gives its convolution a C-element bias (unless the exporter dropped an all-zero one):
    the source counted P + (channels with a bias) + 2·(channels without) parameters."""
    folds = imp.folds
    if not folds:
        return []
    params = sum(math.prod(shape) for node in net.nodes for shape in node.facts.params.values())
    if "marked" in folds:
        biased, unbiased = folds["biased"], folds["unbiased"]
        source = params + biased + 2 * unbiased
        kept = (f"{folds['biased_convs']} of them have a C-element bias in its place "
                f"({biased:,} channels)" if biased else "")
        dropped = (f"the exporter dropped the all-zero bias of the other "
                   f"{folds['marked'] - folds['biased_convs']} ({unbiased:,} channels)"
                   if unbiased else "")
        return [f"the exporter folded batch norm into {folds['marked']} convolution(s) (its metadata "
                f"names FuseBatchNormIntoConv; eval mode: w' = w·γ/σ, b' = β + (b − μ)·γ/σ): each "
                f"folded norm's 2·C parameters and 2·C buffers are absent; "
                + "; ".join(t for t in (kept, dropped) if t)
                + f". This file counts {params:,} parameters; the source model, with its "
                f"{biased + unbiased:,} batch-norm channels, counted {source:,} (if those "
                "convolutions had no bias of their own)"]
    kept = (f"{folds['kept']} BatchNormalization node(s) are left (a norm that follows no "
            "convolution cannot be folded), and " if folds.get("kept") else
            "no BatchNormalization node, and ")
    return [f"{kept}{folds['guess']} convolution(s) have a bias "
            f"({folds['biased']:,} channels): if the source model had batch norm after them, the "
            "exporter folded it into them (eval mode: w' = w·γ/σ, b' = β + (b − μ)·γ/σ), its 2·C "
            "parameters and 2·C buffers are absent and the bias takes their place. This file "
            f"counts {params:,} parameters; such a source model counted up to "
            f"{params + folds['biased']:,}"]


def cross_check(net, imp: Imported) -> list[str]:
    """Notes for every shape recorded in the file (``value_info``, graph outputs) that
    differs from the shape cnncalc computes (exporters' shape inference can be wrong:
    onnx's ceil_mode pooling)."""
    if net.input_shape != imp.input_shape:  # --input changed the size the file records
        return []
    shapes = {node.name: node.facts.out_shape for node in net.nodes}  # set up by the loader
    notes = []
    for tensor, (node, recorded) in imp.recorded.items():
        ours = shapes.get(node)
        if ours is None or len(recorded) != len(ours):
            continue
        if any(r is not None and r != o for r, o in zip(recorded, ours)):
            shown = "x".join("?" if r is None else str(r) for r in recorded)
            notes.append(f"the file records {shown} for '{tensor}' (layer {node}); cnncalc computes "
                         f"{'x'.join(map(str, ours))}: the exporter's shape inference disagrees")
    return notes


def shape_option(text: str | None, option: str = "--input") -> tuple[int, ...] | None:
    """``3x224x224`` -> (3, 224, 224) for ``cnncalc import --input``; None stays None."""
    if text is None:
        return None
    try:
        return parse_shape_text(text)
    except ValueError:
        raise SpecError(f"{option} '{text}' is not a shape", kind="usage",
                        help=f"channels first, without batch: {option} 3x224x224") from None


def import_file(path: str | Path, input_shape: tuple | None = None) -> tuple[str, list[str]]:
    """``cnncalc import``: the readable spec text of an ONNX file, checked by loading it,
    and the notes (folding, value_info disagreements).

    Raises:
        SpecError: a file that is not an ONNX model, or an op that cannot be mapped.
    """
    path_text = str(path)
    data = read_bounded(path, MAX_MODEL_BYTES, "model")
    if not looks_like_onnx(data):
        raise SpecError("not an ONNX model (a serialized ModelProto)", file=path_text, kind="io",
                        help="cnncalc import reads .onnx files; a YAML spec needs no import")
    flat = load_onnx(path_text, data, input_shape=input_shape)  # notes and the shape cross-check
    imp = import_model(read_model(path_text, data), path_text, readable=True, input_shape=input_shape)
    loads(imp.text, path_text)  # the spec written must load: the same path analyze takes
    return imp.text, flat.onnx_notes
