"""What each FLOP counter of the field prints for a network, and why it differs from cnncalc.

Each counter is a table (:class:`Counter`): for every operation PyTorch runs (a layer's
:class:`~cnncalc.core.facts.TorchOp` records, read through ``Facts``), the rule the
counter applies, with the counter's version and the file and line of its installed source
where the rule lives. A counter sees an operation through what it hooks:

- ``aten``: the ATen operator (fvcore's JIT trace, ptflops' ``aten`` backend, PyTorch's
  ``FlopCounterMode``);
- ``module``: the ``torch.nn`` class whose forward runs it (thop, torchinfo, ptflops'
  ``pytorch`` backend);
- ``dispatch``: the ATen operator the dispatcher runs (ptflops' ``aten`` backend and
  ``FlopCounterMode`` see dispatched ops through ``__torch_dispatch__``): the op, or the
  kernel it dispatches to where that differs (``TorchOp.dispatched``: scaled dot-product
  attention's fused CPU kernel or its math path of two ``bmm``);
- ``call``: the functional it reaches (calflops, DeepSpeed and ptflops' ``pytorch``
  backend patch ``torch.nn.functional``; an operator such as ``x + y`` reaches no patch).

A rule returns its count split by operation family (:data:`FAMILIES`), so that
:func:`reconcile` can give the difference from cnncalc's MACs family by family, summing
exactly to the difference of the totals. Counts are per sample times the batch (every rule
is linear in the batch but calflops' and DeepSpeed's interpolation to a given size, counted
per call). The rules were read in the sources of the versions named and
checked against the installed counters run on torchvision's models (tests/test_conventions.py,
tests/data/counters/).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from cnncalc.core.errors import SpecError, suggestion
from cnncalc.core.facts import ATTENTION_PRODUCTS, ATTENTION_PROJECTIONS, NO_TORCH_FORM, TorchOp
from cnncalc.core.graph import Network

Amount = int | Fraction
Parts = dict[str, Amount]

# the operation families a difference is broken down by, in the order printed
LINEAR = "linear (matmul)"
TRANSPOSED = "transposed convolution"
OUTPUT_GRID = "transposed convolution (output grid)"
TWICE = "x2 (FLOP = 2 MAC)"  # the second FLOP of each MAC, in a counter that counts FLOPs
ATTN_PROJ = ATTENTION_PROJECTIONS  # the Q, K, V and output projections of attention
ATTN = ATTENTION_PRODUCTS  # the products Q·K^T and A·V of attention's core
FAMILIES = (
    TWICE, "convolution", TRANSPOSED, OUTPUT_GRID, LINEAR, ATTN_PROJ, ATTN, "bias", "batch norm",
    "normalization", "pooling", "activation", "elementwise", "upsampling", NO_TORCH_FORM,
    "rounding",
)


def _twice(family: str, macs: Amount) -> Parts:
    """2 FLOPs per MAC: the MACs in their family, the second FLOP of each apart."""
    return {family: macs, TWICE: macs}


def cnncalc_parts(op: TorchOp) -> Parts:
    """cnncalc's MACs of one op by family (a transposed convolution on its input grid)."""
    return {op.category: op.macs} if op.macs else {}


@dataclass(frozen=True)
class Rule:
    """How a counter counts one operation.

    ``what``: the rule in words (docs/conventions.md prints it); ``source``: the file and
    line of the counter's installed source; ``count``: the count of one op by family, or
    None when the counter counts nothing for it; ``status``: ``counted``, ``skipped`` (the
    counter ignores it by design, silently) or ``unsupported`` (the counter says it cannot
    count it).
    """

    what: str
    source: str
    count: Callable[[TorchOp], Parts] | None = None
    status: str = "counted"
    per_call: Callable[[TorchOp], bool] | None = None  # True: the count does not grow with the batch


def _skip(what: str, source: str) -> Rule:
    return Rule(what, source, None, "skipped")


@dataclass(frozen=True)
class Counter:
    """One FLOP counter: its name, version, the unit of its number, what it calls that
    number, the call that produces it, what it hooks (``reads``), its rules keyed by
    ``aten::OP``, ``nn.MODULE`` or the functional's name, and what happens to an operation
    it has no rule for (``missing``)."""

    name: str
    tool: str
    version: str
    unit: str
    term: str
    call: str
    reads: tuple[str, ...]
    rules: Mapping[str, Rule]
    missing: Rule
    printed: str = "integer"  # how the counter prints its number: integer, float, gflops3
    note: str = ""

    def keys(self, op: TorchOp) -> list[str]:
        """The keys under which this counter sees ``op`` (none: it does not see it)."""
        keys = []
        for kind in self.reads:
            if kind == "aten" and op.op:
                keys.append(f"aten::{op.op}")
            elif kind == "dispatch" and op.op:
                keys.append(f"aten::{op.dispatched or op.op}")
            elif kind == "module" and op.module:
                keys.append(f"nn.{op.module}")
            elif kind == "call" and op.call:
                keys.append(op.call)
        return keys

    def rules_for(self, op: TorchOp) -> list[tuple[str, Rule]]:
        """(key, rule) for every hook of this counter that ``op`` reaches."""
        if not op.known:
            return [(op.op, Rule(f"cnncalc knows no PyTorch form of '{op.op}'", "cnncalc",
                                 None, "unsupported"))]
        out = []
        for key in self.keys(op):
            rule = self.rules.get(key)
            if rule is None:
                rule = self.rules.get("*", self.missing)
            out.append((key, rule))
        return out


def _fam(family: str, f: Callable[[TorchOp], Amount]) -> Callable[[TorchOp], Parts]:
    """A rule's count that falls in one family."""
    return lambda op: {family: f(op)}


def _conv_parts(op: TorchOp, scale: int = 1, bias: bool = False) -> Parts:
    """A convolution's MACs (transposed: on its input grid), twice with ``scale`` 2 (the
    second FLOP of each apart), and its bias additions when ``bias``."""
    parts: Parts = _twice(op.category, op.macs) if scale == 2 else {op.category: op.macs}
    if bias and op.bias:
        parts["bias"] = op.bias_adds
    return parts


def _out_grid(op: TorchOp) -> Parts:
    """Every weight element at every output position (thop's and torchinfo's transposed
    convolution), split into the input-grid MACs and the excess."""
    if op.category != TRANSPOSED:
        return {op.category: op.out_grid_macs}
    return {TRANSPOSED: op.macs, OUTPUT_GRID: op.out_grid_macs - op.macs}


# ---------------------------------------------------------------- fvcore 0.1.5.post20221221
_FV = "fvcore/nn/"
_FV_IGNORED = _FV + "jit_analysis.py:28 (_IGNORED_OPS)"
FVCORE = Counter(
    name="fvcore", tool="fvcore", version="0.1.5.post20221221", unit="MAC", term="flops",
    call="FlopCountAnalysis(model, x).total()", reads=("aten",),
    rules={
        "aten::convolution": Rule("batch·prod(weight)·prod(output spatial): MACs, no bias; "
                                  "transposed: prod(input spatial), the input grid",
                                  _FV + "jit_handles.py:127 conv_flop_count, 149; flop_count.py:29",
                                  lambda op: _conv_parts(op)),
        "aten::linear": Rule("prod(input)·out_features: MACs, no bias (also "
                             "nn.MultiheadAttention's projections: F.linear)",
                             _FV + "jit_handles.py:99 linear_flop_jit; flop_count.py:33",
                             lambda op: {op.category: op.macs}),
        "aten::batch_norm": Rule("eval: 2 per input element with affine, 1 without",
                                 _FV + "jit_handles.py:251 batchnorm_flop_jit; flop_count.py:36",
                                 _fam("batch norm", lambda op: (2 if op.affine else 1) * op.in_elems)),
        "aten::layer_norm": Rule("5 per input element with affine, 4 without",
                                 _FV + "jit_handles.py:230 norm_flop_counter; flop_count.py:38",
                                 _fam("normalization", lambda op: (5 if op.affine else 4) * op.in_elems)),
        "aten::group_norm": Rule("5 per input element with affine, 4 without",
                                 _FV + "jit_handles.py:230 norm_flop_counter; flop_count.py:37",
                                 _fam("normalization", lambda op: (5 if op.affine else 4) * op.in_elems)),
        "aten::instance_norm": Rule("5 per input element with affine, 4 without",
                                    _FV + "jit_handles.py:230 norm_flop_counter; flop_count.py:39",
                                    _fam("normalization", lambda op: (5 if op.affine else 4) * op.in_elems)),
        "aten::upsample_nearest": Rule("1 per output element (upsample_nearest2d)",
                                       _FV + "jit_handles.py:261 elementwise_flop_counter(0, 1); flop_count.py:40",
                                       _fam("upsampling", lambda op: op.out_elems)),
        "aten::upsample_bilinear": Rule("4 per output element (upsample_bilinear2d)",
                                        _FV + "jit_handles.py:261 elementwise_flop_counter(0, 4); flop_count.py:41",
                                        _fam("upsampling", lambda op: 4 * op.out_elems)),
        "aten::adaptive_avg_pool": Rule("1 per input element (adaptive_avg_pool2d)",
                                        _FV + "jit_handles.py:261 elementwise_flop_counter(1, 0); flop_count.py:42",
                                        _fam("pooling", lambda op: op.in_elems)),
        "aten::scaled_dot_product_attention": Rule(
            "unsupported (no handle): fvcore warns and counts 0 for Q·K^T and A·V",
            _FV + "flop_count.py:28 (_DEFAULT_SUPPORTED_OPS has none)", None, "unsupported"),
        **{key: _skip("ignored (in fvcore's list of ops it ignores)", _FV_IGNORED)
           for key in ("aten::relu", "aten::cat", "aten::chunk", "aten::split", "aten::flatten",
                       "aten::view", "aten::transpose", "aten::dropout", "aten::slice",
                       "aten::constant_pad_nd", "aten::permute", "aten::select", "aten::index")},
    },
    missing=Rule("skipped, unsupported: fvcore warns 'Unsupported operator aten::... encountered'",
                 _FV + "jit_analysis.py (unsupported_ops)", None, "unsupported"),
    note="JIT trace of the model in eval mode; one 'flop' is one multiply-accumulate "
         "(flop_count.py:55, 'We count one fused multiply-add as one flop').",
)

# ---------------------------------------------------------------- ptflops 0.7.5, pytorch backend
_PT = "ptflops/pytorch_ops.py:"


def _pt_norm(op: TorchOp) -> Parts:
    # bn_flops_counter_hook doubles only for modules with an `affine` attribute: BatchNorm,
    # InstanceNorm, GroupNorm; LayerNorm has `elementwise_affine` and counts 1 per element
    affine = op.affine and op.module != "LayerNorm"
    return {op.category: (2 if affine else 1) * op.in_elems}


_PT_MODULES: dict[str, Rule] = {}
for _n in (1, 2, 3):
    _PT_MODULES[f"nn.Conv{_n}d"] = Rule("MACs + 1 per output element with a bias",
                                        _PT + "60 conv_flops_counter_hook",
                                        lambda op: _conv_parts(op, bias=True))
    _PT_MODULES[f"nn.ConvTranspose{_n}d"] = Rule(
        "MACs on the input grid + 1 per output element with a bias",
        _PT + "76 conv_flops_counter_hook(transpose=True)", lambda op: _conv_parts(op, bias=True))
    for _m in ("MaxPool", "AvgPool", "AdaptiveMaxPool", "AdaptiveAvgPool"):
        _PT_MODULES[f"nn.{_m}{_n}d"] = Rule("1 per input element (module hook)",
                                            _PT + "46 pool_flops_counter_hook",
                                            _fam("pooling", lambda op: op.in_elems))
    for _m in ("BatchNorm", "InstanceNorm"):
        _PT_MODULES[f"nn.{_m}{_n}d"] = Rule("1 per input element, 2 with affine",
                                            _PT + "51 bn_flops_counter_hook", _pt_norm)
for _m in ("ReLU", "PReLU", "ELU", "LeakyReLU", "ReLU6", "GELU"):
    _PT_MODULES[f"nn.{_m}"] = Rule("1 per output element (module hook)",
                                   _PT + "30 relu_flops_counter_hook; 277-281, 323",
                                   _fam("activation", lambda op: op.out_elems))
_PT_MODULES["nn.GroupNorm"] = Rule("1 per input element, 2 with affine", _PT + "51, 303", _pt_norm)
_PT_MODULES["nn.LayerNorm"] = Rule("1 per input element (no `affine` attribute)",
                                   _PT + "51, 304", _pt_norm)
_PT_MODULES["nn.Linear"] = Rule("MACs + out_features per row with a bias",
                                _PT + "35 linear_flops_counter_hook",
                                lambda op: {LINEAR: op.macs, **({"bias": op.bias_adds} if op.bias else {})})
_PT_MODULES["nn.Upsample"] = Rule("1 per output element (module hook)", _PT + "21 upsample_flops_counter_hook",
                                  _fam("upsampling", lambda op: op.out_elems))


def _pt_mha(op: TorchOp) -> Parts:
    """ptflops' multihead_attention_counter_hook for self-attention of L tokens, E
    features, h heads: L·E (scaling Q) + 3·L·E² (+ 3·L·E with in_proj_bias) + h·(2·L²·E/h
    + L²) + L·E·(E + 1) (the output projection, its bias counted always)."""
    length, h = op.tokens, op.heads
    e = op.in_elems // length
    return {ATTN_PROJ: 4 * length * e * e, "bias": (3 * length * e if op.bias else 0) + length * e,
            ATTN: 2 * length * length * e, "activation": h * length * length, "elementwise": length * e}


_PT_MODULES["nn.MultiheadAttention"] = Rule(
    "scaling L·E + projections 4·L·E² + biases (3 + 1)·L·E (the output's always) + Q·K^T and "
    "A·V 2·L²·E + softmax h·L² (1 per score)", _PT + "180 multihead_attention_counter_hook, 320",
    _pt_mha)
_PT_CALLS: dict[str, Rule] = {}
for _c in ("F.relu", "F.prelu", "F.elu", "F.relu6", "F.gelu", "F.silu"):
    _PT_CALLS[_c] = Rule("1 per input element (patched functional, also under a module hook)",
                         _PT + "347, 422-450; pytorch_engine.py:348",
                         _fam("activation", lambda op: op.in_elems))
for _n in (1, 2, 3):
    for _c in ("avg_pool", "max_pool", "adaptive_avg_pool", "adaptive_max_pool"):
        _PT_CALLS[f"F.{_c}{_n}d"] = Rule("1 per input element (patched functional, also under a "
                                         "module hook)", _PT + "347, 430-441; pytorch_engine.py:355",
                                         _fam("pooling", lambda op: op.in_elems))
_PT_CALLS["F.softmax"] = Rule("1 per input element (patched functional)", _PT + "347, 443",
                              _fam("activation", lambda op: op.in_elems))
_PT_CALLS["F.interpolate"] = Rule("1 per output element (patched functional, also under the "
                                  "Upsample hook)", _PT + "351 _interpolate_functional_flops_hook",
                                  _fam("upsampling", lambda op: op.out_elems))
_PT_CALLS["F.linear"] = _skip("not patched (commented out)", "ptflops/pytorch_engine.py:349")
_PT_CALLS["F.scaled_dot_product_attention"] = _skip(
    "not patched (under nn.MultiheadAttention its hook counts it)", "ptflops/pytorch_ops.py:422 (FUNCTIONAL_MAPPING)")
PTFLOPS_PYTORCH = Counter(
    name="ptflops-pytorch", tool="ptflops", version="0.7.5", unit="MAC", term="MACs",
    call="get_model_complexity_info(model, (3, H, W), backend='pytorch', as_strings=False)",
    reads=("module", "call"), rules={**_PT_MODULES, **_PT_CALLS},
    missing=_skip("not counted: no module hook and no patched functional",
                  "ptflops/pytorch_ops.py:271 (MODULES_MAPPING), 422 (FUNCTIONAL_MAPPING)"),
    note="A module's hook and the functional it calls are both counted: an nn.ReLU, a "
         "pooling module or nn.Upsample counts twice (pytorch_engine.py:67-69 adds the "
         "patched functionals' sum to the modules'); `x + y`, `x * y` and `+=` reach no "
         "patch (only torch.add, Tensor.add, torch.mul, Tensor.mul are patched).",
)

# ---------------------------------------------------------------- ptflops 0.7.5, aten backend
_PA = "ptflops/aten_ops.py:"


def _pa_linear(op: TorchOp) -> Parts:
    # F.linear on a contiguous input runs one addmm (the bias counted); without bias, mm
    if not op.bias:
        return {op.category: op.macs}
    return {op.category: op.macs, "bias": op.bias_adds}


PTFLOPS_ATEN = Counter(
    name="ptflops-aten", tool="ptflops", version="0.7.5", unit="MAC", term="MACs",
    call="get_model_complexity_info(model, (3, H, W), backend='aten', as_strings=False)",
    reads=("dispatch",),
    rules={
        "aten::convolution": Rule("MACs (transposed: on the input grid) + 1 per output element "
                                  "with a bias", _PA + "71 conv_flop_count, 98 conv_flop",
                                  lambda op: _conv_parts(op, bias=True)),
        "aten::linear": Rule("addmm (contiguous input, with bias): MACs + 1 per output element; "
                             "mm (no bias): MACs",
                             _PA + "36 addmm_flop, 23 matmul_flop", _pa_linear),
        "aten::mm": Rule("F.linear on a non-contiguous input (attention's in-projection on a "
                         "map's tokens): mm, MACs; its bias added apart, a zero-op",
                         _PA + "23 matmul_flop, 110", lambda op: {op.category: op.macs}),
        "aten::_scaled_dot_product_attention_math": Rule(
            "the math path's two bmm (Q·K^T, A·V): MACs", _PA + "57 bmm_flop, 113",
            _fam(ATTN, lambda op: op.macs)),
        "aten::_scaled_dot_product_flash_attention_for_cpu": _skip(
            "a zero-op: the fused CPU kernel is not in its mapping", _PA + "109 ATEN_OPS_MAPPING"),
    },
    missing=_skip("not counted: a zero-op (only mm, matmul, addmm, bmm, convolution are counted)",
                  _PA + "109 ATEN_OPS_MAPPING; aten_engine.py:96"),
    note="__torch_dispatch__ over the model's ATen calls.",
)

# ---------------------------------------------------------------- thop 0.1.1.post2209072238
_TH = "thop/vision/basic_hooks.py:"
_TH_MODULES: dict[str, Rule] = {}
for _n in (1, 2, 3):
    _TH_MODULES[f"nn.Conv{_n}d"] = Rule("output elements·(in_channels/groups)·prod(kernel): MACs, "
                                        "no bias", _TH + "22 count_convNd; calc_func.py:28",
                                        _out_grid)
    _TH_MODULES[f"nn.ConvTranspose{_n}d"] = Rule(
        "output elements·(in_channels/groups)·prod(kernel): on the output grid, no bias",
        _TH + "22 count_convNd; calc_func.py:28", _out_grid)
    _TH_MODULES[f"nn.BatchNorm{_n}d"] = Rule("2 per input element, 4 with affine",
                                             _TH + "60 count_normalization; calc_func.py:43",
                                             lambda op: {op.category: (4 if op.affine else 2) * op.in_elems})
    _TH_MODULES[f"nn.InstanceNorm{_n}d"] = _TH_MODULES[f"nn.BatchNorm{_n}d"]
    for _m in ("MaxPool", "AdaptiveMaxPool"):
        _TH_MODULES[f"nn.{_m}{_n}d"] = _skip("zero_ops", "thop/profile.py:41-46")
    _TH_MODULES[f"nn.AvgPool{_n}d"] = Rule("1 per output element", _TH + "106 count_avgpool",
                                           _fam("pooling", lambda op: op.out_elems))
    _TH_MODULES[f"nn.AdaptiveAvgPool{_n}d"] = Rule(
        "(prod(input size / output size) + 1) per output element, in float64",
        _TH + "114 count_adap_avgpool; calc_func.py:69",
        _fam("pooling", lambda op: (op.window + 1) * op.out_elems))
_TH_MODULES["nn.LayerNorm"] = _TH_MODULES["nn.BatchNorm2d"]
for _m in ("ReLU", "ReLU6", "Dropout", "Sequential", "ZeroPad2d", "PixelShuffle"):
    _TH_MODULES[f"nn.{_m}"] = _skip("zero_ops", "thop/profile.py:22-66")
_TH_MODULES["nn.LeakyReLU"] = _skip("count_relu: calculate_relu_flops returns 0",
                                    _TH + "90; calc_func.py:47")
_TH_MODULES["nn.PReLU"] = Rule("1 per input element (eval)", _TH + "82 count_prelu",
                               _fam("activation", lambda op: op.in_elems))
_TH_MODULES["nn.Softmax"] = Rule("3n - 1 per vector of n (n exp, n - 1 additions, n divisions)",
                                 _TH + "98 count_softmax; calc_func.py:57",
                                 _fam("activation", lambda op: op.out_elems / op.window * (3 * op.window - 1)))
_TH_MODULES["nn.MultiheadAttention"] = Rule(
    "no rule: 0, silently ('Cannot find rule ... Treat it as zero Macs' only with "
    "report_missing=True); its out_proj, a NonDynamicallyQuantizableLinear, never runs its forward",
    "thop/profile.py:192", None, "unsupported")
_TH_MODULES["nn.Linear"] = Rule("in_features per output element: MACs, no bias",
                                _TH + "140 count_linear", _fam(LINEAR, lambda op: op.macs))
_TH_UPSAMPLE = {"upsample_nearest": 1, "upsample_linear": 5, "upsample_bilinear": 11}
_TH_MODULES["nn.Upsample"] = Rule(
    "per output element: nearest 1, linear 5, bilinear 11 (trilinear: 0, with a warning)",
    _TH + "125 count_upsample; calc_func.py:75",
    _fam("upsampling", lambda op: _TH_UPSAMPLE.get(op.op, 0) * op.out_elems))
THOP = Counter(
    name="thop", tool="thop", version="0.1.1.post2209072238", unit="MAC", term="total_ops",
    call="profile(model, inputs=(x,))", reads=("module",), rules=_TH_MODULES,
    missing=Rule("skipped: no rule for the module ('Cannot find rule ... Treat it as zero Macs')",
                 "thop/profile.py:185", None, "unsupported"),
    printed="float",
    note="Forward hooks on modules of the registered types (exact type, so a subclass such as "
         "torchvision's LayerNorm2d is not counted); a module called twice counts twice; the "
         "total is a float64 sum.",
)

# ---------------------------------------------------------------- torchinfo 1.8.0


def _torchinfo(op: TorchOp) -> Parts:
    """torchinfo/layer_info.py:225 calculate_macs: a module's 'weight' and 'bias' elements
    times the output positions (N·prod(output spatial)) for a class named Conv*, else times
    the output's first axis (the batch)."""
    if op.module.startswith(("Conv", "ConvTranspose")):
        parts = _out_grid(op)
        if op.bias:
            parts["bias"] = op.bias * (op.out_grid_macs // op.weight)
        return parts
    params = op.weight + op.bias
    if not params:
        return {}
    if op.category == LINEAR:
        return {LINEAR: op.weight, **({"bias": op.bias} if op.bias else {})}
    return {op.category: params}


TORCHINFO = Counter(
    name="torchinfo", tool="torchinfo", version="1.8.0", unit="MAC", term="Total mult-adds",
    call="summary(model, input_size=(1, 3, H, W)).total_mult_adds", reads=("module",),
    rules={"*": Rule("Conv*: (weight + bias elements)·output positions; other modules with "
                     "parameters: (weight + bias elements)·batch", "torchinfo/layer_info.py:225 "
                     "calculate_macs; model_statistics.py:31", _torchinfo),
           "nn.MultiheadAttention": _skip(
               "not a leaf (its child out_proj never runs its forward, so no leaf counts the "
               "projections), nothing", "torchinfo/model_statistics.py:32, layer_info.py:52")},
    missing=_skip("", ""),
    note="Leaf modules only (model_statistics.py:32): a parameter of a container (ConvNeXt's "
         "layer_scale) counts nothing.",
)

# ---------------------------------------------------------------- calflops 0.3.2 and DeepSpeed 0.19.8


def _patched_calls(path: str, lines: dict[str, int], *, deepspeed: bool) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for n in (1, 2, 3):
        rules[f"F.conv{n}d"] = Rule("2·MACs + 1 per output element with a bias",
                                    f"{path}:{lines['at_conv']} _conv_flops_compute",
                                    lambda op: _conv_parts(op, 2, bias=True))
        rules[f"F.conv_transpose{n}d"] = Rule(
            "2·MACs on the input grid + the bias " + (
                "per output element" if deepspeed else
                "on the grid a forward convolution would produce, times weight.shape[1]; "
                "MACs with out_channels/groups divided by groups again"),
            f"{path}:{lines['at_conv_transpose']} _conv_trans_flops_compute",
            _ds_conv_transpose if deepspeed else _cf_conv_transpose)
        for c in ("avg_pool", "max_pool", "adaptive_avg_pool", "adaptive_max_pool"):
            rules[f"F.{c}{n}d"] = Rule("1 per input element", f"{path}:{lines['at_pool']} _pool_flops_compute",
                                       _fam("pooling", lambda op: op.in_elems))
    rules["F.linear"] = Rule("2·MACs, no bias (also nn.MultiheadAttention's projections)",
                             f"{path}:{lines['at_linear']} _linear_flops_compute",
                             lambda op: _twice(op.category, op.macs))
    if deepspeed:
        rules["F.scaled_dot_product_attention"] = Rule(
            "2·(Q·K^T + A·V MACs), nothing for scaling and softmax (also under "
            "nn.MultiheadAttention)", f"{path}:863 _attn_flops_compute, 946",
            lambda op: _twice(ATTN, op.macs))
    else:
        rules["F.scaled_dot_product_attention"] = _skip(
            "not patched: Q·K^T and A·V count 0", f"{path}:452 _patch_functionals")
    for i, key in enumerate(("F.relu", "F.prelu", "F.elu", "F.leaky_relu", "F.relu6", "F.silu",
                             "F.gelu")):  # one function every 4 lines from _relu_flops_compute
        rules[key] = Rule("1 per input element",
                          f"{path}:{lines['at_relu'] + 4 * i} _{key[2:]}_flops_compute",
                          _fam("activation", lambda op: op.in_elems))
    rules["F.batch_norm"] = Rule("eval: 2 per input element with affine, 1 without",
                                 f"{path}:{lines['at_batch_norm']} _batch_norm_flops_compute",
                                 _fam("batch norm", lambda op: (2 if op.affine else 1) * op.in_elems))
    for c in ("layer_norm", "group_norm", "instance_norm"):
        rules[f"F.{c}"] = Rule("5 per input element with affine, 4 without",
                               f"{path}:{lines['at_' + c]} _{c}_flops_compute",
                               _fam("normalization", lambda op: (5 if op.affine else 4) * op.in_elems))
    rules["F.softmax"] = Rule("1 per input element", f"{path}:{lines['at_softmax']} _softmax_flops_compute",
                              _fam("activation", lambda op: op.in_elems))
    rules["F.interpolate"] = Rule(
        "size given as a tuple: prod(size), the spatial size only, per call (an int size: "
        "the int); scale factor: " + (
            "the output elements" if deepspeed else "the input elements (`flops * scale` is "
            "computed and dropped)"),
        f"{path}:{lines['at_upsample']} _upsample_flops_compute",
        _fam("upsampling", lambda op: op.size or (op.out_elems if deepspeed else op.in_elems)),
        per_call=lambda op: bool(op.size))
    return rules


def _cf_conv_transpose(op: TorchOp) -> Parts:
    # calflops/pytorch_ops.py:128: out_channels = weight.shape[1] (= C_out/groups), then
    # filters_per_channel = out_channels // groups; the bias on a forward convolution's grid
    c_out = op.out_elems * op.weight // op.out_grid_macs
    shape1 = c_out // op.groups
    macs = op.macs // shape1 * (shape1 // op.groups) if shape1 else 0
    parts: Parts = _twice(TRANSPOSED, macs)
    if op.bias:
        parts["bias"] = shape1 * op.conv_grid
    return parts


def _ds_conv_transpose(op: TorchOp) -> Parts:
    return _conv_parts(op, 2, bias=True)


CALFLOPS = Counter(
    name="calflops", tool="calflops", version="0.3.2", unit="FLOP", term="FLOPs",
    call="calculate_flops(model, input_shape=(1, 3, H, W), output_as_string=False)",
    reads=("call",),
    rules=_patched_calls("calflops/pytorch_ops.py", dict(        at_conv=83, at_conv_transpose=128, at_pool=71, at_linear=37, at_relu=43, at_batch_norm=174,
        at_layer_norm=192, at_group_norm=204, at_instance_norm=214, at_softmax=254, at_upsample=229), deepspeed=False),
    missing=_skip("not counted: no patched functional reaches it",
                  "calflops/pytorch_ops.py:452 _patch_functionals, 506 _patch_tensor_methods"),
    note="Patches torch.nn.functional (model.eval(), flops_counter.py:112); nn.ReLU6 calls "
         "F.hardtanh, hardswish, hardsigmoid and sigmoid are not patched; `x + y`, `x * y` and "
         "`+=` reach no patch (torch.add and Tensor.add are).",
)

DEEPSPEED = Counter(
    name="deepspeed", tool="deepspeed", version="0.19.8", unit="FLOP", term="flops",
    call="get_model_profile(model, input_shape=(1, 3, H, W), as_string=False)",
    reads=("call",),
    rules=_patched_calls("deepspeed/profiling/flops_profiler/profiler.py", dict(        at_conv=569, at_conv_transpose=614, at_pool=557, at_linear=523, at_relu=529, at_batch_norm=665,
        at_layer_norm=683, at_group_norm=695, at_instance_norm=705, at_softmax=749, at_upsample=720), deepspeed=True),
    missing=_skip("not counted: no patched functional reaches it",
                  "deepspeed/profiling/flops_profiler/profiler.py:890 _patch_functionals"),
    note="The flops profiler that calflops was derived from; 0.19.8 counts a transposed "
         "convolution's bias on its output grid and an upsampling by scale on the output.",
)

# ---------------------------------------------------------------- PyTorch's FlopCounterMode
_FC = "torch/utils/flop_counter.py:"
FLOP_COUNTER = Counter(
    name="flop-counter", tool="torch.utils.flop_counter", version="torch 2.14.1", unit="FLOP",
    term="flops", call="with FlopCounterMode() as m: model(x); m.get_total_flops()",
    reads=("dispatch",),
    rules={
        "aten::convolution": Rule("2·MACs (transposed: on the input grid), no bias",
                                  _FC + "215 conv_flop_count, 253 conv_flop", lambda op: _conv_parts(op, 2)),
        "aten::linear": Rule("2·MACs (mm, addmm: the bias is not counted)",
                             _FC + "159 mm_flop, 171 addmm_flop", lambda op: _twice(op.category, op.macs)),
        "aten::mm": Rule("F.linear on a non-contiguous input (attention's in-projection on a "
                         "map's tokens): mm, 2·MACs", _FC + "159 mm_flop",
                         lambda op: _twice(op.category, op.macs)),
        "aten::_scaled_dot_product_attention_math": Rule(
            "the math path's two bmm: 2·MACs", _FC + "176 bmm_flop", lambda op: _twice(ATTN, op.macs)),
        "aten::_scaled_dot_product_flash_attention_for_cpu": _skip(
            "no formula: 397 registers the CUDA kernels only (flash, efficient, cudnn)",
            _FC + "397 sdpa_flop"),
    },
    missing=_skip("not counted: no registered formula", _FC + "133 register_flop_formula"),
    note="Formulas for matrix products, convolutions and attention only.",
)

# ---------------------------------------------------------------- torchvision's `_ops`
_MAC_RULE = Rule("MACs", "torchvision/models/*.py, the weights' meta `_ops` (resnet.py:370 "
                 "for ResNet-50: 4.089)", cnncalc_parts)
TORCHVISION = Counter(
    name="torchvision", tool="torchvision", version="0.29.1", unit="GMAC", term="GFLOPS (_ops)",
    call="ResNet50_Weights.IMAGENET1K_V1.meta['_ops']", reads=("aten",),
    rules={"aten::convolution": _MAC_RULE, "aten::linear": _MAC_RULE,
           "aten::scaled_dot_product_attention": _MAC_RULE},
    missing=_skip("not counted: the figure is the MACs of convolutions, linear layers and "
                  "attention", ""),
    printed="gflops3",
    note="Multiply-accumulates of convolution, linear and attention layers (ViT-B/16's 17.564: "
         "its projections and Q·K^T, A·V) in units of 10^9, printed "
         "with 3 decimals: what torchvision's model tables call GFLOPS.",
)

COUNTERS: dict[str, Counter] = {c.name: c for c in (
    FVCORE, PTFLOPS_PYTORCH, PTFLOPS_ATEN, THOP, TORCHINFO, CALFLOPS, FLOP_COUNTER, DEEPSPEED,
    TORCHVISION)}

PAPER = ("Papers count multiply-adds ('mult-adds', or 'FLOPs' meaning multiply-adds) of the "
         "layers that multiply by weights, the convolutions and fully connected layers, and, in "
         "attention, the products Q·K^T and A·V (Vaswani et al. 2017, section 3.2): no bias, batch "
         "norm, activation, softmax, pooling or merge; cnncalc's MACs for the same architecture. "
         "For example, He et al. 2016, Table 1, give 3.8 x 10^9 for ResNet-50, whose torchvision "
         "layout (stride 2 on the 3x3 convolution of a bottleneck rather than on the first 1x1, "
         "'ResNet v1.5') costs 4.09 x 10^9.")


def counter(name: str) -> Counter:
    """The counter called ``name``.

    Raises:
        SpecError: an unknown name, listing the known ones (exit code 2).
    """
    if name not in COUNTERS:
        raise SpecError(f"unknown convention '{name}'", kind="usage",
                        help=suggestion(name, tuple(COUNTERS), "conventions"))
    return COUNTERS[name]


@dataclass
class NodeCount:
    """One node's count under a counter: ``parts`` by family, ``skipped`` and
    ``unsupported`` operations (``key: what``)."""

    name: str
    parts: Parts = field(default_factory=dict)
    mine: Parts = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def value(self) -> Amount:
        """The node's count in the counter's unit (exact; a Fraction only for thop)."""
        return sum(self.parts.values())


def _add(into: Parts, parts: Parts, times: int = 1) -> None:
    for family, amount in parts.items():
        into[family] = into.get(family, 0) + amount * times


def count_nodes(net: Network, c: Counter, batch: int = 1,
                nodes: set[str] | None = None) -> list[NodeCount]:
    """Per node of ``net`` (or of ``nodes``), what counter ``c`` counts, by family, for a
    batch of ``batch``, with cnncalc's MACs by family beside it."""
    out = []
    for node in net.nodes:
        if nodes is not None and node.name not in nodes:
            continue
        nc = NodeCount(node.name)
        for op in node.facts.aten_ops_as(node.torch_form):
            _add(nc.mine, cnncalc_parts(op), batch)
            for key, rule in c.rules_for(op):
                if rule.count is None:
                    (nc.unsupported if rule.status == "unsupported" else nc.skipped).append(key)
                    continue
                per_call = rule.per_call is not None and rule.per_call(op)
                _add(nc.parts, rule.count(op), 1 if per_call else batch)
        out.append(nc)
    return out


@dataclass(frozen=True)
class Reconciled:
    """A counter's number for a network and its difference from cnncalc's MACs.

    ``value``: the exact sum of its rules (a Fraction where thop's float64 kernels are not
    whole); ``printed``: the number as the counter prints it (thop a float, torchvision
    GFLOPS with 3 decimals); ``by_family``: counter - cnncalc per family, in the counter's
    unit (torchvision: MACs, its rounding a family), summing to ``printed_total - macs``;
    ``unsupported``: ``key (n)``, the operations it skips saying it cannot count them.
    """

    counter: Counter
    value: Amount
    printed: int | float
    macs: int
    by_family: dict[str, Amount]
    unsupported: list[str]
    skipped: list[str]


def _tally(keys: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for k in keys:
        seen[k] = seen.get(k, 0) + 1
    return [f"{k} ({n})" for k, n in seen.items()]


def reconcile(net: Network, c: Counter, batch: int = 1, nodes: set[str] | None = None) -> Reconciled:
    """Counter ``c``'s total for ``net`` and its difference from cnncalc's MACs by family."""
    rows = count_nodes(net, c, batch, nodes)
    theirs: Parts = {}
    mine: Parts = {}
    for r in rows:
        _add(theirs, r.parts)
        _add(mine, r.mine)
    value = sum(theirs.values())
    macs = int(sum(mine.values()))
    if c.printed == "gflops3":
        printed: int | float = round(value / 1e9, 3)
        # the figure in MACs is printed * 1e9 exactly; the rest is rounding
        theirs["rounding"] = Fraction(str(printed)) * 10**9 - value
    elif c.printed == "float":
        printed = float(value)
    else:
        printed = int(value)
    families = [f for f in FAMILIES if f in theirs or f in mine]
    by_family = {f: theirs.get(f, 0) - mine.get(f, 0) for f in families}
    by_family = {f: d for f, d in by_family.items() if d}
    return Reconciled(c, value, printed, macs, by_family,
                      _tally([k for r in rows for k in r.unsupported]),
                      _tally([k for r in rows for k in r.skipped]))


def needed_by(net: Network, output: str) -> set[str]:
    """The nodes that output ``output`` depends on (a torchvision model in eval mode runs
    only these: Inception-v3's and GoogLeNet's auxiliary heads run in training only).

    Raises:
        SpecError: ``output`` is not one of the network's outputs.
    """
    if output not in net.outputs:
        raise SpecError(f"'{output}' is not an output of the network", kind="usage",
                        help=suggestion(output, tuple(net.outputs), "outputs"))
    by_name = {n.name: n for n in net.nodes}
    seen: set[str] = set()
    todo = [output]
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        todo.extend(by_name[name].inputs)
    return seen
