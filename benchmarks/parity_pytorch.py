"""PyTorch parity of cnncalc's 1-D shape rules (issue 11), checked by hand.

For random sizes, kernels, strides, dilations, paddings, ceil_mode and output_padding,
PyTorch's functional ops give an output length or refuse; cnncalc must give the same
length or refuse. PyTorch is not a dependency: name a Python that has it.

    python benchmarks/parity_pytorch.py --torch /tmp/torchenv/bin/python [--cases 6000]

Prints the number of cases per layer type and every disagreement (none expected).
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess

GENERATE = r'''
import json, random, sys, warnings
import torch
warnings.filterwarnings("ignore")
random.seed(1)
F = torch.nn.functional
cases = []
for _ in range(int(sys.argv[1])):
    kind = random.choice(["maxpool", "avgpool", "conv", "conv_transpose", "lppool"])
    L, k, s = random.randint(1, 12), random.randint(1, 6), random.randint(1, 5)
    d = random.randint(1, 3) if kind in ("maxpool", "conv", "conv_transpose") else 1
    p, ceil, cip, op = random.randint(0, 4), random.random() < 0.5, random.random() < 0.5, random.randint(0, 3)
    x = torch.zeros(1, 1, L)
    try:
        if kind == "maxpool":
            y = F.max_pool1d(x, k, s, p, d, ceil_mode=ceil)
        elif kind == "avgpool":
            y = F.avg_pool1d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip)
        elif kind == "lppool":
            p = 0
            y = F.lp_pool1d(x + 1, 2, k, s, ceil_mode=ceil)
        elif kind == "conv":
            y = F.conv1d(x, torch.zeros(1, 1, k), None, s, p, d)
        else:
            y = F.conv_transpose1d(x, torch.zeros(1, 1, k), None, s, p, op, 1, d)
        out = y.shape[-1] if y.shape[-1] >= 1 else None
    except Exception:
        out = None
    cases.append(dict(kind=kind, L=L, k=k, s=s, d=d, p=p, ceil=ceil, cip=cip, op=op, out=out))
json.dump(cases, sys.stdout)
'''


def layer_text(c: dict) -> str:
    ceil, cip = str(c["ceil"]).lower(), str(c["cip"]).lower()
    k, s, p, d = c["k"], c["s"], c["p"], c["d"]
    return {
        "maxpool": f"maxpool: {{kernel_size: {k}, stride: {s}, padding: {p}, dilation: {d}, ceil_mode: {ceil}}}",
        "avgpool": f"avgpool: {{kernel_size: {k}, stride: {s}, padding: {p}, ceil_mode: {ceil}, count_include_pad: {cip}}}",
        "lppool": f"lppool: {{kernel_size: {k}, stride: {s}, norm_type: 2, ceil_mode: {ceil}}}",
        "conv": f"conv: {{out_channels: 1, kernel_size: {k}, stride: {s}, padding: {p}, dilation: {d}}}",
        "conv_transpose": f"conv_transpose: {{out_channels: 1, kernel_size: {k}, stride: {s}, padding: {p}, "
                          f"dilation: {d}, output_padding: {c['op']}}}",
    }[c["kind"]]


def main() -> None:
    import cnncalc

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torch", required=True, help="a Python interpreter with torch installed")
    ap.add_argument("--cases", type=int, default=6000)
    args = ap.parse_args()
    cases = json.loads(subprocess.run([args.torch, "-c", GENERATE, str(args.cases)], check=True,
                                      capture_output=True, text=True).stdout)
    count, bad = collections.Counter(), []
    for c in cases:
        count[c["kind"]] += 1
        try:
            net = cnncalc.loads(f"input: [1, {c['L']}]\nlayers:\n  - {layer_text(c)}\n", "p.yaml")
            out = net.nodes[0].facts.out_shape[1]
        except cnncalc.SpecError:
            out = None
        if out != c["out"]:
            bad.append((c, out))
    print("cases:", dict(count))
    print(f"disagreements: {len(bad)}")
    for c, out in bad[:20]:
        print(f"  {layer_text(c)} on {c['L']}: torch {c['out']}, cnncalc {out}")


if __name__ == "__main__":
    main()
