"""What ``cnncalc solve batch`` prints: the largest batch, the footprint's split into fixed
and per-sample bytes, the breakdown at that batch and at the next (which does not fit), and
the executor's check (text or JSON). Formats only; the numbers are
:mod:`cnncalc.analysis.capacity`'s and :mod:`cnncalc.measure.capacity`'s."""

from __future__ import annotations

import json
from typing import Any

from cnncalc.analysis.capacity import PART_HELP, Solution


def _describe(sol: Solution) -> str:
    s = sol.settings
    what = f"training, {s.optimizer}" if s.train else "inference"
    precision = "mixed precision (float32 master weights, 2-byte activations)" if s.amp else s.dtype
    extra = f", checkpointing each block at depth {s.checkpoint}" if s.checkpoint is not None else ""
    return f"{what}, {precision}{extra}"


def solution_text(name: str, sol: Solution, budget_text: str, budget_note: str | None,
                  check: Any = None) -> str:
    """The answer, the split and the breakdown table; ``check`` a
    :class:`cnncalc.measure.capacity.BatchCheck` or None."""
    lines = [f"{name}: the largest batch in {budget_text} ({sol.budget:,} bytes), {_describe(sol)}"]
    if budget_note:
        lines.append(f"  note: {budget_note}")
    rule = ("PyTorch's autograd" if sol.settings.train else
            f"the inference peak under the {sol.settings.policy} policy")
    lines.append(f"footprint = {sol.fixed:,} + batch × {sol.per_sample:,} bytes ({rule}; "
                 "docs/conventions.md \"Memory\" and \"Capacity\")")
    if sol.bends:
        lines.append(f"  this line holds at batches {sol.batch:,} and {sol.batch + 1:,}: the "
                     + ("footprint" if sol.settings.train else "peak")
                     + " is the largest of several lines ("
                     + ("one per moment of the backward pass, whose kernels' weight copies "
                        "and gradients do not grow with the batch, and the optimizer step's "
                        "temporaries" if sol.settings.train else
                        "kernel temporaries that do not grow with the batch")
                     + "), solved on the piece the answer lies on")
    lines.append("")
    if sol.batch:
        at = sol.at.total
        lines.append(f"batch {sol.batch:,} fits: {at:,} bytes, {sol.budget - at:,} to spare")
    else:
        lines.append(f"even batch 1 does not fit: it needs {sol.next.total:,} bytes "
                     f"({sol.fixed:,} of them fixed), {sol.next.total - sol.budget:,} over; "
                     "--amp, --checkpoint or a smaller input need less")
    if sol.batch:
        lines.append(f"batch {sol.next.batch:,} does not: {sol.next.total:,} bytes, "
                     f"{sol.next.total - sol.budget:,} over")
    lines.append("")
    head = ["part", "fixed", "per sample"]
    if sol.at is not None:
        head.append(f"at batch {sol.batch:,}")
    head.append(f"at batch {sol.next.batch:,}")
    rows = []
    fixed, per = dict(sol.fixed_parts), dict(sol.per_sample_parts)
    for part, _ in sol.next.parts:
        row = [part, f"{fixed[part]:,}", f"{per[part]:,}"]
        if sol.at is not None:
            row.append(f"{sol.at.part(part):,}")
        row.append(f"{sol.next.part(part):,}")
        rows.append(row)
    total = ["total", f"{sol.fixed:,}", f"{sol.per_sample:,}"]
    if sol.at is not None:
        total.append(f"{sol.at.total:,}")
    total.append(f"{sol.next.total:,}")
    rows.append(total)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        lines.append("  ".join(r[0].ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                               for i, c in enumerate(r)).rstrip())
    lines.append("")
    lines += [f"  {part}: {PART_HELP[part]}" for part, _ in sol.next.parts]
    lines.append("  not counted: the CUDA context, the allocator's fragmentation and cached blocks, "
                 "kernel workspaces (cuDNN): leave headroom")
    if check is not None:
        lines.append("")
        lines += check_lines(check)
        s = sol.settings
        if s.amp or s.checkpoint is not None or s.dtype != "float32":
            lines.append("  (the executor runs float32 and knows neither --amp nor --checkpoint: it "
                         "checks the plain step's method, not these settings' figures)")
    return "\n".join(lines) + "\n"


def check_lines(check: Any) -> list[str]:
    """The executor's check of the boundary, saying what it measures."""
    a, b = check.measured
    mark = "confirmed" if check.confirmed else "NOT confirmed"
    return [
        f"Executor check ({check.what}; the NumPy executor and its own memory policy, "
        "docs/executor.md \"Memory\", not PyTorch):",
        f"  its policy: {check.fixed:,} + batch × {check.per_sample:,} bytes -> batch "
        f"{check.batch:,} in {check.budget:,} bytes",
        f"  batch {check.batch:,}: measured {a:,} bytes (tracemalloc), estimated "
        f"{check.estimated[0]:,}: {'within' if a <= check.budget else 'OVER'} the budget",
        f"  batch {check.batch + 1:,}: measured {b:,} bytes, estimated {check.estimated[1]:,}: "
        f"{'over' if b > check.budget else 'WITHIN'} the budget",
        f"  {mark}: the closed-form solve "
        + ("holds on real allocations" if check.confirmed else
           "does not match the measured boundary (the policy's estimate differs from its "
           f"measurement by {abs(a - check.estimated[0]) * 100 // max(check.estimated[0], 1)}% "
           "at the batch found)"),
    ]


def solution_json(name: str, sol: Solution, budget_text: str, check: Any = None) -> str:
    """``solve batch -f json``: the solution's figures (bytes), and the check's."""
    out = {"name": name, "budget": budget_text, **sol.to_dict()}
    if check is not None:
        out["check"] = check.to_dict()
    return json.dumps(out, indent=2) + "\n"
