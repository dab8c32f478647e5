"""``cnncalc solve batch --check``: the batch boundary of a budget confirmed by allocation.

What this can confirm, and what not: the NumPy executor is not PyTorch. Its peak
(tracemalloc) follows the executor's own policy (docs/executor.md, "Memory": every
output kept in training, im2col columns, its backward temporaries), not the footprint
that ``solve batch`` reports for PyTorch. So the check applies the same closed-form
solve, fixed + batch × per-sample from the policy's estimates at batches 1 and 2, to the
executor's policy, and then runs the executor at the batch found and at the next one
under tracemalloc: the first must measure within the budget and the second above it.
That confirms the method (a footprint linear in the batch, solved rather than searched)
on real allocations; the PyTorch figures themselves are confirmed only by the analyzer's
own tests (tests/test_memory.py, tests/test_capacity.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncalc.core.errors import SpecError
from cnncalc.core.graph import Network
from cnncalc.measure.memory import executor_estimate, measure

MAX_CHECK_BUDGET = 256 * 1024 ** 2  # the check allocates batch + 1 samples on this machine


@dataclass(frozen=True)
class BatchCheck:
    """The executor at the boundary of ``budget`` bytes.

    ``fixed`` + b × ``per_sample``: the executor policy's estimate (bytes); ``batch``: the
    largest b whose estimate fits; ``measured``/``estimated``: tracemalloc's peak and the
    policy's estimate at ``batch`` and ``batch + 1``.
    """

    what: str
    budget: int
    fixed: int
    per_sample: int
    batch: int
    estimated: tuple[int, int]
    measured: tuple[int, int]

    @property
    def confirmed(self) -> bool:
        """The batch found measures within the budget and the next one above it."""
        return self.measured[0] <= self.budget < self.measured[1]

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "policy": "the NumPy executor's (docs/executor.md, Memory)",
                "budget_bytes": self.budget, "fixed_bytes": self.fixed,
                "per_sample_bytes": self.per_sample, "batch": self.batch,
                "estimated_bytes": list(self.estimated), "measured_bytes": list(self.measured),
                "confirmed": self.confirmed}


def check_batch(net: Network, budget: int, train: bool, seed: int = 0) -> BatchCheck:
    """Solve the executor's own policy for ``budget`` and measure the executor at the batch
    found and the next (the module says what this confirms).

    Raises:
        SpecError: a budget above MAX_CHECK_BUDGET, or one the executor cannot fit a
            single sample into.
    """
    if budget > MAX_CHECK_BUDGET:
        raise SpecError(f"--check runs the NumPy executor at the batch found and the next, on "
                        f"this machine; a budget of {budget:,} bytes is too large for that",
                        kind="usage", help="check on a small budget, e.g. --memory 16MiB "
                                           f"(at most {MAX_CHECK_BUDGET // 1024 ** 2} MiB)")
    one, two = executor_estimate(net, train, 1), executor_estimate(net, train, 2)
    per = two - one
    fixed = one - per
    batch = max((budget - fixed) // per, 0)
    # the executor's training policy holds parameter gradients inside its backward peak, so
    # it can bend slightly: settle the boundary on the policy itself
    while batch > 0 and executor_estimate(net, train, batch) > budget:
        batch -= 1
    while executor_estimate(net, train, batch + 1) <= budget:
        batch += 1
    if batch == 0:
        raise SpecError(f"under the executor's policy one sample needs "
                        f"{executor_estimate(net, train, 1):,} bytes, over the budget of "
                        f"{budget:,}", kind="usage", help="give --check a larger budget")
    at = measure(net, train, seed, batch)
    nxt = measure(net, train, seed, batch + 1)
    return BatchCheck("training" if train else "inference", budget, fixed, per, batch,
                      (at.estimated_bytes, nxt.estimated_bytes), (at.measured_bytes, nxt.measured_bytes))
