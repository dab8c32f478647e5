"""No ``${...}`` expression within the limits raises anything but a located SpecError
(issue 21, item 2): deep nesting, long unary chains and every operator of the grammar.

The evaluator walks the tree with an explicit stack, so depth costs no Python frames: the
tests evaluate with only a few dozen frames of headroom left, where a recursive evaluator
would raise RecursionError.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import SpecError
from cnncalc.core.errors import Loc
from cnncalc.core.expr import MAX_DIGITS, evaluate

ROOT = Path(__file__).resolve().parents[1]
LOC = Loc(7, 9)
ENV = {"w": 8, "x": 3, "h": 0.5, "t": True, "name": "conv1"}
LIMIT = 1000  # characters (docs/limits.md)

BINARY = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", " and ", " or ",
          # outside the grammar: each must be refused with a location, never crash
          "@", "<<", ">>", "&", "|", "^", " in ", " is ", " not in "]
UNARY = ["-", "+", "not ", "~"]
CALLS = ["min", "max", "floor", "ceil", "abs", "round", "int", "pow"]
ATOMS = st.one_of(
    st.integers(-10 ** 120, 10 ** 120).map(str),
    st.integers(0, 20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["w", "x", "h", "t", "name", "y", "True", "False", "1e999", "0", "0.0", "'s'",
                     "w.real", "[w]", "{w}", "w[0]", "lambda: 1", "None", "...", "1_000"]),
)


def expressions() -> st.SearchStrategy[str]:
    """Texts of the grammar (and around it): atoms, unary chains, binary and comparison chains,
    parentheses, calls."""
    def extend(inner):
        return st.one_of(
            st.tuples(st.sampled_from(UNARY), st.integers(1, 40), inner).map(
                lambda t: t[0] * t[1] + t[2]),
            st.tuples(inner, st.sampled_from(BINARY), inner).map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
            inner.map(lambda e: f"({e})"),
            st.tuples(st.sampled_from(CALLS), st.lists(inner, min_size=0, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"),
        )
    return st.recursive(ATOMS, extend, max_leaves=40)


def near_the_recursion_limit(function, headroom: int = 40):
    """Call ``function`` with only ``headroom`` Python frames left before RecursionError."""
    def descend(depth: int):
        if depth <= 0:
            return function()
        return descend(depth - 1)
    frames = 0
    frame = sys._getframe()
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    return descend(sys.getrecursionlimit() - frames - headroom)


def outcome(text: str):
    """The value, or the SpecError; anything else propagates and fails the test."""
    try:
        return near_the_recursion_limit(lambda: evaluate(text, ENV, LOC))
    except SpecError as exc:
        assert exc.loc == LOC, exc.format()
        assert "Traceback" not in exc.format()
        return exc


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(expressions())
def test_no_expression_raises_anything_but_a_located_error(text):
    result = outcome(text[:LIMIT])
    assert isinstance(result, (SpecError, bool, int, float, str)), repr(result)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(UNARY), st.integers(1, LIMIT - 1), st.sampled_from(["w", "1", "(w)", "h"]))
def test_long_unary_chains(op, count, atom):
    text = (op * count + atom)[:LIMIT]
    result = outcome(text)
    if op == "-" and atom in ("w", "(w)") and len(text) == count * len(op) + len(atom):
        assert result == (8 if count % 2 == 0 else -8)  # each minus flips the sign


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(BINARY), st.integers(1, 499))
def test_long_binary_chains(op, count):
    text = ("1" + (op + "1") * count)[:LIMIT]
    result = outcome(text)
    if op == "+" and len(text) == 1 + 2 * count:
        assert result == count + 1


def test_the_issue_case_490_minus_signs_through_the_loader():
    # issue 21: "${" + 490 unary minus signs + "w}" gave RecursionError and exit 3
    text = ('input: [3, 8, 8]\nblocks:\n  b:\n    args: {w: 8}\n    layers:\n'
            '      - conv: {out_channels: "${' + "-" * 490 + 'w}", kernel_size: 1}\nlayers:\n  - b\n')
    net = near_the_recursion_limit(lambda: cnncalc.loads(text, "net.yaml"), headroom=200)
    assert net.node(net.outputs[0]).facts.out_shape[0] == 8  # 490 signs: an even count, +8


def test_deepest_parentheses_are_a_located_error():
    # CPython's parser refuses more than 200 nested parentheses with a SyntaxError
    result = outcome("(" * 300 + "w" + ")" * 300)
    assert isinstance(result, SpecError) and "invalid expression" in result.message


def test_every_operator_of_the_grammar():
    # the values Python's own arithmetic gives, with / exact (docs/spec-format.md)
    cases = {"w + x": 11, "w - x": 5, "w * x": 24, "w / 2": 4, "w // x": 2, "w % x": 2, "w ** 2": 64,
             "x / 2": 1.5, "w / 3 * 3": 8, "-w": -8, "+w": 8, "not t": False, "w == 8": True,
             "w != 8": False, "x < w": True, "x <= 3": True, "w > x > 1": True, "w >= 9": False,
             "t and w > 1": True, "not t or x == 3": True, "min(w, x)": 3, "max(w, x, 10)": 10,
             "floor(w / 3)": 2, "ceil(w / 3)": 3, "floor(h)": 0, "ceil(-h)": 0, "2 ** -1": 0.5}
    for text, value in cases.items():
        got = evaluate(text, ENV, LOC)
        assert got == value and type(got) is type(value), (text, got)


def test_division_is_exact_and_never_a_rounded_float():
    # spec-format.md: "/ is exact"; 8 / 3 is no number a spec could write, so it is refused
    # (at the expression's location) instead of becoming 2.6666666666666665
    err = outcome("w / 3")
    assert isinstance(err, SpecError)
    assert err.message == "in ${w / 3}: the result is 8/3, which is neither a whole number nor a decimal"
    assert "//" in err.help
    assert evaluate("w / 16", ENV, LOC) == 0.5  # a decimal the spec could write as 0.5
    assert evaluate("1 / 10", ENV, LOC) == 0.1 and Fraction(repr(0.1)) == Fraction(1, 10)


def test_the_digit_bound_holds_without_int_to_text_conversion():
    # 10**100 - 1 is 100 nines; its 64th power has 6,400 digits, past Python's 4,300-digit limit
    # for str(int): the bound is compared, never converted, so the error is the documented one
    err = outcome("9" * 100 + " ** 64")
    assert isinstance(err, SpecError) and err.message.endswith(f"more than {MAX_DIGITS} digits")
    assert evaluate("9" * 100, ENV, LOC) == 10 ** 100 - 1  # 100 digits: within the bound


def test_a_5000_digit_integer_names_the_limit_without_pythons_advice(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out_channels: " + "1" * 5000 + ", kernel_size: 1}\n")
    done = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", str(spec)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    # 4,300: Python's limit for text-to-int conversion (sys.get_int_max_str_digits())
    assert f"{spec}:3:26: error[limit]: this number has 5,000 digits; the limit is 4,300" in done.stderr
    assert "set_int_max_str_digits" not in done.stderr


def test_lint_goes_on_after_the_deep_expression(tmp_path):
    (tmp_path / "deep.yaml").write_text(
        'input: [3, 8, 8]\nblocks:\n  b:\n    args: {w: 8}\n    layers:\n'
        '      - conv: {out_channels: "${' + "-" * 490 + 'w / 3}", kernel_size: 1}\nlayers:\n  - b\n')
    (tmp_path / "lenet5.yaml").write_text((ROOT / "specs" / "lenet5.yaml").read_text())
    done = subprocess.run([sys.executable, "-m", "cnncalc", "lint", ".", "--format", "json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "internal error" not in done.stderr
    assert "neither a whole number nor a decimal" in done.stdout  # deep.yaml: CC000, located
    assert done.stderr.splitlines()[-1].startswith("2 spec(s)")
