"""The two query languages: readByQuery's SQL-like `query` string and the `query` function's <filter> tree.

Both become one condition tree, compiled into a predicate over stored records. Supported (DOC-Q): = != <> < > <= >=,
[NOT] LIKE with % and _, [NOT] IN (...), IS [NOT] NULL, BETWEEN (filter only), AND, OR, NOT, parentheses, quoted
literals with backslash-escaped quotes. Text compares case-sensitively unless the query asks otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from emulators.intacct.schema import TASKSTATUS_CODES, TIMESHEET_STATE_CODES, ObjectSchema
from emulators.intacct.values import comparable

MAX_IN_VALUES = 1000  # more <value>s in one `in` fail schema validation (intacct-sdk-js #54)

Predicate = Callable[[dict[str, Any]], bool]
Getter = Callable[[dict[str, Any], str], Any]


class QuerySyntaxError(ValueError):
    """The query text or filter tree cannot be understood."""


class InvalidFieldError(ValueError):
    def __init__(self, field_name: str) -> None:
        super().__init__(field_name)
        self.field_name = field_name


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str  # eq ne lt le gt ge like notlike in notin isnull isnotnull between
    values: tuple[str, ...]


@dataclass(frozen=True)
class Combination:
    op: str  # and | or | not
    parts: tuple[Any, ...]


Condition = Comparison | Combination

# ---- readByQuery strings ------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<op><>|!=|<=|>=|=|<|>)|(?P<punct>[(),])"
    r"|(?P<num>-?\d+(?:\.\d+)?(?![\w.]))|(?P<word>[A-Za-z_][\w.#]*))"
)
_STRING_OPS = {"=": "eq", "!=": "ne", "<>": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise QuerySyntaxError(f"unexpected text at position {position}: {text[position:position + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "word":
            kind = "kw" if value.upper() in ("AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL") else "word"
            value = value.upper() if kind == "kw" else value
        out.append((kind, value))
        position = match.end()
    return out


class _WhereParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QuerySyntaxError("unexpected end of query")
        self.position += 1
        return token

    def accept(self, kind: str, value: str | None = None) -> bool:
        token = self.peek()
        if token and token[0] == kind and (value is None or token[1] == value):
            self.position += 1
            return True
        return False

    def parse(self) -> Condition | None:
        if not self.tokens:
            return None
        condition = self.parse_or()
        if self.peek() is not None:
            raise QuerySyntaxError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return condition

    def parse_or(self) -> Condition:
        parts = [self.parse_and()]
        while self.accept("kw", "OR"):
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else Combination("or", tuple(parts))

    def parse_and(self) -> Condition:
        parts = [self.parse_not()]
        while self.accept("kw", "AND"):
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else Combination("and", tuple(parts))

    def parse_not(self) -> Condition:
        if self.accept("kw", "NOT"):
            return Combination("not", (self.parse_not(),))
        if self.accept("punct", "("):
            inner = self.parse_or()
            if not self.accept("punct", ")"):
                raise QuerySyntaxError("missing ')'")
            return inner
        return self.parse_comparison()

    def literal(self) -> str:
        kind, value = self.take()
        if kind not in ("str", "num"):
            raise QuerySyntaxError(f"expected a value, got {value!r}")
        return value

    def parse_comparison(self) -> Comparison:
        kind, field_name = self.take()
        if kind != "word":
            raise QuerySyntaxError(f"expected a field name, got {field_name!r}")
        if self.accept("kw", "IS"):
            negated = self.accept("kw", "NOT")
            if not self.accept("kw", "NULL"):
                raise QuerySyntaxError("expected NULL after IS")
            return Comparison(field_name, "isnotnull" if negated else "isnull", ())
        negated = self.accept("kw", "NOT")
        if self.accept("kw", "LIKE"):
            return Comparison(field_name, "notlike" if negated else "like", (self.literal(),))
        if self.accept("kw", "IN"):
            if not self.accept("punct", "("):
                raise QuerySyntaxError("expected '(' after IN")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
            if not self.accept("punct", ")"):
                raise QuerySyntaxError("missing ')' after IN list")
            return Comparison(field_name, "notin" if negated else "in", tuple(values))
        if negated:
            raise QuerySyntaxError("NOT must be followed by LIKE or IN here")
        kind, op = self.take()
        if kind != "op":
            raise QuerySyntaxError(f"expected an operator after {field_name}, got {op!r}")
        return Comparison(field_name, _STRING_OPS[op], (self.literal(),))


def parse_where(text: str) -> Condition | None:
    """A readByQuery `query` string as a condition (None: empty query, every record)."""
    return _WhereParser(text or "").parse()


# ---- query <filter> trees ------------------------------------------------------------------------------------------

_FILTER_OPS = {
    "equalto": "eq", "notequalto": "ne", "lessthan": "lt", "lessthanorequalto": "le", "greaterthan": "gt",
    "greaterthanorequalto": "ge", "between": "between", "in": "in", "notin": "notin", "like": "like",
    "notlike": "notlike", "isnull": "isnull", "isnotnull": "isnotnull",
}


def filter_from_xml(element: Element) -> Condition:
    tag = element.tag
    if tag in ("and", "or"):
        children = list(element)
        if len(children) < 2:
            raise QuerySyntaxError(f"<{tag}> needs at least two conditions")
        return Combination(tag, tuple(filter_from_xml(child) for child in children))
    op = _FILTER_OPS.get(tag)
    if op is None:
        raise QuerySyntaxError(f"Element '{tag}': This element is not expected.")
    field_name = (element.findtext("field") or "").strip()
    if not field_name:
        raise QuerySyntaxError(f"Element '{tag}': Missing child element(s). Expected is ( field ).")
    values = tuple((v.text or "") for v in element.findall("value"))
    if op in ("isnull", "isnotnull"):
        return Comparison(field_name, op, ())
    if op == "between" and len(values) != 2:
        raise QuerySyntaxError("Element 'between': expects exactly two <value> elements.")
    if not values:
        raise QuerySyntaxError(f"Element '{tag}': Missing child element(s). Expected is ( value ).")
    if op not in ("in", "notin", "between") and len(values) != 1:
        raise QuerySyntaxError("Element 'value': This element is not expected.")
    return Comparison(field_name, op, values)


def count_in_values(condition: Condition | None) -> int:
    """The largest `in` list in the tree (the schema caps it)."""
    if condition is None:
        return 0
    if isinstance(condition, Comparison):
        return len(condition.values) if condition.op in ("in", "notin") else 0
    return max(count_in_values(part) for part in condition.parts)


def fields_of(condition: Condition | None) -> set[str]:
    if condition is None:
        return set()
    if isinstance(condition, Comparison):
        return {condition.field}
    out: set[str] = set()
    for part in condition.parts:
        out |= fields_of(part)
    return out


_RANGE_TYPES = frozenset({"TIMESTAMP", "DATE", "INTEGER", "DECIMAL"})


def leading_range(
    schema: ObjectSchema, condition: Condition | None, orderby: tuple[tuple[str, bool], ...]
) -> tuple[Comparison | None, Condition | None]:
    """A `>=`/`>` comparison on the leading ascending order field, ANDed at the top, and the rest of the condition.

    The caller can then cut the rest's ordered rows by bisection. Text fields are left to the predicate: their
    order depends on the query's case sensitivity."""
    if not orderby or not orderby[0][1] or condition is None:
        return None, condition
    leading = orderby[0][0]

    def is_range(part: Comparison) -> bool:
        return part.field == leading and part.op in ("ge", "gt") and schema.type_of(leading) in _RANGE_TYPES

    if isinstance(condition, Comparison):
        return (condition, None) if is_range(condition) else (None, condition)
    if condition.op == "and":
        for index, part in enumerate(condition.parts):
            if isinstance(part, Comparison) and is_range(part):
                rest = condition.parts[:index] + condition.parts[index + 1:]
                return part, (rest[0] if len(rest) == 1 else Combination("and", rest))
    return None, condition


# ---- compilation ---------------------------------------------------------------------------------------------------


def _like_pattern(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.DOTALL | (re.IGNORECASE if case_insensitive else 0))


def _decode_literal(schema: ObjectSchema, field_name: str, literal: str, coded: bool) -> str:
    """readByQuery strings name task and timesheet states by code (TASKSTATUS = 'C'); labels are accepted too."""
    if coded and schema.name == "TASK" and field_name == "TASKSTATUS":
        return TASKSTATUS_CODES.get(literal, literal)
    if coded and schema.name in ("TIMESHEET", "TIMESHEETENTRY") and field_name == "STATE":
        return TIMESHEET_STATE_CODES.get(literal, literal)
    return literal


def compile_condition(
    condition: Condition | None,
    schema: ObjectSchema,
    getter: Getter,
    case_insensitive: bool = False,
    coded_literals: bool = False,
) -> Predicate:
    if condition is None:
        return lambda record: True
    if isinstance(condition, Combination):
        parts = [compile_condition(p, schema, getter, case_insensitive, coded_literals) for p in condition.parts]
        if condition.op == "and":
            return lambda record: all(part(record) for part in parts)
        if condition.op == "or":
            return lambda record: any(part(record) for part in parts)
        only = parts[0]
        return lambda record: not only(record)

    name = condition.field
    if name not in schema.fields:
        raise InvalidFieldError(name)
    field_type = schema.type_of(name)
    fold = case_insensitive and field_type in ("TEXT", "ENUM")
    op = condition.op

    def value_of(record: dict[str, Any]) -> Any:
        value = comparable(field_type, getter(record, name))
        return value.lower() if fold and isinstance(value, str) else value

    if op == "isnull":
        return lambda record: value_of(record) is None
    if op == "isnotnull":
        return lambda record: value_of(record) is not None
    literals = [_decode_literal(schema, name, v, coded_literals) for v in condition.values]
    if op in ("like", "notlike"):
        pattern = _like_pattern(literals[0], case_insensitive)
        want = op == "like"
        return lambda record: (
            (v := getter(record, name)) not in (None, "") and bool(pattern.match(str(v))) == want
        )
    targets = []
    for literal in literals:
        target = comparable(field_type, literal)
        if target is None and literal != "":
            raise QuerySyntaxError(f"value {literal!r} is not valid for {name} ({field_type})")
        targets.append(target.lower() if fold and isinstance(target, str) else target)
    if op in ("in", "notin"):
        members = set(targets)
        want = op == "in"
        return lambda record: (v := value_of(record)) is not None and (v in members) == want
    if op == "between":
        low, high = targets
        return lambda record: (v := value_of(record)) is not None and low <= v <= high
    target = targets[0]
    compare: Callable[[Any, Any], bool] = {
        "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    }[op]
    if target is None:  # FIELD = '' matches empty values, FIELD != '' non-empty ones
        return lambda record: (value_of(record) is None) == (op == "eq")

    def predicate(record: dict[str, Any]) -> bool:
        value = value_of(record)
        if value is None:
            return False
        try:
            return compare(value, target)
        except TypeError:
            return False

    return predicate
