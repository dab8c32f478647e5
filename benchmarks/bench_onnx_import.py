"""Wall time of reading an ONNX model, interpreter start included (issue 13).

Target: importing a 100-layer ONNX model takes under 1 s including start-up.

    python benchmarks/bench_onnx_import.py [--repeat 5] [--layers 100]

Builds a chain of conv / batch-norm / relu layers (64 channels at 56x56, weights
stored as external data that is then deleted, as in a stripped export) and a copy
with ResNet-18's stored graph if tests/data/onnx/ holds it, then prints, per model,
the best and median wall time of `cnncalc analyze MODEL -f json` and of
`cnncalc import MODEL` (subprocesses), the same for the imported YAML spec (the
machine's baseline at that moment: the machine may be shared), and the in-process
time of load + analyze.
With ``--chain 20000`` it measures instead whether reading ONNX is linear in the
number of nodes (issue 21): the in-process load + analyze of a chain of that many
nodes against the same chain written as YAML (the flat spec the import generates),
alternating the two, best of ``--repeat``; the target is a ratio under 2.

Needs the onnx extra: pip install 'cnncalc[onnx]'.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def chain_model(n_layers: int, path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, x = [], [], "x"
    for i in range(n_layers):
        y = f"t{i}"
        kind = i % 3
        if kind == 0:
            w = f"conv{i}.weight"
            inits.append(numpy_helper.from_array(np.zeros((64, 64, 3, 3), np.float32), w))
            nodes.append(helper.make_node("Conv", [x, w], [y], name=f"/stage/conv{i}/Conv",
                                          kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        elif kind == 1:
            names = [f"bn{i}.{k}" for k in ("weight", "bias", "running_mean", "running_var")]
            inits += [numpy_helper.from_array(np.ones(64, np.float32), n) for n in names]
            nodes.append(helper.make_node("BatchNormalization", [x, *names], [y], name=f"/stage/bn{i}/BN"))
        else:
            nodes.append(helper.make_node("Relu", [x], [y], name=f"/stage/relu{i}/Relu"))
        x = y
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 56, 56])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 64, 56, 56])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data",
              size_threshold=1024)
    (path.parent / (path.name + ".data")).unlink()


def wall(args: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnncalc", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def chain_ratio(nodes: int, repeat: int) -> None:
    """Best in-process load + analyze of an ONNX chain of ``nodes`` nodes and of the same
    chain as a YAML spec, alternated so that a shared machine's load falls on both."""
    import cnncalc
    from cnncalc.io.onnx_io import import_model
    from cnncalc.io.onnx_proto import read_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.onnx"
        chain_model(nodes, path)
        spec = Path(tmp) / "chain.yaml"
        spec.write_text(import_model(read_model(path), str(path)).text)
        times: dict[str, list[float]] = {"onnx": [], "yaml": []}
        for _ in range(repeat):
            for kind, file in (("onnx", path), ("yaml", spec)):
                start = time.perf_counter()
                cnncalc.analyze(cnncalc.load(file))
                times[kind].append(time.perf_counter() - start)
        o, y = min(times["onnx"]), min(times["yaml"])
        print(f"chain of {nodes} nodes: ONNX load + analyze {o:.2f} s best, YAML {y:.2f} s best: "
              f"ratio {o / y:.2f} (target under 2)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--chain", type=int, default=0, help="measure linearity on a chain of N nodes")
    args = parser.parse_args()
    if args.chain:
        chain_ratio(args.chain, args.repeat)
        return
    import cnncalc

    with tempfile.TemporaryDirectory() as tmp:
        chain = Path(tmp) / "chain.onnx"
        chain_model(args.layers, chain)
        models = [(f"chain of {args.layers}", chain)]
        r18 = ROOT / "tests" / "data" / "onnx" / "resnet18.torchscript.onnx"
        if r18.exists():
            models.append(("resnet18 (TorchScript export)", r18))
        for label, path in models:
            layers = len(cnncalc.load(path).nodes)
            start = time.perf_counter()
            cnncalc.analyze(cnncalc.load(path))
            inproc = time.perf_counter() - start
            from cnncalc.io.onnx_io import import_file

            spec = Path(tmp) / "imported.yaml"
            spec.write_text(import_file(path)[0])
            a = wall(["analyze", str(path), "-f", "json"], args.repeat)
            i = wall(["import", str(path)], args.repeat)
            y = wall(["analyze", str(spec), "-f", "json"], args.repeat)
            print(f"{label}: {layers} layers; analyze {min(a):.3f} s best, {statistics.median(a):.3f} s "
                  f"median; import {min(i):.3f} s best, {statistics.median(i):.3f} s median; "
                  f"the same network as YAML: analyze {min(y):.3f} s best; load + analyze in "
                  f"process {inproc * 1000:.1f} ms (target: under 1 s with start-up)")


if __name__ == "__main__":
    main()
