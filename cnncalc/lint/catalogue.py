"""The rule catalogue: every rule module of cnncalc/lint/rules/, in the order of docs/rules.md.

Adding a rule: write cnncalc/lint/rules/ccNNN_<name>.py (its RULE and its ``check``), list
it below, add its fixtures tests/data/lint/CCNNN/bad.yaml (it fires, and only it) and
good.yaml (it does not), and regenerate docs/rules.md
(``cnncalc.lint.render.rules_markdown``; tests/test_lint.py checks it). ``cnncalc rule
CODE`` and docs/rules.md are made from this catalogue.
"""


from __future__ import annotations

from cnncalc.lint.base import UNREADABLE, Rule
from cnncalc.lint.rules import (
    cc001_expectation_failed,
    cc101_window_does_not_tile,
    cc102_kernel_larger_than_input,
    cc103_stride_larger_than_kernel,
    cc104_even_kernel_same,
    cc105_ceil_window_dropped,
    cc106_transposed_does_not_invert,
    cc107_misaligned_merge,
    cc108_receptive_field_does_not_cover,
    cc109_receptive_field_far_larger,
    cc110_linear_on_spatial,
    cc111_unused_output,
    cc112_data_dependent_receptive_field,
)

MODULES = (
    cc001_expectation_failed,
    cc101_window_does_not_tile,
    cc102_kernel_larger_than_input,
    cc103_stride_larger_than_kernel,
    cc104_even_kernel_same,
    cc105_ceil_window_dropped,
    cc106_transposed_does_not_invert,
    cc107_misaligned_merge,
    cc108_receptive_field_does_not_cover,
    cc109_receptive_field_far_larger,
    cc110_linear_on_spatial,
    cc111_unused_output,
    cc112_data_dependent_receptive_field,
)

# code -> rule, in the order of the catalogue (docs/rules.md)
RULES: dict[str, Rule] = {m.RULE.code: m.RULE for m in MODULES}


def rule_of(code: str) -> Rule:
    """The catalogue entry of a code, CC000 (unreadable) included.

    Raises:
        KeyError: no such rule.
    """
    return UNREADABLE if code == UNREADABLE.code else RULES[code]
