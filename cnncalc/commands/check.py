"""``cnncalc check``: each answer judged right or wrong, with the derivation when wrong; exit 1
if any is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cnncalc.core.files import read_bounded
from cnncalc.core.yamlio import MAX_FILE_BYTES
from cnncalc.homework.answers import Conventions, looks_like_answers
from cnncalc.homework.answers import check as judge
from cnncalc.homework.text import check_json, check_lines
from cnncalc.io.load import load
from cnncalc.options import usage
from cnncalc.present.console import console, print_lines

EXIT_FINDINGS = 1


def run(spec: Path, answers: Path, format: str, flops: str, bias: bool, dilation_base: int) -> None:
    """Judge the answers file against the problem spec under the given conventions."""
    conv = Conventions(flops=flops, bias=bias, dilation_base=dilation_base)
    if looks_like_answers(spec) and not looks_like_answers(answers):
        raise usage("check", f"the arguments look swapped: {spec} is an answers file and {answers} "
                    "the problem", f"the problem comes first: cnncalc check {answers} {spec}")
    net = load(spec, dilation_base=dilation_base)
    text = read_bounded(answers, MAX_FILE_BYTES, "answers")
    results = judge(net, text, str(answers), conv)
    if format == "json":
        sys.stdout.write(check_json(results, conv))
    else:
        print_lines(console(), check_lines(results, conv))
    if sum(j.ok for j in results) < len(results):
        raise typer.Exit(EXIT_FINDINGS)
