"""cnncalc: exact per-layer arithmetic of convolutional networks written as YAML.

    import cnncalc
    net = cnncalc.load("specs/vgg16.yaml")   # parse + validate; raises cnncalc.SpecError
    report = cnncalc.analyze(net)            # per-layer results
    report.to_dict()                         # the JSON report (docs/report.md)
    out = cnncalc.run(net, x)                # NumPy forward: node name -> array (docs/executor.md)
    cnncalc.verify(net).ok                   # measured figures equal the analysed ones
    net = cnncalc.from_torch(module, (3, 224, 224))  # a torch.nn.Module (docs/torch.md)
"""

from cnncalc.analysis.analyze import LayerResult, Report, Totals, analyze
from cnncalc.core.errors import SpecError
from cnncalc.core.graph import Network, Node
from cnncalc.core.version import __version__ as __version__  # re-exported: cnncalc.__version__
from cnncalc.io.load import load, loads


def run(net, x=None, weights=None, seed=0, **kwargs):
    """Run a network forward in NumPy; see :func:`cnncalc.measure.execute.run` (imports NumPy)."""
    from cnncalc.measure.execute import run as _run

    return _run(net, x, weights, seed, **kwargs)


def from_torch(module, input_shape, **kwargs):
    """The Network of a ``torch.nn.Module`` on per-sample input ``input_shape`` (channels first,
    no batch), captured with ``torch.export`` (with ``torch.fx`` where export cannot); layer
    names are the module's (state_dict prefixes). Keywords: ``training``, ``name``, ``capture``
    (``"auto"``, ``"export"``, ``"fx"``), ``batch``, ``max_nodes``; see
    :func:`cnncalc.io.torch_import.from_torch` (imports torch; raises SpecError, kind ``torch``,
    naming the op, module path and source line of anything it cannot map)."""
    from cnncalc.io.torch_import import from_torch as _from_torch

    return _from_torch(module, input_shape, **kwargs)


def verify(net, seed=0, **kwargs):
    """Measure every layer and compare with the analysis; see :func:`cnncalc.measure.verify.verify`."""
    from cnncalc.measure.verify import verify as _verify

    return _verify(net, seed, **kwargs)

__all__ = [
    "LayerResult",
    "Network",
    "Node",
    "Report",
    "SpecError",
    "Totals",
    "analyze",
    "from_torch",
    "load",
    "loads",
    "run",
    "verify",
]
