"""The package's version, in the lowest layer so that every layer can print it."""

__version__ = "0.1.0"
