"""``cnncalc solve`` and ``cnncalc sizes``: the one-axis window arithmetic solved for the
padding, the output size or the stride, and the input sizes at which a whole network tiles
exactly (the rules themselves are in cnncalc.core.window)."""

from __future__ import annotations

from cnncalc.analysis.tiling import exact_tiling
from cnncalc.core.errors import SpecError
from cnncalc.core.window import dropped, tiles, unread_note, window_out
from cnncalc.io.load import loads, read_spec
from cnncalc.layers.base import Step

MAX_PAIRS = 200  # list [before, after] pairs one by one up to this many


def solve_padding(size: int, kernel: int, stride: int, output: int, dilation: int = 1) -> dict:
    """Every padding that gives ``output`` windows along one axis.

    O = floor((L + P - F) / S) + 1 holds exactly for the totals P = P_before + P_after in
    [S(O - 1) + F - L, S·O + F - L - 1] (Dumoulin and Visin 2016, relationship 6), so the
    search is exhaustive: at most S totals, every split of each.

    Returns a dict: ``keff`` (F = d(k - 1) + 1); ``totals`` (every P that works, ascending);
    ``symmetric`` (every p with 2p in totals); ``same`` (TensorFlow's split of the smallest
    total, the odd pixel after, or None when no padding works) and ``same_total``, that
    total: TensorFlow's max(S(O - 1) + F - L, 0); ``pairs``: every
    (before, after) with ``padding_only`` (some window reads padding alone) and ``dropped``
    (real input pixels no window reads, :func:`cnncalc.core.window.dropped`), or None when
    there are more than MAX_PAIRS (then every split of each total works).
    """

    keff = dilation * (kernel - 1) + 1
    low = stride * (output - 1) + keff - size
    totals = [t for t in range(max(low, 0), low + stride)
              if window_out(size, keff, stride, t, 0) == output]
    symmetric = [t // 2 for t in totals if t % 2 == 0]
    same = (totals[0] // 2, totals[0] - totals[0] // 2) if totals else None
    count = sum(t + 1 for t in totals)
    pairs = None
    if count <= MAX_PAIRS:
        pairs = [{"before": b, "after": t - b,
                  "padding_only": b >= keff or (output - 1) * stride >= b + size,
                  "dropped": dropped(size, keff, stride, b, t - b)}
                 for t in totals for b in range(t + 1)]
        pairs.sort(key=lambda p: (p["before"], p["after"]))
    return {"keff": keff, "totals": totals, "symmetric": symmetric, "same": same,
            "same_total": totals[0] if totals else None, "pairs": pairs, "pair_count": count}


def solve_output(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                 transposed: bool = False, output_padding: int = 0) -> Step:
    """The output size along one axis, as a derivation step; the note says which pixels
    a non-exact division leaves unread (padding only, or real input pixels)."""

    keff = dilation * (kernel - 1) + 1
    if transposed:
        out = (size - 1) * stride - 2 * padding + keff + output_padding
        return Step("output", "O = (W - 1)·S - 2P + F + output_padding  (P: padding on each side)",
                    f"({size} - 1)·{stride} - 2·{padding} + {keff} + {output_padding}", str(out))
    span = size - keff + 2 * padding
    if span < 0:
        raise SpecError(f"the kernel ({keff}) does not fit the padded input ({size + 2 * padding})",
                        kind="usage", help="more padding or a smaller kernel")
    note = unread_note(size, keff, stride, padding, padding)
    return Step("output", "O = floor((W - F + 2P) / S) + 1  (P: padding on each side, 2P in all)",
                f"floor(({size} - {keff} + 2·{padding}) / {stride}) + 1", str(span // stride + 1), note)


def solve_stride(size: int, kernel: int, output: int, dilation: int = 1) -> list[tuple[int, int, bool]]:
    """(stride, symmetric padding, tiles exactly) combinations that give ``output``, with
    padding below the kernel extent (a window of padding alone reads nothing)."""

    keff = dilation * (kernel - 1) + 1
    found = []
    for s in range(1, max(size, 1) + 1):
        for p in range(0, keff):
            if window_out(size, keff, s, p, p) == output:
                found.append((s, p, tiles(size, keff, s, p, p)))
    return found


def sizes(path, tried: range) -> list[tuple[int, tuple]]:
    """Input sizes L in ``tried`` (``range(400, 701)``: 400 to 700; every spatial axis L)
    for which the network loads, every window tiles exactly and every merge lines up;
    with the outputs.

    Raises:
        SpecError: a spec that cannot be read at all.
    """
    text = read_spec(path)  # read once; every size re-parses the same text
    base = loads(text, str(path))
    found = []
    for size in tried:
        shape = (base.input_shape[0], *(size,) * base.ndim)
        try:
            net = loads(text, str(path), input_shape=shape)
        except SpecError:
            continue
        if exact_tiling(net):
            continue
        found.append((size, tuple(net.node(o).facts.out_shape for o in net.outputs)))
    return found
