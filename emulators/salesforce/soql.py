"""The SOQL subset the emulator understands: a tokenizer and a recursive-descent parser producing a small AST.

Supported: SELECT of fields, parent fields (`Account.Name`) and COUNT(); FROM one object; WHERE with AND/OR/NOT,
parentheses, = != <> < <= > >=, IN / NOT IN, LIKE, null, true/false, numbers, quoted strings, unquoted date and
datetime literals and a few date literals (TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n);
ORDER BY with ASC/DESC and NULLS FIRST/LAST; LIMIT; OFFSET (at most 2000). Like Salesforce, AND and OR may not be mixed
at one level without parentheses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from emulators.salesforce.errors import SalesforceApiError, malformed_query
from emulators.salesforce.formats import parse_datetime

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\", "%": "\\%",
            "_": "\\_"}
MAX_OFFSET = 2000  # Salesforce refuses a larger OFFSET: deep paging goes through query locators instead
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"})
_KEYWORDS = frozenset({"SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "OFFSET", "AND", "OR", "NOT", "IN", "LIKE",
                       "ASC", "DESC", "NULLS", "FIRST", "LAST", "NULL", "TRUE", "FALSE", "GROUP", "HAVING"})


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | boolean | null | datetime | date | date_literal
    value: Any


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str  # = != < <= > >= like in not_in
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or | not
    items: tuple[Any, ...]


@dataclass(frozen=True)
class OrderItem:
    field: str
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    fields: list[str] = field(default_factory=list)
    count: bool = False
    object_name: str = ""
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            rest = text[position:].split()
            raise malformed_query(f"unexpected token: '{rest[0] if rest else ''}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def peek_word(self, offset: int = 0) -> str | None:
        token = self.peek(offset)
        return token[1].upper() if token and token[0] == "word" else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise malformed_query(f"unexpected end of query: {self.text}")
        self.position += 1
        return token

    def expect_word(self, word: str) -> None:
        token = self.take()
        if token[0] != "word" or token[1].upper() != word:
            raise malformed_query(f"unexpected token: '{token[1]}'")

    def expect_punct(self, char: str) -> None:
        token = self.take()
        if token != ("punct", char):
            raise malformed_query(f"unexpected token: '{token[1]}'")

    def identifier(self) -> str:
        kind, value = self.take()
        if kind != "word" or value.upper() in _KEYWORDS:
            raise malformed_query(f"unexpected token: '{value}'")
        return value

    def integer(self) -> int:
        kind, value = self.take()
        if kind != "number" or not value.isdigit():
            raise malformed_query(f"unexpected token: '{value}'")
        return int(value)

    def parse(self) -> Query:
        query = Query()
        self.expect_word("SELECT")
        while True:
            if self.peek_word() == "COUNT" and self.peek(1) == ("punct", "("):
                self.take()
                self.take()
                if self.peek() != ("punct", ")"):
                    self.identifier()
                self.expect_punct(")")
                query.count = True
            else:
                query.fields.append(self.identifier())
            if self.peek() == ("punct", ","):
                self.take()
                continue
            break
        if query.count and query.fields:
            raise malformed_query("COUNT() cannot be combined with other fields in this emulator")
        self.expect_word("FROM")
        query.object_name = self.identifier()
        if self.peek_word() == "WHERE":
            self.take()
            query.where = self.condition()
        if self.peek_word() == "ORDER":
            self.take()
            self.expect_word("BY")
            while True:
                name = self.identifier()
                descending = False
                if self.peek_word() in ("ASC", "DESC"):
                    descending = self.take()[1].upper() == "DESC"
                nulls_last = descending
                if self.peek_word() == "NULLS":
                    self.take()
                    word = self.take()[1].upper()
                    if word not in ("FIRST", "LAST"):
                        raise malformed_query(f"unexpected token: '{word}'")
                    nulls_last = word == "LAST"
                query.order_by.append(OrderItem(name, descending, nulls_last))
                if self.peek() == ("punct", ","):
                    self.take()
                    continue
                break
        if self.peek_word() == "LIMIT":
            self.take()
            query.limit = self.integer()
        if self.peek_word() == "OFFSET":
            self.take()
            query.offset = self.integer()
            if query.offset > MAX_OFFSET:
                raise SalesforceApiError(400, "NUMBER_OUTSIDE_VALID_RANGE",
                                         f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        if self.peek() is not None:
            raise malformed_query(f"unexpected token: '{self.peek()[1]}'")  # type: ignore[index]
        return query

    def condition(self) -> Any:
        items = [self.unary()]
        joiner: str | None = None
        while self.peek_word() in ("AND", "OR"):
            word = self.take()[1].upper()
            if joiner is not None and word != joiner:
                raise malformed_query(f"unexpected token: '{word}'")
            joiner = word
            items.append(self.unary())
        if joiner is None:
            return items[0]
        return BoolOp(joiner.lower(), tuple(items))

    def unary(self) -> Any:
        if self.peek_word() == "NOT":
            self.take()
            return BoolOp("not", (self.unary(),))
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        name = self.identifier()
        word = self.peek_word()
        if word == "NOT" and self.peek_word(1) == "IN":
            self.take()
            self.take()
            return Comparison(name, "not_in", self.value_list())
        if word == "IN":
            self.take()
            return Comparison(name, "in", self.value_list())
        if word == "LIKE":
            self.take()
            return Comparison(name, "like", self.literal())
        kind, op = self.take()
        if kind != "op":
            raise malformed_query(f"unexpected token: '{op}'")
        return Comparison(name, "!=" if op == "<>" else op, self.literal())

    def value_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        values = [self.literal()]
        while self.peek() == ("punct", ","):
            self.take()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        kind, raw = self.take()
        if kind == "string":
            return Literal("string", _unquote(raw))
        if kind == "number":
            return Literal("number", float(raw) if "." in raw else int(raw))
        if kind == "datetime":
            ms = parse_datetime(raw)
            if ms is None:
                raise malformed_query(f"line 1:0 no viable alternative at character '{raw}'")
            return Literal("datetime", ms)
        if kind == "date":
            return Literal("date", raw)
        if kind == "word":
            upper = raw.upper()
            if upper == "NULL":
                return Literal("null", None)
            if upper in ("TRUE", "FALSE"):
                return Literal("boolean", upper == "TRUE")
            if upper in DATE_LITERALS:
                amount = 0
                if upper in ("LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"):
                    self.expect_punct(":")
                    amount = self.integer()
                return Literal("date_literal", (upper, amount))
        raise malformed_query(f"unexpected token: '{raw}'")


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise malformed_query("Query string is empty")
    return _Parser(text).parse()
