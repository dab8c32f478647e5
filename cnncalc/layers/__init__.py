"""Layer types, one class each; importing this package fills the registry."""

from . import conv, conv_extra, dense, elementwise, merge, norm, pool, resample, scale, shuffle  # noqa: F401
from .base import REGISTRY, Layer, Param

__all__ = ["REGISTRY", "Layer", "Param"]
