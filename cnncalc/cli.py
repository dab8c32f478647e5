"""The ``cnncalc`` command line: parses the options and hands them to the command's module.

Every command here only declares its options (typer) and calls
``cnncalc.commands.<module>``, which loads, computes, renders and picks the exit code
(docs/architecture.md). The command's module is loaded by :func:`_command` when the command
runs, so that ``cnncalc analyze`` never imports NumPy, the executor or rich's console: each
command module imports what it needs at its top, and COMMAND_MODULES lists them all.

Exit codes: 0 ok; 1 findings (a check or lint that found something); 2 bad
input or usage (the message names file, line and column); 3 an internal error
(a bug in cnncalc: please report it with the spec).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from cnncalc.core.errors import SpecError, printable
from cnncalc.core.version import __version__
from cnncalc.options import InputShape, format_option, formats

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


class MemoryPolicy(StrEnum):
    eager = "eager"
    graph = "graph"


MemoryPolicyOption = Annotated[MemoryPolicy, typer.Option(
    "--memory-policy",
    help="The inference peak's policy: eager (PyTorch's eager mode on CPU: the caller and each "
         "block hold their inputs, CPU kernels' temporaries) or graph (each tensor freed after "
         "its last consumer).")]


class Optimizer(StrEnum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"


# The modules of cnncalc/commands/ that the commands below dispatch to.
COMMAND_MODULES = ("analyze", "analyze_console", "analyze_html", "run", "verify", "check", "explain",
                   "solve", "lint", "catalogue", "model_files", "grad", "view", "erf",
                   "conventions", "capacity", "roofline", "sweep", "diff")


def _command(name: str) -> ModuleType:
    """The command module ``cnncalc.commands.<name>`` (one of COMMAND_MODULES), loaded on first use:
    the one place where the command line chooses what to import, by the command that runs."""
    if name not in COMMAND_MODULES:
        raise ValueError(f"no command module '{name}'")
    return importlib.import_module(f"cnncalc.commands.{name}")


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


AnalyzeFormat = formats("table", "json", "markdown", "csv", "html")


ColumnsOption = Annotated[str | None, typer.Option(
    "--columns", "-c",
    help="Columns to show, comma-separated (table and markdown; the layer name is always shown): "
         "type, output_shape, params, params_percent, macs, macs_percent, flops, activations, "
         "rf_size, rf_stride, rf_centre.")]


TorchOption = Annotated[str | None, typer.Option(
    "--torch", metavar="MODULE:FACTORY",
    help="Read a torch.nn.Module instead of a spec: torchvision.models:resnet50 or "
         "path/model.py:Net, called without arguments (needs -i; pip install 'cnncalc[torch]').")]
TrainingOption = Annotated[bool, typer.Option(
    "--training", help="With a PyTorch module: capture it in training mode (a branch only "
                       "training runs, such as Inception v3's auxiliary head).")]


@app.command()
def analyze(
    ctx: typer.Context,
    spec: Path = typer.Argument(None, help="The network spec (YAML or ONNX); or --torch."),
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
    erf: bool = typer.Option(False, "--erf",
                             help="Also the effective receptive field of every layer (protocol "
                                  "uniform; JSON: layers[i].effective_receptive_field)."),
    convention: str = typer.Option(None, "--convention",
                                   help="Per layer, the number a FLOP counter prints for the same "
                                        "network in PyTorch (fvcore, ptflops-pytorch, ptflops-aten, "
                                        "thop, torchinfo, calflops, flop-counter, deepspeed, "
                                        "torchvision); JSON: a convention section."),
    output: str = typer.Option(None, "--output",
                               help="With --convention: count only what this output needs "
                                    "(torchvision runs an auxiliary head in training only)."),
    memory_policy: MemoryPolicyOption = MemoryPolicy.eager,
    torch: TorchOption = None,
    training: TrainingOption = False,
) -> None:
    """Per layer: output shape, parameters, MACs, FLOPs, activation memory, receptive field."""
    if spec is None and torch is None:  # click's own error, as when SPEC was required
        missing = sys.modules[typer.BadParameter.__module__].MissingParameter
        raise missing(ctx=ctx, param=next(p for p in ctx.command.params if p.name == "spec"))
    if spec is not None and torch is not None:
        raise typer.BadParameter("give a spec file or --torch MODULE:FACTORY, one of them",
                                 param_hint="SPEC")
    source = {"torch": torch, "training": training} if torch is not None else {}
    if convention is not None or output is not None:
        if convention is None:
            raise typer.BadParameter("--output goes with --convention", param_hint="--output")
        if erf or format in ("html", "csv"):
            raise typer.BadParameter("--convention prints table, markdown or json, without --erf",
                                     param_hint="--convention")
        _command("conventions").analyze_run(spec, convention, format.value, input, batch, output,
                                            torch, training)
        return
    console = format == "table" and sys.stdout.isatty()
    if erf:
        if format in ("html", "csv"):
            raise typer.BadParameter(f"--erf is not shown in the {format.value} format: use json, "
                                     "table or markdown", param_hint="--erf")
        _command("erf").analyze_run(spec, console, format=format.value, input=input, batch=batch,
                                    dtype=dtype.value, optimizer=optimizer.value,
                                    max_layers=max_layers, dilation_base=dilation_base,
                                    depth=depth, columns_text=columns,
                                    memory_policy=memory_policy.value, **source)
        return
    module = "analyze_html" if format == "html" else "analyze_console" if console else "analyze"
    _command(module).run(spec, format=format.value, input=input, batch=batch, dtype=dtype.value,
                         optimizer=optimizer.value, max_layers=max_layers,
                         dilation_base=dilation_base, depth=depth, columns_text=columns,
                         memory_policy=memory_policy.value, **source)



ConventionsFormat = formats("table", "json", "markdown")


@app.command()
def conventions(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    format: ConventionsFormat = format_option(ConventionsFormat),
    input: InputShape = None,
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override the batch size."),
    paper: bool = typer.Option(False, "--paper",
                               help="Add the papers' mult-add convention (= cnncalc's MACs) "
                                    "and what it counts."),
    output: str = typer.Option(None, "--output",
                               help="Count only what this output needs (torchvision runs an "
                                    "auxiliary head in training only)."),
    counters: str = typer.Option(None, "--counters",
                                 help="Comma-separated counters to show (default: all)."),
) -> None:
    """Each FLOP counter's number for the network, and its difference from cnncalc's MACs by
    operation family."""
    _command("conventions").run(spec, format.value, input, batch, paper, output, counters)


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
    _command("run").run(spec, data, input, weights, output, seed, dtype, max_memory, format.value)



RooflineFormat = formats("table", "json", "csv")


@app.command()
def roofline(
    spec: Path = typer.Argument(..., help="The network spec (YAML or ONNX)."),
    device: str = typer.Option(None, "--device",
                               help="A device of the table (docs/conventions.md \"Roofline\"): a100, "
                                    "v100, t4, rtx4090, h100, m2, rpi5."),
    peak_tflops: str = typer.Option(None, "--peak-tflops",
                                    help="Peak FLOP/s in 10^12 (overrides the device's)."),
    bandwidth: str = typer.Option(None, "--bandwidth",
                                  help="Memory bandwidth in GB/s, 10^9 bytes/s (overrides the device's)."),
    dtype: DType = typer.Option(DType.float32, "--dtype",
                                help="Element type of the bytes moved, and which peak: float32, or "
                                     "float16/bfloat16 (the 16-bit peak)."),
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override the batch size."),
    input: InputShape = None,
    format: RooflineFormat = format_option(RooflineFormat),
) -> None:
    """Per layer: bytes moved, MACs and FLOPs per byte; with a device, the roofline's lower
    bound on each layer's time and the pass's, and which layers are memory-bound."""
    _command("roofline").run(spec, device, peak_tflops, bandwidth, dtype.value, batch, input,
                             format.value)



ErfFormat = formats("table", "json")


class ErfProtocol(StrEnum):
    uniform = "uniform"
    random = "random"


@app.command()
def erf(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    layer: str = typer.Option(None, "--layer", "-l", help="One layer (default: one row per group)."),
    protocol: ErfProtocol = typer.Option(ErfProtocol.uniform, "--protocol",
                                         help="uniform: weights equal, activations the identity, "
                                              "gates held at 1; random: Kaiming-normal weights, "
                                              "ReLU kept, |gradient| averaged over --samples "
                                              "draws (docs/receptive-field.md)."),
    samples: int = typer.Option(4, "--samples", min=1, help="Protocol random: the draws."),
    seed: int = typer.Option(0, "--seed", help="Protocol random: the draws' seed."),
    depth: int = typer.Option(1, "--depth", "-d", min=0,
                              help="Group rows deeper than N dotted levels (1: one row per stage; "
                                   "0: every layer)."),
    format: ErfFormat = format_option(ErfFormat),
    input: InputShape = None,
) -> None:
    """The effective receptive field (Luo et al. 2016) of each layer beside its theoretical field:
    mean, std and the width holding 95% of the gradient's mass, per axis."""
    _command("erf").run(spec, layer, protocol.value, format.value, input, depth or None, samples, seed)


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
    memory_policy: MemoryPolicyOption = MemoryPolicy.eager,
) -> None:
    """Run the network and hold every reported figure against a measurement.

    Exit 1 if any layer's output shape, params, buffers, MACs, activation bytes or
    receptive field (size, stride, centre) disagrees, or if a measurement failed
    (named, with its error); figures that cannot be measured by design are shown as
    not measured, with the reason. A run longer than two seconds reports progress on
    stderr.
    """
    _command("verify").run(spec, seed, max_memory, input, format.value, memory, train,
                           memory_policy.value)



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
    _command("check").run(spec, answers, format.value, flops.value, bias, dilation_base)



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
    _command("explain").run(spec, layer, format.value, input, dilation_base)



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
    _command("solve").padding(input, kernel, stride, output, dilation, format.value)



@solve_app.command("output")
def solve_output(
    input: int = typer.Option(..., "--input", "-i", min=1, help="Input size (one axis)."),
    kernel: int = typer.Option(..., "--kernel", "-k", min=1),
    stride: int = typer.Option(1, "--stride", "-s", min=1),
    padding: int = typer.Option(0, "--padding", "-p", min=0,
                                help="Padding on EACH side (PyTorch's padding=p), 2p in all; a "
                                     "lecture's total P (as in `solve padding`) is -p P/2."),
    dilation: int = typer.Option(1, "--dilation", min=1),
    transposed: bool = typer.Option(False, "--transposed", help="A transposed convolution."),
    output_padding: int = typer.Option(0, "--output-padding", min=0),
    format: SolveFormat = format_option(SolveFormat),
) -> None:
    """The output size of a convolution or pooling window (or a transposed convolution)."""
    _command("solve").output(input, kernel, stride, padding, dilation, transposed, output_padding,
                             format.value)



@solve_app.command("stride")
def solve_stride(
    input: int = typer.Option(..., "--input", "-i", min=1, help="Input size (one axis)."),
    kernel: int = typer.Option(..., "--kernel", "-k", min=1),
    output: int = typer.Option(..., "--output", "-o", min=1, help="The output size wanted."),
    dilation: int = typer.Option(1, "--dilation", min=1),
    format: SolveFormat = format_option(SolveFormat),
) -> None:
    """Stride and symmetric padding combinations that give an output size."""
    _command("solve").stride(input, kernel, output, dilation, format.value)



BatchFormat = formats("text", "json")

# solve batch, sweep and diff: no policy given means the memory model's default
# (cnncalc.analysis.memory.DEFAULT_POLICY, analyze's), read by the command module
PlanPolicyOption = Annotated[MemoryPolicy | None, typer.Option(
    "--memory-policy",
    help="The inference peak's policy: eager (PyTorch's eager mode) or graph (each tensor freed "
         "after its last consumer); default: analyze's. docs/conventions.md \"Memory\".")]


@solve_app.command("batch")
def solve_batch(
    spec: Path = typer.Argument(..., help="The network spec (YAML or ONNX)."),
    memory: str = typer.Option(..., "--memory", "-m",
                               help="The memory budget: 24GiB (2^30 bytes a GiB), 24GB (10^9), 512MiB."),
    train: bool = typer.Option(False, "--train", help="One training step (default: inference)."),
    optimizer: Optimizer = typer.Option(Optimizer.adam, "--optimizer",
                                        help="With --train: the optimizer state (0, 1, 2, 2 tensors "
                                             "per parameter)."),
    dtype: DType = typer.Option(DType.float32, "--dtype", help="Element type of weights and activations."),
    amp: bool = typer.Option(False, "--amp",
                             help="Mixed precision as torch.autocast + GradScaler: 2-byte activations, "
                                  "float32 master weights, gradients and optimizer state, plus a "
                                  "half copy of the convolution and linear weights."),
    checkpoint: int = typer.Option(None, "--checkpoint", min=1,
                                   help="With --train: checkpoint every block named with N dotted "
                                        "levels (as analyze --depth N groups them; ResNet-50: 2, "
                                        "each bottleneck)."),
    check: bool = typer.Option(False, "--check",
                               help="Confirm the boundary with the NumPy executor (tracemalloc) at "
                                    "the batch found and the next, under its own policy; for small "
                                    "budgets (at most 256 MiB)."),
    memory_policy: PlanPolicyOption = None,
    input: InputShape = None,
    format: BatchFormat = format_option(BatchFormat),
) -> None:
    """The largest batch whose footprint fits a memory budget, solved (fixed + batch × per-sample
    bytes), with the breakdown at that batch and at the next. Exit 1 if not even batch 1 fits."""
    _command("capacity").batch(spec, memory, train, optimizer.value, dtype.value, amp, checkpoint,
                               check, input, format.value,
                               memory_policy and memory_policy.value)



SizesFormat = formats("text", "json")


@app.command()
def sizes(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    range_: str = typer.Option(..., "--range",
                               help="Input sizes to try: START:STOP (inclusive), or sweep's "
                                    "range '{START..STOP..STEP}' (quoted)."),
    format: SizesFormat = format_option(SizesFormat),
) -> None:
    """Input sizes (same on every spatial axis) for which every window tiles exactly
    and every merge lines up, with the output shape for each. Exit 1 if none."""
    _command("solve").sizes(spec, range_, format.value)



SweepFormat = formats("table", "json", "csv", "svg")


@app.command()
def sweep(
    spec: Path = typer.Argument(..., help="The network spec (YAML or ONNX)."),
    expanded: list[str] = typer.Argument(None, hidden=True,
                                         help="The shapes a shell made of an unquoted "
                                              "3x{224..512..32} (bash's brace expansion)."),
    input: str = typer.Option(None, "--input", "-i",
                              help="Input shapes: a shape whose tokens may be ranges "
                                   "{START..STOP..STEP}: '3x{224..512..32}' (quoted, or the shell "
                                   "expands it: cnncalc takes that too)."),
    sizes: str = typer.Option(None, "--sizes", help="Sizes on every spatial axis: 224,256,288."),
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override the batch size."),
    dtype: DType = typer.Option(DType.float32, "--dtype", help="Element type for byte counts."),
    optimizer: Optimizer = typer.Option(Optimizer.adam, "--optimizer",
                                        help="Optimizer state counted in the training footprint."),
    memory_policy: PlanPolicyOption = None,
    format: SweepFormat = format_option(SweepFormat),
) -> None:
    """Per input size: parameters, MACs, inference peak, training footprint, the receptive
    field's coverage of the input and whether every window tiles exactly; a size the network
    refuses is a row saying why."""
    _command("sweep").run(spec, input, sizes, batch, dtype.value, optimizer.value, format.value,
                          expanded or [], memory_policy and memory_policy.value)



DiffFormat = formats("table", "json", "markdown")


@app.command()
def diff(
    a: Path = typer.Argument(..., help="The first network (YAML or ONNX): the base."),
    b: Path = typer.Argument(..., help="The second network: the change."),
    input: InputShape = None,
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override both networks' batch size."),
    dtype: DType = typer.Option(DType.float32, "--dtype", help="Element type for byte counts."),
    optimizer: Optimizer = typer.Option(Optimizer.adam, "--optimizer",
                                        help="Optimizer state counted in the training footprint."),
    fail_on: str = typer.Option(None, "--fail-on",
                                help="Budgets, comma-separated: FIGURE OP CHANGE, e.g. "
                                     "\"params>+5%,macs>+10%,peak>+0\" (figures: params, trainable, "
                                     "buffers, macs, flops, activations, peak, training); exit 1 "
                                     "when one is broken."),
    memory_policy: PlanPolicyOption = None,
    format: DiffFormat = format_option(DiffFormat),
) -> None:
    """Layers matched by name and structure; per layer and in total the change of shape,
    parameters, MACs, memory and receptive field. Exit 1 if a --fail-on budget is broken."""
    _command("diff").run(a, b, input, batch, dtype.value, optimizer.value, fail_on, format.value,
                         memory_policy and memory_policy.value)



LintFormat = formats("text", "github", "json", "sarif")


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"


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
    _command("lint").run(paths, format.value, select, extend_select, ignore, error_on.value)



RuleFormat = formats("text", "json")


@app.command()
def rule(
    code: str = typer.Argument(None, help="A rule code, e.g. CC101."),
    list_: bool = typer.Option(False, "--list", help="List every rule."),
    format: RuleFormat = format_option(RuleFormat),
) -> None:
    """What a lint rule means, why it matters, and how to fix it."""
    _command("lint").rule(code, list_, format.value)



SchemaFormat = formats("json")


@app.command()
def schema(format: SchemaFormat = format_option(SchemaFormat)) -> None:
    """Print a JSON Schema of the spec format (for editors: yaml-language-server's $schema)."""
    _command("catalogue").schema(format.value)



LayersFormat = formats("table", "json")


@app.command()
def layers(format: LayersFormat = format_option(LayersFormat)) -> None:
    """List the layer types with their parameters and defaults."""
    _command("catalogue").layers(format.value)



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
    for info in typer_app.registered_commands:
        if info.short_help is None and info.callback is not None and info.callback.__doc__:
            info.short_help = " ".join(inspect.cleandoc(info.callback.__doc__).split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _whole_summaries(group.typer_instance)


# -- ONNX files (cnncalc/commands/model_files.py) --


@app.command("import")
def import_(
    model: str = typer.Argument(..., help="The model: an ONNX file, or a PyTorch module as "
                                          "MODULE:FACTORY (torchvision.models:resnet50, "
                                          "path/model.py:Net; needs -i)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the spec here (default: stdout)."),
    input: InputShape = None,
    training: TrainingOption = False,
) -> None:
    """Translate an ONNX model or a PyTorch module into a readable cnncalc spec that analyses
    to the same figures."""
    _command("model_files").import_(model, output, input, training)



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
    _command("model_files").export(spec, to.value, output, weights, seed, opset)



# The help line of an error that does not say what to do (docs/cli.md: every error has one),
# by the error's category; any other category points at the format's description.
DEFAULT_HELP = {
    "usage": "`{command} --help` lists the options",
    "io": "check the path",
    "limit": "docs/limits.md lists the limits and which can be raised",
    "onnx": "docs/onnx.md lists what cnncalc reads from an ONNX model",
    "torch": "docs/torch.md lists what cnncalc reads from a PyTorch module",
    "export": "docs/onnx.md lists what cnncalc exports",
    "weights": "weights are an .npz of '<layer>.<tensor>' arrays in PyTorch's layouts (docs/executor.md)",
}
SPEC_HELP = "docs/spec-format.md describes the spec format"
# click's error class, from the click that typer runs on (typer 0.28 vendors its own)
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_ABORT = getattr(sys.modules[_CLICK_ERROR.__module__], "Abort", typer.Abort)
_NO_ARGS = getattr(sys.modules[_CLICK_ERROR.__module__], "NoArgsIsHelpError", ())  # click >= 8.2


class _Shown:
    """Standard output or error with control and bidirectional-control characters escaped
    (core.errors.printable): a layer named with U+202E cannot reorder the terminal's text.
    ESC passes on a terminal, where it is rich's colours; binary output (``.buffer``) is untouched."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` escaped; returns the length of ``text`` as a stream's write does."""
        self._stream.write(printable(text, keep_escape=self._stream.isatty()))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _click_error(exc: Exception, command: str) -> SpecError:
    """Click's own errors (a bad option value, a missing argument, an unknown option or command)
    in cnncalc's error shape: labelled with the command, with a help line."""
    ctx, words = getattr(exc, "ctx", None), []
    while ctx is not None and ctx.parent is not None:  # the words under the program's name
        words.insert(0, ctx.info_name)
        ctx = ctx.parent
    command = " ".join(["cnncalc", *words]) if ctx is not None else command
    message = exc.format_message().strip()
    help = DEFAULT_HELP["usage"].format(command=command)
    hint = re.search(r"\s*\(Possible options: (.*)\)$", message) or re.search(r"\.?\s*Did you mean (.*?)\??$", message)
    if hint:
        message = message[:hint.start()]
        help = f"did you mean {hint.group(1)}? {help}"
    message = message.rstrip(".")
    return SpecError(message[:1].lower() + message[1:], kind="usage", file=command, help=help)


def main() -> None:
    """Console entry point: maps errors to exit codes, never shows a traceback."""
    _whole_summaries(app)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Shown(sys.stdout), _Shown(sys.stderr)
    try:
        _main("cnncalc " + _command_name(sys.argv[1:]) if sys.argv[1:2] else "cnncalc")
    finally:  # the streams as they were (main() may run in-process, in tests)
        sys.stdout, sys.stderr = streams


def _main(command: str) -> None:
    """Run the command line; every outcome ends in sys.exit with cnncalc's exit codes."""
    try:
        code = app(standalone_mode=False)
    except _CLICK_ERROR as exc:
        if isinstance(exc, _NO_ARGS):  # `cnncalc` alone: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        sys.stderr.write(_click_error(exc, command).format() + "\n")
        sys.exit(EXIT_USAGE)
    except SpecError as exc:
        if exc.file is None:  # not about a file: name the command, not '<spec>'
            exc.file = command
        if not exc.help:
            exc.help = DEFAULT_HELP.get(exc.kind, SPEC_HELP).format(command=command)
        sys.stderr.write(exc.format() + "\n")
        sys.exit(EXIT_USAGE)
    except (KeyboardInterrupt, _ABORT):
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
    sys.exit(code if isinstance(code, int) else EXIT_OK)


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
    _command("grad").run(spec, data, weights, upstream, explain, unit, seed, format.value)



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
                                  help="The graph, or the receptive-field chart (rf); on the page the chart "
                                       "takes the graph's place."),
    input: InputShape = None,
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override the batch size."),
    dtype: DType = typer.Option(DType.float32, "--dtype", help="Element type for byte counts."),
    depth: int = typer.Option(None, "--depth", "-d", min=1,
                              help="Show each block named with N dotted levels as one box, as "
                                   "analyze --depth N groups rows (the page: at first; click to open)."),
    dilation_base: int = typer.Option(1, "--dilation-base", min=0, max=1,
                                      help="1: PyTorch (1 = no gaps); 0: cs231n (0 = no gaps)."),
    erf: bool = typer.Option(True, "--erf/--no-erf",
                             help="The page: draw each layer's centre-unit effective receptive field "
                                  "(protocol uniform); --no-erf leaves it out of a very large page."),
    width: int = typer.Option(1400, "--width", min=0,
                              help="SVG and PNG: wrap the graph's stages into columns side by side within "
                                   "this many pixels (0: one column). The page wraps to its window."),
) -> None:
    """Draw the network: a self-contained HTML page (graph, table, receptive fields, costs),
    or a static SVG or PNG of the graph or of the receptive-field chart."""
    _command("view").run(spec, output, None if format is None else format.value, what.value, input,
                         batch, dtype.value, depth, dilation_base, erf, width)
