"""PyTorch's own figures for multi-head self-attention with Swin's relative position bias
(``multihead_attention: {relative_position_bias: true}``), the reference
tests/test_attention.py checks cnncalc against. Runs with torch + torchvision and the FLOP
counters (not dependencies of cnncalc), on CPU:

    /work/scratch/cvenv/bin/python benchmarks/measure_relpos_attention.py

Writes tests/data/relpos_attention.json:

- ``torchvision``: torchvision's ShiftedWindowAttention(8, [3, 4], [0, 0], 2): the state_dict
  keys, shapes and dtypes, whether ``relative_position_index`` is a persistent buffer
  (in the state_dict) and its values (the reference for cnncalc's index).
- ``saved_bytes``: the module ``cnncalc export --to pytorch`` writes for
  ``input: [8, 3, 4]``, ``multihead_attention: {num_heads: 2, relative_position_bias: true}``
  (read from that source, not restated), in training mode, float32, batch 1 and 2: the
  tensors autograd keeps, counted by untyped storage once, parameters and buffers left
  out (as benchmarks/measure_torch_memory.py counts), with each saved tensor's shape.
- ``bot_block_saved_bytes``: the same for the module exported from specs/bot_block_relpos.yaml,
  batch 1, 2 and 3.
- ``counters``: what fvcore, ptflops (both backends), thop, torchinfo, calflops and
  FlopCounterMode print for that module at batch 1 (autograd on, as each counter calls it).
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import tempfile
import warnings
from pathlib import Path

import torch
import torchvision
from torchvision.models.swin_transformer import ShiftedWindowAttention

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import cnncalc  # noqa: E402
from cnncalc.io.torch_map import to_source  # noqa: E402

OUT = ROOT / "tests" / "data" / "relpos_attention.json"
SPEC = ("input: [8, 3, 4]\nlayers:\n"
        "  - {multihead_attention: {num_heads: 2, relative_position_bias: true}, name: mhsa}\n")


def exported(net=None):
    """The module cnncalc writes for SPEC (or for ``net``)."""
    path = Path(tempfile.mkdtemp()) / "relpos_net.py"
    path.write_text(to_source(net or cnncalc.loads(SPEC, "relpos.yaml")))
    spec = importlib.util.spec_from_file_location("relpos_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Net()


def saved(model, x):
    """Bytes of the distinct storages autograd saves (no parameter or buffer), and each
    saved tensor's shape."""
    state = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    seen: dict[int, tuple[int, list[int], str]] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in state and ptr not in seen:
            seen[ptr] = (t.untyped_storage().nbytes(), list(t.shape), str(t.dtype))
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(v[0] for v in seen.values()), sorted(seen.values(), key=lambda v: (-v[0], v[1]))


def counters(model, shape):
    import thop
    import torchinfo
    from calflops import calculate_flops
    from fvcore.nn import FlopCountAnalysis
    from ptflops import get_model_complexity_info
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, *shape)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["fvcore"] = int(FlopCountAnalysis(model.eval(), x).unsupported_ops_warnings(False).total())
        for backend in ("pytorch", "aten"):
            out[f"ptflops-{backend}"] = int(get_model_complexity_info(
                model, shape, backend=backend, as_strings=False, print_per_layer_stat=False)[0])
        out["thop"] = float(thop.profile(model, inputs=(x,), verbose=False)[0])
        out["torchinfo"] = int(torchinfo.summary(model, input_size=(1, *shape), verbose=0).total_mult_adds)
        out["calflops"] = int(calculate_flops(model, input_shape=(1, *shape), output_as_string=False,
                                              print_results=False, print_detailed=False)[0])
        model.eval()
        with FlopCounterMode(display=False) as fc:
            model(x)
        out["flop-counter"] = int(fc.get_total_flops())
    return out


def main() -> None:
    torch.manual_seed(0)
    swin = ShiftedWindowAttention(8, [3, 4], [0, 0], 2)
    state = swin.state_dict()
    reference = {
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "command": "/work/scratch/cvenv/bin/python benchmarks/measure_relpos_attention.py",
        "spec": SPEC,
        "torchvision_window": {
            "call": "ShiftedWindowAttention(8, [3, 4], [0, 0], 2)",
            "state_dict": {k: [list(v.shape), str(v.dtype)] for k, v in state.items()},
            "index_persistent": "relative_position_index" in state,
            "relative_position_index": swin.relative_position_index.tolist(),
        },
    }
    model = exported()
    reference["saved_bytes"] = {}
    for n in (1, 2):
        total, items = saved(model, torch.randn(n, 8, 3, 4))
        reference["saved_bytes"][str(n)] = {"total": total, "tensors": items}
    bot = exported(cnncalc.load(ROOT / "specs" / "bot_block_relpos.yaml"))
    reference["bot_block_saved_bytes"] = {str(n): saved(bot, torch.randn(n, 256, 14, 14))[0] for n in (1, 2, 3)}
    reference["counters"] = counters(model, (8, 3, 4))
    OUT.write_text(json.dumps(reference, indent=1) + "\n")
    print(json.dumps({k: v for k, v in reference.items() if k != "torchvision_window"}, indent=1))


if __name__ == "__main__":
    main()
