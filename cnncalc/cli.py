"""The ``cnncalc`` command: parses arguments, calls the core, renders, picks the exit code.

Exit codes: 0 ok; 1 findings (a check or lint that found something); 2 bad
input or usage (the message names file, line and column); 3 an internal error
(a bug in cnncalc: please report it with the spec).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from . import __version__
from .errors import SpecError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Exact per-layer arithmetic of convolutional networks written as YAML.",
)


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class DType(StrEnum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"


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


def _console():
    from rich.console import Console

    # piped output keeps whole rows instead of folding to 80 columns
    return Console(width=None if sys.stdout.isatty() else 240, highlight=False)


def _parse_input(text: str | None) -> tuple[int, ...] | None:
    from .spec import parse_shape_text

    if text is None:
        return None
    try:
        return parse_shape_text(text)
    except ValueError:
        raise SpecError(
            f"--input '{text}' is not a shape", kind="usage",
            help="channels first, without batch: --input 3x227x227",
        ) from None


@app.command()
def analyze(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    input: str = typer.Option(None, "--input", "-i",
                              help="Override the input shape, channels first: 3x227x227."),
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override the batch size."),
    dtype: DType = typer.Option(DType.float32, "--dtype", help="Element type for byte counts."),
    max_layers: int = typer.Option(100_000, "--max-layers", min=1,
                                   help="Refuse specs that expand to more layers."),
    dilation_base: int = typer.Option(1, "--dilation-base", min=0, max=1,
                                      help="1: PyTorch (1 = no gaps); 0: cs231n (0 = no gaps)."),
    depth: int = typer.Option(None, "--depth", "-d", min=1,
                              help="Group rows deeper than N dotted levels into their block "
                                   "(table, markdown, csv; JSON always lists every layer)."),
) -> None:
    """Per layer: output shape, parameters, MACs, FLOPs, activation memory, receptive field."""
    from . import render
    from .analyze import analyze as run_analysis
    from .spec import load

    net = load(spec, input_shape=_parse_input(input), batch=batch, max_nodes=max_layers,
               dilation_base=dilation_base)
    report = run_analysis(net, dtype=dtype.value)
    failed = []
    if net.expect or any(n.expect for n in net.nodes):  # the spec's own promises
        from .lint import Config, lint_network

        failed = lint_network(net, Config(select=("CC001",)), report=report)
    if format is Format.json:
        sys.stdout.write(render.to_json(report))
    elif format is Format.markdown:
        sys.stdout.write(render.to_markdown(report, depth))
    elif format is Format.csv:
        sys.stdout.write(render.to_csv(report, depth))
    else:
        render.to_table(report, _console(), depth)
    _source_notes(net)
    if failed:
        from .lint import to_text

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


@app.command()
def run(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    input: Path = typer.Option(None, "--input", "-i",
                               help="Input .npy, batch first (N, C, ...). Default: the values "
                                    "written in the spec, else a seeded random batch of one."),
    weights: Path = typer.Option(None, "--weights", "-w",
                                 help="Weights .npz with keys '<layer>.<param>' in PyTorch's layouts."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Write every layer's output to this .npz (default: print "
                                     "the network outputs)."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights (and input) not given."),
    dtype: str = typer.Option(None, "--dtype", help="float32 or float64 (default: the input's)."),
    max_memory: str = typer.Option("2GiB", "--max-memory", help="Refuse runs whose estimated peak is larger."),
) -> None:
    """Run the network forward in NumPy."""
    import numpy as np

    from .execute import run as execute
    from .spec import load

    net = load(spec)
    limit = _parse_bytes(max_memory)
    x = None
    if input is not None:
        x = _load_array(input, "--input")
    elif net.input_values is None:
        from .execute import guard_memory

        guard_memory(net, 1, 4, "all", limit)  # before the random input is allocated
        x = np.random.default_rng(seed).standard_normal((1, *net.input_shape)).astype(np.float32)
    tensors = _load_npz(weights) if weights is not None else None
    bar = _Progress("running")
    try:
        values = execute(net, x, tensors, seed, dtype=dtype, max_memory=limit, progress=bar)
    finally:
        bar.close()
    if output is not None:
        np.savez(output, **values)
        print(f"wrote {len(values)} arrays to {output}")
        return
    with np.printoptions(precision=6, suppress=True, threshold=200, linewidth=120):
        for name in net.outputs:
            print(f"{name}: shape {list(values[name].shape)}")
            print(values[name])


def _load_array(path: Path, what: str):
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SpecError(f"{what}: cannot read {path}: {exc}", kind="io",
                        help="give a .npy file written by numpy.save") from None


def _load_npz(path: Path) -> dict:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise SpecError(f"--weights: cannot read {path}: {exc}", kind="io",
                        help="give a .npz file written by numpy.savez") from None


@app.command()
def verify(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the weights and input."),
    max_memory: str = typer.Option("2GiB", "--max-memory", help="Refuse runs whose estimated peak is larger."),
    input: str = typer.Option(None, "--input", help="Override the input shape: 3x224x224."),
) -> None:
    """Run the network and hold every analysed number against a measurement.

    Exit 1 if any layer's shape, parameters, MACs or receptive field disagree.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .spec import load
    from .verify import verify as check

    net = load(spec, input_shape=_parse_input(input))
    bar = _Progress("verifying")
    try:
        result = check(net, seed=seed, max_memory=_parse_bytes(max_memory), progress=bar)
    finally:
        bar.close()
    table = Table(title=Text(f"{net.name}: analysed / measured"), box=box.SIMPLE_HEAVY, padding=0)
    for col in ("Layer", "Type", "Output shape", "Params", "MACs", "RF size", ""):
        table.add_column(col, no_wrap=True, justify="left" if col in ("Layer", "Type", "") else "right")

    def pair(a, m, fmt=str):
        return fmt(a) if a == m else f"{fmt(a)} / {fmt(m)}"

    for row in result.rows:
        rf = ", ".join("-" if r is None else pair(*r) for r in row.rf) if any(row.rf) else "-"
        table.add_row(*(Text(c) for c in (
            row.name, row.type, pair(*row.shape, lambda s: "x".join(map(str, s))),
            pair(*row.params, lambda v: f"{v:,}"), pair(*row.macs, lambda v: f"{v:,}"), rf,
            ("ok" + (f" ({row.note})" if row.note else "")) if row.ok else "MISMATCH " + row.note)))
    console = _console()
    console.print(table)
    sizes = ", ".join("-" if s is None else str(s) for s in result.probe_sizes)
    bad = sum(not r.ok for r in result.rows)
    console.print(Text(
        f"{len(result.rows)} layers, {bad} mismatched. Shapes from the arrays, parameters from "
        f"the tensors read, MACs from the contractions run; receptive fields from gradient "
        f"supports on one-channel probes (input length per axis: {sizes})."))
    if bad:
        raise typer.Exit(EXIT_FINDINGS)


class FlopsConvention(StrEnum):
    mult_add = "mult-add"
    mult = "mult"


@app.command()
def check(
    spec: Path = typer.Argument(..., help="The problem (a network spec)."),
    answers: Path = typer.Argument(..., help="The answers (YAML: layout, layers, totals)."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
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

    from .homework import Conventions, format_value
    from .homework import check as judge
    from .spec import load

    conv = Conventions(flops=flops.value, bias=bias, dilation_base=dilation_base)
    net = load(spec, dilation_base=dilation_base)
    try:
        text = answers.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the answers: {exc.strerror}", file=str(answers), kind="io") from None
    results = judge(net, text, str(answers), conv)
    right = sum(j.ok for j in results)
    if format is Format.json:
        sys.stdout.write(json.dumps({
            "score": right, "total": len(results), "conventions": conv.describe(),
            "answers": [{"layer": j.layer, "field": j.field, "given": j.given,
                         "correct": format_value(j.field, j.correct, j.layout), "ok": j.ok,
                         "derivation": [{"formula": s.formula, "substituted": s.substituted,
                                         "result": s.result, "note": s.note} for s in j.derivation]}
                        for j in results],
        }, indent=2, default=str) + "\n")
    else:
        console = _console()
        for j in results:
            mark = "✓" if j.ok else "✗"
            line = f"{mark} {j.layer}.{j.field}: {j.given}"
            if not j.ok:
                line += f"   correct: {format_value(j.field, j.correct, j.layout)}"
            console.print(Text(line, style="green" if j.ok else "red"))
            for st in j.derivation:
                console.print(Text(f"      {st.formula}"))
                console.print(Text(f"        = {st.substituted + ' = ' if st.substituted else ''}{st.result}"))
                if st.note:
                    console.print(Text(f"        note: {st.note}"))
        console.print(Text(f"Score: {right}/{len(results)}    Conventions: {conv.describe()}"))
    if right < len(results):
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def explain(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    layer: str = typer.Option(None, "--layer", "-l", help="One layer (default: every layer)."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table (text) or markdown."),
    input: str = typer.Option(None, "--input", "-i", help="Override the input shape: 3x224x224."),
    dilation_base: int = typer.Option(1, "--dilation-base", min=0, max=1,
                                      help="1: PyTorch (1 = no gaps); 0: cs231n (0 = no gaps)."),
) -> None:
    """Every formula behind a layer's figures, with the numbers put in."""
    from .homework import explain as explain_layers
    from .homework import render_explanations
    from .spec import load

    net = load(spec, input_shape=_parse_input(input), dilation_base=dilation_base)
    sys.stdout.write(render_explanations(explain_layers(net, layer),
                                         markdown=format is Format.markdown))


solve_app = typer.Typer(help="Solve for padding, output size or stride.", no_args_is_help=True)
app.add_typer(solve_app, name="solve")


@solve_app.command("padding")
def solve_padding(
    input: int = typer.Option(..., "--input", min=1, help="Input size (one axis)."),
    kernel: int = typer.Option(..., "--kernel", min=1),
    stride: int = typer.Option(1, "--stride", min=1),
    output: int = typer.Option(..., "--output", min=1, help="The output size wanted."),
    dilation: int = typer.Option(1, "--dilation", min=1),
) -> None:
    """Padding that gives an output size: TensorFlow's 'same' rule, symmetric and per-side options."""
    from .homework import solve_padding as solve

    r = solve(input, kernel, stride, output, dilation)
    print(f"TensorFlow 'same' rule: p = max(s·(o - 1) + k - l, 0) = max({stride}·({output} - 1) + "
          f"{r['keff']} - {input}, 0) = {r['same_total']}, split before/after: {r['same'][0]}, {r['same'][1]}")
    if r["symmetric"]:
        print("symmetric padding (each side): " + ", ".join(map(str, r["symmetric"])))
    else:
        print("no symmetric padding gives this output")
    if r["pairs"]:
        print("[before, after]: " + ", ".join(f"[{b}, {a}]" for b, a in r["pairs"]))
    if not r["symmetric"] and not r["pairs"]:
        raise typer.Exit(EXIT_FINDINGS)


@solve_app.command("output")
def solve_output(
    input: int = typer.Option(..., "--input", min=1),
    kernel: int = typer.Option(..., "--kernel", min=1),
    stride: int = typer.Option(1, "--stride", min=1),
    padding: int = typer.Option(0, "--padding", min=0),
    dilation: int = typer.Option(1, "--dilation", min=1),
    transposed: bool = typer.Option(False, "--transposed", help="A transposed convolution."),
    output_padding: int = typer.Option(0, "--output-padding", min=0),
) -> None:
    """The output size of a convolution or pooling window (or a transposed convolution)."""
    from .homework import solve_output as solve

    step = solve(input, kernel, stride, padding, dilation, transposed, output_padding)
    print(f"{step.formula}\n  = {step.substituted} = {step.result}")
    if step.note:
        print(f"  note: {step.note}")


@solve_app.command("stride")
def solve_stride(
    input: int = typer.Option(..., "--input", min=1),
    kernel: int = typer.Option(..., "--kernel", min=1),
    output: int = typer.Option(..., "--output", min=1),
    dilation: int = typer.Option(1, "--dilation", min=1),
) -> None:
    """Stride and symmetric padding combinations that give an output size."""
    from .homework import solve_stride as solve

    found = solve(input, kernel, output, dilation)
    if not found:
        print("no stride and padding give this output")
        raise typer.Exit(EXIT_FINDINGS)
    for s, p, exact in found:
        print(f"stride {s}, padding {p}" + ("" if exact else "  (not exact: pixels are dropped)"))


@app.command()
def sizes(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    range_: str = typer.Option(..., "--range", help="Input sizes to try, START:STOP (inclusive)."),
) -> None:
    """Input sizes (same on every spatial axis) for which every window tiles exactly
    and every merge lines up, with the output shape for each. Exit 1 if none."""
    from .homework import sizes as find

    try:
        start, stop = (int(v) for v in range_.split(":"))
    except ValueError:
        raise SpecError(f"--range '{range_}' is not START:STOP", kind="usage", help="e.g. --range 400:700") from None
    if not 1 <= start <= stop or stop - start > 100_000:
        raise SpecError("--range needs 1 <= START <= STOP and at most 100,000 sizes", kind="usage")
    found = find(spec, start, stop)  # a spec that cannot be read at all raises: exit 2
    for size, outs in found:
        print(f"{size}: " + ", ".join("x".join(map(str, o)) for o in outs))
    if not found:
        print(f"no input size in {start}..{stop} tiles exactly")
        raise typer.Exit(EXIT_FINDINGS)


class LintFormat(StrEnum):
    text = "text"
    github = "github"
    json = "json"
    sarif = "sarif"


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"


@app.command()
def lint(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders (searched for *.yaml, *.yml)."),
    format: LintFormat = typer.Option(LintFormat.text, "--format", "-f", help="Output format."),
    select: str = typer.Option(None, "--select", help="Rule codes or prefixes to run, comma-separated (CC1)."),
    ignore: str = typer.Option(None, "--ignore", help="Rule codes or prefixes to skip, comma-separated."),
    error_on: Severity = typer.Option(Severity.warning, "--error-on",
                                      help="Exit 1 on findings at or above this severity."),
) -> None:
    """Check specs against the rule catalogue (cnncalc rule CODE explains each).

    Exit 0 clean, 1 findings at or above --error-on, 2 a spec that cannot be read.
    """
    from dataclasses import replace as with_

    from . import lint as L
    from .spec import load

    files = L.spec_files(paths)
    findings, unreadable = [], 0
    for path in files:
        config = L.load_config(path)
        if select:
            config = with_(config, select=tuple(c.strip() for c in select.split(",")))
        if ignore:
            config = with_(config, ignore=tuple(c.strip() for c in ignore.split(",")))
        try:
            net = load(path)
            text = path.read_text(encoding="utf-8", errors="replace")
            findings += L.lint_network(net, config, text)
        except SpecError as exc:
            unreadable += 1
            sys.stderr.write(exc.format() + "\n")
    render = {"text": L.to_text, "github": L.to_github, "json": L.to_json, "sarif": L.to_sarif}
    sys.stdout.write(render[format.value](findings))
    if format is LintFormat.text:
        counts = {s: sum(f.severity == s for f in findings) for s in L.SEVERITIES}
        sys.stderr.write(f"{len(files)} spec(s): {counts['error']} error(s), {counts['warning']} "
                         f"warning(s), {counts['info']} info\n")
    if unreadable:
        raise typer.Exit(EXIT_USAGE)
    bar = L.SEVERITIES.index(error_on.value)
    if any(L.SEVERITIES.index(f.severity) >= bar for f in findings):
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def rule(
    code: str = typer.Argument(None, help="A rule code, e.g. CC101."),
    list_: bool = typer.Option(False, "--list", help="List every rule."),
) -> None:
    """What a lint rule means, why it matters, and how to fix it."""
    from . import lint as L

    if list_ or code is None:
        for r in L.RULES.values():
            print(f"{r.code}  {r.name:<32} {r.severity:<8} {r.summary}")
        return
    if code.upper() not in L.RULES:
        from .errors import suggestion

        raise SpecError(f"no rule '{code}'", kind="usage", help=suggestion(code.upper(), L.RULES, "rules"))
    print(L.rule_text(code.upper()), end="")


@app.command()
def schema() -> None:
    """Print a JSON Schema of the spec format (for editors: yaml-language-server's $schema)."""
    import json

    from .schema import spec_schema

    sys.stdout.write(json.dumps(spec_schema(), indent=2) + "\n")


@app.command()
def layers() -> None:
    """List the layer types with their parameters and defaults."""
    from rich.table import Table
    from rich.text import Text

    from .layers import REGISTRY
    from .layers.base import REQUIRED

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


# -- ONNX files (cnncalc/onnx_io.py, cnncalc/layers/onnx_map.py, cnncalc/onnx_export.py) --


def _source_notes(net) -> None:
    """What the user must know about a network read from a model file (stderr)."""
    for note in getattr(net, "onnx_notes", ()):
        sys.stderr.write(f"note: {note}\n")


@app.command("import")
def import_(
    model: Path = typer.Argument(..., help="The model file (ONNX)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the spec here (default: stdout)."),
    input: str = typer.Option(None, "--input", "-i",
                              help="Input shape for symbolic sizes, channels first: 3x224x224."),
) -> None:
    """Translate an ONNX model into a readable cnncalc spec that analyses to the same figures."""
    from .onnx_io import import_file, shape_option

    text, notes = import_file(model, shape_option(input))
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
    from .spec import load

    net = load(spec)
    if to is ExportTarget.onnx:
        from .onnx_export import write_onnx

        tensors = _load_npz(weights) if weights is not None else None
        write_onnx(net, output, tensors, seed, opset)
    else:
        from .torch_export import write_pytorch

        write_pytorch(net, output)
    sys.stderr.write(f"wrote {output}\n")


def main() -> None:
    """Console entry point: maps errors to exit codes, never shows a traceback."""
    try:
        app()
    except SpecError as exc:
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
