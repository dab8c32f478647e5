"""``cnncalc solve batch``: the largest batch whose footprint fits a memory budget, solved in
closed form (cnncalc.analysis.capacity); ``--check`` confirms the boundary with the NumPy
executor under tracemalloc (cnncalc.measure.capacity). Exit 1 when even batch 1 does not
fit or the check does not confirm the boundary."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer

from cnncalc.analysis.capacity import Settings, solve_batch
from cnncalc.analysis.memory import DEFAULT_POLICY
from cnncalc.commands.files import UNITS, parse_bytes
from cnncalc.io.load import load
from cnncalc.measure.capacity import check_batch
from cnncalc.options import parse_input, usage
from cnncalc.present.capacity_text import solution_json, solution_text

EXIT_FINDINGS = 1


def budget_note(text: str, budget: int) -> str | None:
    """What a budget written in decimal units or without a unit means, beside its binary twin
    (a GPU's "24 GB" is 24 GiB of memory, 25,769,803,776 bytes)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if unit in ("kb", "mb", "gb"):
        twin = int(float(m.group(1)) * UNITS[unit[0] + "ib"])
        return (f"{text} is decimal ({budget:,} bytes); {m.group(1)}{unit[0].upper()}iB is "
                f"{twin:,} bytes, which is what a GPU sold as {m.group(1)} {unit.upper()} holds")
    if unit in ("", "b") and budget < 1024 ** 2:
        return f"{text} means {budget:,} bytes; write a unit for more (24GiB)"
    return None


def batch(spec: Path, memory: str, train: bool, optimizer: str, dtype: str, amp: bool,
          checkpoint: int | None, check: bool, input: str | None, format: str,
          policy: str | None = None) -> None:
    """Solve ``spec`` for the largest batch in ``memory``; print the answer in ``format``."""
    budget = parse_bytes(memory, "--memory")
    if budget <= 0:
        raise usage("solve batch", f"--memory '{memory}' is no memory", "e.g. --memory 24GiB")
    net = load(spec, input_shape=parse_input(input, "solve batch"))
    settings = Settings(train=train, dtype=dtype, optimizer=optimizer, amp=amp, checkpoint=checkpoint,
                        policy=policy or DEFAULT_POLICY)
    sol = solve_batch(net, budget, settings)
    checked = check_batch(net, budget, train) if check else None
    if format == "json":
        sys.stdout.write(solution_json(net.name, sol, memory, checked))
    else:
        sys.stdout.write(solution_text(net.name, sol, memory, budget_note(memory, budget), checked))
    if sol.batch == 0 or (checked is not None and not checked.confirmed):
        raise typer.Exit(EXIT_FINDINGS)
