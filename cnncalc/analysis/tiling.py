"""Whether a network tiles its input exactly: every window covers its input without
dropping pixels, every crop can be centred, adaptive pooling has even windows, and every
merge lines up (used by ``cnncalc sizes`` and ``cnncalc sweep``)."""

from __future__ import annotations

from cnncalc.analysis.analyze import Report, analyze
from cnncalc.core.graph import Network
from cnncalc.core.window import tiling_problems


def exact_tiling(net: Network, report: Report | None = None) -> list[str]:
    """Layers whose windows do not tile their input exactly (input pixels dropped), a crop
    that cannot be centred, adaptive pooling with uneven windows (each layer says:
    :func:`cnncalc.core.window.tiling_problems`), or misaligned merges; one line each,
    ``"<layer>: <problem>"`` (empty when the network tiles exactly). ``report``: the
    network's analysis, if already made."""
    problems = []
    report = analyze(net) if report is None else report
    for node, row in zip(net.nodes, report.layers):
        for p in tiling_problems(node.facts.layer):  # a text two axes share is said once
            if f"{node.name}: {p}" not in problems:
                problems.append(f"{node.name}: {p}")
        if row.receptive_field is not None and row.receptive_field.misaligned and len(node.inputs) > 1:
            problems.append(f"{node.name}: the merged paths are misaligned")
    return problems
