"""Shared helpers: build a network from inline YAML and analyse it."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

# The suite runs in parallel, one worker a core (pytest-xdist, `-n auto` in pyproject.toml):
# a BLAS thread pool in each worker would only contend for the same cores (on CI's two
# cores: 88 s with it, 74 s without). Set before NumPy loads its BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

import cnncalc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def report_of(text: str, **kwargs) -> cnncalc.Report:
    return cnncalc.analyze(cnncalc.loads(text, "test.yaml", **kwargs))


def error_of(text: str | bytes, file: str = "net.yaml") -> cnncalc.SpecError:
    """The SpecError that loading and analysing ``text`` raises (the test fails if none)."""
    with pytest.raises(cnncalc.SpecError) as info:
        cnncalc.analyze(cnncalc.loads(text, file))
    return info.value


def one_layer(input_shape, layer: str, **kwargs):
    """Analyse a net of one layer (written as YAML flow text) and return its row."""
    rep = report_of(f"input: {list(input_shape)}\nlayers:\n  - {layer}\n", **kwargs)
    return rep.layers[-1]


def rf(row):
    """(size, stride, center) per axis of a row, as plain tuples."""
    r = row.receptive_field
    return r.size, r.stride, r.center


@pytest.fixture
def F():
    return Fraction


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/* from the current output instead of comparing")


@pytest.fixture
def golden(request):
    """Compare text with tests/golden/NAME; with --update-golden, write it instead."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = ROOT / "tests" / "golden" / name
        if update:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"no golden file {path}; run pytest --update-golden"
        assert text == path.read_text(encoding="utf-8")

    return check


@pytest.fixture(scope="session")
def torchvision():
    """torchvision, imported as `cnncalc --torch` imports it: when its compiled extension was
    built for another torch ("operator torchvision::nms does not exist"), the two op schemas
    it registers fake kernels for are defined first (cnncalc.io.torch_import.torchvision_ops_shim,
    docs/torch.md). Skips, saying why, without torch or torchvision."""
    pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install 'cnncalc[torch]'); "
                                        ".ci/run installs the CPU build")
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed (.ci/run: pip install --no-deps torchvision==0.28.0)")
    from cnncalc.io.torch_import import import_torchvision

    import_torchvision()
    import torchvision as tv

    return tv
