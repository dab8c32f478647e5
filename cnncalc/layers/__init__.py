"""Layer types, one class each; importing this package fills the registry."""

from cnncalc.layers import (  # noqa: F401 (each module registers its types)
    attention,
    conv,
    conv_extra,
    dense,
    elementwise,
    merge,
    norm,
    pool,
    resample,
    scale,
    shuffle,
)
from cnncalc.layers.base import REGISTRY, Layer, Param

__all__ = ["REGISTRY", "Layer", "Param"]
