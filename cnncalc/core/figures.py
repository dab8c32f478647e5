"""The figure catalogue: every per-layer figure cnncalc reports, in one place.

A figure is one number (or shape, or per-axis list) the analysis gives each layer. The
report's JSON, the CSV and table columns, ``cnncalc verify``'s labels, the answers that
``cnncalc check`` judges and the ``expect:`` keys that lint rule CC001 checks all take their
lists of figure names from :data:`FIGURES` (docs/report.md defines each figure; docs/
architecture.md says who reads the catalogue).

Fields of a :class:`Figure`:

- ``name``: the figure's name: the attribute of ``analysis.analyze.LayerResult`` and the
  figure name of ``cnncalc verify`` (``rf_size``, ``rf_stride``, ``rf_center`` for the
  receptive field's three per-axis parts, ``local_rf_*`` for the local field's; a per-axis
  figure is the attribute of the LayerResult's field named by its ``json_key``'s first part).
- ``label``: how ``verify`` names it in its notes ("RF size").
- ``json_key``: where it is in a layer of the JSON report; a dotted key is nested
  (``receptive_field.size``).
- ``per_axis``: one value per spatial axis (the receptive field), else one value.
- ``compare``: how an analysed value is held against another: ``integer`` (exact int),
  ``shape`` (equal tuples of ints), ``fraction`` (exact rationals per axis, None for a unit
  that sees no input, "global" for a field that covers every position).
- ``column``: the ``--columns`` key and header of the table and Markdown views, or None.
- ``csv``: a column of the CSV view (named ``name``).
- ``answer``: the key an answers file (``cnncalc check``) or an ``expect:`` block (lint
  CC001) uses for it, or None (``receptive_field`` and ``stride`` are the size and the
  stride of the receptive field, as the lectures call them).
- ``judged``: ``cnncalc check`` judges an answer for it (answers files hold what a
  homework asks; ``expect:`` blocks also take trainable_params and buffers).
- ``verified``: ``cnncalc verify`` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

INTEGER, SHAPE, FRACTION = "integer", "shape", "fraction"


@dataclass(frozen=True)
class Figure:
    """One per-layer figure and how each part of cnncalc names, shows and compares it
    (the fields are described in the module's docstring)."""

    name: str
    label: str
    json_key: str
    per_axis: bool
    compare: str
    column: tuple[str, str] | None
    csv: bool
    answer: str | None
    judged: bool
    verified: bool


# In the order of the JSON report's layer objects and of the CSV's columns (docs/report.md).
FIGURES: tuple[Figure, ...] = (
    Figure("output_shape", "output shape", "output_shape", False, SHAPE,
           ("output_shape", "Output shape"), True, "output_shape", True, True),
    Figure("params", "params", "params", False, INTEGER, ("params", "Params"), True, "params", True, True),
    Figure("trainable_params", "trainable params", "trainable_params", False, INTEGER, None, True,
           "trainable_params", False, False),
    Figure("buffers", "buffers", "buffers", False, INTEGER, None, True, "buffers", False, True),
    Figure("macs", "MACs", "macs", False, INTEGER, ("macs", "MACs"), True, "macs", True, True),
    Figure("flops", "FLOPs", "flops", False, INTEGER, ("flops", "FLOPs"), True, "flops", True, False),
    Figure("activation_bytes", "activation bytes", "activation_bytes", False, INTEGER,
           ("activations", "Activations (B)"), True, "activation_bytes", True, True),
    Figure("live_bytes", "live bytes", "live_bytes", False, INTEGER, None, False, None, False, False),
    Figure("rf_size", "RF size", "receptive_field.size", True, FRACTION, ("rf_size", "RF size"), True,
           "receptive_field", True, True),
    Figure("rf_stride", "RF stride", "receptive_field.stride", True, FRACTION,
           ("rf_stride", "Eff. stride"), True, "stride", True, True),
    Figure("rf_center", "RF centre", "receptive_field.center", True, FRACTION,
           ("rf_centre", "RF centre"), True, None, False, True),
    # the local field (broadcast gates held constant, docs/receptive-field.md): JSON and
    # verify; the table shows it in the RF columns, marked +g, where the exact one is global
    Figure("local_rf_size", "local RF size", "local_receptive_field.size", True, FRACTION, None,
           False, None, False, True),
    Figure("local_rf_stride", "local RF stride", "local_receptive_field.stride", True, FRACTION,
           None, False, None, False, True),
    Figure("local_rf_center", "local RF centre", "local_receptive_field.center", True, FRACTION,
           None, False, None, False, True),
)

BY_NAME: dict[str, Figure] = {f.name: f for f in FIGURES}

# the top-level keys of a layer in the JSON report that hold one figure each
JSON_SCALARS: tuple[str, ...] = tuple(f.json_key for f in FIGURES if "." not in f.json_key)
# the CSV view's figure columns, in order
CSV_FIGURES: tuple[str, ...] = tuple(f.name for f in FIGURES if f.csv)
# what `cnncalc verify` measures, and how it labels each
VERIFIED_LABELS: dict[str, str] = {f.name: f.label for f in FIGURES if f.verified}
# the keys an answers file may give (cnncalc check)
ANSWER_FIELDS: tuple[str, ...] = tuple(f.answer for f in FIGURES if f.judged and f.answer)
# the keys an expect: block may give (lint CC001)
EXPECT_FIELDS: tuple[str, ...] = tuple(f.answer for f in FIGURES if f.answer)


def figure(name: str) -> Figure:
    """The catalogue's entry for ``name``.

    Raises:
        KeyError: no such figure.
    """
    return BY_NAME[name]


def column(name: str) -> tuple[str, str]:
    """The (``--columns`` key, header) of figure ``name`` in the table and Markdown views.

    Raises:
        KeyError: no such figure, or it has no column.
    """
    shown = BY_NAME[name].column
    if shown is None:
        raise KeyError(name)
    return shown


def answer_values(row) -> dict:
    """A layer's analysed figures keyed by their ``answer`` names (what an ``expect:`` block or
    an answers file writes): shapes and per-axis receptive-field parts as tuples, None for the
    receptive field of a layer that has none.

    ``row`` is an ``analysis.analyze.LayerResult`` (anything with the figures' attributes and a
    ``receptive_field`` with ``size``/``stride``/``center``).
    """
    out: dict = {}
    for f in FIGURES:
        if f.answer is None:
            continue
        if f.per_axis:
            field = getattr(row, f.json_key.split(".")[0])
            out[f.answer] = None if field is None else tuple(getattr(field, f.json_key.split(".")[1]))
        elif f.compare == SHAPE:
            out[f.answer] = tuple(getattr(row, f.name))
        else:
            out[f.answer] = getattr(row, f.name)
    return out
