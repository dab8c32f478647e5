"""``cnncalc lint``: a catalogue of rules with stable codes, run over analysed specs.

The catalogue (:data:`RULES`) is the one place that holds each rule's code,
name, severity, explanation and fix; ``cnncalc rule CODE`` and docs/rules.md
are made from it. Every finding carries the file, line and column of the YAML
item (inside a block: the block's line, and the line of the use).

Configuration: ``[tool.cnncalc]`` in pyproject.toml or a ``cnncalc.toml``
(``select``, ``ignore``, ``severity = {CODE = "error"}``), found from the
spec's folder upward; per line, a YAML comment ``# cnncalc: ignore[CC101]``
(or ``# cnncalc: ignore`` for every rule) on the line of the finding.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from cnncalc.analysis.analyze import Report, analyze
from cnncalc.core.errors import Loc, SpecError, suggestion
from cnncalc.core.figures import answer_values
from cnncalc.core.graph import INPUT, Network, Node
from cnncalc.core.version import __version__
from cnncalc.core.window import dropped, tiles
from cnncalc.layers.base import fmt_axes, fmt_shape

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Rule:
    """One lint rule: a stable code, a name, a default severity, why it matters, how to fix."""

    code: str
    name: str
    severity: str
    summary: str
    explanation: str
    fix: str
    check: Callable[[Context], Iterator[Finding]] = field(repr=False, compare=False, default=None)
    default: bool = True  # in the default set; False: opinionated, opt-in (select/extend-select)
    example: str = ""  # a spec fragment that triggers it
    limits: str = ""  # what it does not see, or sees wrongly


@dataclass
class Finding:
    code: str
    message: str
    loc: Loc | None
    help: str = ""
    severity: str = "warning"
    uses: tuple = ()
    file: str | None = None

    def sort_key(self):
        return (self.file or "", self.loc.line if self.loc else 0, self.loc.column if self.loc else 0,
                self.code)


@dataclass
class Context:
    net: Network
    report: Report

    def row(self, name: str):
        return self.report.layer(name)

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.net.nodes if name in n.inputs]


RULES: dict[str, Rule] = {}


def rule(code: str, name: str, severity: str, summary: str, explanation: str, fix: str, *,
         default: bool = True, example: str = "", limits: str = ""):
    def register(fn):
        RULES[code] = Rule(code, name, severity, summary, explanation, fix, fn, default, example, limits)
        return fn
    return register


UNREADABLE = Rule(
    "CC000", "unreadable-spec", "error",
    "A spec (or its configuration) cannot be read: YAML syntax, an unknown layer type or key, "
    "a shape that does not fit.",
    "Nothing else can be checked in a spec that does not load; in CI it must fail the build "
    "with its location rather than vanish from the report.",
    "Fix the error the message names (file, line and column); `cnncalc analyze SPEC` shows the "
    "same message.",
    example="layers: [convv]   # unknown layer type 'convv'",
    limits="Always reported, whatever select or ignore say; the first error of a spec only.")


def rule_of(code: str) -> Rule:
    """The catalogue entry of a code, CC000 (unreadable) included."""
    return UNREADABLE if code == UNREADABLE.code else RULES[code]


def unreadable(exc: SpecError, path: Path | str) -> Finding:
    """A spec that cannot be read, as a CC000 finding (line 1, column 1 when the error
    has no location, e.g. a file that cannot be opened)."""
    return Finding(UNREADABLE.code, f"error[{exc.kind}]: {exc.message}", exc.loc or Loc(1, 1),
                   exc.help or "", "error", file=exc.file or str(path))


def _windowed(ctx: Context) -> Iterator[tuple[Node, list[tuple[int, int]]]]:
    """The layers that slide a window (convolution, pooling): (node, [(k_eff, stride)] per axis)."""
    for node in ctx.net.nodes:
        windows = node.facts.windows
        if windows and not windows[0].transposed:
            yield node, [(w.keff, w.stride) for w in windows]


def _finding(node: Node, code: str, message: str, help: str = "") -> Finding:
    return Finding(code, f"{node.type} '{node.name}': {message}", node.loc, help, uses=node.uses)


# -- the rules ------------------------------------------------------------------------


@rule("CC001", "expectation-failed", "error",
      "A figure the spec promises (expect:) differs from the analysis.",
      "Specs in CI carry `expect:` so that an edit that changes a shape, a parameter count, the MACs "
      "or a receptive field fails the build instead of passing silently.",
      "Fix the layer, or update the expectation if the change is intended.",
      example="- {conv: {out_channels: 6, kernel_size: 5}, expect: {params: 150}}   # it is 156",
      limits="Compares figures only under the analysis' conventions (bias counted, FLOPs as docs/conventions.md defines them).")
def _expectations(ctx: Context) -> Iterator[Finding]:
    for node in ctx.net.nodes:
        if node.expect:
            yield from _check_expect(node.expect, answer_values(ctx.row(node.name)), node, node.uses)
    if ctx.net.expect:
        t = ctx.report.totals
        yield from _check_expect(ctx.net.expect, {"params": t.params, "macs": t.macs, "flops": t.flops,
                                                   "trainable_params": t.trainable_params,
                                                   "buffers": t.buffers}, None, ())


def _check_expect(expect, actual, node, uses) -> Iterator[Finding]:
    for key, value in expect.items():
        loc = expect.val_loc(key)
        if key not in actual:
            raise SpecError(f"'{key}' cannot be expected here", expect.key_loc(key), kind="spec",
                            help=suggestion(str(key), actual, "figures"))
        have = actual[key]
        want = value
        if key in ("receptive_field", "stride") and have is not None and not isinstance(value, list):
            want = [value] * len(have)
        if isinstance(want, list):
            want = tuple(Fraction(str(v)) if key == "stride" and isinstance(v, (str, float)) else v
                         for v in want)
        if want != have:
            where = f"{node.type} '{node.name}'" if node else "the network's totals"
            shown = fmt_shape(have) if key == "output_shape" else (
                "global" if have is None else (fmt_axes(have) if isinstance(have, tuple) else f"{have:,}"))
            yield Finding("CC001", f"{where}: expected {key} {value}, the analysis gives {shown}", loc,
                          "fix the layer, or update the expectation if the change is intended",
                          uses=uses)


@rule("CC101", "window-does-not-tile", "warning",
      "A window does not tile its input: (W - F + 2P) / S is not whole, and input pixels are never seen.",
      "When (W - F + P_before + P_after) is not a multiple of the stride, the windows stop before the "
      "end of the input: its last rows or columns reach no output (the lectures' warning about "
      "strides that do not fit). cnncalc reports it only when real input pixels, not just padding, "
      "are dropped. CENG 403 (week 10a): if (W - F + 2P)/S + 1 \"is not an integer, your strides are "
      "incorrect and your neurons cannot tile to cover the input volume\"; CentraleSupelec (lecture 4, "
      "good practices): choose input sizes that \"can be divided by 2 multiple times\" (32, 64, 224, "
      "256), so that every stage's total stride divides them.",
      "Change the input size, the padding (padding: same tiles any size), the kernel or the stride "
      "so that the division is exact; `cnncalc solve padding` finds the padding.",
      example="input: [1, 12, 12] then conv: {out_channels: 1, kernel_size: 3, stride: 2}: (12 - 3) mod 2 = 1, the last row and column are never read",
      limits="Unread padding is not reported; with a stride larger than the window the regular gap S - F is left to CC103; ceil_mode pooling reads the end and is never reported (see CC105). Only layers that slide a window: resampling and cropping are not checked.")
def _tiling(ctx: Context) -> Iterator[Finding]:
    for node, _ in _windowed(ctx):
        windows = node.facts.windows
        if any(w.ceil_mode for w in windows):
            continue
        found = {}
        for axis, w in enumerate(windows):
            size, k, s, b, a = w.size, w.keff, w.stride, w.pad_before, w.pad_after
            if tiles(size, k, s, b, a):
                continue  # padding left unread, or the regular gap of a stride > kernel: CC103
            lost = dropped(size, k, s, b, a)
            text = (f"({size} + {b + a} - {k}) = {size + b + a - k} is not a multiple of the stride "
                    f"{s}: the last {lost} input pixel(s) of {size} are never seen")
            found.setdefault(text, []).append(str(axis))
        for text, axes in found.items():
            where = f"on ax{'is' if len(axes) == 1 else 'es'} {' and '.join(axes)}"
            yield _finding(node, "CC101", f"{where}, {text}",
                           "make the division exact: cnncalc solve padding")


@rule("CC102", "kernel-larger-than-input", "warning",
      "A kernel is larger than its input and fits only with padding.",
      "Most taps of every window then read padding: the layer learns mostly about the border, and "
      "its parameters are wasted. CentraleSupelec (lecture 4, good practices): \"avoid "
      "hyper-parameters that do not click (filter larger than the input, or really high strides)\".",
      "Use a smaller kernel, or move the layer before the downsampling that shrank its input.",
      example="input: [1, 4, 4] then conv: {out_channels: 1, kernel_size: 5, padding: 2}",
      limits="Compares the dilated extent with the unpadded input; a kernel that just fits is not reported however much padding it reads.")
def _kernel_size(ctx: Context) -> Iterator[Finding]:
    for node, geometry in _windowed(ctx):
        for axis, (size, (k, _)) in enumerate(zip(node.facts.in_shapes[0][1:], geometry)):
            if k > size:
                yield _finding(node, "CC102", f"kernel extent {k} is larger than the input ({size}) on "
                               f"axis {axis}", "use a smaller kernel_size or dilation")


@rule("CC103", "stride-larger-than-kernel", "warning",
      "The stride is larger than the kernel: input positions between windows are skipped.",
      "With stride S > F (dilated extent), S - F positions between consecutive windows are read by no "
      "output: information is discarded, not pooled. CentraleSupelec (lecture 4, good practices): "
      "avoid \"really high strides\"; typical values are s = 1 or 2.",
      "Use a kernel at least as large as the stride, or pool before subsampling.",
      default=False,
      example="conv: {out_channels: 256, kernel_size: 1, stride: 2}   # ResNet's projection shortcut",
      limits="Opinionated, so opt-in: standard architectures subsample on purpose (torchvision's ResNet projection shortcut, Xception's); select it with --extend-select CC103.")
def _stride(ctx: Context) -> Iterator[Finding]:
    for node, geometry in _windowed(ctx):
        for axis, (k, s) in enumerate(geometry):
            if s > k:
                yield _finding(node, "CC103", f"stride {s} is larger than the kernel extent {k} on axis "
                               f"{axis}: {s - k} of every {s} positions are skipped",
                               "use a kernel at least as large as the stride")
                break


@rule("CC104", "even-kernel-same", "warning",
      "An even kernel with padding: same shifts the output by half a pixel.",
      "'same' pads (F - 1) pixels in all; with an even F that is odd, so one side gets one more "
      "(TensorFlow puts it after): output pixel o is centred at o + 1/2, not o. Features drift by half "
      "a pixel per layer, and skip connections stop lining up. CentraleSupelec (lecture 4, good "
      "practices): \"prefer odd sizes for kernels in order to avoid spatial shifting (no mid point)\"; "
      "the Goodfellow lecture's same-size padding (K - 1)/2 is whole only for odd K.",
      "Use an odd kernel, or explicit padding pairs chosen on purpose.",
      example="conv1d: {out_channels: 1, kernel_size: 4, padding: same}",
      limits="Looks at padding: same only; explicit asymmetric pairs are taken as chosen on purpose.")
def _even_same(ctx: Context) -> Iterator[Finding]:
    for node in ctx.net.nodes:
        windows = node.facts.windows
        # an even extent whose 'same' padding (or crop) resolved unequal: the output is
        # shifted by half a pixel (a transposed k4 s2 'same' crops (1, 1): nothing shifts)
        if windows and any(w.padding_mode == "same" and w.keff % 2 == 0 and w.pad_before != w.pad_after
                           for w in windows):
            kernel = [w.keff for w in windows]
            yield _finding(node, "CC104", f"kernel {fmt_axes(kernel)} is even: 'same' padding shifts "
                           "the output by half a pixel", "use an odd kernel_size")


@rule("CC105", "ceil-window-dropped", "warning",
      "A ceil_mode pooling window would start in the padding, and PyTorch drops it.",
      "With ceil_mode the output size rounds up, but PyTorch removes a last window that would start "
      "in the right padding (the output is one smaller than ceil((W + 2P - F)/S) + 1); ONNX shape "
      "inference and other frameworks keep it, so the same spec gives different sizes.",
      "Remove the padding or ceil_mode, or change the input size so that no window starts in the "
      "padding.",
      example="input: [1, 5] then maxpool: {kernel_size: 2, stride: 2, padding: 1, ceil_mode: true}",
      limits="PyTorch's rule (aten Pool.h); frameworks that keep the window give one more output.")
def _ceil(ctx: Context) -> Iterator[Finding]:
    for node in ctx.net.nodes:
        for axis, w in enumerate(node.facts.windows or ()):
            if not w.ceil_mode:
                continue
            size, keff, s, b, a, o = w.size, w.keff, w.stride, w.pad_before, w.pad_after, w.out
            span = size + b + a - keff
            if span % s and o == -(-span // s):  # one less than the rounded-up count
                yield _finding(node, "CC105", f"on axis {axis} the last ceil_mode window would start at "
                               f"{o * s} >= {size} + {b} (in the padding): PyTorch drops it, giving {o}, "
                               f"not {o + 1}", "remove the padding or ceil_mode")


@rule("CC106", "transposed-does-not-invert", "warning",
      "A transposed convolution does not restore the size its mirrored downsampling had.",
      "A stride-S convolution maps S sizes to the same output; the transposed convolution returns only "
      "one of them. Without output_padding it misses the size the encoder had, and the skip "
      "connection of a decoder no longer matches.",
      "Add the output_padding cnncalc names, or use an input size that divides exactly.",
      example="conv1d: {kernel_size: 3, stride: 2, padding: 1} on 17 samples, then conv_transpose1d with the same geometry: 17 -> 9 -> 17 only with output_padding: 0; on 18 it needs output_padding: 1",
      limits="Pairs a transposed convolution with the nearest earlier downsampling whose output size and stride match; a decoder that mirrors another layer is not recognised.")
def _transposed(ctx: Context) -> Iterator[Finding]:
    nodes = ctx.net.nodes
    for i, node in enumerate(nodes):
        up = node.facts.windows
        if not up or not up[0].transposed:
            continue
        out = node.facts.out_shape[1:]
        strides = tuple(w.stride for w in up)
        for down in reversed(nodes[:i]):
            windows = down.facts.windows
            if not windows or windows[0].transposed:
                continue
            if tuple(down.facts.out_shape[1:]) == tuple(node.facts.in_shapes[0][1:]) and \
                    tuple(w.stride for w in windows) == strides and max(strides) > 1:
                target = down.facts.in_shapes[0][1:]
                if tuple(target) != tuple(out):
                    need = [t - o for t, o in zip(target, out)]
                    hint = (f"add output_padding: {need[0] if len(set(need)) == 1 else need}"
                            if all(0 < n + w.output_padding < max(w.stride, w.dilation)
                                   for n, w in zip(need, up))
                            else "change the kernel, stride or padding")
                    yield _finding(node, "CC106", f"gives {fmt_axes(out)}, but '{down.name}', the "
                                   f"downsampling it mirrors, took {fmt_axes(target)}", hint)
                break


@rule("CC107", "misaligned-merge", "warning",
      "A merge joins paths whose receptive fields are misaligned (different stride or centre).",
      "Each output unit then combines features from different places of the input (Araujo et al., "
      "Distill 2019, 'Multi-path networks'): a residual or skip connection adds shifted maps.",
      "Make the paths' padding agree (same padding on both), or crop by the offset cnncalc reports.",
      example="add of a conv (kernel 3, no padding) and a crop of the input by [0, 2]: centres 1 and 0",
      limits="Compares receptive-field stride and centre; paths aligned by a later crop are reported at the merge; after a data-dependent layer (CC112) the regular grid is compared.")
def _misaligned(ctx: Context) -> Iterator[Finding]:
    for node in ctx.net.nodes:
        if len(node.inputs) < 2:
            continue
        rf = ctx.row(node.name).receptive_field
        upstream = [ctx.row(i).receptive_field for i in node.inputs if i != INPUT]
        if rf is not None and rf.misaligned and not any(u is not None and u.misaligned for u in upstream):
            lines = []
            for name in node.inputs:
                r = ctx.row(name).receptive_field if name != INPUT else None
                if name == INPUT:
                    lines.append("input: stride 1, centre 0")
                elif r is not None:
                    lines.append(f"{name}: stride {fmt_axes(r.stride)}, centre {fmt_axes(r.center)}")
            yield _finding(node, "CC107", "joins misaligned paths (" + "; ".join(lines) + ")",
                           "make the paths' padding agree, or crop by the offset")


def _heads(ctx: Context) -> Iterator[tuple[Node, object, Node]]:
    """The last layers with a receptive field before a layer that has none (global pooling,
    flatten, linear over the spatial axes): (node, its receptive field, that consumer)."""
    for node in ctx.net.nodes:
        rf = ctx.row(node.name).receptive_field
        if rf is None or any(v is None for v in rf.size):
            continue
        consumers = ctx.consumers(node.name)
        if consumers and all(ctx.row(c.name).receptive_field is None for c in consumers):
            yield node, rf, consumers[0]


@rule("CC108", "receptive-field-does-not-cover", "info",
      "The last spatial layer's units do not see the whole input before the spatial axes go "
      "(global pooling, flatten, linear).",
      "A classifier whose final feature map has a receptive field smaller than the input cannot relate "
      "opposite corners: what each unit sees is local, and global pooling only averages local views. "
      "CentraleSupelec (lecture 4): \"make sure that your receptive field is not extremely small or "
      "large in relation with the input\"; in most state-of-the-art networks it covers the whole "
      "input.",
      "Add depth, stride or dilation before the head, or accept it for texture-like tasks.",
      default=False,
      example="input: [1, 32, 32], conv: {kernel_size: 3} then global_avgpool: each unit sees 3x3",
      limits="Opinionated (most classifiers, VGG and LeNet included, see less than the whole input), so opt-in; compares the theoretical receptive field, not the effective one.")
def _coverage(ctx: Context) -> Iterator[Finding]:
    sizes = ctx.net.input_shape[1:]
    for node, rf, head in _heads(ctx):
        if any(r < s for r, s in zip(rf.size, sizes)):
            yield _finding(node, "CC108", f"its units see {fmt_axes(rf.size)} of the {fmt_axes(sizes)} "
                           f"input before {head.type} '{head.name}' combines every position",
                           "add depth, stride or dilation before the head")


@rule("CC109", "receptive-field-far-larger", "info",
      "The last spatial layer's receptive field is more than 4 times the input.",
      "Most of each unit's receptive field then lies in padding: the effective receptive field (the "
      "part with real weight) is much smaller than the theoretical one, and the extra depth adds cost "
      "rather than context. CentraleSupelec (lecture 4): the receptive field should not be "
      "\"extremely small or large in relation with the input\".",
      "Use a larger input, or fewer or smaller downsampling stages.",
      default=False,
      example="input: [1, 4, 4] and two 9x9 convolutions: a 17x17 receptive field",
      limits="Opinionated (ResNet-101 and DenseNet exceed 4x at 224), so opt-in; the factor 4 is a rule of thumb.")
def _too_large(ctx: Context) -> Iterator[Finding]:
    sizes = ctx.net.input_shape[1:]
    for node, rf, _ in _heads(ctx):
        if any(r > 4 * s for r, s in zip(rf.size, sizes)):
            yield _finding(node, "CC109", f"its receptive field {fmt_axes(rf.size)} is more than 4 times "
                           f"the {fmt_axes(sizes)} input", "use a larger input or fewer stages")


@rule("CC110", "linear-on-spatial", "warning",
      "A linear layer is applied to a tensor with spatial axes: it acts on the last axis only.",
      "PyTorch's Linear mixes only the last axis (the width): a [C, H, W] input gives [C, H, out], "
      "which is rarely what a classifier head means.",
      "Insert flatten (or global pooling) before the linear layer.",
      example="input: [3, 8, 8] then linear: 4   # gives [3, 8, 4]",
      limits="Fires on any linear layer whose input still has spatial axes, even when acting on the last axis is meant (a per-row projection).")
def _linear(ctx: Context) -> Iterator[Finding]:
    for node in ctx.net.nodes:
        shape = node.facts.in_shapes[0]
        if node.facts.last_axis_only and len(shape) == ctx.net.ndim + 1:
            yield _finding(node, "CC110", f"acts on the last axis of {fmt_shape(shape)}",
                           "insert flatten before it")


@rule("CC111", "unused-output", "info",
      "A layer's output is used by nothing before the end: it is an extra network output.",
      "A branch that ends without being merged or being the final layer is usually a forgotten skip "
      "connection; in a multi-task net it is a head on purpose.",
      "Merge it (add/concat with: NAME) or remove it; for a deliberate head, suppress the rule on its "
      "line: # cnncalc: ignore[CC111].",
      example="- {relu, name: side} then - {tanh, from: input}: 'side' is used by nothing",
      limits="Every output but the last layer's is reported; a deliberate extra head needs a suppression on its line.")
def _unused(ctx: Context) -> Iterator[Finding]:
    last = ctx.net.nodes[-1].name
    for name in ctx.net.outputs:
        if name != last:
            node = ctx.net.node(name)
            yield _finding(node, "CC111", "its output is used by nothing: it is an extra network output",
                           f"merge it (with: {name}) or remove it")


@rule("CC112", "data-dependent-receptive-field", "info",
      "A deformable convolution makes the receptive field data-dependent.",
      "Its offsets move every tap by an amount predicted from the input (Dai et al. 2017), so the "
      "receptive field of this layer and every layer after it depends on the image; cnncalc reports "
      "the regular grid's extent (offsets zero), which is what it is at initialisation.",
      "Nothing to fix; read the reported receptive fields after it as the regular grid's.",
      example="deform_conv: {out_channels: 2, kernel_size: 3}",
      limits="Reports the layer only; the receptive fields after it are the regular grid's.")
def _deformable(ctx: Context) -> Iterator[Finding]:
    for node in ctx.net.nodes:
        if node.facts.data_dependent_field:
            yield _finding(node, "CC112", "its offsets make the receptive field data-dependent; the "
                           "regular grid's extent is reported", "")


# -- running ------------------------------------------------------------------------------


@dataclass
class Config:
    """Which rules run, as ruff selects them.

    ``select``: codes or prefixes replacing the default set (None: the default set,
    every rule whose ``default`` is true; ``("CC",)``: every rule, opinionated ones
    included). ``extend_select``: codes or prefixes added to it. ``ignore``: codes or
    prefixes removed. ``severity``: per-code severity.
    """

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    extend_select: tuple[str, ...] = ()

    def enabled(self, code: str) -> bool:
        if self.ignore and code.startswith(self.ignore):
            return False
        if self.extend_select and code.startswith(self.extend_select):
            return True
        if self.select is None:
            return RULES[code].default if code in RULES else False
        return code.startswith(self.select)


def default_rules() -> list[str]:
    return [code for code, r in RULES.items() if r.default]


def load_config(start: Path) -> Config:
    """[tool.cnncalc] of the nearest pyproject.toml, or the nearest cnncalc.toml, from ``start`` up."""
    folder = start if start.is_dir() else start.parent
    for candidate in [folder.resolve(), *folder.resolve().parents]:
        for name in ("cnncalc.toml", "pyproject.toml"):
            path = candidate / name
            if not path.is_file():
                continue
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
                raise SpecError(f"cannot read the configuration: {exc}", file=str(path), kind="io") from None
            table = data.get("tool", {}).get("cnncalc") if name == "pyproject.toml" else data
            if table is None:
                continue
            return _config(table, str(path))
    return Config()


def _config(table: dict, source: str) -> Config:
    settings = ("select", "extend-select", "ignore", "severity")
    unknown = set(table) - set(settings)
    if unknown:
        key = sorted(unknown)[0]
        raise SpecError(f"unknown setting '{key}'", file=source, kind="spec",
                        help=suggestion(key, settings, "settings"))
    for key in ("select", "extend-select", "ignore"):
        codes = table.get(key, [])
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise SpecError(f"{key} is a list of rule codes or prefixes", file=source, kind="spec",
                            help=f'e.g. {key} = ["CC103"]')
        for c in codes:
            check_code(c, source, key)
    severity = table.get("severity", {})
    for code, level in severity.items():
        if code not in RULES or level not in SEVERITIES:
            raise SpecError(f"severity: '{code} = {level}' is not a rule and a level", file=source,
                            help=f"levels: {', '.join(SEVERITIES)}; rules: cnncalc rule --list")
    select = table.get("select")
    return Config(None if select is None else tuple(select), tuple(table.get("ignore", [])),
                  dict(severity), source, tuple(table.get("extend-select", [])))


def check_code(code: str, source: str | None, what: str) -> str:
    """A code or prefix that names at least one rule ('CC1', 'CC103'), else a SpecError."""
    if not any(c.startswith(code) for c in RULES):
        raise SpecError(f"{what}: '{code}' is not a rule code or prefix", file=source, kind="usage",
                        help=suggestion(code.upper(), RULES, "rules"))
    return code


_SUPPRESS = re.compile(r"#\s*cnncalc:\s*ignore(?:\[([A-Z0-9,\s]+)\])?")


def suppressions(text: str) -> dict[int, set[str] | None]:
    """Line -> codes ignored there (None: every code), from '# cnncalc: ignore[...]' comments."""
    found: dict[int, set[str] | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        m = _SUPPRESS.search(line)
        if m:
            found[number] = None if m.group(1) is None else {c.strip() for c in m.group(1).split(",")}
    return found


def lint_network(net: Network, config: Config = Config(), text: str = "",
                 report: Report | None = None) -> list[Finding]:
    """Run every enabled rule; apply severities and per-line suppressions.

    ``report``: the network's analysis, if the caller has it already.
    """
    ctx = Context(net, report if report is not None else analyze(net))
    skip = suppressions(text)
    findings = []
    for code, r in RULES.items():
        if not config.enabled(code):
            continue
        for f in r.check(ctx):
            f.severity = config.severity.get(code, r.severity)
            f.file = net.file
            lines = [f.loc.line] if f.loc else []
            lines += [loc.line for _, loc in f.uses]
            if any(line in skip and (skip[line] is None or code in skip[line]) for line in lines):
                continue
            findings.append(f)
    return sorted(findings, key=Finding.sort_key)


def spec_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    return files


# -- formats --------------------------------------------------------------------------------


def _where(f: Finding) -> str:
    where = f.file or "<spec>"
    return where + (f":{f.loc.line}:{f.loc.column}" if f.loc else "")


def to_text(findings: list[Finding]) -> str:
    out = []
    for f in findings:
        out.append(f"{_where(f)}: {f.code} [{f.severity}] {f.message}")
        if f.help:
            out.append(f"  help: {f.help}")
        for block, loc in reversed(f.uses):
            out.append(f"  note: in block '{block}' used at {f.file}:{loc.line}:{loc.column}")
    return "\n".join(out) + ("\n" if out else "")


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def to_github(findings: list[Finding]) -> str:
    """GitHub Actions workflow commands: ::warning file=F,line=L,col=C,title=T::message
    (docs.github.com, 'Workflow commands for GitHub Actions', setting a warning message)."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for f in findings:
        props = [f"file={_gh_escape(f.file or '', True)}"]
        if f.loc:
            props += [f"line={f.loc.line}", f"col={f.loc.column}"]
        props.append(f"title={_gh_escape(f'{f.code} {rule_of(f.code).name}', True)}")
        message = f.message + (f"\n{f.help}" if f.help else "")
        lines.append(f"::{level[f.severity]} {','.join(props)}::{_gh_escape(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def to_json(findings: list[Finding]) -> str:
    return json.dumps([{
        "code": f.code, "name": rule_of(f.code).name, "severity": f.severity, "message": f.message,
        "help": f.help, "file": f.file, "line": f.loc.line if f.loc else None,
        "column": f.loc.column if f.loc else None,
        "uses": [{"block": b, "line": loc.line, "column": loc.column} for b, loc in f.uses],
    } for f in findings], indent=2) + "\n"


def to_sarif(findings: list[Finding]) -> str:
    """SARIF 2.1.0 (OASIS), for code-scanning uploads."""
    level = {"error": "error", "warning": "warning", "info": "note"}

    rules = [{"id": r.code, "name": r.name, "shortDescription": {"text": r.summary},
              "fullDescription": {"text": r.explanation}, "help": {"text": r.fix},
              "defaultConfiguration": {"level": level[r.severity], "enabled": r.default}}
             for r in (UNREADABLE, *RULES.values())]
    results = []
    for f in findings:
        region = {"startLine": f.loc.line, "startColumn": f.loc.column} if f.loc else {}
        results.append({
            "ruleId": f.code, "level": level[f.severity],
            "message": {"text": f.message + (f" ({f.help})" if f.help else "")},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.file or ""},
                                                "region": region}}],
        })
    return json.dumps({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "cnncalc", "version": __version__, "rules": rules}},
                  "results": results}],
    }, indent=2) + "\n"


def rule_text(code: str) -> str:
    r = rule_of(code)
    where = "in the default set" if r.default else f"opt-in: --extend-select {r.code}"
    return (f"{r.code} {r.name} [{r.severity}, {where}]\n\n{r.summary}\n\nWhy it matters: "
            f"{r.explanation}\n\nHow to fix: {r.fix}\n\nExample: {r.example}\n\nKnown limits: "
            f"{r.limits}\n\nSuppress on a line: # cnncalc: ignore[{r.code}]\n")


def rules_json(rules: list[Rule]) -> str:
    """``cnncalc rule -f json``: every field of each rule."""
    return json.dumps([{
        "code": r.code, "name": r.name, "severity": r.severity, "default": r.default,
        "summary": r.summary, "explanation": r.explanation, "fix": r.fix,
        "example": r.example, "limits": r.limits} for r in rules], indent=2) + "\n"


def rules_list(rules: list[Rule]) -> str:
    """``cnncalc rule --list``: one line per rule (code, name, severity, default set, summary)."""
    return "".join(f"{r.code}  {r.name:<32} {r.severity:<8} {'default' if r.default else 'opt-in':<8} "
                   f"{r.summary}\n" for r in rules)


def rules_markdown() -> str:
    """docs/rules.md, made from the catalogue (tests/test_lint.py keeps the file in step)."""
    rules = (UNREADABLE, *RULES.values())
    lines = ["# Lint rules", "", "Made from the catalogue in `cnncalc/lint/rules.py`; `cnncalc rule CODE` "
             "prints the same text.", "",
             "The default set runs every rule marked *default*; the opinionated ones (*opt-in*) "
             "run when selected: `--extend-select CC103` or `extend-select = [\"CC103\"]` in the "
             "configuration (docs/lint.md). CC000 is always reported.", "",
             "| code | name | severity | set | what |", "|---|---|---|---|---|"]
    lines += [f"| {r.code} | {r.name} | {r.severity} | {'default' if r.default else 'opt-in'} | "
              f"{r.summary} |" for r in rules]
    for r in rules:
        lines += ["", f"## {r.code} {r.name} ({r.severity}, {'default' if r.default else 'opt-in'})",
                  "", r.summary, "", f"**Why it matters.** {r.explanation}", "",
                  f"**How to fix.** {r.fix}", "", f"**Example.** `{r.example}`", "",
                  f"**Known limits.** {r.limits}"]
    return "\n".join(lines) + "\n"
