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
from fractions import Fraction
from typing import Any

from cnncalc.core.errors import Loc, SpecError, suggestion

MAX_EXPONENT = 64
MAX_DIGITS = 100
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


class _Eval:
    def __init__(self, env: dict[str, Any], text: str, loc: Loc) -> None:
        self.env, self.text, self.loc = env, text, loc

    def fail(self, why: str, help: str | None = None) -> SpecError:
        return SpecError(f"in ${{{self.text}}}: {why}", self.loc, kind="value", help=help)

    def __call__(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            return _number(node.value)
        if isinstance(node, ast.Name):
            if node.id not in self.env:
                raise self.fail(f"'{node.id}' is not an argument of this block",
                                help=suggestion(node.id, self.env, "arguments") if self.env
                                else "this block has no arguments")
            value = self.env[node.id]
            if isinstance(value, bool) or isinstance(value, (int, float)):
                return _number(value)
            raise self.fail(f"argument '{node.id}' is not a number ({type(value).__name__})")
        if isinstance(node, ast.UnaryOp):
            value = self(node.operand)
            if isinstance(node.op, ast.USub):
                return -value
            if isinstance(node.op, ast.UAdd):
                return +value
            if isinstance(node.op, ast.Not):
                return not value
        if isinstance(node, ast.BinOp):
            left, right = self(node.left), self(node.right)
            try:
                if isinstance(node.op, ast.Div):
                    return Fraction(left) / Fraction(right)
                if isinstance(node.op, ast.Pow):
                    return self.power(left, right)
                if type(node.op) in _BINOPS:
                    result = _BINOPS[type(node.op)](left, right)
                    self.bound(result)
                    return result
            except ZeroDivisionError:
                raise self.fail("division by zero") from None
        if isinstance(node, ast.BoolOp):
            values = [self(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return all(values)
            return any(values)
        if isinstance(node, ast.Compare):
            left = self(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = self(right_node)
                if type(op) not in _COMPARE:
                    break
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            else:
                return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("min", "max") and not node.keywords and node.args):
            values = [self(a) for a in node.args]
            return min(values) if node.func.id == "min" else max(values)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("floor", "ceil") and not node.keywords and len(node.args) == 1):
            value = Fraction(self(node.args[0]))
            return value.numerator // value.denominator if node.func.id == "floor" \
                else -(-value.numerator // value.denominator)
        raise self.fail(
            f"'{ast.unparse(node) if hasattr(ast, 'unparse') else type(node).__name__}' is not allowed",
            help="${...} takes numbers, argument names, + - * / // % **, parentheses, min, max, "
                 "floor, ceil, comparisons and and/or/not",
        )

    def power(self, base, exponent):
        if isinstance(exponent, Fraction) and exponent.denominator != 1:
            raise self.fail("only whole exponents are allowed")
        if abs(exponent) > MAX_EXPONENT:
            raise self.fail(f"exponent {exponent} is larger than {MAX_EXPONENT}")
        result = Fraction(base) ** int(exponent)
        self.bound(result)
        return result

    def bound(self, value) -> None:
        number = Fraction(value)
        if max(len(str(abs(number.numerator))), len(str(number.denominator))) > MAX_DIGITS:
            raise self.fail(f"the result has more than {MAX_DIGITS} digits")


def evaluate(text: str, env: dict[str, Any], loc: Loc) -> Any:
    """Evaluate one expression (the text inside ``${}``).

    Returns an int where the value is whole, a float otherwise, or a bool for
    conditions. Raises SpecError (at ``loc``) for syntax or anything not allowed.
    """
    if len(text) > 1000:
        raise SpecError("the expression is longer than 1000 characters", loc, kind="limit")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"in ${{{text}}}: invalid expression ({exc.msg})", loc, kind="value") from None
    if isinstance(tree.body, ast.Name) and tree.body.id in env:
        return env[tree.body.id]  # a bare argument passes through whatever it holds
    return _plain(_Eval(env, text, loc)(tree))


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
        tree = ast.parse(cleaned.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"'{text}' is not arithmetic ({exc.msg})", kind="value") from None
    return Fraction(_Eval({}, text, Loc(0, 0))(tree))
