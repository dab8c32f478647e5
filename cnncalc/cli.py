"""The ``cnncalc`` command: parses arguments, calls the core, renders, picks the exit code.

Exit codes: 0 ok; 1 findings (a check or lint that found something); 2 bad
input or usage (the message names file, line and column); 3 an internal error
(a bug in cnncalc: please report it with the spec).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cnncalc import __version__
from cnncalc.core.errors import SpecError
from cnncalc.io.load import load
from cnncalc.options import InputShape, format_option, formats, parse_input, usage

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Exact per-layer arithmetic of convolutional networks written as YAML.",
)


class DType(StrEnum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"


class Optimizer(StrEnum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"


def _version(value: bool) -> None:
    if value:
        print(f"cnncalc {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Exact per-layer arithmetic of convolutional networks written as YAML."""


PIPE_WIDTH = 240  # piped output keeps whole rows instead of folding to 80 columns


def _console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, highlight=False)


class _no_cyclic_gc:
    """Pause the cyclic garbage collector: its passes over the growing graph of layers
    cost a quarter of a 10,000-layer analysis and free nothing (reference counting
    frees what the analysis drops). Restored on exit."""

    def __enter__(self):
        import gc

        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        import gc

        if self.was:
            gc.enable()


AnalyzeFormat = formats("table", "json", "markdown", "csv", "html")


def _columns(text: str | None, command: str) -> list[str] | None:
    from cnncalc.present.render import COLUMN_KEYS

    if text is None:
        return None
    keys = [k.strip().lower().replace("-", "_") for k in text.split(",") if k.strip()]
    for key in keys:
        if key not in COLUMN_KEYS:
            from cnncalc.core.errors import suggestion

            raise usage(command, f"--columns: no column '{key}'", suggestion(key, COLUMN_KEYS, "columns"))
    return keys


ColumnsOption = Annotated[str | None, typer.Option(
    "--columns", "-c",
    help="Columns to show, comma-separated (table and markdown; the layer name is always shown): "
         "type, output_shape, params, params_percent, macs, macs_percent, flops, activations, "
         "rf_size, rf_stride, rf_centre.")]


@app.command()
def analyze(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    format: AnalyzeFormat = format_option(AnalyzeFormat),
    input: InputShape = None,
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override the batch size."),
    dtype: DType = typer.Option(DType.float32, "--dtype", help="Element type for byte counts."),
    optimizer: Optimizer = typer.Option(Optimizer.adam, "--optimizer",
                                        help="Optimizer state counted in the training footprint "
                                             "(0, 1, 2, 2 tensors per parameter)."),
    max_layers: int = typer.Option(100_000, "--max-layers", min=1,
                                   help="Refuse specs that expand to more layers."),
    dilation_base: int = typer.Option(1, "--dilation-base", min=0, max=1,
                                      help="1: PyTorch (1 = no gaps); 0: cs231n (0 = no gaps)."),
    depth: int = typer.Option(None, "--depth", "-d", min=1,
                              help="Group rows deeper than N dotted levels into their block "
                                   "(table, markdown, csv; JSON always lists every layer)."),
    columns: ColumnsOption = None,
) -> None:
    """Per layer: output shape, parameters, MACs, FLOPs, activation memory, receptive field."""
    from cnncalc.analysis.analyze import analyze as run_analysis
    from cnncalc.present import render

    picked = _columns(columns, "analyze")
    with _no_cyclic_gc():
        net = load(spec, input_shape=parse_input(input, "analyze"), batch=batch, max_nodes=max_layers,
                   dilation_base=dilation_base)
        report = run_analysis(net, dtype=dtype.value, optimizer=optimizer.value)
    failed = []
    if net.expect or any(n.expect for n in net.nodes):  # the spec's own promises
        from cnncalc.lint.rules import Config, lint_network

        failed = lint_network(net, Config(select=("CC001",)), report=report)
    if format == "json":
        sys.stdout.write(render.to_json(report, dilation_base))
    elif format == "markdown":
        sys.stdout.write(render.to_markdown(report, depth, picked))
    elif format == "csv":
        sys.stdout.write(render.to_csv(report, depth))
    elif format == "html":
        from cnncalc.present.view import to_html

        sys.stdout.write(to_html(net, report))
    elif sys.stdout.isatty():
        render.to_table(report, _console(), depth, picked)
    else:  # piped: the same text without rich's start-up
        render.write_table(report, sys.stdout, PIPE_WIDTH, depth, picked)
    _source_notes(net)
    if failed:
        from cnncalc.lint.rules import to_text

        sys.stderr.write(to_text(failed))
        raise typer.Exit(EXIT_FINDINGS)


class _Progress:
    """A progress bar on stderr that appears only once a run has lasted a second."""

    def __init__(self, what: str) -> None:
        import time

        self.what, self.start, self.bar, self.task, self.clock = what, time.monotonic(), None, None, time
        self.total = 0

    def __call__(self, done: int, total: int, name: str) -> None:
        if self.bar is None:
            if self.clock.monotonic() - self.start < 1.0 or not sys.stderr.isatty():
                return
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
        self.bar.update(self.task, completed=done, description=f"{self.what} {name}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _parse_bytes(text: str) -> int:
    units = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024 ** 2, "mb": 1000 ** 2,
             "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1000 ** 3, "gib": 1024 ** 3}
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in units:
        raise SpecError(f"--max-memory '{text}' is not a size", kind="usage",
                        help="e.g. --max-memory 2GiB, 512MiB or 1000000000")
    return int(float(m.group(1)) * units[m.group(2).lower()])


RunFormat = formats("text", "json")


@app.command()
def run(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    data: Path = typer.Option(None, "--data",
                              help="Input values: a .npy array, batch first (N, C, ...). Default: "
                                   "the values written in the spec, else a seeded random batch of one."),
    input: InputShape = None,
    weights: Path = typer.Option(None, "--weights", "-w",
                                 help="Weights .npz with keys '<layer>.<param>' in PyTorch's layouts."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Write every layer's output to this .npz (a folder: "
                                     "FOLDER/<spec name>.npz; '.npz' is added when missing)."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights (and input) not given."),
    dtype: str = typer.Option(None, "--dtype", help="float32 or float64 (default: the input's)."),
    max_memory: str = typer.Option("2GiB", "--max-memory", help="Refuse runs whose estimated peak is larger."),
    format: RunFormat = format_option(RunFormat),
) -> None:
    """Run the network forward in NumPy and print its outputs (or write every layer's)."""
    import json

    import numpy as np

    from cnncalc.measure.execute import run as execute

    net = load(spec, input_shape=parse_input(input, "run"))
    limit = _parse_bytes(max_memory)
    target = _npz_target(output, spec) if output is not None else None  # before any work
    x = None
    if data is not None:
        x = _load_array(data, "--data")
    elif net.input_values is None:
        from cnncalc.measure.execute import guard_memory

        guard_memory(net, 1, 4, "all", limit)  # before the random input is allocated
        x = np.random.default_rng(seed).standard_normal((1, *net.input_shape)).astype(np.float32)
    tensors = _load_npz(weights) if weights is not None else None
    bar = _Progress("running")
    try:
        values = execute(net, x, tensors, seed, dtype=dtype, max_memory=limit, progress=bar)
    finally:
        bar.close()
    if target is not None:
        try:
            with open(target, "wb") as fh:  # a file object: numpy adds no suffix of its own
                np.savez(fh, **values)
        except OSError as exc:
            raise usage("run", f"--output: cannot write {target}: {exc.strerror}",
                        "give a file in a folder that exists and is writable") from None
        if format == "json":
            sys.stdout.write(json.dumps({"wrote": str(target), "arrays": sorted(values)}, indent=2) + "\n")
        else:
            print(f"wrote {len(values)} arrays to {target}")
        return
    if format == "json":
        sys.stdout.write(json.dumps({name: {"shape": list(values[name].shape),
                                            "dtype": str(values[name].dtype),
                                            "values": values[name].tolist()}
                                     for name in net.outputs}) + "\n")
        return
    with np.printoptions(precision=6, suppress=True, threshold=200, linewidth=120):
        for name in net.outputs:
            print(f"{name}: shape {list(values[name].shape)}, {values[name].dtype}")
            print(values[name])


def _npz_target(output: Path, spec: Path) -> Path:
    """Where ``run --output`` writes: a folder gets <spec stem>.npz, a name without a
    suffix gets .npz (as numpy.savez does); the folder must exist."""
    if output.is_dir():
        return output / f"{spec.stem}.npz"
    if output.suffix != ".npz":
        output = output.with_name(output.name + ".npz")
    if not output.parent.is_dir():
        raise usage("run", f"--output: the folder {output.parent} does not exist",
                    f"create it first (mkdir -p {output.parent}) or write elsewhere")
    return output


def _load_array(path: Path, what: str):
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SpecError(f"{what}: cannot read {path}: {exc}", kind="io",
                        help="give a .npy file written by numpy.save") from None
    if not isinstance(data, np.ndarray):  # an .npz archive
        names = list(data.files)
        data.close()
        raise SpecError(f"{what}: {path} is an .npz archive of {len(names)} array(s), not one array",
                        kind="io", help="give a .npy file written by numpy.save "
                        + (f"(e.g. numpy.save('x.npy', numpy.load('{path}')['{names[0]}']))" if names else ""))
    return data


def _load_npz(path: Path) -> dict:
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SpecError(f"--weights: cannot read {path}: {exc}", kind="io",
                        help="give a .npz file written by numpy.savez") from None
    if isinstance(data, np.ndarray):  # a single .npy array has no tensor names
        raise SpecError(f"--weights: {path} is a single array ({data.dtype}, shape "
                        f"{list(data.shape)}), not an archive of named tensors", kind="io",
                        help="write the weights with numpy.savez('w.npz', **{'conv1.weight': w, ...})")
    with data:
        return {k: data[k] for k in data.files}


VerifyFormat = formats("table", "json")


@app.command()
def verify(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the weights and input."),
    max_memory: str = typer.Option("2GiB", "--max-memory", help="Refuse runs whose estimated peak is larger."),
    input: InputShape = None,
    format: VerifyFormat = format_option(VerifyFormat),
    memory: bool = typer.Option(False, "--memory",
                                help="Also measure the executor's peak memory (tracemalloc) against "
                                     "the estimate of its own policy."),
    train: bool = typer.Option(False, "--train",
                               help="With --memory: a forward and a backward pass (one training step)."),
) -> None:
    """Run the network and hold every reported figure against a measurement.

    Exit 1 if any layer's output shape, params, buffers, MACs, activation bytes or
    receptive field (size, stride, centre) disagrees; figures that cannot be
    measured are shown as not measured, with the reason.
    """
    import json

    from rich import box
    from rich.table import Table
    from rich.text import Text

    from cnncalc.measure.verify import COLUMNS, not_measured_lines, summary, table_rows
    from cnncalc.measure.verify import verify as check

    net = load(spec, input_shape=parse_input(input, "verify"))
    bar = _Progress("verifying")
    try:
        result = check(net, seed=seed, max_memory=_parse_bytes(max_memory), progress=bar)
    finally:
        bar.close()
    measured = None
    if memory or train:
        from cnncalc.measure.memory import measure

        measured = measure(net, train=train, seed=seed)
    if format == "json":
        extra = {} if measured is None else {"memory": measured.to_dict()}
        sys.stdout.write(json.dumps({"name": net.name, **result.to_dict(), **extra}, indent=2,
                                    default=str) + "\n")
    else:
        table = Table(title=Text(f"{net.name}: analysed / measured"), box=box.SIMPLE_HEAVY, padding=0)
        for col, figure in COLUMNS:
            table.add_column(col, no_wrap=col != "Status", justify="right" if figure else "left")
        for cells in table_rows(result):
            table.add_row(*(Text(c) for c in cells))
        console = _console()
        console.print(table)
        for line in not_measured_lines(result):
            console.print(Text(line))
        for row in result.rows:
            if not row.ok:
                console.print(Text(f"MISMATCH {row.name}: {row.note}"))
        console.print(Text(summary(result)))
        if measured is not None:
            console.print(Text(
                f"Memory ({measured.what}, the executor's policy): measured {measured.measured_bytes:,} B, "
                f"estimated {measured.estimated_bytes:,} B, ratio {measured.ratio:.3f}"))
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)


class FlopsConvention(StrEnum):
    mult_add = "mult-add"
    mult = "mult"


CheckFormat = formats("text", "json")


@app.command()
def check(
    spec: Path = typer.Argument(..., help="The problem (a network spec)."),
    answers: Path = typer.Argument(..., help="The answers (YAML: layout, layers, totals)."),
    format: CheckFormat = format_option(CheckFormat),
    flops: FlopsConvention = typer.Option(FlopsConvention.mult_add, "--flops",
                                          help="FLOPs as multiply + add (default) or multiplications only."),
    bias: bool = typer.Option(True, "--bias/--no-bias", help="Count bias parameters and additions."),
    dilation_base: int = typer.Option(1, "--dilation-base", min=0, max=1,
                                      help="1: PyTorch (1 = no gaps); 0: cs231n (0 = no gaps)."),
) -> None:
    """Judge each answer right or wrong; show the correct value and its derivation when wrong.

    Exit 1 if any answer is wrong.
    """
    import json

    from rich.text import Text

    from cnncalc.homework.answers import (
        Conventions,
        answer_json,
        format_value,
        looks_like_answers,
        shapes_in_layout,
    )
    from cnncalc.homework.answers import check as judge
    conv = Conventions(flops=flops.value, bias=bias, dilation_base=dilation_base)
    if looks_like_answers(spec) and not looks_like_answers(answers):
        raise usage("check", f"the arguments look swapped: {spec} is an answers file and {answers} "
                    "the problem", f"the problem comes first: cnncalc check {answers} {spec}")
    net = load(spec, dilation_base=dilation_base)
    try:
        text = answers.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the answers: {exc.strerror}", file=str(answers), kind="io") from None
    results = judge(net, text, str(answers), conv)
    right = sum(j.ok for j in results)
    if format == "json":
        sys.stdout.write(json.dumps({
            "score": right, "total": len(results), "conventions": conv.describe(),
            "answers": [{"layer": j.layer, "field": j.field, "written": str(j.given),
                         "given": answer_json(j.field, j.answer),
                         "correct": answer_json(j.field, j.correct), "ok": j.ok,
                         "derivation": [{"formula": s.formula, "substituted": s.substituted,
                                         "result": s.result, "note": s.note} for s in j.derivation]}
                        for j in results],
        }, indent=2) + "\n")
    else:
        console = _console()
        for j in results:
            mark = "✓" if j.ok else "✗"
            line = f"{mark} {j.layer}.{j.field}: {j.given}"
            if not j.ok:
                line += f"   correct: {format_value(j.field, j.correct, j.layout)}"
            console.print(Text(line, style="green" if j.ok else "red"))
            for st in j.derivation:
                shown = shapes_in_layout(st.result, j.layout)
                console.print(Text(f"      {st.formula}"))
                console.print(Text(f"        = {st.substituted + ' = ' if st.substituted else ''}{shown}"))
                if st.note:
                    console.print(Text(f"        note: {st.note}"))
        console.print(Text(f"Score: {right}/{len(results)}    Conventions: {conv.describe()}"))
    if right < len(results):
        raise typer.Exit(EXIT_FINDINGS)


ExplainFormat = formats("text", "markdown", "json")


@app.command()
def explain(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    layer: str = typer.Option(None, "--layer", "-l", help="One layer (default: every layer)."),
    format: ExplainFormat = format_option(ExplainFormat),
    input: InputShape = None,
    dilation_base: int = typer.Option(1, "--dilation-base", min=0, max=1,
                                      help="1: PyTorch (1 = no gaps); 0: cs231n (0 = no gaps)."),
) -> None:
    """Every formula behind a layer's figures, with the numbers put in."""
    import json

    from cnncalc.homework.answers import explain as explain_layers
    from cnncalc.homework.answers import explanations_json, render_explanations
    net = load(spec, input_shape=parse_input(input, "explain"), dilation_base=dilation_base)
    items = explain_layers(net, layer)
    if format == "json":
        sys.stdout.write(json.dumps({"name": net.name, "dilation_base": dilation_base,
                                     "layers": explanations_json(items)}, indent=2) + "\n")
    else:
        sys.stdout.write(render_explanations(items, markdown=format == "markdown"))


solve_app = typer.Typer(help="Solve for padding, output size or stride.", no_args_is_help=True)
app.add_typer(solve_app, name="solve")

SolveFormat = formats("text", "json")


@solve_app.command("padding")
def solve_padding(
    input: int = typer.Option(..., "--input", "-i", min=1, help="Input size (one axis)."),
    kernel: int = typer.Option(..., "--kernel", "-k", min=1),
    stride: int = typer.Option(1, "--stride", "-s", min=1),
    output: int = typer.Option(..., "--output", "-o", min=1, help="The output size wanted."),
    dilation: int = typer.Option(1, "--dilation", min=1),
    format: SolveFormat = format_option(SolveFormat),
) -> None:
    """Every padding that gives an output size: symmetric, [before, after], TensorFlow's 'same'."""
    import json

    from cnncalc.homework.answers import solve_padding as solve

    r = solve(input, kernel, stride, output, dilation)
    if format == "json":
        sys.stdout.write(json.dumps({
            "input": input, "kernel": kernel, "stride": stride, "dilation": dilation, "output": output,
            "kernel_extent": r["keff"], "totals": r["totals"], "symmetric": r["symmetric"],
            "tensorflow_same": None if r["same"] is None else list(r["same"]),
            "pair_count": r["pair_count"], "pairs": r["pairs"]}, indent=2) + "\n")
        if not r["totals"]:
            raise typer.Exit(EXIT_FINDINGS)
        return
    keff = r["keff"]
    if not r["totals"]:
        least = (input - keff) // stride + 1 if input >= keff else None
        print(f"no padding gives {output}: padding only enlarges the output, and with none it is "
              f"already {least} (floor(({input} - {keff}) / {stride}) + 1); use a larger kernel "
              "or stride" if least is not None else f"no padding gives {output}")
        raise typer.Exit(EXIT_FINDINGS)
    print(f"P_before + P_after with floor(({input} + P - {keff}) / {stride}) + 1 = {output}: "
          + ", ".join(map(str, r["totals"])))
    if r["symmetric"]:
        print("symmetric padding (each side): " + ", ".join(map(str, r["symmetric"])))
    else:
        print("no symmetric padding gives this output (every total is odd)")
    b, a = r["same"]
    print(f"TensorFlow 'same' split of the smallest total: [{b}, {a}]"
          + (" (the odd pixel after)" if a != b else ""))
    if r["pairs"] is None:
        print(f"[before, after]: every split of each total ({r['pair_count']:,} pairs)")
        return
    plain = [p for p in r["pairs"] if not p["padding_only"] and not p["dropped"]]
    lossy = [p for p in r["pairs"] if p["dropped"] and not p["padding_only"]]
    empty = [p for p in r["pairs"] if p["padding_only"]]

    def show(ps):
        return ", ".join(f"[{p['before']}, {p['after']}]" for p in ps)

    if plain:
        print(f"[before, after]: {show(plain)}")
    if lossy:
        print(f"[before, after] that leave input pixels unread: {show(lossy)}")
    if empty:
        print(f"[before, after] where a window reads only padding: {show(empty)}")


@solve_app.command("output")
def solve_output(
    input: int = typer.Option(..., "--input", "-i", min=1, help="Input size (one axis)."),
    kernel: int = typer.Option(..., "--kernel", "-k", min=1),
    stride: int = typer.Option(1, "--stride", "-s", min=1),
    padding: int = typer.Option(0, "--padding", "-p", min=0),
    dilation: int = typer.Option(1, "--dilation", min=1),
    transposed: bool = typer.Option(False, "--transposed", help="A transposed convolution."),
    output_padding: int = typer.Option(0, "--output-padding", min=0),
    format: SolveFormat = format_option(SolveFormat),
) -> None:
    """The output size of a convolution or pooling window (or a transposed convolution)."""
    import json

    from cnncalc.homework.answers import solve_output as solve

    step = solve(input, kernel, stride, padding, dilation, transposed, output_padding)
    if format == "json":
        sys.stdout.write(json.dumps({"output": int(step.result), "formula": step.formula,
                                     "substituted": step.substituted, "note": step.note},
                                    indent=2) + "\n")
        return
    print(f"{step.formula}\n  = {step.substituted} = {step.result}")
    if step.note:
        print(f"  note: {step.note}")


@solve_app.command("stride")
def solve_stride(
    input: int = typer.Option(..., "--input", "-i", min=1, help="Input size (one axis)."),
    kernel: int = typer.Option(..., "--kernel", "-k", min=1),
    output: int = typer.Option(..., "--output", "-o", min=1, help="The output size wanted."),
    dilation: int = typer.Option(1, "--dilation", min=1),
    format: SolveFormat = format_option(SolveFormat),
) -> None:
    """Stride and symmetric padding combinations that give an output size."""
    import json

    from cnncalc.homework.answers import solve_stride as solve

    found = solve(input, kernel, output, dilation)
    if format == "json":
        sys.stdout.write(json.dumps([{"stride": s, "padding": p, "tiles_exactly": exact}
                                     for s, p, exact in found], indent=2) + "\n")
    elif not found:
        print("no stride and padding give this output")
    for s, p, exact in found if format != "json" else ():
        print(f"stride {s}, padding {p}" + ("" if exact else "  (not exact: input pixels are dropped)"))
    if not found:
        raise typer.Exit(EXIT_FINDINGS)


SizesFormat = formats("text", "json")


@app.command()
def sizes(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    range_: str = typer.Option(..., "--range", help="Input sizes to try, START:STOP (inclusive)."),
    format: SizesFormat = format_option(SizesFormat),
) -> None:
    """Input sizes (same on every spatial axis) for which every window tiles exactly
    and every merge lines up, with the output shape for each. Exit 1 if none."""
    import json

    from cnncalc.homework.answers import sizes as find

    try:
        start, stop = (int(v) for v in range_.split(":"))
    except ValueError:
        raise usage("sizes", f"--range '{range_}' is not START:STOP", "e.g. --range 400:700") from None
    if not 1 <= start <= stop or stop - start > 100_000:
        raise usage("sizes", "--range needs 1 <= START <= STOP and at most 100,000 sizes")
    found = find(spec, start, stop)  # a spec that cannot be read at all raises: exit 2
    if format == "json":
        sys.stdout.write(json.dumps({"range": [start, stop], "sizes": [
            {"size": size, "outputs": [list(o) for o in outs]} for size, outs in found]},
            indent=2) + "\n")
    else:
        for size, outs in found:
            print(f"{size}: " + ", ".join("x".join(map(str, o)) for o in outs))
        if not found:
            print(f"no input size in {start}..{stop} tiles exactly")
    if not found:
        raise typer.Exit(EXIT_FINDINGS)


LintFormat = formats("text", "github", "json", "sarif")


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"


def _codes(text: str | None, option: str) -> tuple[str, ...] | None:
    from cnncalc.lint import rules as L

    if text is None:
        return None
    return tuple(L.check_code(c.strip().upper(), None, option) for c in text.split(",") if c.strip())


@app.command()
def lint(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders (searched for *.yaml, *.yml)."),
    format: LintFormat = format_option(LintFormat),
    select: str = typer.Option(None, "--select",
                               help="Rule codes or prefixes to run instead of the default set, "
                                    "comma-separated (CC1; CC for every rule)."),
    extend_select: str = typer.Option(None, "--extend-select",
                                      help="Rule codes or prefixes to add to the set (opinionated "
                                           "rules such as CC103)."),
    ignore: str = typer.Option(None, "--ignore", help="Rule codes or prefixes to skip, comma-separated."),
    error_on: Severity = typer.Option(Severity.warning, "--error-on",
                                      help="Exit 1 on findings at or above this severity."),
) -> None:
    """Check specs against the rule catalogue (cnncalc rule CODE explains each).

    Exit 0 clean, 1 findings at or above --error-on, 2 a spec that cannot be read
    (reported in every format as a CC000 finding with its file, line and column).
    """
    from dataclasses import replace as with_

    from cnncalc.lint import rules as L

    picked, extra, skipped = (_codes(select, "--select"), _codes(extend_select, "--extend-select"),
                              _codes(ignore, "--ignore"))
    files = L.spec_files(paths)
    findings, unreadable = [], 0
    for path in files:
        try:
            config = L.load_config(path)
            if picked is not None:
                config = with_(config, select=picked)
            if extra is not None:
                config = with_(config, extend_select=config.extend_select + extra)
            if skipped is not None:
                config = with_(config, ignore=skipped)
            net = load(path)
            text = path.read_text(encoding="utf-8", errors="replace")
            findings += L.lint_network(net, config, text)
        except SpecError as exc:
            unreadable += 1
            findings.append(L.unreadable(exc, path))
            if format == "text":
                sys.stderr.write(exc.format() + "\n")
    shown = [f for f in findings if f.code != L.UNREADABLE.code] if format == "text" else findings
    render = {"text": L.to_text, "github": L.to_github, "json": L.to_json, "sarif": L.to_sarif}
    sys.stdout.write(render[format.value](shown))
    counts = {s: sum(f.severity == s for f in findings) for s in L.SEVERITIES}
    sys.stderr.write(f"{len(files)} spec(s): {counts['error']} error(s)"
                     + (f" ({unreadable} unreadable spec(s))" if unreadable else "")
                     + f", {counts['warning']} warning(s), {counts['info']} info\n")
    if unreadable:
        raise typer.Exit(EXIT_USAGE)
    bar = L.SEVERITIES.index(error_on.value)
    if any(L.SEVERITIES.index(f.severity) >= bar for f in findings):
        raise typer.Exit(EXIT_FINDINGS)


RuleFormat = formats("text", "json")


@app.command()
def rule(
    code: str = typer.Argument(None, help="A rule code, e.g. CC101."),
    list_: bool = typer.Option(False, "--list", help="List every rule."),
    format: RuleFormat = format_option(RuleFormat),
) -> None:
    """What a lint rule means, why it matters, and how to fix it."""
    import json

    from cnncalc.lint import rules as L

    if code is not None and code.upper() not in L.RULES and code.upper() != L.UNREADABLE.code:
        from cnncalc.core.errors import suggestion

        raise usage("rule", f"no rule '{code}'", suggestion(code.upper(), L.RULES, "rules"))
    picked = [L.rule_of(code.upper())] if code is not None and not list_ else \
        [L.UNREADABLE, *L.RULES.values()]
    if format == "json":
        sys.stdout.write(json.dumps([{
            "code": r.code, "name": r.name, "severity": r.severity, "default": r.default,
            "summary": r.summary, "explanation": r.explanation, "fix": r.fix,
            "example": r.example, "limits": r.limits} for r in picked], indent=2) + "\n")
    elif len(picked) > 1:
        for r in picked:
            print(f"{r.code}  {r.name:<32} {r.severity:<8} {'default' if r.default else 'opt-in':<8} "
                  f"{r.summary}")
    else:
        print(L.rule_text(picked[0].code), end="")


SchemaFormat = formats("json")


@app.command()
def schema(format: SchemaFormat = format_option(SchemaFormat)) -> None:
    """Print a JSON Schema of the spec format (for editors: yaml-language-server's $schema)."""
    import json

    from cnncalc.io.schema import spec_schema

    sys.stdout.write(json.dumps(spec_schema(), indent=2) + "\n")


LayersFormat = formats("table", "json")


@app.command()
def layers(format: LayersFormat = format_option(LayersFormat)) -> None:
    """List the layer types with their parameters and defaults."""
    import json

    from cnncalc.layers import REGISTRY
    from cnncalc.layers.base import REQUIRED

    if format == "json":
        def default(p):
            if p.default is REQUIRED:
                return None
            return p.default if isinstance(p.default, (int, float, str, bool, list)) or \
                p.default is None else str(p.default)

        sys.stdout.write(json.dumps([{
            "type": name, "family": cls.family, "summary": cls.summary, "spatial": cls.spatial,
            "parameters": [{"name": p.name, "required": p.required, "default": default(p),
                            "doc": p.doc} for p in cls.params]}
            for name, cls in REGISTRY.items()], indent=2) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="cnncalc layer types")
    for col in ("type", "family", "what", "parameters (default)"):
        table.add_column(col)
    for name, cls in REGISTRY.items():
        params = ", ".join(
            p.name + ("" if p.default is REQUIRED else f" ({p.default})") for p in cls.params
        )
        suffix = " (+1d/2d/3d)" if cls.spatial else ""
        table.add_row(Text(name + suffix), Text(cls.family), Text(cls.summary), Text(params))
    _console().print(table)


def _command_name(args: list[str]) -> str:
    """The (sub)command words of a command line: 'solve padding', 'rule'."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
        if arg != "solve":
            break
    return " ".join(words) or "cnncalc"


def _whole_summaries(typer_app: typer.Typer) -> None:
    """Give every command a short help of its docstring's first paragraph, so that
    ``--help`` lists whole summaries (click cuts derived ones with '...')."""
    import inspect

    for info in typer_app.registered_commands:
        if info.short_help is None and info.callback is not None and info.callback.__doc__:
            info.short_help = " ".join(inspect.cleandoc(info.callback.__doc__).split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _whole_summaries(group.typer_instance)


# -- ONNX files (cnncalc/onnx_io.py, cnncalc/layers/onnx_map.py, cnncalc/onnx_export.py) --


def _source_notes(net) -> None:
    """What the user must know about a network read from a model file (stderr)."""
    for note in getattr(net, "onnx_notes", ()):
        sys.stderr.write(f"note: {note}\n")


@app.command("import")
def import_(
    model: Path = typer.Argument(..., help="The model file (ONNX)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the spec here (default: stdout)."),
    input: InputShape = None,
) -> None:
    """Translate an ONNX model into a readable cnncalc spec that analyses to the same figures."""
    from cnncalc.io.onnx_io import import_file

    text, notes = import_file(model, parse_input(input, "import"))
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {output}\n")


class ExportTarget(StrEnum):
    onnx = "onnx"
    pytorch = "pytorch"


@app.command()
def export(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    to: ExportTarget = typer.Option(..., "--to", help="onnx (a model file) or pytorch (a module's source)."),
    output: Path = typer.Option(..., "--output", "-o", help="The file to write."),
    weights: Path = typer.Option(None, "--weights", "-w",
                                 help="Weights .npz ('<layer>.<param>', PyTorch's layouts); default: seeded."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights not given."),
    opset: int = typer.Option(18, "--opset", min=13, help="ONNX opset version (Mish needs 18)."),
) -> None:
    """Write the network as an ONNX model (with weights) or as a torch.nn.Module source file."""
    net = load(spec)
    if to is ExportTarget.onnx:
        from cnncalc.io.onnx_export import write_onnx

        tensors = _load_npz(weights) if weights is not None else None
        write_onnx(net, output, tensors, seed, opset)
    else:
        from cnncalc.io.torch_export import write_pytorch

        write_pytorch(net, output)
    sys.stderr.write(f"wrote {output}\n")


def main() -> None:
    """Console entry point: maps errors to exit codes, never shows a traceback."""
    _whole_summaries(app)
    try:
        app()
    except SpecError as exc:
        if exc.file is None:  # not about a file: name the command, not '<spec>'
            exc.file = "cnncalc " + _command_name(sys.argv[1:])
        sys.stderr.write(exc.format() + "\n")
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.stderr.write("cnncalc: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except Exception as exc:  # a bug: say so plainly instead of a traceback
        sys.stderr.write(
            f"cnncalc: internal error: {type(exc).__name__}: {exc}\n"
            "  please report it with the spec that caused it\n"
        )
        sys.exit(EXIT_INTERNAL)


# -- cnncalc grad (issue 15): backpropagation as the lectures teach it ------------------------


class GradFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def grad(
    spec: Path = typer.Argument(..., help="The exercise spec (YAML), with its input values."),
    data: Path = typer.Option(None, "--data", help="Input .npy (N, C, ...) instead of the spec's values."),
    weights: Path = typer.Option(None, "--weights", "-w",
                                 help="Weights .npz with keys '<layer>.<param>' in PyTorch's layouts."),
    upstream: Path = typer.Option(None, "--upstream",
                                  help="dL/d(output): a .npy for a single output, or a .npz keyed by "
                                       "output name (default: the spec's upstream:, else ones)."),
    explain: bool = typer.Option(False, "--explain",
                                 help="Show the lectures' identities with the exercise's numbers."),
    unit: str = typer.Option(None, "--unit",
                             help="LAYER:i,j: print the input region that reaches this unit instead."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights not given."),
    format: GradFormat = typer.Option(GradFormat.table, "--format", "-f", help="table (text) or json."),
) -> None:
    """Backpropagate through an exercise: dL/dx and dL/dw per layer, max-pooling switches.

    With --explain: the input gradient as the full convolution of dL/dy with the
    flipped kernel, the weight gradient as a correlation, average pooling's 1/K^2,
    zeros inserted by strides, each with the numbers. With --unit: the receptive
    field of one unit, from its gradient's support.
    """
    import json

    import numpy as np

    from cnncalc.measure import grad as G

    net = load(spec)
    if unit is not None:
        name, index = G.parse_unit(unit, net)
        region = G.unit_region(net, name, index, seed)
        if format is GradFormat.json:
            sys.stdout.write(json.dumps({
                "layer": name, "unit": list(index), "bounds": [list(b) for b in region.bounds],
                "positions": int(region.mask.sum()), "input_positions": int(region.mask.size),
                "analysed_receptive_field": None if region.analysed is None else list(region.analysed),
                "mask": region.mask.astype(int).tolist()}, indent=2) + "\n")
        else:
            sys.stdout.write(G.render_region(region))
        return
    x = _load_array(data, "--data") if data is not None else None
    tensors = _load_npz(weights) if weights is not None else None
    given = None
    if upstream is not None:
        if upstream.suffix == ".npz":
            given = _load_npz(upstream)
        else:
            given = _load_array(upstream, "--upstream")
    result = G.gradients(net, x, tensors, given, seed, explain=explain or format is GradFormat.json)
    if format is GradFormat.json:
        sys.stdout.write(json.dumps(G.to_dict(result), indent=2) + "\n")
        return
    with np.printoptions(precision=6, suppress=True):
        sys.stdout.write(G.render(result, explain))


# -- view: pictures (docs/view.md) ---------------------------------------------------


class ViewFormat(StrEnum):
    html = "html"
    svg = "svg"
    png = "png"


class ViewWhat(StrEnum):
    graph = "graph"
    rf = "rf"


@app.command()
def view(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Write to this file (default: standard output; png needs -o)."),
    format: ViewFormat = typer.Option(None, "--format", "-f",
                                      help="html (default; or from -o's suffix), svg or png."),
    what: ViewWhat = typer.Option(ViewWhat.graph, "--what",
                                  help="svg/png: the graph, or the receptive-field chart (rf)."),
    input: InputShape = None,
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override the batch size."),
    dtype: DType = typer.Option(DType.float32, "--dtype", help="Element type for byte counts."),
    depth: int = typer.Option(None, "--depth", "-d", min=1,
                              help="svg/png graph: show each block named with N dotted levels "
                                   "as one box, as analyze --depth N groups rows."),
    dilation_base: int = typer.Option(1, "--dilation-base", min=0, max=1,
                                      help="1: PyTorch (1 = no gaps); 0: cs231n (0 = no gaps)."),
) -> None:
    """Draw the network: a self-contained HTML page (graph, table, receptive fields, costs),
    or a static SVG or PNG of the graph or of the receptive-field chart."""
    from cnncalc.analysis.analyze import analyze as run_analysis
    from cnncalc.present import view as pictures

    if format is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        format = ViewFormat(suffix) if suffix in ViewFormat._value2member_map_ else ViewFormat.html
    if format is ViewFormat.png and output is None:
        raise SpecError("a PNG is written to a file", kind="usage", help="add -o net.png")
    net = load(spec, input_shape=parse_input(input, "view"), batch=batch, dilation_base=dilation_base)
    report = run_analysis(net, dtype=dtype.value)
    if format is ViewFormat.png:
        try:
            data = pictures.to_png(net, report, what.value, depth)
        except ImportError:
            raise SpecError("PNG pictures need matplotlib, which is not installed", kind="usage",
                            help="pip install 'cnncalc[png]', or write SVG: -f svg") from None
    elif format is ViewFormat.svg:
        data = pictures.to_svg(net, report, what.value, depth).encode("utf-8")
    else:
        data = pictures.to_html(net, report).encode("utf-8")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise SpecError(f"cannot write the picture: {exc.strerror}", file=str(output), kind="io",
                        help="check that the folder exists and can be written") from None
    sys.stderr.write(f"wrote {output} ({len(data):,} bytes)\n")
