"""Attention for hybrid vision networks: multi-head self-attention, the scaled-dot-product
core, ViT's class token and learned position embedding.

Tokens and embedding. A tensor with spatial axes ([C, *S], channels first) is read as
prod(S) tokens of C features each, in row-major order of the positions (BoTNet's and the
non-local block's attention over the positions of a feature map: PyTorch's
``x.flatten(2).transpose(1, 2)``); the output goes back to the same layout. A tensor
without spatial axes is a sequence [L, E]: L tokens of E features, batch first, as
torchvision's ViT holds it after ``x.reshape(n, hidden_dim, h*w).permute(0, 2, 1)``.

Counting (Vaswani et al. 2017, "Attention Is All You Need", section 3.2, eq. 1 and 3.2.2):
attention(Q, K, V) = softmax(Q·K^T · scale)·V per head, scale = 1/sqrt(d_k). MACs: the
products Q·K^T (Lq·Lk·E over all heads: each head d_k = E/h) and A·V (Lq·Lk·E_v) and, for
multi-head self-attention, the projections (Q, K, V: 3·L·E², output: L·E²). FLOPs follow
docs/conventions.md: a product and an addition apart, the scaling one multiplication per
element of Q (none with ``scale: 1``), the softmax 3n - 1 per row of n (exp, additions,
divisions).

Receptive field: every query reads every key position, with weights that depend on the
data, so the field is global on every spatial axis (docs/receptive-field.md, "Attention").
"""

from __future__ import annotations

import math

from cnncalc.core.exchange import TorchCode, torch_args
from cnncalc.core.facts import ATTENTION_PRODUCTS, ATTENTION_PROJECTIONS, TorchOp
from cnncalc.layers.base import (
    Bool,
    Int,
    Layer,
    Number,
    Param,
    Saved,
    Step,
    Term,
    fmt_shape,
    np,
    numel,
)

# -- tokens of a tensor: the analysis (shapes) and the executor (arrays) apart ------------


def token_shape(shape, ndim: int) -> tuple[int, int]:
    """(tokens, features) of a per-sample shape: [C, *S] with spatial axes (rank ndim + 1)
    is prod(S) tokens of C features; a rank-2 tensor without them is [L, E]. Raises
    ValueError for another rank."""
    if len(shape) == ndim + 1 and ndim > 0:
        return numel(shape[1:]), shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise ValueError(fmt_shape(shape))


def _spatial(x, ndim: int) -> bool:
    """Whether the array x (N, ...) has spatial axes: (N, C, *S) with len(S) == ndim."""
    return x.ndim == ndim + 2 and ndim > 0


def _to_tokens(x, ndim: int):
    """(N, L, E) from an array (N, C, *S) (positions row-major) or (N, L, E)."""
    if _spatial(x, ndim):
        return x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 2, 1)
    return x


def _from_tokens(y, like, ndim: int):
    """(N, L, E) back to the layout of ``like`` (its positions, E channels)."""
    if _spatial(like, ndim):
        return y.transpose(0, 2, 1).reshape(y.shape[0], y.shape[2], *like.shape[2:])
    return y


def _heads(t, h: int):
    """(N, L, E) -> (N, h, L, E/h): head j holds features j·E/h .. (j + 1)·E/h - 1
    (PyTorch's view(N, L, h, d).transpose(1, 2))."""
    n, length, e = t.shape
    return t.reshape(n, length, h, e // h).transpose(0, 2, 1, 3)


def _merge(t):
    """(N, h, L, d) -> (N, L, h·d)."""
    n, h, length, d = t.shape
    return t.transpose(0, 2, 1, 3).reshape(n, length, h * d)


def sdpa_forward(q, k, v, heads: int, scale, ctx, bias=None):
    """softmax(Q·K^T·scale + B)·V per head on token arrays q (N, Lq, E), k (N, Lk, E), v (N, Lk,
    Ev); scale None: 1/sqrt(E/heads); ``bias`` B (h, Lq, Lk), added to every sample's logits
    (a float attn_mask), or None. Returns (output (N, Lq, Ev), attention (N, h, Lq, Lk)).
    The two products run through ``ctx.mm`` (their MACs are counted); softmax subtracts
    each row's maximum (stable)."""
    # contiguous stacks: NumPy's matmul runs BLAS per matrix only on contiguous operands
    qh, kt, vh = (np.ascontiguousarray(t) for t in (_heads(q, heads), _heads(k, heads).transpose(0, 1, 3, 2),
                                                   _heads(v, heads)))
    s = ctx.mm(qh, kt) * _scale(scale, q.shape[-1] // heads)
    if bias is not None:
        s = s + bias
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    a = e / e.sum(axis=-1, keepdims=True)
    return _merge(ctx.mm(a, vh)), a


def sdpa_backward(q, k, v, a, g, heads: int, scale):
    """Gradients (dq, dk, dv, ds) of sdpa_forward's output from g (N, Lq, Ev), with its
    attention ``a``: dV = A^T·dO, dA = dO·V^T, dS = A ⊙ (dA - rowsum(dA ⊙ A)) (the softmax's
    Jacobian: also the gradient of an additive bias on the logits, (N, h, Lq, Lk)),
    dQ = scale·dS·K, dK = scale·dS^T·Q, per head."""
    qh, kh, vh, gh = _heads(q, heads), _heads(k, heads), _heads(v, heads), _heads(g, heads)
    c = _scale(scale, q.shape[-1] // heads)
    dv = a.transpose(0, 1, 3, 2) @ gh
    da = gh @ vh.transpose(0, 1, 3, 2)
    ds = a * (da - (da * a).sum(axis=-1, keepdims=True))
    return _merge(ds @ kh * c), _merge(ds.transpose(0, 1, 3, 2) @ qh * c), _merge(dv), ds


def relative_position_index(height: int, width: int):
    """Swin Transformer's relative position index of an H x W map (Liu et al. 2021, section
    3.2, Eq. 4; torchvision's ShiftedWindowAttention.define_relative_position_index): for the
    query at (y_i, x_i) and the key at (y_j, x_j), positions row-major,
    (y_i - y_j + H - 1)·(2W - 1) + (x_i - x_j + W - 1), a row of the table of (2H - 1)(2W - 1)
    offsets. Returns int64 (L·L,), L = H·W, query-major (torchvision's flattened buffer)."""
    ys, xs = np.divmod(np.arange(height * width), width)
    dy = ys[:, None] - ys[None, :] + height - 1
    dx = xs[:, None] - xs[None, :] + width - 1
    return (dy * (2 * width - 1) + dx).reshape(-1).astype(np.int64)


def relative_position_bias(table, index, length: int):
    """B (h, L, L) from the table ((2H - 1)(2W - 1), h) and the index (L·L,): B[j, a, b] =
    table[index[a·L + b], j] (torchvision's _get_relative_position_bias)."""
    return table[np.asarray(index).astype(np.int64)].reshape(length, length, -1).transpose(2, 0, 1)


def _scale(scale, head_dim: int) -> float:
    return 1 / math.sqrt(head_dim) if scale is None else float(scale)


def _global_probe(g, x, ndim: int):
    """verify's probe gradient of a layer every unit of which reads every input position:
    the magnitude of the whole output gradient of a sample, on every input element."""
    total = np.abs(g).reshape(g.shape[0], -1).sum(axis=1)
    return np.broadcast_to(total.reshape(-1, *(1,) * (x.ndim - 1)), x.shape).copy()


class _Attention(Layer):
    """What both attention types share: tokens, heads, the core's counts and the field."""

    family = "attention"
    erf_rule = None  # the mixing weights depend on the data: no linearisation under the protocol
    context_mixing = True  # the local receptive field holds its branch at the merge

    def erf_refusal(self):
        return (f"{self.type_name} mixes every position with weights computed from the data "
                "(docs/receptive-field.md, 'Attention')")

    def _token_shape(self, shape, what: str) -> tuple[int, int]:
        try:
            return token_shape(shape, self.ndim)
        except ValueError:
            raise self.fail(
                f"{self.type_name} needs {what} as [C, *spatial] (positions are tokens) or "
                f"[L, E] (a sequence), got {fmt_shape(shape)}",
                help="reshape and permute to [L, E] (ViT: reshape [E, -1], permute [0, 2, 1])") from None

    def _check_heads(self, features: int, what: str) -> None:
        h = self.p["num_heads"]
        if features % h:
            raise self.fail(
                f"{what} {features} is not divisible by num_heads={h}",
                help=f"num_heads must divide {what}: e.g. {', '.join(str(d) for d in _divisors(features))}",
                param="num_heads", kind="value")

    def unit_maps(self):
        # every query reads every key position: global on every spatial axis
        return [None] * self.ndim if len(self.out_shape) == self.ndim + 1 else None

    def core_terms(self, lq: int, lk: int, e: int, ev: int) -> dict[str, Term]:
        """The scaled-dot-product core's MACs and FLOPs, term by term, per sample."""
        h = self.p["num_heads"]
        scale = self.p.get("scale")
        return {
            "qk_macs": Term(lq) * lk * e,
            "av_macs": Term(lq) * lk * ev,
            "scale_flops": Term(0) if scale == 1 else Term(lq) * e,
            "qk_flops": Term(lq) * lk * (2 * Term(e) - h),
            "softmax_flops": Term(h) * lq * (3 * Term(lk) - 1),
            "av_flops": Term(lq) * ev * (2 * Term(lk) - 1),
        }

    def core_steps(self, lq, lk, e, ev) -> list[Step]:
        h = self.p["num_heads"]
        t = self.core_terms(lq, lk, e, ev)
        return [
            Step.of("macs", "[Q·K^T] Lq·Lk·E (h heads of d = E/h; Vaswani et al. 2017, eq. 1)",
                    t["qk_macs"], f"{h} heads of {e // h}"),
            Step.of("macs", "[A·V] Lq·Lk·E_v", t["av_macs"]),
            Step.of("flops", "[scaling] Lq·E multiplications (0 with scale 1)", t["scale_flops"]),
            Step.of("flops", "[Q·K^T] Lq·Lk·(2E - h): h·Lq·Lk dot products of d", t["qk_flops"]),
            Step.of("flops", "[softmax] h·Lq·(3·Lk - 1): exp, additions, divisions", t["softmax_flops"]),
            Step.of("flops", "[A·V] Lq·E_v·(2·Lk - 1)", t["av_flops"]),
        ]

    def probe_values(self, axis, values, shapes):
        values["num_heads"] = 1  # the probe has one channel: one head of one feature
        return values


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, min(n, 64) + 1) if n % d == 0][-4:]


class ScaledDotProductAttention(_Attention):
    """The attention core, F.scaled_dot_product_attention: three inputs q, k, v (``from:
    [q, k, v]``), per head softmax(Q·K^T·scale)·V (Vaswani et al. 2017, eq. 1).

    q [E, *S_q] or [Lq, E]; k [E, *S_k] or [Lk, E]; v [E_v, *S_k] or [Lk, E_v] (k and v the
    same number of tokens). Output: Lq tokens of E_v features, in q's layout ([E_v, *S_q] or
    [Lq, E_v]). ``num_heads`` splits E and E_v into heads (1: one head, the non-local block
    of Wang et al. 2018); ``scale`` default 1/sqrt(E/num_heads) (PyTorch's), ``scale: 1`` for
    the non-local block's embedded Gaussian (Wang et al. 2018, eq. 3: no scaling). No
    parameters. MACs Lq·Lk·(E + E_v).
    """

    type_name = "scaled_dot_product_attention"
    summary = "softmax(q·k^T·scale)·v of three inputs (F.scaled_dot_product_attention)"
    min_inputs = 3
    max_inputs = 3
    shape_rule = "[E_v, *S_q] or [Lq, E_v]: q's tokens, v's features"
    primary = "num_heads"
    params = (
        Param("num_heads", Int(1), 1, "heads: E and E_v are split into num_heads parts"),
        Param("scale", Number(0, open_min=True), None, "multiplies q·k^T; default 1/sqrt(E/num_heads)"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        q, k, v = in_shapes
        self.lq, self.e = self._token_shape(q, "q")
        self.lk, ek = self._token_shape(k, "k")
        lv, self.ev = self._token_shape(v, "v")
        if ek != self.e:
            raise self.fail(f"q has {self.e} features and k {ek}: Q·K^T needs the same",
                            help="project q and k to the same number of channels")
        if lv != self.lk:
            raise self.fail(f"k has {self.lk} tokens and v {lv}: A·V needs the same",
                            help="compute k and v from the same positions")
        self._check_heads(self.e, "the q/k features")
        self._check_heads(self.ev, "the v features")
        self.out_shape = (self.ev, *q[1:]) if len(q) == self.ndim + 1 and self.ndim > 0 \
            else (self.lq, self.ev)
        return self.out_shape

    def macs(self):
        t = self.core_terms(self.lq, self.lk, self.e, self.ev)
        return (t["qk_macs"] + t["av_macs"]).value

    def flops(self):
        return sum(t.value for t in self._flop_terms())

    def explain(self):
        return [Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape)),
                *self.core_steps(self.lq, self.lk, self.e, self.ev),
                Step.calc("macs", "total: Lq·Lk·(E + E_v)", f"{self.lq}·{self.lk}·({self.e} + {self.ev})"),
                Step.calc("flops", "total: the terms above", " + ".join(
                    str(t.value) for t in self._flop_terms()))]

    def _flop_terms(self):
        t = self.core_terms(self.lq, self.lk, self.e, self.ev)
        return [t[k] for k in ("scale_flops", "qk_flops", "softmax_flops", "av_flops")]

    def saved_for_backward(self):
        # F.scaled_dot_product_attention on CPU (_scaled_dot_product_flash_attention_for_cpu,
        # torch 2.13; saved_tensors_hooks): q, k, v, its output and the logsumexp per head and
        # query (float32)
        return [*(Saved(f"input{i}", s) for i, s in enumerate(self.in_shapes)),
                Saved("output", self.out_shape),
                Saved("logsumexp", (self.p["num_heads"], self.lq), "float32")]

    def workspace(self):
        return self.p["num_heads"] * self.lq * self.lk * 2 + numel(self.out_shape)

    def aten_ops(self, form=""):
        """F.scaled_dot_product_attention in the parent's forward (cnncalc's ``attention``
        helper): no module. On a map the helper's tokens (``flatten(2).transpose(1, 2)``)
        have stride L on the last axis, and torch 2.14's CPU dispatch then runs the math
        path (two bmm: ptflops' aten backend and FlopCounterMode count them); on a sequence
        the fused flash kernel, which neither counts (measured:
        tests/data/counters/nonlocal_resnet50.json, vit_b_16.json)."""
        spatial = len(self.in_shapes[0]) == self.ndim + 1 and self.ndim > 0
        return [TorchOp(op="scaled_dot_product_attention", module="",
                        call="F.scaled_dot_product_attention", in_elems=numel(self.in_shapes[0]),
                        out_elems=numel(self.out_shape), macs=self.macs(),
                        category=ATTENTION_PRODUCTS, tokens=self.lq, heads=self.p["num_heads"],
                        dispatched="_scaled_dot_product_attention_math" if spatial
                        else "_scaled_dot_product_flash_attention_for_cpu")]

    def _run(self, xs, ctx):
        q, k, v = (_to_tokens(x, self.ndim) for x in xs)
        out, a = sdpa_forward(q, k, v, self.p["num_heads"], self.p["scale"], ctx)
        return q, k, v, out, a

    def forward(self, xs, w, ctx):
        return _from_tokens(self._run(xs, ctx)[3], xs[0], self.ndim)

    def backward(self, xs, w, out, g, ctx):
        if ctx.probe:  # every output unit reads every position of q's sample, k's and v's
            return [_global_probe(g, x, self.ndim) for x in xs], {}
        q, k, v, _, a = self._run(xs, ctx.quiet())
        grads = sdpa_backward(q, k, v, a, _to_tokens(g, self.ndim), self.p["num_heads"], self.p["scale"])[:3]
        return [_from_tokens(d, x, self.ndim) for d, x in zip(grads, xs)], {}

    # -- files (docs/onnx.md) --
    onnx_import_refusal = "ONNX has no attention op before opset 23; its MatMul, Softmax pattern is not read"
    onnx_export_refusal = "ONNX's Attention op needs opset 23, which cnncalc does not write yet"
    torch_helper = ("attention", (
        "def attention(q, k, v, heads, scale):",
        '    """F.scaled_dot_product_attention on (N, C, *S) maps (positions are tokens) or (N, L, E)."""',
        "    spatial = q.dim() > 3",
        "    shape = q.shape[2:]",
        "    q, k, v = (t.flatten(2).transpose(1, 2) if t.dim() > 3 else t for t in (q, k, v))",
        "    n, lq, lk = q.shape[0], q.shape[1], k.shape[1]",
        "    q = q.reshape(n, lq, heads, -1).transpose(1, 2)",
        "    k = k.reshape(n, lk, heads, -1).transpose(1, 2)",
        "    v = v.reshape(n, lk, heads, -1).transpose(1, 2)",
        "    y = F.scaled_dot_product_attention(q, k, v, scale=scale).transpose(1, 2).flatten(2)",
        "    return y.transpose(1, 2).reshape(n, -1, *shape) if spatial else y",
    ))

    def to_torch(self, f, call):
        """F.scaled_dot_product_attention through the helper ``attention`` (tokens, heads)."""
        q, k, v = call.ins
        scale = None if self.p["scale"] is None else float(self.p["scale"])
        return TorchCode(f"attention({q}, {k}, {v}, {self.p['num_heads']}, {scale!r})",
                         helper=self.torch_helper)


class MultiheadAttention(_Attention):
    """Multi-head self-attention as torch.nn.MultiheadAttention (batch_first, query = key =
    value = the input) stores and computes it.

    Tensors: in_proj_weight (3E, E) (rows: the Q, K, V projections, in that order),
    in_proj_bias (3E), out_proj.weight (E, E), out_proj.bias (E) (``bias: false`` drops both
    biases, as PyTorch's). Input [L, E] (a sequence) or [E, *S] (the positions of a map as
    tokens, BoTNet's MHSA); output the same shape.
    MACs (Vaswani et al. 2017, section 3.2.2): 3·L·E² (Q, K, V) + 2·L²·E (Q·K^T, A·V over
    all heads) + L·E² (the output projection).

    ``relative_position_bias: true`` (a map [E, H, W] only): Swin Transformer's learned bias
    per head and relative offset added to the logits, softmax(Q·K^T/sqrt(d) + B)·V (Liu et
    al. 2021, section 3.2, Eq. 4), with torchvision's ShiftedWindowAttention's tensors: the
    parameter relative_position_bias_table ((2H - 1)(2W - 1), h) and the int64 buffer
    relative_position_index (L·L,) (:func:`relative_position_index`), B[j, a, b] =
    table[index[a·L + b], j]. MACs unchanged; FLOPs + h·L² (one addition per logit).
    """

    type_name = "multihead_attention"
    summary = "multi-head self-attention (nn.MultiheadAttention, batch_first)"
    primary = "num_heads"
    bias_names = ("in_proj_bias", "out_proj.bias")
    shape_rule = "the input's shape"
    params = (
        Param("num_heads", Int(1), doc="heads; must divide embed_dim"),
        Param("bias", Bool(), True, "in_proj_bias and out_proj.bias"),
        Param("embed_dim", Int(1), None, "E: inferred from the input (its features); checked if given"),
        Param("relative_position_bias", Bool(), False,
              "Swin's learned bias per head and relative offset on the logits (a map [E, H, W])"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.tokens, self.e = self._token_shape(self.in_shape, "its input")
        if self.p["relative_position_bias"] and (self.ndim != 2 or len(self.in_shape) != 3):
            raise self.fail(
                "relative_position_bias needs a 2-D map [E, H, W] (its table is indexed by the "
                f"offsets of two positions in H and W), got {fmt_shape(self.in_shape)}",
                help="attend over the positions of a 2-D map, or remove relative_position_bias "
                     "(a sequence: add a position_embedding instead)",
                param="relative_position_bias", kind="value")
        given = self.p["embed_dim"]
        if given is not None and given != self.e:
            raise self.fail(f"embed_dim is {given} but the input has {self.e} features",
                            help="remove embed_dim (it is inferred) or fix the layer before",
                            param="embed_dim")
        self._check_heads(self.e, "embed_dim")
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    def param_shapes(self):
        e = self.e
        shapes = {"in_proj_weight": (3 * e, e)}
        if self.p["bias"]:
            shapes["in_proj_bias"] = (3 * e,)
        if self.p["relative_position_bias"]:
            height, width = self.in_shape[1:]
            shapes["relative_position_bias_table"] = ((2 * height - 1) * (2 * width - 1), self.p["num_heads"])
        shapes["out_proj.weight"] = (e, e)
        if self.p["bias"]:
            shapes["out_proj.bias"] = (e,)
        return shapes

    def buffer_shapes(self):
        # torchvision registers the index as a (persistent) buffer: in the state_dict, int64
        return {"relative_position_index": (self.tokens ** 2,)} if self.p["relative_position_bias"] else {}

    def buffer_dtypes(self):
        return {"relative_position_index": "int64"} if self.p["relative_position_bias"] else {}

    def computed_buffers(self):
        if not self.p["relative_position_bias"]:
            return {}
        return {"relative_position_index": relative_position_index(*self.in_shape[1:])}

    def terms(self) -> dict[str, Term]:
        """Every MAC and FLOP term per sample (explain shows them one by one)."""
        length, e, b = self.tokens, self.e, int(self.p["bias"])
        t = {"in_proj_macs": Term(3) * length * e * e, "out_proj_macs": Term(length) * e * e,
             "in_proj_flops": Term(length) * (3 * Term(e)) * (2 * Term(e) - 1 + b),
             "out_proj_flops": Term(length) * e * (2 * Term(e) - 1 + b),
             # the relative position bias: one addition per logit, h·L² (Liu et al. 2021, Eq. 4)
             "relpos_flops": Term(self.p["num_heads"]) * length * length
             if self.p["relative_position_bias"] else Term(0)}
        t.update(self.core_terms(length, length, e, e))
        return t

    def attention_macs(self) -> int:
        """The MACs of the attention products Q·K^T and A·V alone (2·L²·E): what counters
        that see only the projections (nn.Linear) miss."""
        t = self.terms()
        return (t["qk_macs"] + t["av_macs"]).value

    def macs(self):
        t = self.terms()
        return (t["in_proj_macs"] + t["qk_macs"] + t["av_macs"] + t["out_proj_macs"]).value

    def flops(self):
        t = self.terms()
        return sum(t[k].value for k in self.FLOP_TERMS)

    FLOP_TERMS = ("in_proj_flops", "scale_flops", "qk_flops", "relpos_flops", "softmax_flops",
                  "av_flops", "out_proj_flops")

    def bias_flops(self):
        return 4 * self.tokens * self.e if self.p["bias"] else 0

    def explain(self):
        length, e, b = self.tokens, self.e, self.p["bias"]
        t = self.terms()
        formula = "4·E² + 4·E (in_proj 3E x E + 3E, out_proj E x E + E)" if b else "4·E²"
        numbers = f"4·{e}·{e} + 4·{e}" if b else f"4·{e}·{e}"
        steps = [Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape),
                      f"{length} tokens of {e} features")]
        if self.p["relative_position_bias"]:
            height, width = self.in_shape[1:]
            steps += [Step.calc("params", formula + " + (2H - 1)·(2W - 1)·h (relative_position_bias_table)",
                                f"{numbers} + {2 * height - 1}·{2 * width - 1}·{self.p['num_heads']}"),
                      Step.calc("buffers", "relative_position_index L·L (int64)", f"{length}·{length}")]
        else:
            steps.append(Step.calc("params", formula, numbers))
        steps.append(Step.of("macs", "[Q, K, V projections] 3·L·E²", t["in_proj_macs"]))
        steps += [s for s in self.core_steps(length, length, e, e) if s.field == "macs"]
        steps += [Step.of("macs", "[output projection] L·E²", t["out_proj_macs"]),
                  Step.calc("macs", "total: 4·L·E² + 2·L²·E  [Vaswani et al. 2017, section 3.2.2]",
                            f"4·{length}·{e}·{e} + 2·{length}·{length}·{e}"),
                  Step.of("flops", "[Q, K, V projections] L·3E·(2E - 1 + bias)", t["in_proj_flops"])]
        core = [s for s in self.core_steps(length, length, e, e) if s.field == "flops"]
        if self.p["relative_position_bias"]:  # added to the scaled logits, before the softmax
            core.insert(2, Step.of("flops", "[relative position bias] h·L² additions (Liu et al. 2021, "
                                   "Eq. 4)", t["relpos_flops"]))
        steps += core
        steps += [Step.of("flops", "[output projection] L·E·(2E - 1 + bias)", t["out_proj_flops"]),
                  Step.calc("flops", "total: the terms above", " + ".join(
                      str(t[k].value) for k in self.FLOP_TERMS))]
        return steps

    def saved_for_backward(self):
        # nn.MultiheadAttention's forward in training (torch 2.13, CPU; measured with
        # torch.autograd.graph.saved_tensors_hooks): the input (in_proj's weight gradient),
        # the packed Q, K, V projection (one tensor of 3E per token), the logsumexp per head
        # and token (float32) and the attention's output, which out_proj keeps too
        length, e = self.tokens, self.e
        if self.p["relative_position_bias"]:
            # the bias, a float attn_mask whose table needs a gradient, sends
            # F.scaled_dot_product_attention to its math path (torch 2.14.1, CPU; measured
            # by benchmarks/measure_relpos_attention.py, tests/data/relpos_attention.json):
            # the tokens (a copy: (N, L, E) of a transposed map is not contiguous at N > 1),
            # Q and K each scaled by sqrt(scale) (the first bmm), the packed Q, K, V (v, a
            # view, for the second bmm), the attention weights (h, L, L: softmax and the second
            # bmm) and the attention's output (out_proj); the bias itself is not kept
            # (addition), the index is a buffer
            return [Saved("tokens", (length, e), for_weight=True), Saved("q_scaled", (length, e)),
                    Saved("k_scaled", (length, e)), Saved("qkv", (length, 3 * e)),
                    Saved("attention_weights", (self.p["num_heads"], length, length)),
                    Saved("attention", (length, e))]
        return [Saved("input0", self.in_shape, for_weight=True), Saved("qkv", (length, 3 * e)),
                Saved("logsumexp", (self.p["num_heads"], length), "float32"),
                Saved("attention", (length, e))]

    def workspace(self):
        # + the gathered bias (h, L, L) with a relative position bias
        relpos = self.p["num_heads"] * self.tokens ** 2 if self.p["relative_position_bias"] else 0
        return 4 * self.tokens * self.e + 2 * self.p["num_heads"] * self.tokens ** 2 + relpos

    def aten_ops(self, form=""):
        """nn.MultiheadAttention(x, x, x, need_weights=False) with autograd on (the counters'
        calls): its module (hooks see it once; ``out_proj`` is a
        NonDynamicallyQuantizableLinear whose forward never runs), then what
        F.multi_head_attention_forward calls (torch/nn/functional.py:6898
        _in_projection_packed: one F.linear to 3E; 7104 F.scaled_dot_product_attention, on
        contiguous heads: the fused CPU kernel; 7115 F.linear, out_proj). Under no_grad in
        eval mode the fast path torch._native_multi_head_attention runs instead (one ATen op
        no counter has a formula for: FlopCounterMode then counts 0 for it)."""
        length, e, h = self.tokens, self.e, self.p["num_heads"]
        t = self.terms()
        bias = int(self.p["bias"])
        # on a map, SpatialMultiheadAttention's tokens x.flatten(2).transpose(1, 2) are not
        # contiguous: the in-projection's F.linear dispatches to mm, its bias added apart
        # (measured, torch 2.14.1: FlopCounterMode sees aten.mm; tests/test_conventions.py)
        spatial = len(self.in_shape) == self.ndim + 1 and self.ndim > 0
        common = dict(module="", call="F.linear", category=ATTENTION_PROJECTIONS, tokens=length, heads=h)
        relpos = self.p["relative_position_bias"]
        return [
            *(self._relpos_ops() if relpos else [
                TorchOp(op="", module="MultiheadAttention", call="", in_elems=length * e,
                        out_elems=length * e, bias=4 * e * bias, category=ATTENTION_PROJECTIONS,
                        tokens=length, heads=h)]),
            TorchOp(op="linear", in_elems=length * e, out_elems=3 * length * e,
                    macs=t["in_proj_macs"].value, weight=3 * e * e, bias=3 * e * bias,
                    dispatched="mm" if spatial else "", **common),
            TorchOp(op="scaled_dot_product_attention", module="", call="F.scaled_dot_product_attention",
                    in_elems=length * e, out_elems=length * e, macs=self.attention_macs(),
                    category=ATTENTION_PRODUCTS, tokens=length, heads=h,
                    dispatched="_scaled_dot_product_attention_math" if relpos
                    else "_scaled_dot_product_flash_attention_for_cpu"),
            TorchOp(op="linear", in_elems=length * e, out_elems=length * e,
                    macs=t["out_proj_macs"].value, weight=e * e, bias=e * bias, **common),
        ]

    def probe_values(self, axis, values, shapes):
        # verify's one-axis probe: the bias (indexed in H and W) has no one-axis form, and an
        # additive term on the logits leaves the field global (every position is read)
        values["relative_position_bias"] = False
        return super().probe_values(axis, values, shapes)

    def _relpos_ops(self):
        """What the exported RelativePositionMultiheadAttention (an nn.MultiheadAttention
        subclass) runs before nn.MultiheadAttention's forward, with autograd on: its module
        record, the gather table[index] (aten::index: fvcore ignores it, no counter counts
        it) and its repeat over the batch (aten::repeat: fvcore warns). A subclass is no
        nn.MultiheadAttention to the counters that look a module's exact type up (ptflops'
        pytorch backend, thop: 0), nor a leaf (torchinfo); the bias, a float attn_mask
        needing a gradient, sends F.scaled_dot_product_attention to its math path: two bmm
        that ptflops' aten backend and FlopCounterMode count, the mask's addition (h·L² per
        sample) in none (measured, torch 2.14.1: tests/data/relpos_attention.json)."""
        length, e, h = self.tokens, self.e, self.p["num_heads"]
        moves = dict(module="", call="", category="data movement", tokens=length, heads=h)
        return [
            TorchOp(op="", module="RelativePositionMultiheadAttention", call="", in_elems=length * e,
                    out_elems=length * e, category=ATTENTION_PROJECTIONS, tokens=length, heads=h),
            TorchOp(op="index", in_elems=length * length, out_elems=h * length * length, **moves),
            TorchOp(op="repeat", in_elems=h * length * length, out_elems=h * length * length, **moves),
        ]

    def _tensors(self, x, w):
        e = x.shape[1] if _spatial(x, self.ndim) else x.shape[-1]
        bias = self.p["bias"]
        return (w.take("in_proj_weight", (3 * e, e)), w.take("in_proj_bias", (3 * e,)) if bias else None,
                w.take("out_proj.weight", (e, e)), w.take("out_proj.bias", (e,)) if bias else None)

    def _bias_tensors(self, x, w):
        """(table, index) of the relative position bias on the map x (N, E, H, W), or None:
        the index computed from the array's H and W unless one is given."""
        if not self.p["relative_position_bias"]:
            return None
        height, width = x.shape[2:]
        table = w.take("relative_position_bias_table", ((2 * height - 1) * (2 * width - 1), self.p["num_heads"]))
        index = w.take("relative_position_index", (height * width * height * width,), buffer=True,
                       value=relative_position_index(height, width))
        return table, index

    def _run(self, x, w, ctx):
        wi, bi, wo, bo = self._tensors(x, w)
        t = _to_tokens(x, self.ndim)
        n, length, e = t.shape
        qkv = ctx.mm(t.reshape(-1, e), wi.T).reshape(n, length, 3 * e)
        if bi is not None:
            qkv = qkv + bi
        q, k, v = qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
        relpos = self._bias_tensors(x, w)
        o, a = sdpa_forward(q, k, v, self.p["num_heads"], None, ctx,
                            None if relpos is None else relative_position_bias(*relpos, length))
        y = ctx.mm(o.reshape(-1, e), wo.T).reshape(n, length, e)
        if bo is not None:
            y = y + bo
        return t, q, k, v, a, o, y

    def forward(self, xs, w, ctx):
        return _from_tokens(self._run(xs[0], w, ctx)[-1], xs[0], self.ndim)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        wi, bi, wo, bo = self._tensors(x, w)
        if ctx.probe:  # every output unit reads every position
            return [_global_probe(g, x, self.ndim)], {}
        t, q, k, v, a, o, _ = self._run(x, w, ctx.quiet())
        gy = _to_tokens(g, self.ndim)
        e = t.shape[-1]
        gy2 = gy.reshape(-1, e)
        grads = {"out_proj.weight": gy2.T @ o.reshape(-1, e)}
        go = (gy2 @ wo).reshape(o.shape)
        dq, dk, dv, ds = sdpa_backward(q, k, v, a, go, self.p["num_heads"], None)
        relpos = self._bias_tensors(x, w)
        if relpos is not None:  # B[j, a, b] = table[index[a·L + b], j]: the logits' gradients summed per row
            table, index = relpos
            dtable = np.zeros(table.shape, dtype=ds.dtype)
            np.add.at(dtable, np.asarray(index).astype(np.int64), ds.sum(axis=0).reshape(table.shape[1], -1).T)
            grads["relative_position_bias_table"] = dtable
        dqkv = np.concatenate([dq, dk, dv], axis=-1).reshape(-1, 3 * e)
        grads["in_proj_weight"] = dqkv.T @ t.reshape(-1, e)
        if bi is not None:
            grads["in_proj_bias"] = dqkv.sum(axis=0)
            grads["out_proj.bias"] = gy2.sum(axis=0)
        dx = (dqkv @ wi).reshape(t.shape)
        return [_from_tokens(dx, x, self.ndim)], grads

    # -- files (docs/onnx.md) --
    onnx_import_refusal = ("PyTorch exports nn.MultiheadAttention as MatMul, Reshape, Transpose, "
                           "Softmax nodes, a pattern cnncalc does not read yet")
    onnx_export_refusal = "ONNX's Attention op needs opset 23, which cnncalc does not write yet"
    # nn.MultiheadAttention, and the helper class cnncalc's export writes for the relative
    # position bias (named without its module: it lives in the user's exported file)
    torch_modules = ("torch.nn.modules.activation.MultiheadAttention", "RelativePositionMultiheadAttention")

    @classmethod
    def from_torch(cls, v):
        """A whole nn.MultiheadAttention call, self-attention (query = key = value), batch first,
        with one in_proj (no kdim/vdim, no bias_k/bias_v, no zero attention): num_heads, bias;
        cnncalc's RelativePositionMultiheadAttention (its table and index): also
        relative_position_bias."""
        a = v.attrs
        if not a.get("batch_first"):
            raise v.fail("nn.MultiheadAttention with batch_first=False: cnncalc reads batch-first "
                         "tokens (N, L, E)")
        if not a.get("_qkv_same_embed_dim") or v.has_param("bias_k") or a.get("add_zero_attn"):
            raise v.fail("nn.MultiheadAttention with kdim/vdim, bias_k/bias_v or add_zero_attn has "
                         "no cnncalc equivalent")
        if len(v.inputs) != 1:
            raise v.fail("nn.MultiheadAttention of different query, key and value: cnncalc maps "
                         "self-attention")
        out = {"num_heads": int(a["num_heads"]), "bias": None if v.has_param("in_proj_bias") else False}
        if v.has_param("relative_position_bias_table"):
            out["relative_position_bias"] = True
        return out

    torch_helper = ("SpatialMultiheadAttention", (
        "class SpatialMultiheadAttention(nn.MultiheadAttention):",
        '    """Self-attention over the positions of (N, C, *spatial): positions are tokens."""',
        "",
        "    def forward(self, x):",
        "        t = x.flatten(2).transpose(1, 2)",
        "        y = super().forward(t, t, t, need_weights=False)[0]",
        "        return y.transpose(1, 2).reshape(x.shape)",
    ))

    relpos_helper = ("RelativePositionMultiheadAttention", (
        "class RelativePositionMultiheadAttention(nn.MultiheadAttention):",
        '    """Self-attention over the positions of (N, C, H, W) with a learned bias per head and',
        "    relative offset added to the logits (Swin Transformer, Liu et al. 2021, Eq. 4; the",
        '    tensors of torchvision\'s ShiftedWindowAttention)."""',
        "",
        "    def __init__(self, embed_dim, num_heads, size, bias=True):",
        "        super().__init__(embed_dim, num_heads, bias=bias, batch_first=True)",
        "        h, w = size",
        "        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * h - 1) * (2 * w - 1), num_heads))",
        "        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)",
        "        y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')",
        "        y, x = y.flatten(), x.flatten()",
        "        index = (y[:, None] - y[None, :] + h - 1) * (2 * w - 1) + x[:, None] - x[None, :] + w - 1",
        '        self.register_buffer("relative_position_index", index.flatten())',
        "",
        "    def forward(self, x):",
        "        n, length = x.shape[0], x.shape[2] * x.shape[3]",
        "        bias = self.relative_position_bias_table[self.relative_position_index]",
        "        bias = bias.view(length, length, -1).permute(2, 0, 1)",
        "        t = x.flatten(2).transpose(1, 2)",
        "        y = super().forward(t, t, t, attn_mask=bias.repeat(n, 1, 1), need_weights=False)[0]",
        "        return y.transpose(1, 2).reshape(x.shape)",
    ))

    def to_torch(self, f, call):
        """nn.MultiheadAttention(E, num_heads, batch_first=True) called as (x, x, x), as in
        torchvision's ViT EncoderBlock; on a map, the helper SpatialMultiheadAttention, or
        with a relative position bias RelativePositionMultiheadAttention (the bias a float
        attn_mask of (N·h, L, L))."""
        shape = f.in_shapes[0]
        spatial = len(shape) == self.ndim + 1 and self.ndim > 0
        e = shape[0] if spatial else shape[-1]
        if self.p["relative_position_bias"]:
            args = torch_args(e, self.p["num_heads"], tuple(shape[1:]), bias=self.p["bias"])
            return TorchCode(f"{call.module}({call.ins[0]})", f"RelativePositionMultiheadAttention({args})",
                             self.relpos_helper)
        args = torch_args(e, self.p["num_heads"], bias=self.p["bias"], batch_first=True)
        if spatial:
            return TorchCode(f"{call.module}({call.ins[0]})", f"SpatialMultiheadAttention({args})",
                             self.torch_helper)
        x = call.ins[0]
        return TorchCode(f"{call.module}({x}, {x}, {x}, need_weights=False)[0]",
                         f"nn.MultiheadAttention({args})")


class ClassToken(Layer):
    """A learned class token put before the sequence (Dosovitskiy et al. 2021, ViT, eq. 1;
    torchvision's VisionTransformer: ``torch.cat([class_token.expand(n, -1, -1), x], 1)``).

    [L, E] -> [L + 1, E]. One tensor (1, 1, E), the layer itself: its weight key is the
    layer's name (torchvision registers ``class_token`` as the model's attribute; name the
    layer ``class_token``). No FLOPs (a copy).
    """

    type_name = "class_token"
    family = "attention"
    aten_op = "cat"  # torch.cat([class_token.expand(n, -1, -1), x], dim=1): a copy
    torch_call = "torch.cat"
    summary = "a learned token before the sequence [L, E] -> [L + 1, E] (ViT)"
    shape_rule = "[L + 1, E]"
    mixes_axes = True
    erf_rule = None

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        if len(self.in_shape) != 2 or len(self.in_shape) == self.ndim + 1:
            raise self.fail(f"class_token needs a sequence [L, E], got {fmt_shape(self.in_shape)}",
                            help="reshape and permute the map to [L, E] first "
                                 "(ViT: reshape [E, -1], then permute [0, 2, 1])")
        length, e = self.in_shape
        self.out_shape = (length + 1, e)
        return self.out_shape

    def param_shapes(self):
        return {"": (1, 1, self.in_shape[1])}

    def unit_maps(self):
        return None

    def explain(self):
        e = self.in_shape[1]
        return [Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape)),
                Step.calc("params", "class_token (1, 1, E)", f"1·1·{e}"),
                Step("flops", "0: a copy", "", "0")]

    def forward(self, xs, w, ctx):
        x = xs[0]
        token = w.take("", (1, 1, x.shape[-1]))
        return np.concatenate([np.broadcast_to(token, (x.shape[0], 1, x.shape[-1])), x], axis=1)

    def backward(self, xs, w, out, g, ctx):
        return [g[:, 1:].copy()], {"": g[:, :1].sum(axis=0, keepdims=True)}

    onnx_import_refusal = "a Concat with an Expand of a stored tensor is not read as a class token yet"
    torch_ops = ("cat(expand(parameter), x)",)  # torchvision's VisionTransformer.forward

    @classmethod
    def from_torch(cls, v):
        """A parameter (1, 1, E) expanded over the batch, concatenated before the tokens (dim 1)."""
        token = v.extra["parameter"]
        if tuple(token.shape) != (1, 1, v.x.shape[-1]) or v.a["dim"] % v.rank != 1:
            raise v.fail(f"cat of parameter '{token.name}' {list(token.shape)} along axis "
                         f"{v.a['dim']}: cnncalc maps a class token (1, 1, E) put first (dim 1)")
        return {}
    onnx_export_refusal = "not written as ONNX yet (a Concat of an Expand of the token)"
    torch_parameter = True

    def to_torch(self, f, call):
        """An nn.Parameter at the layer's name, expanded to the batch and concatenated first."""
        e = f.in_shapes[0][1]
        x = call.ins[0]
        return TorchCode(f"torch.cat([{call.module}.expand({x}.shape[0], -1, -1), {x}], dim=1)",
                         f"nn.Parameter(torch.zeros(1, 1, {e}))")


class PositionEmbedding(Layer):
    """A learned position embedding added to its input (ViT, Dosovitskiy et al. 2021, eq. 1;
    torchvision's Encoder: ``input + self.pos_embedding``).

    One tensor (1, *input shape) ((1, L, E) on a sequence), the layer itself: its weight key
    is the layer's name (torchvision's ``encoder.pos_embedding``: name the layer
    ``pos_embedding`` inside ``encoder``). FLOPs: one addition per element.
    """

    type_name = "position_embedding"
    family = "attention"
    aten_op = "add"  # input + self.pos_embedding: one addition per element
    torch_call = "x + y"
    summary = "a learned position embedding (1, *shape) added (ViT's pos_embedding)"
    erf_rule = "copy"  # adding a constant: the identity of the gradient

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    def param_shapes(self):
        return {"": (1, *self.in_shape)}

    flops_formula = "elements  (one addition each)"

    def flops_term(self):
        return Term(numel(self.out_shape))

    def explain(self):
        return [Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape)),
                Step.calc("params", "pos_embedding (1, *shape)", "·".join(map(str, (1, *self.in_shape)))),
                self.flops_step()]

    def forward(self, xs, w, ctx):
        x = xs[0]
        return x + w.take("", (1, *x.shape[1:]))

    def backward(self, xs, w, out, g, ctx):
        return [g], {"": g.sum(axis=0, keepdims=True)}

    onnx_import_refusal = "an Add of a stored tensor of the sample's shape is not read as an embedding yet"
    torch_ops = ("aten.add",)

    @classmethod
    def from_torch(cls, v):
        """aten.add of the tokens and a parameter of shape (1, *sample) (``input + pos_embedding``)."""
        stored = [p for p in (v.a["self"], v.a["other"]) if v.is_param(p)]
        if len(stored) != 1 or len(v.inputs) != 1 or tuple(stored[0].shape) != (1, *v.x.shape):
            return None
        return {}
    onnx_export_refusal = "not written as ONNX yet (an Add of the stored embedding)"
    torch_parameter = True

    def to_torch(self, f, call):
        """An nn.Parameter at the layer's name, added."""
        shape = ", ".join(map(str, (1, *f.in_shapes[0])))
        return TorchCode(f"{call.ins[0]} + {call.module}", f"nn.Parameter(torch.zeros({shape}))")
