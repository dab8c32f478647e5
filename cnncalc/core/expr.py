"""``${...}`` arithmetic on block arguments, evaluated safely (no eval).

Allowed: numbers, argument names, + - * / // % **, unary - + and not,
parentheses, min(...), max(...), floor(...), ceil(...), comparisons (== != < <= > >=) and and/or for
conditions (``if:``). Nothing else parses: no attribute access, no other calls,
no subscripts, no strings. ``/`` is exact (a whole result is an int); powers
are bounded so that no expression can take unbounded time or memory.
"""

from __future__ import annotations

import ast
import operator
import re
import sys
from fractions import Fraction
from typing import Any

from cnncalc.core.errors import Loc, SpecError, suggestion

MAX_EXPONENT = 64
MAX_DIGITS = 100
MAX_LENGTH = 1000  # characters inside ${...}
_FULL = re.compile(r"^\$\{([^{}]*)\}$")
_PART = re.compile(r"\$\{([^{}]*)\}")

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _number(value: Any) -> Any:
    """Exact internally: floats become Fractions of their decimal text."""
    if isinstance(value, float):
        return Fraction(repr(value))
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    return value


def _writable(value: Fraction) -> bool:
    """Whether a fraction is a number a spec could write: its float's decimal text is it exactly."""
    return Fraction(repr(float(value))) == value


_ALLOWED = ("${...} takes numbers, argument names, + - * / // % **, parentheses, min, max, "
            "floor, ceil, comparisons and and/or/not")


class _Eval:
    """Evaluates a parsed expression without recursion: an explicit stack visits the tree in
    post-order, so a chain of 990 unary minus signs or 499 additions costs no Python frames."""

    def __init__(self, env: dict[str, Any], text: str, loc: Loc) -> None:
        self.env, self.text, self.loc = env, text, loc

    def fail(self, why: str, help: str | None = None) -> SpecError:
        return SpecError(f"in ${{{self.text}}}: {why}", self.loc, kind="value", help=help)

    def __call__(self, root: ast.AST) -> Any:
        values: dict[int, Any] = {}
        stack: list[tuple[ast.AST, list | None]] = [(root, None)]
        while stack:
            node, kids = stack.pop()
            if kids is None:
                kids = self.children(node)
                stack.append((node, kids))
                stack.extend((kid, None) for kid in reversed(kids))
            else:
                values[id(node)] = self.apply(node, [values.pop(id(kid)) for kid in kids])
        return values[id(root)]

    def children(self, node: ast.AST) -> list:
        """The operands ``node`` needs, or a located error for anything not on the whitelist."""
        if isinstance(node, ast.Expression):
            return [node.body]
        if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            return []
        if isinstance(node, ast.Name):
            return []
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            return [node.operand]
        if isinstance(node, ast.BinOp) and (isinstance(node.op, (ast.Div, ast.Pow)) or type(node.op) in _BINOPS):
            return [node.left, node.right]
        if isinstance(node, ast.BoolOp):
            return list(node.values)
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            return [node.left, *node.comparators]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords and (
                (node.func.id in ("min", "max") and node.args)
                or (node.func.id in ("floor", "ceil") and len(node.args) == 1)):
            return list(node.args)
        source = ast.get_source_segment(self.text.strip(), node) or type(node).__name__
        raise self.fail(f"'{source}' is not allowed", help=_ALLOWED)

    def apply(self, node: ast.AST, args: list) -> Any:
        """The value of ``node`` from its operands' values (in the order of :meth:`children`)."""
        if isinstance(node, ast.Expression):
            return args[0]
        if isinstance(node, ast.Constant):
            return self.finite(node.value)
        if isinstance(node, ast.Name):
            if node.id not in self.env:
                raise self.fail(f"'{node.id}' is not an argument of this block",
                                help=suggestion(node.id, self.env, "arguments") if self.env
                                else "this block has no arguments")
            value = self.env[node.id]
            if isinstance(value, (bool, int, float)):
                return self.finite(value)
            raise self.fail(f"argument '{node.id}' is not a number ({type(value).__name__})")
        if isinstance(node, ast.UnaryOp):
            value = args[0]
            if isinstance(node.op, ast.Not):
                return not value
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BinOp):
            left, right = args
            try:
                if isinstance(node.op, ast.Pow):
                    return self.power(left, right)
                result = Fraction(left) / Fraction(right) if isinstance(node.op, ast.Div) \
                    else _BINOPS[type(node.op)](left, right)
            except ZeroDivisionError:
                raise self.fail("division by zero") from None
            self.bound(result)
            return result
        if isinstance(node, ast.BoolOp):
            return all(args) if isinstance(node.op, ast.And) else any(args)
        if isinstance(node, ast.Compare):
            return all(_COMPARE[type(op)](a, b) for op, a, b in zip(node.ops, args, args[1:]))
        name = node.func.id  # a call: children() let only min, max, floor and ceil through
        if name in ("min", "max"):
            return min(args) if name == "min" else max(args)
        value = Fraction(args[0])
        return value.numerator // value.denominator if name == "floor" \
            else -(-value.numerator // value.denominator)

    def finite(self, value: Any) -> Any:
        """A literal or an argument as an exact number, within the digit bound."""
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise self.fail(f"{value} is not a finite number")
        number = _number(value)
        self.bound(number)
        return number

    def power(self, base, exponent):
        if isinstance(exponent, Fraction) and exponent.denominator != 1:
            raise self.fail("only whole exponents are allowed")
        if abs(exponent) > MAX_EXPONENT:
            raise self.fail(f"exponent {exponent} is larger than {MAX_EXPONENT}")
        result = Fraction(base) ** int(exponent)
        self.bound(result)
        return result

    def bound(self, value) -> None:
        """Refuse a value of more than MAX_DIGITS digits (compared, never converted to text:
        a power can reach 6,400 digits, past Python's limit for int-to-text conversion)."""
        number = Fraction(value)
        if abs(number.numerator) >= _TOO_LONG or number.denominator >= _TOO_LONG:
            raise self.fail(f"the result has more than {MAX_DIGITS} digits")


_TOO_LONG = 10 ** MAX_DIGITS


def _parse(text: str, loc: Loc) -> ast.Expression:
    """The syntax tree of an expression, or a located error.

    CPython builds the tree recursively and counts that depth against Python's recursion
    limit, from however deep the caller already is: 490 unary minus signs parsed inside a
    deeply nested load raised RecursionError. A 1,000-character text nests at most 1,000
    levels, so the limit is raised by that much (plus margin) for the parse alone.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 3 * MAX_LENGTH)
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"in ${{{text}}}: invalid expression ({exc.msg})", loc, kind="value") from None
    except (RecursionError, MemoryError):
        raise SpecError(f"in ${{{text[:40]}...}}: the expression nests too deeply", loc, kind="limit",
                        help="write it with fewer nested operators") from None
    finally:
        sys.setrecursionlimit(limit)


def evaluate(text: str, env: dict[str, Any], loc: Loc) -> Any:
    """Evaluate one expression (the text inside ``${}``).

    Returns an int where the value is whole, a float where it is a decimal a float holds
    exactly (``${3 / 2}`` is 1.5), or a bool for conditions. Raises SpecError (at ``loc``)
    for syntax, anything not allowed, a limit reached, or a quotient such as 8/3 that no
    spec could write (``/`` is exact, so it is not rounded to 2.6666666666666665).
    """
    if len(text) > MAX_LENGTH:
        raise SpecError(f"the expression is longer than {MAX_LENGTH} characters", loc, kind="limit")
    tree = _parse(text, loc)
    if isinstance(tree.body, ast.Name) and tree.body.id in env:
        return env[tree.body.id]  # a bare argument passes through whatever it holds
    value = _Eval(env, text, loc)(tree)
    if isinstance(value, Fraction) and value.denominator != 1 and not _writable(value):
        raise SpecError(f"in ${{{text}}}: the result is {value.numerator}/{value.denominator}, "
                        "which is neither a whole number nor a decimal", loc, kind="value",
                        help="`/` is exact; for a whole number use `//` (rounds down), "
                             "floor(...) or ceil(...)")
    return _plain(value)


def substitute_string(text: str, env: dict[str, Any], loc: Loc) -> Any:
    """A string that is one ``${...}`` becomes its value; ``${...}`` inside a longer
    string is replaced by the value's text."""
    whole = _FULL.match(text)
    if whole:
        return evaluate(whole.group(1), env, loc)
    if "${" not in text:
        return text
    return _PART.sub(lambda m: str(evaluate(m.group(1), env, loc)), text)


def arithmetic(text: str) -> Fraction:
    """The exact value of an explanation's arithmetic, as ``cnncalc explain`` writes it:
    numbers, + - / and the products ``·`` or ``*``, powers ``^``, parentheses, floor, ceil, min, max
    (``floor((32 - 5 + 2·0) / 1) + 1`` -> 28).

    Raises:
        SpecError: text that is not such arithmetic.
    """
    cleaned = text.replace("·", "*").replace("×", "*").replace("^", "**")
    try:
        tree = _parse(cleaned, Loc(0, 0))
    except SpecError:
        raise SpecError(f"'{text}' is not arithmetic", kind="value") from None
    return Fraction(_Eval({}, text, Loc(0, 0))(tree))
