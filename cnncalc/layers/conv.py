"""Convolution and transposed convolution in 1, 2 and 3 dimensions."""

from __future__ import annotations

import math
from dataclasses import replace

from cnncalc.core.errors import SpecError
from cnncalc.core.exchange import (
    TorchCode,
    ax,
    onnx_axes,
    onnx_pads,
    onnx_pairs,
    symmetric,
    torch_args,
    torch_pad,
)
from cnncalc.core.rf import UnitMap, transposed_map, window_map
from cnncalc.core.window import taps_symbol, transposed_out, transposed_padding
from cnncalc.layers.base import (
    Bool,
    Int,
    Ints,
    K,
    Layer,
    Padding,
    Param,
    Saved,
    SlidingWindow,
    Step,
    Window,
    conv_out,
    effective_kernel,
    fmt_axes,
    fmt_shape,
    np,
    numel,
    resolve_padding,
    size_steps,
)

_COMMON = (
    Param("kernel_size", Ints(1), doc="kernel extent per axis"),
    Param("stride", Ints(1), 1, "step between windows"),
    Param("dilation", Ints(1), 1, "spacing between kernel taps (1 = dense)"),
    Param("groups", Int(1), 1, "in and out channels split into this many groups"),
    Param("bias", Bool(), True, "add a learnable bias per output channel"),
    Param("in_channels", Int(1), None, "inferred from the input; checked if given"),
)


class _ConvBase(SlidingWindow, Layer):
    family = "convolution"
    spatial = True
    primary = "out_channels"
    bias_names = ("bias",)
    saves = ("input:weight",)  # the weight's gradient correlates the input with dL/dy
    erf_rule = "mean"  # the ERF's uniform protocol: every weight 1 / (C_in/groups * prod(k))

    def onednn(self, batch: int) -> bool:
        """Whether PyTorch 2.14's CPU convolution (2-D, float32, one thread as the
        measurements run) takes oneDNN for both passes (Convolution.cpp's use_mkldnn): a
        kernel other than 1x1, a stride or dilation above 1, or a batch of 16 or more
        (with one thread), and then groups > 1, both kernel sides > 3, a batch above 1
        or N·C·H·W > 20480. Otherwise slow_conv2d (slow_conv_transpose2d)."""
        c, h, w = self.in_shape
        k = self.kernel
        if numel(k) == 1 and max(self.stride) == 1 and max(self.dilation) == 1 and batch < 16:
            return False
        return self.p["groups"] > 1 or min(k) > 3 or batch > 1 or batch * c * h * w > 20480

    def eager_backward(self, batch, grad_inputs, grad_weights):
        """PyTorch 2.14's CPU convolution_backward (2-D, float32; transposed too), as the profiler's memory
        events show it (benchmarks/measure_torch_memory.py; tests/test_memory_torch.py).
        oneDNN (:meth:`onednn`): for the input's gradient, a blocked copy of the output's
        gradient (channels padded to 16), a copy of the weight (output channels padded to
        16, and input channels too when groups is 1) and a blocked input gradient (channels
        padded to 16), then the plain input gradient while the blocked one is copied out;
        for the weight's, the blocked output gradient again, a blocked copy of the input
        (when C_in is a multiple of 16, as in the forward), a blocked weight gradient
        (output channels padded to 16) and the bias's, then the plain weight gradient
        while the blocked one is copied out (measured alike for ConvTranspose2d; a stride
        above 1 with groups 1 adds a second tensor of the input's shape then). The slow
        path: the gradients beside the columns of :meth:`_slow_columns`. Not counted: a padded bias copy of a few hundred bytes when
        C_out is not a multiple of 16, and a strided convolution's scratch buffer during
        the first phase (86,040 B for the downsample block's convolutions). Other ranks: the default."""
        if self.ndim != 2:
            return super().eager_backward(batch, grad_inputs, grad_weights)
        params = self.param_shapes()
        grads = tuple(Saved(f"grad_{name}", shape, per_sample=False) for name, shape in params.items())
        grad_in = (Saved("grad_input0", self.in_shape),) if grad_inputs[0] else ()
        phases: list[tuple[Saved, ...]] = []
        if self.onednn(batch):
            pad = lambda n: -(-n // 16) * 16  # noqa: E731 - oneDNN's blocked channels
            o, g, c = self.out_shape[0], self.p["groups"], self.in_shape[0]
            weight = params["weight"]
            grad_out = Saved("grad_output_copy", (pad(o), *self.out_shape[1:]))
            if grad_in:
                w_copy = (pad(weight[0]), pad(weight[1]) if g == 1 else weight[1], *weight[2:])
                blocked = Saved("grad_input_copy", (pad(c), *self.in_shape[1:]))
                # a strided convolution writes a second input-sized tensor beside the plain
                # input gradient (measured with stride 2: the downsample block's 1x1 and 3x3;
                # not for a strided depthwise convolution, MobileNetV2's)
                strided = ((Saved("grad_input_strided", self.in_shape),)
                           if max(self.stride) > 1 and g == 1 else ())
                phases += [(grad_out, Saved("weight_copy", w_copy, per_sample=False), blocked),
                           (blocked, *grad_in, *strided)]
            if grad_weights:
                blocked_w = (Saved("grad_weight_copy", (pad(weight[0]), *weight[1:]), per_sample=False),
                             *grads[1:])
                x_copy = (Saved("input_copy", self.in_shape),) if c % 16 == 0 else ()
                phases += [(*grad_in, grad_out, *x_copy, *blocked_w),
                           (*grad_in, *blocked_w, *grads)]
        else:
            if grad_in and self._slow_columns(batch, True):
                phases.append((*grad_in, *self._slow_columns(batch, True)))
            if grad_weights:
                phases.append((*grad_in, *grads, *self._slow_columns(batch, False)))
        if grad_in or grad_weights:
            phases.append((*grad_in, *(grads if grad_weights else ())))
        return phases

    def _input_gradient(self, taps, x, padded):
        """dL/dx (N, C, *S) from the gradients of the taps (N, C, *out, *K) that read the
        padded input (``padded``: its channels-last shape (N, *S_padded, C)): col2im's
        scatter-add, then the padding cut off (the executor's padding of ``x``)."""
        n, c, nd = x.shape[0], x.shape[1], self.ndim
        dxp = K.scatter_windows(taps, (n, c, *padded[1:1 + nd]), self.stride, self.dilation)
        return K.unpad(dxp, self.exec_pads(x), x.shape[2:])

    def _geometry(self) -> None:
        sizes = self.need_spatial()
        self.in_channels = self.check_in_channels()
        self.keff = tuple(effective_kernel(k, d) for k, d in zip(self.kernel, self.dilation))
        self.sizes = sizes
        groups, cout = self.p["groups"], self.p["out_channels"]
        if self.in_channels % groups:
            raise self.fail(
                f"groups={groups} does not divide the {self.in_channels} input channels",
                help="groups must divide both in and out channels", param="groups",
            )
        if cout % groups:
            raise self.fail(
                f"groups={groups} does not divide out_channels={cout}",
                help="groups must divide both in and out channels", param="groups",
            )


class Conv(_ConvBase):
    """Convolution (PyTorch Conv1d/2d/3d).

    Output size per axis: floor((L + p_b + p_a - d(k - 1) - 1) / s) + 1
    (Dumoulin and Visin, "A guide to convolution arithmetic", 2016, relationship
    15). Weight (out_channels, in_channels / groups, *kernel_size), bias
    (out_channels,). MACs per sample: out_elems * (in_channels / groups) * prod(k).
    """

    type_name = "conv"
    aten_op = "convolution"
    torch_class = "Conv{n}d"
    torch_call = "F.conv{n}d"
    torch_forms = ("Linear",)
    summary = "convolution (Conv1d/2d/3d)"
    params = (
        Param("out_channels", Int(1), doc="number of filters"),
        *_COMMON,
        Param("padding", Padding(), 0, "zero padding: int, per axis, [before, after] pairs, valid, same or full"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self._geometry()
        self.pads = resolve_padding(self.p["padding"], self.sizes, self.keff, self.stride)
        out = []
        for size, keff, s, (b, a) in zip(self.sizes, self.keff, self.stride, self.pads):
            o = conv_out(size, keff, s, b, a)
            if o is None:
                raise self.fail(
                    f"kernel {fmt_axes(self.keff)} does not fit input {fmt_axes(self.sizes)} "
                    f"(padding {self.p['padding'].describe()})",
                    help="use padding: same, more padding, or a smaller kernel_size or dilation",
                    param="kernel_size",
                )
            out.append(o)
        self.out_shape = (self.p["out_channels"], *out)
        return self.out_shape

    def param_shapes(self):
        shapes = {"weight": (self.p["out_channels"], self.in_channels // self.p["groups"], *self.kernel)}
        if self.p["bias"]:
            shapes["bias"] = (self.p["out_channels"],)
        return shapes

    def macs(self):
        return numel(self.out_shape) * (self.in_channels // self.p["groups"]) * numel(self.kernel)

    def flops(self):
        # n products, n - 1 additions, + 1 for the bias: 2n - 1 + bias per output
        out = numel(self.out_shape)
        return 2 * self.macs() - out + (out if self.p["bias"] else 0)

    def unit_maps(self):
        return [
            window_map(s, b, k, d)
            for s, (b, _), k, d in zip(self.stride, self.pads, self.kernel, self.dilation)
        ]

    def windows(self):
        mode = self.p["padding"].mode
        return tuple(Window(size, k, d, s, b, a, o, padding_mode=mode) for size, k, d, s, (b, a), o in
                     zip(self.sizes, self.kernel, self.dilation, self.stride, self.pads,
                         self.out_shape[1:]))

    def explain(self):
        cin, g, k = self.in_channels, self.p["groups"], self.p["out_channels"]
        taps = "·".join(map(str, self.kernel))
        per = f"{taps}·{cin}" + (f"/{g}" if g > 1 else "")
        n = numel(self.kernel) * cin // g
        steps = size_steps(self, "conv", self.sizes, self.keff, self.stride, self.pads,
                           self.out_shape[1:], kernels=self.kernel, dilations=self.dilation,
                           padding_mode=self.p["padding"].mode)
        steps.append(Step("output_shape", "[K, ...]: one map per filter", "", fmt_shape(self.out_shape)))
        bias = self.p["bias"]
        f = taps_symbol(self.ndim)
        steps.append(Step.calc("params", f"({f}·C_in/groups + 1)·K" if bias else f"{f}·C_in/groups·K",
                               f"({per} + 1)·{k}" if bias else f"{per}·{k}"))
        out = "·".join(map(str, self.out_shape[1:]))
        steps.append(Step.calc("macs", f"outputs · {f}·C_in/groups", f"{out}·{k} · {per}"))
        steps.append(Step.calc("flops", f"outputs · (2n - 1 + bias), n = {f}·C_in/groups",
                               f"{out}·{k} · (2·{n} - 1 + {int(bias)})"))
        return steps

    def eager_workspace(self, batch):
        """PyTorch 2.14's CPU convolution (2-D, float32) under no_grad, as the profiler's
        memory events show it (benchmarks/measure_torch_memory.py's method). It takes
        oneDNN (mkldnn_convolution) as :meth:`onednn` says; oneDNN reorders the input to a
        blocked copy when C_in is a multiple of 16 (seen for 16..1024; not 1, 3, 8) and
        the weight to a copy (for the call, whatever the batch; its output channels padded
        to a multiple of 16), writes a blocked output (channels padded to 16), frees those
        copies, and copies the output to the plain one: phases (input copy, weight copy,
        the blocked output's padding) and (the blocked output) beside the plain output.
        Not counted: a small padded bias copy when C_out is not a multiple of 16 (192 B
        for C_out = 4). Otherwise slow_conv2d unfolds the
        input into im2col columns (C_in/groups·prod(k) x output positions), unless the
        kernel is 1x1 with stride 1 and no padding. Other ranks: none counted."""
        if self.ndim != 2:
            return []
        c, h, w = self.in_shape
        g, k = self.p["groups"], self.kernel
        if self.onednn(batch):
            o, spatial = self.out_shape[0], self.out_shape[1:]
            padded = -(-o // 16) * 16  # the blocked output's channels, padded to 16
            weight = self.param_shapes()["weight"]
            first = [Saved("weight_copy", (padded, *weight[1:]), per_sample=False)]
            if c % 16 == 0:
                first.insert(0, Saved("input_copy", self.in_shape))
            if padded > o:  # the blocked output's padding beyond the plain output
                first.append(Saved("output_padding", (padded - o, *spatial)))
            return [tuple(first), (Saved("output_copy", (padded, *spatial)),)]
        if numel(k) == 1 and max(self.stride) == 1 and not any(any(p) for p in self.pads):
            return []
        return [(Saved("columns", (c // g * numel(k), numel(self.out_shape[1:]))),)]

    def _slow_columns(self, batch: int, for_input: bool) -> tuple[Saved, ...]:
        """slow_conv2d's backward: no columns for the input's gradient; for the weight's,
        im2col columns of the input, as the forward's (:meth:`eager_workspace`)."""
        if for_input:
            return ()
        columns = self.eager_workspace(batch)
        return columns[0] if columns else ()

    def workspace(self):
        # the padded input and the im2col columns
        padded = numel(s + b + a for s, (b, a) in zip(self.sizes, self.pads)) * self.in_channels
        return padded + self.in_channels * numel(self.kernel) * numel(self.out_shape[1:])

    def backward_workspace(self):
        # the columns again, and their gradient (as large): padded input + 2 columns
        return self.workspace() + self.in_channels * numel(self.kernel) * numel(self.out_shape[1:])

    # im2col, channels last: windows of the (N, *S, C) input -> columns
    # (G, N * prod(out), prod(K) * C/G), each column a run of contiguous channels.
    # Positions as rows make the GEMM 1.4x faster on OpenBLAS than the transposed
    # orientation, and the output (N, *out, O) is returned as an (N, O, *out) view,
    # so the next convolution's channels-last input costs no copy
    # (benchmarks/bench_execute.py).
    #
    # The executor convention (docs/executor.md): every size below comes from the
    # arrays and the parameters. The output size is the number of windows the
    # sliding view of the padded input holds, every stride-th taken; the tensors
    # are asked for by the shapes the arrays imply.
    def _channels(self, x) -> tuple[int, int]:
        """(groups, out_channels) for this input (a depthwise convolution derives both from it)."""
        return self.p.get("groups", 1), self.p["out_channels"]

    def _cols(self, x):
        """(padded shape (N, *S_padded, C), columns (G, N * prod(out), prod(K) * C/G),
        out sizes): every stride-th window of the sliding view of the padded input."""
        n, c, nd = x.shape[0], x.shape[1], self.ndim
        g, _ = self._channels(x)
        last = np.moveaxis(x, 1, -1)  # (N, *S, C): a view
        pads = self.exec_pads(x)
        lp = np.pad(last, [(0, 0), *pads, (0, 0)]) if any(b or a for b, a in pads) else last
        keff = K.extent(self.kernel, self.dilation)
        view = np.lib.stride_tricks.sliding_window_view(lp, keff, axis=tuple(range(1, 1 + nd)))
        index = (slice(None), *(slice(None, None, st) for st in self.stride),
                 slice(None), *(slice(None, None, d) for d in self.dilation))
        win = view[index]  # (N, *out, C, *K)
        out = win.shape[1:1 + nd]
        win = win.reshape(n, *out, g, c // g, *self.kernel)
        order = (1 + nd, 0, *range(1, 1 + nd), *range(3 + nd, 3 + 2 * nd), 2 + nd)
        return lp.shape, win.transpose(order).reshape(g, n * numel(out), -1), out

    def _tensors(self, x, w):
        """(weight, bias or None) taken by the shapes this input implies."""
        g, o = self._channels(x)
        weight = w.take("weight", (o, x.shape[1] // g, *self.kernel))
        return weight, (w.take("bias", (o,)) if self.p["bias"] else None)

    def _weight(self, weight, x):
        """(G, prod(K) * C/G, O/G), rows in the order of the columns: taps, then channels."""
        (g, o), nd = self._channels(x), self.ndim
        wg = weight.reshape(g, o // g, *weight.shape[1:])  # (G, O/G, C/G, *K)
        return wg.transpose(0, *range(3, 3 + nd), 2, 1).reshape(g, -1, o // g)

    def _from_rows(self, y, n, out):
        """(G, N * prod(out), O/G) -> an (N, O, *out) view of channels-last data"""
        g, nd = y.shape[0], self.ndim
        if g == 1:
            return np.moveaxis(y.reshape(n, *out, -1), -1, 1)
        y = y.reshape(g, n, *out, -1)
        return y.transpose(1, 0, 2 + nd, *range(2, 2 + nd)).reshape(n, -1, *out)

    def _to_rows(self, g_out, groups):
        """(N, O, *out) -> (G, N * prod(out), O/G)"""
        n, nd = g_out.shape[0], self.ndim
        y = g_out.reshape(n, groups, -1, *g_out.shape[2:])
        return y.transpose(1, 0, *range(3, 3 + nd), 2).reshape(groups, -1, y.shape[2])

    def forward(self, xs, w, ctx):
        x = xs[0]
        weight, bias = self._tensors(x, w)
        _, cols, out = self._cols(x)
        y = self._from_rows(ctx.mm(cols, self._weight(weight, x)), x.shape[0], out)
        if bias is not None:
            y = y + bias.reshape(1, -1, *(1,) * self.ndim)
        return y

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        n, c, nd = x.shape[0], x.shape[1], self.ndim
        groups, o = self._channels(x)
        weight, bias = self._tensors(x, w)
        padded, cols, sizes = self._cols(x)  # padded: (N, *S_padded, C)
        gy = self._to_rows(g, groups)  # (G, M, O/G)
        wt = self._weight(weight, x)  # (G, K * C/G, O/G)
        gw = np.matmul(cols.transpose(0, 2, 1), gy)  # (G, K * C/G, O/G)
        gw = gw.reshape(groups, *self.kernel, c // groups, o // groups)
        gw = gw.transpose(0, 2 + nd, 1 + nd, *range(1, 1 + nd))  # (G, O/G, C/G, *K)
        grads = {"weight": gw.reshape(weight.shape)}
        if bias is not None:
            grads["bias"] = g.sum(axis=(0, *range(2, 2 + nd)))
        dcols = np.matmul(gy, wt.transpose(0, 2, 1))  # (G, M, K * C/G)
        dcols = dcols.reshape(groups, n, *sizes, *self.kernel, c // groups)
        # -> (N, C, *out, *K) for the tap scatter in channels-first coordinates
        order = (1, 0, 2 + 2 * nd, *range(2, 2 + nd), *range(2 + nd, 2 + 2 * nd))
        taps = dcols.transpose(order).reshape(n, c, *sizes, *self.kernel)
        return [self._input_gradient(taps, x, padded)], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ("Conv", "MatMul")
    onnx_channels_last = ("MatMul",)  # x @ W over the channels at every position: a 1x1 conv
    torch_ops = ("aten.conv1d", "aten.conv2d", "aten.conv3d", "aten.linear")
    torch_channels_last = ("aten.linear",)  # nn.Linear over the channels: a 1x1 conv

    @classmethod
    def torch_form_of(cls, op, module):
        return "Linear" if op == "aten.linear" else ""

    @classmethod
    def from_torch(cls, v):
        """aten.conv{1,2,3}d (weight (M, C/groups, *k); padding as numbers or 'same'/'valid');
        aten.linear of a channels-last tensor (weight (M, C)): a 1x1 conv over the channels."""
        a, w = v.a, v.a["weight"].shape
        bias = None if a["bias"] is not None else False
        if v.op == "aten.linear":
            if v.x.layout != "cl":
                return None
            return {"out_channels": int(w[0]), "kernel_size": 1, "bias": bias}
        nd = len(w) - 2
        pad = a["padding"]
        if isinstance(pad, str):
            padding = None if pad == "valid" else pad
        else:
            padding = None if set(pad) == {0} else onnx_axes(pad)
        stride, dilation = list(a["stride"]) * (nd if len(a["stride"]) == 1 else 1), a["dilation"]
        return {"out_channels": int(w[0]), "kernel_size": onnx_axes(w[2:]),
                "stride": None if set(stride) == {1} else onnx_axes(stride),
                "padding": padding,
                "dilation": None if set(dilation) == {1} else onnx_axes(dilation),
                "groups": None if a["groups"] == 1 else int(a["groups"]), "bias": bias}

    @classmethod
    def from_onnx(cls, v):
        """Conv (weight (M, C/group, *k)); MatMul of a channels-last tensor by a 2-D W."""
        w = v.dims(1)
        if v.op == "MatMul":
            if v.x.layout != "cl":
                return None
            return {"out_channels": int(w[1]), "kernel_size": 1,
                    "bias": None if v.extra.get("bias") else False}
        a = v.attrs
        kernel = a.get("kernel_shape", list(w[2:]))
        strides, dilations, pad = v.window(kernel)
        group = a.get("group", 1)
        return {"out_channels": int(w[0]), "kernel_size": onnx_axes(kernel),
                "stride": None if set(strides) == {1} else onnx_axes(strides),
                "padding": None if pad == 0 else pad,
                "dilation": None if set(dilations) == {1} else onnx_axes(dilations),
                "groups": None if group == 1 else int(group),
                "bias": None if v.has(2) else False}

    @staticmethod
    def groups_of(f) -> int:
        """The group count the facts show: C_in / the weight's (out, C_in/groups, *k) axis 1
        (depthwise_conv's groups are C_in, which its parameters do not say)."""
        return f.in_shapes[0][0] // f.params["weight"][1]

    def to_onnx(self, f, call):
        """Conv with the padding as applied (``pads``: starts, then ends)."""
        w = f.windows
        inputs = [call.ins[0], call.weight("weight")]
        if "bias" in f.params:
            inputs.append(call.weight("bias"))
        return [call.node("Conv", inputs, kernel_shape=[x.kernel for x in w],
                          strides=[x.stride for x in w], dilations=[x.dilation for x in w],
                          pads=onnx_pads([(x.pad_before, x.pad_after) for x in w]),
                          group=int(self.groups_of(f)))]

    def torch_form_problem(self, form):
        """``Linear`` is nn.Linear over the channels: a 1x1 kernel, stride and dilation 1,
        no padding, one group."""
        if form != "Linear":
            return None
        pad = self.p["padding"]
        if (set(self.kernel) != {1} or set(self.stride) != {1} or set(self.dilation) != {1}
                or self.p["groups"] != 1 or (pad.pairs and any(b or a for b, a in pad.pairs))):
            return ("torch: Linear is nn.Linear over the channels: it needs a 1x1 convolution "
                    "with stride 1, no padding or dilation, and one group")
        return None

    def torch_tensor_shapes(self, form=""):
        """Under ``torch: Linear`` the weight is nn.Linear's (out_channels, in_channels)."""
        if form == "Linear" and self.torch_form_problem(form) is None:
            return {"weight": tuple(self.param_shapes()["weight"][:2])}
        return {}

    def to_torch(self, f, call):
        """nn.Conv{d}d; asymmetric padding as an F.pad first (PyTorch's Conv takes one per axis).
        ``torch: Linear``: nn.Linear on the channels-last tensor, permuted there and back, as
        torchvision's ConvNeXt block computes it (its weight (out, in), the state_dict's)."""
        if call.form == "Linear":
            problem = self.torch_form_problem(call.form)  # the loader refuses it first
            if problem:
                raise SpecError(f"layer '{call.name}': {problem}", kind="export",
                                help="remove torch: Linear, or make the convolution pointwise")
            last = (0, *range(2, self.ndim + 2), 1)  # channels last, and back
            back = (0, self.ndim + 1, *range(1, self.ndim + 1))
            return TorchCode(f"{call.module}({call.ins[0]}.permute{last}).permute{back}",
                             f"nn.Linear({torch_args(f.in_shapes[0][0], f.out_shape[0], bias='bias' in f.params)})")
        w = f.windows
        pairs = [(x.pad_before, x.pad_after) for x in w]
        x, pad = call.ins[0], symmetric(pairs)
        if pad is None:
            x, pad = f"F.pad({x}, {torch_pad(pairs)!r})", 0
        ctor = (f"nn.Conv{self.ndim}d({torch_args(f.in_shapes[0][0], f.out_shape[0])}, "
                f"{torch_args(kernel_size=ax(x_.kernel for x_ in w), stride=ax(x_.stride for x_ in w), padding=pad, dilation=ax(x_.dilation for x_ in w), groups=self.groups_of(f), bias='bias' in f.params)})")
        return TorchCode(f"{call.module}({x})", ctor)

    def aten_ops(self, form=""):
        # form "Linear": a 1x1 convolution written as nn.Linear on channels-last
        # (torchvision's ConvNeXt CNBlock); on a contiguous input ATen runs one addmm
        macs = self.macs()
        if form == "Linear":
            return [replace(self.torch_op("linear", macs=macs, out_grid_macs=macs),
                            module="Linear", call="F.linear")]
        return [self.torch_op("convolution", form, macs=macs, out_grid_macs=macs, groups=self.p["groups"])]


class ConvTranspose(_ConvBase):
    """Transposed convolution (PyTorch ConvTranspose1d/2d/3d).

    Output size per axis: (L - 1) s - p_b - p_a + d(k - 1) + output_padding + 1
    (Dumoulin and Visin 2016, relationship 14; PyTorch's ConvTranspose2d docs).
    Weight (in_channels, out_channels / groups, *kernel_size), bias (out_channels,).
    MACs are counted on the input grid: every input element meets every tap of
    its group's kernels once, in_elems * (out_channels / groups) * prod(k)
    (e.g. ConvTranspose2d(3, 1, 2, stride=2) on 2x2: 2*2*3 * 1 * 2*2 = 48).
    ``padding`` crops the full output; ``same`` gives L * s (TensorFlow's rule).
    """

    type_name = "conv_transpose"
    aten_op = "convolution"
    torch_class = "ConvTranspose{n}d"
    torch_call = "F.conv_transpose{n}d"
    summary = "transposed convolution (ConvTranspose1d/2d/3d)"
    params = (
        Param("out_channels", Int(1), doc="number of output channels"),
        *_COMMON,
        Param("padding", Padding(("valid", "same")), 0, "pixels cropped from each side of the full output"),
        Param("output_padding", Ints(0), 0, "extra pixels added after the output (output_padding < max(stride, dilation))"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self._geometry()
        pad, op = self.p["padding"], self.p["output_padding"]
        for o, s, d in zip(op, self.stride, self.dilation):
            if o >= max(s, d):
                raise self.fail(
                    f"output_padding {o} must be smaller than stride or dilation (max {max(s, d) - 1})",
                    help="output_padding picks one of the stride sizes that map to the same input",
                    param="output_padding",
                )
        try:
            self.pads = transposed_padding(pad, self.keff, self.stride)
        except ValueError as exc:
            raise self.fail(str(exc), help="give padding in pixels and output_padding instead",
                            param="padding") from None
        out = []
        for size, keff, s, (b, a), o in zip(self.sizes, self.keff, self.stride, self.pads, op):
            n = transposed_out(size, keff, s, b, a, o)
            if n < 1:
                raise self.fail(
                    f"padding {pad.describe()} crops the whole output "
                    f"(full size {transposed_out(size, keff, s, 0, 0, o)})",
                    help="use less padding", param="padding",
                )
            out.append(n)
        self.out_shape = (self.p["out_channels"], *out)
        return self.out_shape

    def _slow_columns(self, batch, for_input):
        """slow_conv_transpose2d's backward (torch 2.14, measured for ConvTranspose2d(16, 8,
        2, stride=2) on 16x8x8): columns of the output's gradient, C_out/groups·prod(k) x
        the input's positions, for either gradient; none for a 1x1 kernel at stride 1."""
        if numel(self.kernel) == 1 and max(self.stride) == 1:
            return ()
        o, g = self.out_shape[0], self.p["groups"]
        return (Saved("columns", (o // g * numel(self.kernel), numel(self.in_shape[1:]))),)

    def param_shapes(self):
        shapes = {"weight": (self.in_channels, self.p["out_channels"] // self.p["groups"], *self.kernel)}
        if self.p["bias"]:
            shapes["bias"] = (self.p["out_channels"],)
        return shapes

    def macs(self):
        return numel(self.in_shape) * (self.p["out_channels"] // self.p["groups"]) * numel(self.kernel)

    def landed(self) -> tuple[int, int]:
        """(products that land inside the output, output elements that receive any), all channels.

        Per axis, tap t of input i lands on output o = i s - p_b + t d; it counts when
        0 <= o < n. For each tap the inputs that land form one interval; the outputs
        reached are, per residue class mod s, the union of those intervals. Both are
        counted without a loop over the output (so any size is exact and fast); the
        axes are independent, so the counts multiply.
        """
        products, reached = 1, 1
        for size, n, s, (b, _), k, d in zip(self.sizes, self.out_shape[1:], self.stride,
                                            self.pads, self.kernel, self.dilation):
            axis_products, spans = 0, {}
            for t in range(k):
                offset = t * d - b  # o = i s + offset
                first = max(0, -(offset // s))  # the first input i with i s + offset >= 0
                last = min(size - 1, (n - 1 - offset) // s)
                if last < first:
                    continue
                axis_products += last - first + 1
                spans.setdefault(offset % s, []).append((first * s + offset, last * s + offset))
            covered = 0
            for intervals in spans.values():  # same residue: merge, then count every s-th
                intervals.sort()
                lo, hi = intervals[0]
                for a, z in intervals[1:]:
                    if a > hi + s:
                        covered += (hi - lo) // s + 1
                        lo, hi = a, z
                    else:
                        hi = max(hi, z)
                covered += (hi - lo) // s + 1
            products *= axis_products
            reached *= covered
        cout, group_in = self.p["out_channels"], self.in_channels // self.p["groups"]
        return cout * group_in * products, cout * reached

    def flops(self):
        # every product is a multiplication (counted on the input grid, like the MACs);
        # an output that receives c products adds them with c - 1 additions, + 1 for the bias
        products, reached = self.landed()
        bias = numel(self.out_shape) if self.p["bias"] else 0
        return self.macs() + products - reached + bias

    def windows(self):
        mode = self.p["padding"].mode
        return tuple(Window(size, k, d, s, b, a, o, transposed=True, output_padding=op,
                            padding_mode=mode)
                     for size, k, d, s, (b, a), o, op in
                     zip(self.sizes, self.kernel, self.dilation, self.stride, self.pads,
                         self.out_shape[1:], self.p["output_padding"]))

    def erf_taps(self, axis, k=0):
        """The uniform protocol: every weight 1 / (C_in/groups * prod(k)) (issue 22), so each
        (output, tap) pair that exists weighs 1 / k on its axis, however many of the kernel's
        taps reach a given output unit."""
        rows = super().erf_taps(axis, k)
        if rows is None:
            return None
        return [[(j, 1.0 / self.kernel[axis]) for j, _ in row] for row in rows]

    def unit_maps(self) -> list[UnitMap | None]:
        return [
            transposed_map(s, b, k, d)
            for s, (b, _), k, d in zip(self.stride, self.pads, self.kernel, self.dilation)
        ]

    def explain(self):
        cin, g, k = self.in_channels, self.p["groups"], self.p["out_channels"]
        taps = "·".join(map(str, self.kernel))
        steps = []
        for w, s, f, (b, a), op in zip(self.sizes, self.stride, self.keff, self.pads,
                                       self.p["output_padding"]):
            crop = f"2·{b}" if a == b else f"{b} + {a}"
            step = Step.calc("output_shape", "O = (W - 1)·S - 2P + F + output_padding  "
                             "[transposed conv; Dumoulin and Visin relationship 14]",
                             f"({w} - 1)·{s} - {crop} + {f} + {op}")
            if step not in steps:  # the same numbers on every axis: said once
                steps.append(step)
        f = taps_symbol(self.ndim)
        steps.append(Step.calc("params", f"{f}·C_in·K/groups" + (" + K (bias)" if self.p["bias"] else ""),
                               f"{taps}·{cin}·{k}" + (f"/{g}" if g > 1 else "")
                               + (f" + {k}" if self.p["bias"] else "")))
        ins = "·".join(map(str, self.sizes))
        steps.append(Step.calc("macs", f"inputs · {f}·K/groups  (on the input grid)",
                               f"{ins}·{cin} · {taps}·{k}" + (f"/{g}" if g > 1 else "")))
        products, reached = self.landed()
        bias = numel(self.out_shape) if self.p["bias"] else 0
        steps.append(Step.calc("flops", "MACs + (landed products - reached outputs) + bias",
                               f"{self.macs()} + ({products} - {reached}) + {bias}"))
        return steps

    def workspace(self):
        # the columns (every input element times every tap) and the uncropped output
        cols = self.p["out_channels"] * numel(self.kernel) * numel(self.sizes)
        return cols + self.p["out_channels"] * numel(self._full(self.sizes))

    def probe_values(self, axis, values, shapes):
        return values  # 'same' crops k_eff - s whatever the size: it stays a mode

    def _full(self, sizes) -> tuple[int, ...]:
        """The executor's uncropped output for input ``sizes``: every input position writes
        its kernel at i*s, so (L - 1) s + its span (+ output_padding) positions per axis."""
        return tuple((size - 1) * s + span + op for size, s, span, op in
                     zip(sizes, self.stride, K.extent(self.kernel, self.dilation),
                         self.p["output_padding"]))

    def _crop(self, sizes, full):
        """``padding`` crops before and after the full output (the executor's crop:
        cnncalc.core.kernels.transposed_crop)."""
        crop = K.transposed_crop(self.p.get("padding"), sizes, full, self.stride)
        return (slice(None), slice(None),
                *(slice(b, f - a) for (b, a), f in zip(crop, full)))

    def _rows(self, x, groups):
        """(N, C, *in) -> (G, N * prod(in), C/G)"""
        n, nd = x.shape[0], self.ndim
        y = x.reshape(n, groups, -1, *x.shape[2:])
        return y.transpose(1, 0, *range(3, 3 + nd), 2).reshape(groups, -1, y.shape[2])

    def _tensors(self, x, w):
        g, o = self.p["groups"], self.p["out_channels"]
        weight = w.take("weight", (x.shape[1], o // g, *self.kernel))
        return weight, (w.take("bias", (o,)) if self.p["bias"] else None)

    def forward(self, xs, w, ctx):
        x = xs[0]
        n, c, nd, sizes = x.shape[0], x.shape[1], self.ndim, x.shape[2:]
        g, o = self.p["groups"], self.p["out_channels"]
        weight, bias = self._tensors(x, w)
        wr = weight.reshape(g, c // g, -1)  # (G, C/G, O/G * K)
        cols = ctx.mm(self._rows(x, g), wr)  # every input element meets every tap once: the MACs
        cols = cols.reshape(g, n, *sizes, o // g, *self.kernel)
        order = (1, 0, 2 + nd, *range(2, 2 + nd), *range(3 + nd, 3 + 2 * nd))
        taps = cols.transpose(order).reshape(n, o, *sizes, *self.kernel)
        full = self._full(sizes)
        y = K.scatter_windows(taps, (n, o, *full), self.stride, self.dilation)[self._crop(sizes, full)]
        if bias is not None:
            y = y + bias.reshape(1, o, *(1,) * nd)
        return y

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        n, c, nd, sizes = x.shape[0], x.shape[1], self.ndim, x.shape[2:]
        groups, o = self.p["groups"], self.p["out_channels"]
        weight, bias = self._tensors(x, w)
        full = np.zeros((n, o, *self._full(sizes)), dtype=g.dtype)
        full[self._crop(sizes, full.shape[2:])] = g
        win = K.windows(full, self.kernel, self.stride, self.dilation, sizes)
        win = win.reshape(n, groups, o // groups, *win.shape[2:])
        order = (1, 0, *range(3, 3 + nd), 2, *range(3 + nd, 3 + 2 * nd))
        gcols = win.transpose(order).reshape(groups, n * numel(sizes), -1)  # (G, M, O/G*K)
        wr = weight.reshape(groups, c // groups, -1)
        dx = np.matmul(gcols, wr.transpose(0, 2, 1))  # (G, M, C/G)
        dx = dx.reshape(groups, n, *sizes, c // groups)
        dx = dx.transpose(1, 0, 2 + nd, *range(2, 2 + nd)).reshape(n, c, *sizes)
        gw = np.matmul(self._rows(x, groups).transpose(0, 2, 1), gcols)  # (G, C/G, O/G*K)
        grads = {"weight": gw.reshape(weight.shape)}
        if bias is not None:
            grads["bias"] = g.sum(axis=(0, *range(2, 2 + nd)))
        return [dx], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ("ConvTranspose",)

    @classmethod
    def from_onnx(cls, v):
        """ConvTranspose (weight (C, M/group, *k)); ``output_shape`` and SAME_* become the
        padding cropped: total = s (L - 1) + output_padding + d (k - 1) + 1 - out (ONNX's
        ConvTranspose formula), SAME_UPPER putting the odd pixel after."""
        a, x = v.attrs, v.x
        w = v.dims(1)
        group = int(a.get("group", 1))
        kernel = a.get("kernel_shape", list(w[2:]))
        nd = len(kernel)
        strides = a.get("strides", [1] * nd)
        dilations = a.get("dilations", [1] * nd)
        out_pad = a.get("output_padding", [0] * nd)
        auto = a.get("auto_pad", "NOTSET")
        if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
            target = a.get("output_shape", [L * s for L, s in zip(x.shape[1:], strides)])[-nd:]
            pairs = []
            for L, k, s, d, op, o in zip(x.shape[1:], kernel, strides, dilations, out_pad, target):
                total = s * (L - 1) + op + d * (k - 1) + 1 - o
                if total < 0:
                    raise v.fail(f"output_shape {list(target)} is larger than the transposed "
                                 "convolution can give")
                if auto == "SAME_UPPER":
                    pairs.append((total // 2, total - total // 2))
                else:
                    pairs.append((total - total // 2, total // 2))
            pad = onnx_pairs(pairs)
        elif auto == "VALID":
            pad = 0
        else:
            pads = a.get("pads", [0] * (2 * nd))
            pad = onnx_pairs(zip(pads[:nd], pads[nd:]))
        return {"out_channels": int(w[1]) * group, "kernel_size": onnx_axes(kernel),
                "stride": None if set(strides) == {1} else onnx_axes(strides),
                "padding": None if pad == 0 else pad,
                "output_padding": None if set(out_pad) == {0} else onnx_axes(out_pad),
                "dilation": None if set(dilations) == {1} else onnx_axes(dilations),
                "groups": None if group == 1 else group, "bias": None if v.has(2) else False}

    def to_onnx(self, f, call):
        """ConvTranspose; ``pads`` are the pixels cropped from the full output."""
        w = f.windows
        inputs = [call.ins[0], call.weight("weight")]
        if self.p["bias"]:
            inputs.append(call.weight("bias"))
        return [call.node("ConvTranspose", inputs, kernel_shape=[x.kernel for x in w],
                          strides=[x.stride for x in w], dilations=[x.dilation for x in w],
                          pads=onnx_pads([(x.pad_before, x.pad_after) for x in w]),
                          group=int(self.p["groups"]),
                          output_padding=list(self.p["output_padding"]))]

    def to_torch(self, f, call):
        """nn.ConvTranspose{d}d (symmetric padding only: PyTorch's takes one per axis)."""
        w = f.windows
        pad = symmetric([(x.pad_before, x.pad_after) for x in w])
        if pad is None:
            raise SpecError(f"layer '{call.name}': PyTorch's ConvTranspose has no asymmetric padding",
                            kind="export")
        ctor = (f"nn.ConvTranspose{self.ndim}d({torch_args(f.in_shapes[0][0], self.p['out_channels'])}, "
                f"{torch_args(kernel_size=ax(x.kernel for x in w), stride=ax(x.stride for x in w), padding=pad, output_padding=ax(self.p['output_padding']), groups=self.p['groups'], bias=self.p['bias'], dilation=ax(x.dilation for x in w))})")
        return TorchCode(f"{call.module}({call.ins[0]})", ctor)

    def aten_ops(self, form=""):
        # out_grid_macs: every tap of the weight at every output position (thop, torchinfo)
        grid = numel(self.param_shapes()["weight"]) * numel(self.out_shape[1:])
        conv_grid = math.prod((size + 2 * b - keff) // s + 1 for size, keff, s, (b, _)
                              in zip(self.sizes, self.keff, self.stride, self.pads))
        return [self.torch_op("convolution", form, macs=self.macs(), out_grid_macs=grid,
                              groups=self.p["groups"], conv_grid=conv_grid,
                              category="transposed convolution")]
