"""cnncalc: exact per-layer arithmetic of convolutional networks written as YAML.

    import cnncalc
    net = cnncalc.load("specs/vgg16.yaml")   # parse + validate; raises cnncalc.SpecError
    report = cnncalc.analyze(net)            # per-layer results
    report.to_dict()                         # the JSON report (docs/report.md)
"""

from .analyze import LayerResult, Report, Totals, analyze
from .errors import SpecError
from .graph import Network, Node
from .spec import load, loads

__version__ = "0.1.0"

__all__ = [
    "LayerResult",
    "Network",
    "Node",
    "Report",
    "SpecError",
    "Totals",
    "analyze",
    "load",
    "loads",
]
