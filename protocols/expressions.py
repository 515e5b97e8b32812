"""A small, safe expression language for conditions and measured values (no ``eval``).

    discharge capacity < 80 % of reference          (words join into a name: discharge_capacity_ah)
    discharge_capacity_ah < 0.8 * reference_ah and cycle >= 3
    min(charge_ah, discharge_ah) / 5 Ah > 90 %

Grammar (lowest precedence first)::

    expr  := and ('or' and)*
    and   := not ('and' not)*
    not   := 'not' not | cmp
    cmp   := sum [('<' | '<=' | '>' | '>=' | '==' | '!=') sum]
    sum   := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := '-' unary | atom
    atom  := NUMBER [UNIT] ['of' atom] | NAME | FUNC '(' expr {',' expr} ')' | '(' expr ')'

Numbers may carry a unit (``4.5 Ah``, ``80 %``, ``30 min``); the value is converted to the SI
base unit of its dimension (``80 %`` -> 0.8, ``30 min`` -> 1800). ``N % of X`` is ``N/100 * X``.
Consecutive words form one name joined by ``_``; a name resolves to a variable of that name, or
of that name plus a unit suffix (``discharge_capacity`` -> ``discharge_capacity_ah``). A value
that was never measured is NaN: every comparison with it is false. Errors are ExpressionError
with a 1-based column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from protocols.quantities import QuantityError, parse_quantity

#: Suffixes tried, in order, when a name is not a variable itself.
UNIT_SUFFIXES = ("_ah", "_wh", "_v", "_a", "_s", "_c", "_w", "_ohm")
FUNCTIONS: dict[str, Callable[..., float]] = {"min": min, "max": max, "abs": abs}
KEYWORDS = ("and", "or", "not", "of")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|,)
  | (?P<word>[A-Za-z_°µΩ][A-Za-z0-9_°µΩ]*)
  | (?P<percent>%)
""", re.VERBOSE)
_UNIT_WORD = re.compile(r"\s*(%|[A-Za-z°µΩ][A-Za-z°µΩ]*(?:\s*/\s*(?:min|s)\b)?)")


class ExpressionError(ValueError):
    """Bad expression text or evaluation; ``col`` is 1-based within the expression text."""

    def __init__(self, message: str, col: int = 1, suggestion: str = "") -> None:
        self.message = message
        self.col = col
        self.suggestion = suggestion
        super().__init__(f"col {col}: {message}")


@dataclass(frozen=True)
class Number:
    """A constant (SI base unit)."""

    value: float
    col: int


@dataclass(frozen=True)
class Name:
    """A variable reference; ``name`` as written (words joined by ``_``)."""

    name: str
    col: int


@dataclass(frozen=True)
class Unary:
    """``-x`` or ``not x``."""

    op: str
    operand: Node
    col: int


@dataclass(frozen=True)
class Binary:
    """Arithmetic, comparison or boolean operator."""

    op: str
    left: Node
    right: Node
    col: int


@dataclass(frozen=True)
class Call:
    """``min(...)``, ``max(...)``, ``abs(x)``."""

    func: str
    args: tuple[Node, ...]
    col: int


Node = Number | Name | Unary | Binary | Call
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
BOOLEAN_OPS = ("and", "or", "not") + COMPARISONS


@dataclass(frozen=True)
class Expression:
    """A parsed expression with its source text."""

    text: str
    root: Node

    @property
    def is_condition(self) -> bool:
        """True when the expression yields true/false (a comparison or a boolean combination)."""
        root = self.root
        return isinstance(root, (Binary, Unary)) and root.op in BOOLEAN_OPS

    def names(self) -> list[Name]:
        """Every variable reference, in source order."""
        out: list[Name] = []
        _collect(self.root, out)
        return out

    def evaluate(self, variables: Mapping[str, float]) -> float | bool:
        """Value of the expression; raises ExpressionError for an unknown name."""
        return _eval(self.root, variables)

    def __str__(self) -> str:
        return self.text


def resolve_name(name: str, variables: Iterable[str]) -> str | None:
    """The variable ``name`` refers to (exact, or with a unit suffix), or None."""
    known = set(variables)
    if name in known:
        return name
    for suffix in UNIT_SUFFIXES:
        if name + suffix in known:
            return name + suffix
    return None


def check_names(expression: Expression, variables: Iterable[str]) -> None:
    """Raise ExpressionError at the first name that is not among ``variables``."""
    import difflib

    known = sorted(set(variables))
    for ref in expression.names():
        if resolve_name(ref.name, known) is None:
            close = difflib.get_close_matches(ref.name, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "measure it first with 'record:'"
            raise ExpressionError(f"unknown name {ref.name!r}", ref.col, hint)


# -- tokenizer -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tok:
    kind: str  # number | op | word | end
    text: str
    col: int
    value: float = 0.0


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ExpressionError(f"unexpected character {text[pos]!r}", pos + 1)
        kind = match.lastgroup or ""
        col = pos + 1
        pos = match.end()
        if kind == "space":
            continue
        if kind == "number":
            number_text = match.group()
            unit = _UNIT_WORD.match(text, pos)
            if unit and unit.group(1).lower() not in KEYWORDS:
                try:
                    quantity = parse_quantity(f"{number_text} {unit.group(1)}")
                except QuantityError:
                    quantity = None
                if quantity is not None and quantity.dimension != "c_rate":
                    out.append(_Tok("number", text[col - 1: unit.end()], col, quantity.value))
                    pos = unit.end()
                    continue
            out.append(_Tok("number", number_text, col, float(number_text)))
        elif kind == "percent":
            raise ExpressionError("'%' must follow a number", col)
        else:
            out.append(_Tok(kind, match.group(), col))
    out.append(_Tok("end", "", len(text) + 1))
    return out


# -- parser ----------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() == word

    def expect(self, text: str) -> _Tok:
        if self.tok.text != text:
            raise ExpressionError(f"expected {text!r}, got {self.tok.text or 'end of text'!r}", self.tok.col)
        return self.take()

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExpressionError("empty expression", 1)
        node = self.or_()
        if self.tok.kind != "end":
            raise ExpressionError(f"unexpected {self.tok.text!r}", self.tok.col,
                                  "join conditions with 'and' / 'or'")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.is_word("or"):
            col = self.take().col
            node = Binary("or", node, self.and_(), col)
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.is_word("and"):
            col = self.take().col
            node = Binary("and", node, self.not_(), col)
        return node

    def not_(self) -> Node:
        if self.is_word("not"):
            col = self.take().col
            return Unary("not", self.not_(), col)
        return self.cmp()

    def cmp(self) -> Node:
        node = self.sum()
        if self.tok.kind == "op" and self.tok.text in COMPARISONS:
            tok = self.take()
            node = Binary(tok.text, node, self.sum(), tok.col)
            if self.tok.kind == "op" and self.tok.text in COMPARISONS:
                raise ExpressionError("chained comparison", self.tok.col, "use 'a < b and b < c'")
        return node

    def sum(self) -> Node:
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            tok = self.take()
            node = Binary(tok.text, node, self.term(), tok.col)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            tok = self.take()
            node = Binary(tok.text, node, self.unary(), tok.col)
        return node

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text == "-":
            col = self.take().col
            return Unary("-", self.unary(), col)
        return self.atom()

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            node: Node = Number(tok.value, tok.col)
            if self.is_word("of"):
                of_col = self.take().col
                node = Binary("*", node, self.atom(), of_col)
            return node
        if tok.kind == "op" and tok.text == "(":
            self.take()
            node = self.or_()
            self.expect(")")
            return node
        if tok.kind == "word" and tok.text.lower() not in KEYWORDS:
            self.take()
            if tok.text.lower() in FUNCTIONS and self.tok.text == "(":
                self.take()
                args = [self.or_()]
                while self.tok.text == ",":
                    self.take()
                    args.append(self.or_())
                self.expect(")")
                if tok.text.lower() == "abs" and len(args) != 1:
                    raise ExpressionError("abs() takes one value", tok.col)
                return Call(tok.text.lower(), tuple(args), tok.col)
            words = [tok.text]
            while self.tok.kind == "word" and self.tok.text.lower() not in KEYWORDS:
                words.append(self.take().text)
            return Name("_".join(w.lower() for w in words), tok.col)
        what = tok.text or "end of text"
        raise ExpressionError(f"expected a number or a name, got {what!r}", tok.col)


def parse_expression(text: str) -> Expression:
    """Parse ``text``; raises ExpressionError (with a column) on any bad input."""
    if not isinstance(text, str):
        raise ExpressionError("expected text", 1)
    return Expression(text.strip(), _Parser(text.strip()).parse())


# -- evaluation ------------------------------------------------------------------------------
def _collect(node: Node, out: list[Name]) -> None:
    if isinstance(node, Name):
        out.append(node)
    elif isinstance(node, Unary):
        _collect(node.operand, out)
    elif isinstance(node, Binary):
        _collect(node.left, out)
        _collect(node.right, out)
    elif isinstance(node, Call):
        for arg in node.args:
            _collect(arg, out)


def _eval(node: Node, env: Mapping[str, float]) -> float | bool:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Name):
        key = resolve_name(node.name, env)
        if key is None:
            raise ExpressionError(f"unknown name {node.name!r}", node.col)
        return float(env[key])
    if isinstance(node, Unary):
        value = _eval(node.operand, env)
        return (not value) if node.op == "not" else -float(value)
    if isinstance(node, Call):
        values = [float(_eval(a, env)) for a in node.args]
        return float(FUNCTIONS[node.func](*values) if node.func != "abs" else abs(values[0]))
    op = node.op
    if op == "and":
        return bool(_eval(node.left, env)) and bool(_eval(node.right, env))
    if op == "or":
        return bool(_eval(node.left, env)) or bool(_eval(node.right, env))
    left, right = float(_eval(node.left, env)), float(_eval(node.right, env))
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if right == 0:
            return math.nan
        return left / right
    if math.isnan(left) or math.isnan(right):
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right,
            "==": left == right, "!=": left != right}[op]
