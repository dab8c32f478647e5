"""`cnncalc verify` passes on every spec in specs/: the executor's measurements equal
the analysis for every layer of every architecture (issue 4's acceptance)."""

from __future__ import annotations

import pytest

import cnncalc
from cnncalc.measure.verify import verify
from tests.conftest import SPECS


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_verify_passes(path):
    result = verify(cnncalc.load(path))
    bad = [(r.name, r.shape, r.params, r.macs, r.note) for r in result.rows if not r.ok]
    assert not bad, bad[:3]
