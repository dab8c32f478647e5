"""What the homework commands print: check's verdicts, solve's answers, sizes' list.

Each function returns text (or lines, or a JSON document) and prints nothing; the command
modules in :mod:`cnncalc.commands` write it. The computations are in answers.py (check),
solve.py (solve, sizes) and explain.py of this package.
"""

from __future__ import annotations

import json

from cnncalc.homework.answers import Conventions, Judgement, answer_json, format_value
from cnncalc.homework.explain import shapes_in_layout
from cnncalc.layers.base import Step


def check_json(results: list[Judgement], conv: Conventions) -> str:
    """``cnncalc check -f json``: score, conventions, and per answer the value given, the correct
    one and the derivation (docs/homework.md)."""
    right = sum(j.ok for j in results)
    return json.dumps({
        "score": right, "total": len(results), "conventions": conv.describe(),
        "answers": [{"layer": j.layer, "field": j.field, "written": str(j.given),
                     "given": answer_json(j.field, j.answer),
                     "correct": answer_json(j.field, j.correct), "ok": j.ok,
                     "derivation": [{"formula": s.formula, "substituted": s.substituted,
                                     "result": s.result, "note": s.note} for s in j.derivation]}
                    for j in results],
    }, indent=2) + "\n"


def check_lines(results: list[Judgement], conv: Conventions) -> list[tuple[str, str | None]]:
    """``cnncalc check``'s text as (line, rich style or None): a mark per answer, the correct
    value and its derivation under a wrong one, the score and conventions last."""
    lines: list[tuple[str, str | None]] = []
    for j in results:
        mark = "✓" if j.ok else "✗"
        line = f"{mark} {j.layer}.{j.field}: {j.given}"
        if not j.ok:
            line += f"   correct: {format_value(j.field, j.correct, j.layout)}"
        lines.append((line, "green" if j.ok else "red"))
        for st in j.derivation:
            shown = shapes_in_layout(st.result, j.layout)
            lines.append((f"      {st.formula}", None))
            lines.append((f"        = {st.substituted + ' = ' if st.substituted else ''}{shown}", None))
            if st.note:
                lines.append((f"        note: {st.note}", None))
    right = sum(j.ok for j in results)
    lines.append((f"Score: {right}/{len(results)}    Conventions: {conv.describe()}", None))
    return lines


def padding_json(r: dict, input: int, kernel: int, stride: int, dilation: int, output: int) -> str:
    """``cnncalc solve padding -f json`` of :func:`cnncalc.homework.solve.solve_padding`'s result."""
    return json.dumps({
        "input": input, "kernel": kernel, "stride": stride, "dilation": dilation, "output": output,
        "kernel_extent": r["keff"], "totals": r["totals"], "symmetric": r["symmetric"],
        "tensorflow_same": None if r["same"] is None else list(r["same"]),
        "pair_count": r["pair_count"], "pairs": r["pairs"]}, indent=2) + "\n"


def padding_text(r: dict, input: int, stride: int, output: int) -> str:
    """``cnncalc solve padding``'s text: every total, the symmetric ones, TensorFlow's 'same'
    split and the [before, after] pairs grouped by what they do; or why none exists."""
    keff = r["keff"]
    if not r["totals"]:
        least = (input - keff) // stride + 1 if input >= keff else None
        return (f"no padding gives {output}: padding only enlarges the output, and with none it is "
                f"already {least} (floor(({input} - {keff}) / {stride}) + 1); use a larger kernel "
                "or stride" if least is not None else f"no padding gives {output}") + "\n"
    out = [f"P_before + P_after with floor(({input} + P - {keff}) / {stride}) + 1 = {output}: "
           + ", ".join(map(str, r["totals"]))]
    if r["symmetric"]:
        out.append("symmetric padding (each side): " + ", ".join(map(str, r["symmetric"])))
    else:
        out.append("no symmetric padding gives this output (every total is odd)")
    b, a = r["same"]
    o = -(-input // stride)  # TensorFlow's 'same': o = ceil(l / s), p = max(s(o - 1) + k - l, 0)
    total = max(stride * (o - 1) + keff - input, 0)
    derivation = (f"o = ceil(l / s) = ceil({input} / {stride}) = {o}, p = max(s(o - 1) + k - l, 0) = "
                  f"max({stride}·({o} - 1) + {keff} - {input}, 0) = {total}")
    if o == output:
        out.append(f"TensorFlow 'same' ({derivation}): [{b}, {a}]"
                   + (" (the odd pixel after)" if a != b else ""))
    else:
        out.append(f"TensorFlow 'same' gives {o}, not {output} ({derivation}); the smallest total "
                   f"here, split its way: [{b}, {a}]" + (" (the odd pixel after)" if a != b else ""))
    if r["pairs"] is None:
        out.append(f"[before, after]: every split of each total ({r['pair_count']:,} pairs)")
        return "\n".join(out) + "\n"
    plain = [p for p in r["pairs"] if not p["padding_only"] and not p["dropped"]]
    lossy = [p for p in r["pairs"] if p["dropped"] and not p["padding_only"]]
    empty = [p for p in r["pairs"] if p["padding_only"]]

    def show(ps):
        return ", ".join(f"[{p['before']}, {p['after']}]" for p in ps)

    if plain:
        out.append(f"[before, after]: {show(plain)}")
    if lossy:
        out.append(f"[before, after] that leave input pixels unread: {show(lossy)}")
    if empty:
        out.append(f"[before, after] where a window reads only padding: {show(empty)}")
    return "\n".join(out) + "\n"


def output_json(step: Step) -> str:
    """``cnncalc solve output -f json``: the size, its formula and the numbers put in."""
    return json.dumps({"output": int(step.result), "formula": step.formula,
                       "substituted": step.substituted, "note": step.note}, indent=2) + "\n"


def output_text(step: Step) -> str:
    """``cnncalc solve output``'s text: the formula, the numbers put in, a note if any."""
    text = f"{step.formula}\n  = {step.substituted} = {step.result}\n"
    return text + (f"  note: {step.note}\n" if step.note else "")


def stride_json(found: list[tuple[int, int, bool]]) -> str:
    """``cnncalc solve stride -f json``: each (stride, padding) and whether it tiles exactly."""
    return json.dumps([{"stride": s, "padding": p, "tiles_exactly": exact}
                       for s, p, exact in found], indent=2) + "\n"


def stride_text(found: list[tuple[int, int, bool]]) -> str:
    """``cnncalc solve stride``'s text: one line per combination, or that there is none."""
    if not found:
        return "no stride and padding give this output\n"
    return "".join(f"stride {s}, padding {p}" + ("" if exact else "  (not exact: input pixels are dropped)")
                   + "\n" for s, p, exact in found)


def spelled(tried: range) -> str:
    """A range of sizes as ``--range`` takes it: 400..700, or 400..700..2 with a step."""
    return f"{tried.start}..{tried[-1]}" + (f"..{tried.step}" if tried.step != 1 else "")


def sizes_json(found: list, tried: range) -> str:
    """``cnncalc sizes -f json``: the range tried (first and last size, and the step) and
    each size that tiles with its outputs."""
    return json.dumps({"range": [tried.start, tried[-1]], "step": tried.step, "sizes": [
        {"size": size, "outputs": [list(o) for o in outs]} for size, outs in found]},
        indent=2) + "\n"


def sizes_text(found: list, tried: range) -> str:
    """``cnncalc sizes``'s text: 'SIZE: C x H x W, ...' per size, or that none tiles."""
    if not found:
        return f"no input size in {spelled(tried)} tiles exactly\n"
    return "".join(f"{size}: " + ", ".join("x".join(map(str, o)) for o in outs) + "\n"
                   for size, outs in found)
