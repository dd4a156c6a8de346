"""Segment rules: a small, safe expression language compiled to Ibis boolean expressions.

A rule is ``NAME=EXPR``. ``EXPR`` uses column names (bare identifiers, or ```back ticked```
names with spaces), numbers, quoted strings, ``True``/``False``, the comparisons
``== != < <= > >=``, ``in [..]`` and ``not in [..]``, ``&`` (and), ``|`` (or), ``~`` (not)
and parentheses. The same text is a valid ``pandas.DataFrame.query`` and selects the same
rows: ``&`` binds tighter than ``|`` and both bind looser than comparisons (pandas gives them
the precedence of ``and``/``or``); ``~`` applies to the operand right after it, so negate a
comparison as ``~(x == 1)``. Missing values follow pandas too: a comparison with a missing
value is false, except ``!=`` and ``not in``, which are true.

The text is tokenised and parsed by a recursive-descent parser into a tree of dataclasses;
nothing is ever evaluated as Python. A mistake raises :class:`SegmentRuleError`, whose message
repeats the rule with a caret under the offending character.

Grammar::

    rule       := NAME '=' expr
    expr       := and ('|' and)*
    and        := comparison ('&' comparison)*
    comparison := unary (COMPARE unary | 'in' list | 'not' 'in' list)?
    unary      := '~' unary | '-' NUMBER | primary
    primary    := NUMBER | STRING | True | False | COLUMN | '(' expr ')'
    list       := '[' (literal (',' literal)*)? ']'

Example:
    >>> import ibis
    >>> rule = parse_segment_rule("A=channel_acq == 3 & num_past_purch <= 2")
    >>> rule.name
    'A'
    >>> t = ibis.memtable({"channel_acq": [3, 3, 1], "num_past_purch": [1, 5, 0]})
    >>> int(t.filter(rule.to_ibis(t)).count().execute())
    1
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

import ibis
import ibis.expr.types as ir

from couponlens.errors import InputError


class SegmentRuleError(InputError):
    """A segment rule is malformed or names a column that does not exist."""

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.reason = message
        caret = " " * max(0, min(position, len(text))) + "^"
        super().__init__(
            f"segment rule error at character {position + 1}: {message}\n  {text}\n  {caret}"
        )


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, its value and where it starts in the rule text."""

    kind: str  # NUMBER STRING NAME OP LPAREN RPAREN LBRACKET RBRACKET COMMA END
    value: object
    position: int


_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "&", "|", "~", "-")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def tokenize(text: str, offset: int = 0) -> list[Token]:
    """Split rule text into tokens; ``offset`` shifts the reported positions.

    Example:
        >>> [t.kind for t in tokenize("a in [1, 'x']")]
        ['NAME', 'NAME', 'LBRACKET', 'NUMBER', 'COMMA', 'STRING', 'RBRACKET', 'END']
    """
    tokens: list[Token] = []
    i = 0
    full = " " * offset + text

    def fail(pos: int, message: str) -> SegmentRuleError:
        return SegmentRuleError(full, pos + offset, message)

    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'":
            j = i + 1
            chars: list[str] = []
            while j < len(text) and text[j] != ch:
                if text[j] == "\\":
                    if j + 1 < len(text) and text[j + 1] in (ch, "\\"):
                        chars.append(text[j + 1])
                        j += 2
                        continue
                    raise fail(j, "only \\\\ and an escaped quote are allowed after a backslash")
                chars.append(text[j])
                j += 1
            if j >= len(text):
                raise fail(i, "this string is never closed")
            tokens.append(Token("STRING", "".join(chars), i + offset))
            i = j + 1
            continue
        if ch == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise fail(i, "this `quoted column name` is never closed")
            if j == i + 1:
                raise fail(i, "empty column name")
            tokens.append(Token("COLUMN", text[i + 1 : j], i + offset))
            i = j + 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < len(text) and text[i + 1].isdigit()):
            m = _NUMBER_RE.match(text, i)
            assert m is not None
            end = m.end()
            if end < len(text) and (text[end].isalpha() or text[end] == "_"):
                raise fail(end, f"unexpected {text[end]!r} right after the number")
            raw = m.group(0)
            value: float | int = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(Token("NUMBER", value, i + offset))
            i = end
            continue
        m = _NAME_RE.match(text, i)
        if m:
            tokens.append(Token("NAME", m.group(0), i + offset))
            i = m.end()
            continue
        if ch == "=" and not text.startswith("==", i):
            raise fail(i, "a single '=' is not a comparison; use '=='")
        if ch == "!" and not text.startswith("!=", i):
            raise fail(i, "'!' must be followed by '='; negate a condition with '~(...)'")
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token("OP", op, i + offset))
                i += len(op)
                break
        else:
            kinds = {"(": "LPAREN", ")": "RPAREN", "[": "LBRACKET", "]": "RBRACKET", ",": "COMMA"}
            if ch in kinds:
                tokens.append(Token(kinds[ch], ch, i + offset))
                i += 1
                continue
            hint = " ('and'/'or'/'not' are written & | ~)" if ch in "+*/%^" else ""
            raise fail(i, f"unexpected character {ch!r}{hint}")
    tokens.append(Token("END", None, len(text) + offset))
    return tokens


# --------------------------------------------------------------------------- tree


@dataclass(frozen=True)
class Literal:
    """A number, string or boolean constant."""

    value: object
    position: int


@dataclass(frozen=True)
class Column:
    """A column reference."""

    name: str
    position: int


@dataclass(frozen=True)
class Compare:
    """``left OP right`` with OP one of ``== != < <= > >=``."""

    op: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True)
class InList:
    """``operand in [values]`` (``negated`` for ``not in``)."""

    operand: Node
    values: tuple[Literal, ...]
    negated: bool
    position: int


@dataclass(frozen=True)
class And:
    """Both sides hold."""

    left: Node
    right: Node
    position: int


@dataclass(frozen=True)
class Or:
    """Either side holds."""

    left: Node
    right: Node
    position: int


@dataclass(frozen=True)
class Not:
    """The operand does not hold."""

    operand: Node
    position: int


Node = Union[Literal, Column, Compare, InList, And, Or, Not]  # noqa: UP007


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


class _Parser:
    def __init__(self, tokens: list[Token], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, token: Token, message: str) -> SegmentRuleError:
        return SegmentRuleError(self.text, token.position, message)

    def describe(self, token: Token) -> str:
        return "the end of the rule" if token.kind == "END" else repr(str(token.value))

    def parse(self) -> Node:
        if self.current.kind == "END":
            raise self.error(self.current, "the condition is empty")
        node = self.expr()
        if self.current.kind != "END":
            token = self.current
            if token.kind == "OP" and token.value in _COMPARISONS:
                raise self.error(token, "chained comparisons are not supported; join them with &")
            raise self.error(
                token, f"expected & or | or the end of the rule, found {self.describe(token)}"
            )
        return node

    def expr(self) -> Node:
        node = self.conjunction()
        while self.current.kind == "OP" and self.current.value == "|":
            token = self.advance()
            node = Or(node, self.conjunction(), token.position)
        return node

    def conjunction(self) -> Node:
        node = self.comparison()
        while self.current.kind == "OP" and self.current.value == "&":
            token = self.advance()
            node = And(node, self.comparison(), token.position)
        return node

    def comparison(self) -> Node:
        left = self.unary()
        token = self.current
        if token.kind == "OP" and token.value in _COMPARISONS:
            self.advance()
            right = self.unary()
            return Compare(str(token.value), left, right, token.position)
        if token.kind == "NAME" and token.value == "in":
            self.advance()
            return InList(left, self.value_list(), False, token.position)
        if token.kind == "NAME" and token.value == "not":
            self.advance()
            if not (self.current.kind == "NAME" and self.current.value == "in"):
                raise self.error(
                    token, "'not' is only allowed in 'not in [...]'; negate with '~(...)'"
                )
            self.advance()
            return InList(left, self.value_list(), True, token.position)
        return left

    def unary(self) -> Node:
        token = self.current
        if token.kind == "OP" and token.value == "~":
            self.advance()
            return Not(self.unary(), token.position)
        if token.kind == "OP" and token.value == "-":
            self.advance()
            number = self.current
            if number.kind != "NUMBER":
                raise self.error(number, "'-' is only allowed in front of a number")
            self.advance()
            assert isinstance(number.value, int | float)
            return Literal(-number.value, token.position)
        return self.primary()

    def primary(self) -> Node:
        token = self.advance()
        if token.kind in ("NUMBER", "STRING"):
            return Literal(token.value, token.position)
        if token.kind == "COLUMN":
            return Column(str(token.value), token.position)
        if token.kind == "NAME":
            name = str(token.value)
            if name in ("True", "False"):
                return Literal(name == "True", token.position)
            if name in ("and", "or", "not", "in", "is", "None"):
                hint = {"and": " (write &)", "or": " (write |)", "not": " (write ~)"}.get(name, "")
                raise self.error(token, f"unexpected keyword {name!r}{hint}")
            return Column(name, token.position)
        if token.kind == "LPAREN":
            node = self.expr()
            closing = self.current
            if closing.kind != "RPAREN":
                raise self.error(
                    closing,
                    f"expected ')' to close the '(' at character {token.position + 1}, found {self.describe(closing)}",
                )
            self.advance()
            return node
        raise self.error(
            token, f"expected a column, a number or a string, found {self.describe(token)}"
        )

    def value_list(self) -> tuple[Literal, ...]:
        opening = self.current
        if opening.kind != "LBRACKET":
            raise self.error(opening, f"expected '[' after 'in', found {self.describe(opening)}")
        self.advance()
        values: list[Literal] = []
        while self.current.kind != "RBRACKET":
            node = self.unary()
            if not isinstance(node, Literal):
                raise self.error(
                    self.tokens[self.index - 1], "a list holds numbers or quoted strings only"
                )
            values.append(node)
            if self.current.kind == "COMMA":
                self.advance()
            elif self.current.kind != "RBRACKET":
                raise self.error(
                    self.current,
                    f"expected ',' or ']' in the list, found {self.describe(self.current)}",
                )
        self.advance()
        if not values:
            raise self.error(opening, "the list is empty")
        return tuple(values)


def parse_expression(text: str, offset: int = 0, full_text: str | None = None) -> Node:
    """Parse a condition (the part after ``NAME=``) into a tree.

    Example:
        >>> parse_expression("~(a > 1) | b in ['x']")  # doctest: +ELLIPSIS
        Or(left=Not(operand=Compare(op='>', ...
    """
    full = full_text if full_text is not None else " " * offset + text
    try:
        tokens = tokenize(text, offset)
    except SegmentRuleError as exc:
        raise SegmentRuleError(full, exc.position, exc.reason) from None
    return _Parser(tokens, full).parse()


# --------------------------------------------------------------------------- compile


def _kind(dtype: object) -> str:
    import ibis.expr.datatypes as dt

    assert isinstance(dtype, dt.DataType)
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_string():
        return "string"
    return str(dtype)


def _literal_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _compatible(a: str, b: str) -> bool:
    if a == b:
        return True
    return {a, b} == {"boolean", "number"}


@dataclass(frozen=True)
class SegmentRule:
    """A named segment: its rule text and the parsed condition.

    Example:
        >>> rule = parse_segment_rule("B=channel_acq == 2 & num_past_purch <= 2")
        >>> rule.expression
        'channel_acq == 2 & num_past_purch <= 2'
    """

    name: str
    expression: str
    tree: Node
    text: str

    @property
    def columns(self) -> list[str]:
        """The column names the rule reads, in order of appearance."""
        found: list[str] = []

        def walk(node: Node) -> None:
            if isinstance(node, Column):
                if node.name not in found:
                    found.append(node.name)
            elif isinstance(node, Compare | And | Or):
                walk(node.left)
                walk(node.right)
            elif isinstance(node, InList | Not):
                walk(node.operand)

        walk(self.tree)
        return found

    def to_ibis(self, table: ir.Table) -> ir.BooleanValue:
        """Compile to a boolean column over ``table`` (never NULL: missing values as in pandas).

        Raises:
            SegmentRuleError: a column is missing or a comparison mixes types.
        """
        value, kind = self._compile(self.tree, table)
        if kind != "boolean":
            position = self.tree.position
            raise SegmentRuleError(
                self.text, position, f"the rule must be a condition, not a {kind} value"
            )
        if isinstance(self.tree, Literal):
            raise SegmentRuleError(self.text, self.tree.position, "the rule must refer to a column")
        assert isinstance(value, ir.BooleanValue)
        return value

    def _compile(self, node: Node, table: ir.Table) -> tuple[ir.Value, str]:
        if isinstance(node, Literal):
            return ibis.literal(node.value), _literal_kind(node.value)
        if isinstance(node, Column):
            if node.name not in table.columns:
                shown = ", ".join([c for c in table.columns if not c.startswith("_")][:30])
                raise SegmentRuleError(
                    self.text,
                    node.position,
                    f"no column named {node.name!r}; the columns are: {shown}",
                )
            column = table[node.name]
            kind = _kind(column.type())
            if kind not in ("boolean", "number", "string"):
                raise SegmentRuleError(
                    self.text,
                    node.position,
                    f"column {node.name!r} has type {kind}; rules compare numbers, strings and booleans",
                )
            return column, kind
        if isinstance(node, Not):
            value, kind = self._compile(node.operand, table)
            if kind != "boolean" or isinstance(node.operand, Literal):
                raise SegmentRuleError(
                    self.text, node.position, "'~' negates a condition; write ~(column == value)"
                )
            assert isinstance(value, ir.BooleanValue)
            return ~value.fill_null(False), "boolean"
        if isinstance(node, And | Or):
            left, lkind = self._compile(node.left, table)
            right, rkind = self._compile(node.right, table)
            for side, kind in ((node.left, lkind), (node.right, rkind)):
                if kind != "boolean" or isinstance(side, Literal):
                    symbol = "&" if isinstance(node, And) else "|"
                    raise SegmentRuleError(
                        self.text,
                        side.position,
                        f"each side of '{symbol}' must be a condition such as column == value",
                    )
            assert isinstance(left, ir.BooleanValue) and isinstance(right, ir.BooleanValue)
            left, right = left.fill_null(False), right.fill_null(False)
            return (left & right) if isinstance(node, And) else (left | right), "boolean"
        if isinstance(node, Compare):
            left, lkind = self._compile(node.left, table)
            right, rkind = self._compile(node.right, table)
            if isinstance(node.left, Literal) and isinstance(node.right, Literal):
                raise SegmentRuleError(
                    self.text, node.position, "a comparison needs a column on one side"
                )
            if not _compatible(lkind, rkind):
                raise SegmentRuleError(
                    self.text, node.right.position, f"cannot compare a {lkind} with a {rkind}"
                )
            if node.op in ("<", "<=", ">", ">=") and "boolean" in (lkind, rkind) and lkind != rkind:
                raise SegmentRuleError(
                    self.text, node.position, "order comparisons need two numbers or two strings"
                )
            ops = {
                "==": lambda a, b: a == b,
                "!=": lambda a, b: a != b,
                "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b,
                ">": lambda a, b: a > b,
                ">=": lambda a, b: a >= b,
            }
            result = ops[node.op](left, right)
            # pandas: NaN compares False, except != which is True.
            return result.fill_null(node.op == "!="), "boolean"
        if isinstance(node, InList):
            operand, kind = self._compile(node.operand, table)
            if isinstance(node.operand, Literal):
                raise SegmentRuleError(
                    self.text, node.operand.position, "'in' needs a column on its left"
                )
            for item in node.values:
                if not _compatible(kind, _literal_kind(item.value)):
                    raise SegmentRuleError(
                        self.text,
                        item.position,
                        f"cannot compare a {kind} column with a {_literal_kind(item.value)}",
                    )
            result = operand.isin([item.value for item in node.values])
            if node.negated:
                return (~result).fill_null(True), "boolean"
            return result.fill_null(False), "boolean"
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


_RULE_NAME = re.compile(r"^\s*([^=]*?)\s*=(?!=)")


def parse_segment_rule(text: str) -> SegmentRule:
    """Parse ``NAME=EXPR`` into a :class:`SegmentRule` (no table needed).

    Raises:
        SegmentRuleError: the text is not ``NAME=EXPR`` or the expression is malformed.

    Example:
        >>> parse_segment_rule("young=age < 30").columns
        ['age']
        >>> parse_segment_rule("bad=age <")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        couponlens.experiments.segments.SegmentRuleError: segment rule error at character 10: ...
    """
    m = _RULE_NAME.match(text)
    if not m:
        position = text.find("==")
        raise SegmentRuleError(
            text,
            max(position, 0),
            "a segment rule is NAME=EXPR, e.g. A=channel_acq == 3 & num_past_purch <= 2",
        )
    name = m.group(1)
    if not name:
        raise SegmentRuleError(text, 0, "the segment has no name before '='")
    if name == "all":
        raise SegmentRuleError(
            text, 0, "'all' is reserved for everyone; choose another segment name"
        )
    start = m.end()
    tree = parse_expression(text[start:], offset=start, full_text=text)
    return SegmentRule(name=name, expression=text[start:].strip(), tree=tree, text=text)
