"""The QBO query language (research note §3.3, §9.4): parsing a SELECT into a plan, and compiling its WHERE and
ORDER BY into plain Python predicates and sort keys over wire-shaped records.

Keywords, entity and field names and string values are case-insensitive; `AND` only; `= < > <= >= IN LIKE`;
`ORDERBY` and `ORDER BY`; `STARTPOSITION` (1-based) and `MAXRESULTS` (default 100, at most 1000); `COUNT(*)`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from emulators.quickbooks.catalog import BY_LOWER_NAME, KINDS
from emulators.quickbooks.errors import query_parse_error, query_validation_error
from emulators.quickbooks.stamps import CompanyTime

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000
DATETIME_FIELDS = frozenset({("MetaData", "CreateTime"), ("MetaData", "LastUpdatedTime")})
DATE_FIELDS = frozenset({"TxnDate", "DueDate", "ShipDate", "OpenBalanceDate", "InvStartDate"})

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),*])
    | (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "orderby",
    "order",
    "by",
    "asc",
    "desc",
    "startposition",
    "maxresults",
    "in",
    "like",
    "count",
}

Literal = str | float | bool


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | op | punct | word | end
    text: str
    column: int  # 1-based, for QueryParserError texts

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass
class Condition:
    path: tuple[str, ...]
    op: str  # = < > <= >= IN LIKE
    values: list[Literal]


@dataclass
class QueryPlan:
    entity: str
    count: bool = False
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (path, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS

    def selection_key(self) -> str:
        """Identifies the matched-and-sorted row set (not the page): paging through one query reuses it."""
        where = ";".join(f"{'.'.join(c.path)}{c.op}{c.values!r}" for c in self.conditions)
        order = ",".join(f"{'.'.join(p)}:{int(d)}" for p, d in self.order)
        return f"{self.entity}|{where}|{order}"


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    stripped_end = len(text.rstrip())
    while position < stripped_end:
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            column = position + 1 + (len(text[position:]) - len(text[position:].lstrip()))
            bad = text[position:].strip().split(" ")[0]
            raise query_parse_error(f'Encountered " <ID> "{bad} "" at line 1, column {column}.')
        kind = match.lastgroup or "word"
        value = match.group(kind)
        tokens.append(Token(kind, value, match.start(kind) + 1))
        position = match.end()
    tokens.append(Token("end", "<EOF>", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str, company_time: CompanyTime, today: date) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.company_time = company_time
        self.today = today

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, token: Token | None = None) -> Exception:
        token = token or self.peek()
        if token.kind == "end":
            return query_parse_error(f'Encountered "<EOF>" at line 1, column {token.column}.')
        label = {"string": "<STRING>", "number": "<INTEGER>", "word": "<ID>"}.get(token.kind, token.text)
        return query_parse_error(f'Encountered " {label} "{token.text} "" at line 1, column {token.column}.')

    def expect_word(self, *words: str) -> Token:
        token = self.take()
        if token.kind != "word" or token.upper not in words:
            raise self.fail(token)
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.upper in words

    def parse(self) -> QueryPlan:
        self.expect_word("SELECT")
        count = False
        if self.at_word("COUNT"):
            self.take()
            for expected in ("(", "*", ")"):
                token = self.take()
                if token.text != expected:
                    raise self.fail(token)
            count = True
        else:
            token = self.take()
            if token.text != "*" and token.kind != "word":
                raise self.fail(token)
            # `SELECT *, Sku FROM Item` (python-quickbooks' Item.all()) and projections are served as `*`.
            while self.peek().text == ",":
                self.take()
                if self.take().kind != "word":
                    raise self.fail(self.tokens[self.index - 1])
        self.expect_word("FROM")
        entity_token = self.take()
        if entity_token.kind != "word" or entity_token.text.lower() in _KEYWORDS:
            raise self.fail(entity_token)
        entity = BY_LOWER_NAME.get(entity_token.text.lower())
        if entity is None:
            raise query_validation_error(f"unknown entity {entity_token.text}")
        plan = QueryPlan(entity=entity, count=count)
        if self.at_word("WHERE"):
            self.take()
            plan.conditions.append(self.condition(entity))
            while self.at_word("AND", "OR"):
                if self.peek().upper == "OR":
                    raise self.fail()
                self.take()
                plan.conditions.append(self.condition(entity))
        if self.at_word("ORDERBY", "ORDER"):
            if self.take().upper == "ORDER":
                self.expect_word("BY")
            while True:
                path = self.field_path(entity, self.take())
                descending = False
                if self.at_word("ASC", "DESC"):
                    descending = self.take().upper == "DESC"
                plan.order.append((path, descending))
                if self.peek().text != ",":
                    break
                self.take()
        if self.at_word("STARTPOSITION"):
            self.take()
            plan.start_position = max(1, self.integer())
        if self.at_word("MAXRESULTS"):
            self.take()
            value = self.integer()
            if value > MAX_RESULTS_LIMIT:
                raise query_validation_error(f"value {value} is too large. Max allowed value is {MAX_RESULTS_LIMIT}")
            plan.max_results = max(value, 0)
        if self.peek().kind != "end":
            raise self.fail()
        return plan

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or "." in token.text:
            raise self.fail(token)
        return int(token.text)

    def field_path(self, entity: str, token: Token) -> tuple[str, ...]:
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise self.fail(token)
        return resolve_field(entity, token.text)

    def condition(self, entity: str) -> Condition:
        path = self.field_path(entity, self.take())
        token = self.take()
        if token.kind == "op" and token.text in ("=", "<", ">", "<=", ">="):
            op = token.text
            values = [self.literal(path)]
        elif token.kind == "word" and token.upper == "IN":
            op = "IN"
            if self.take().text != "(":
                raise self.fail(self.tokens[self.index - 1])
            values = [self.literal(path)]
            while self.peek().text == ",":
                self.take()
                values.append(self.literal(path))
            if self.take().text != ")":
                raise self.fail(self.tokens[self.index - 1])
        elif token.kind == "word" and token.upper == "LIKE":
            op = "LIKE"
            values = [self.literal(path)]
        else:
            raise self.fail(token)
        if path == ("Id",) and op not in ("=", "IN"):
            raise query_validation_error(f"Operator {op} not supported for property Id")
        return Condition(path=path, op=op, values=values)

    def literal(self, path: tuple[str, ...]) -> Literal:
        token = self.take()
        if token.kind == "string":
            value: Literal = re.sub(r"\\(.)", r"\1", token.text[1:-1])
        elif token.kind == "number":
            value = float(token.text)
        elif token.kind == "word" and token.upper in ("TRUE", "FALSE"):
            value = token.upper == "TRUE"
        elif token.kind == "word" and token.upper == "CURRENT_DATE":
            value = self.today.isoformat()
        else:
            raise self.fail(token)
        if path in DATETIME_FIELDS:
            normalized = self.company_time.normalize(str(value))
            if normalized is None:
                raise query_validation_error(f"Invalid date/time value {token.text} for {'.'.join(path)}")
            value = normalized
        return value


def resolve_field(entity: str, name: str) -> tuple[str, ...]:
    """A case-insensitive field path (`metadata.lastupdatedtime`) as the record's own keys."""
    parts = name.split(".")
    if parts[0].lower() == "metadata" and len(parts) == 2:
        inner = {"createtime": "CreateTime", "lastupdatedtime": "LastUpdatedTime"}.get(parts[1].lower())
        if inner:
            return ("MetaData", inner)
    kind = KINDS.get(entity)
    if kind is None:  # CompanyInfo / Preferences: any top-level key
        return tuple(parts)
    if len(parts) == 1:
        for known in kind.fields:
            if known.lower() == parts[0].lower():
                return (known,)
    raise query_validation_error(f"property '{name}' is not queryable")


def parse_query(text: str, company_time: CompanyTime, today: date) -> QueryPlan:
    return _Parser(text, company_time, today).parse()


# ---- evaluation ---------------------------------------------------------------------------------------------------


def _getter(path: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    if len(path) == 2:
        outer, inner = path

        def nested(record: dict[str, Any]) -> Any:
            holder = record.get(outer)
            return holder.get(inner) if isinstance(holder, dict) else None

        return nested
    key = path[0]

    def flat(record: dict[str, Any]) -> Any:
        value = record.get(key)
        if isinstance(value, dict):  # a reference: filter on its value (`CustomerRef = '58'`)
            return value.get("value")
        return value

    return flat


def _comparable(value: Any, literal: Literal) -> tuple[Any, Any] | None:
    """Both sides in one comparable type, or None when they cannot be compared (the row does not match)."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(literal, bool):
        as_bool = {"true": True, "false": False}
        left = value if isinstance(value, bool) else as_bool.get(str(value).lower())
        right = literal if isinstance(literal, bool) else as_bool.get(str(literal).lower())
        return None if left is None or right is None else (left, right)
    if isinstance(value, int | float) or isinstance(literal, float):
        try:
            return float(value), float(literal)
        except (TypeError, ValueError):
            return str(value).lower(), str(literal).lower()
    if isinstance(value, str):
        return value.lower(), str(literal).lower()
    return None


def _like_pattern(literal: Literal) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in str(literal).split("%")) + "$", re.IGNORECASE | re.S)


def compile_condition(condition: Condition) -> Callable[[dict[str, Any]], bool]:
    get = _getter(condition.path)
    op = condition.op
    if condition.path == ("Id",):
        wanted = {str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in condition.values}
        return lambda record: record.get("Id") in wanted
    if condition.path in DATETIME_FIELDS:
        bound = str(condition.values[0])
        # Stamps compare as text (one company offset); a stamp that is not a date-time satisfies every lower bound
        # and no upper bound (see stamp_readable).
        comparisons: dict[str, Callable[[str], bool]] = {
            "=": lambda v: v == bound,
            "<": lambda v: v < bound and stamp_readable(v),
            ">": lambda v: v > bound or not stamp_readable(v),
            "<=": lambda v: v <= bound and stamp_readable(v),
            ">=": lambda v: v >= bound or not stamp_readable(v),
        }
        if op in comparisons:
            test = comparisons[op]

            def stamp_matches(record: dict[str, Any]) -> bool:
                value = get(record)
                return value is not None and test(value)

            return stamp_matches
        if op == "IN":
            bounds = {str(v) for v in condition.values}
            return lambda record: get(record) in bounds
    if op == "LIKE":
        pattern = _like_pattern(condition.values[0])
        return lambda record: isinstance(get(record), str) and bool(pattern.match(get(record)))
    if op == "IN":
        literals = condition.values

        def any_equal(record: dict[str, Any]) -> bool:
            value = get(record)
            for literal in literals:
                pair = _comparable(value, literal)
                if pair is not None and pair[0] == pair[1]:
                    return True
            return False

        return any_equal
    literal = condition.values[0]
    compare: Callable[[Any, Any], bool] = {
        "=": lambda a, b: a == b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }[op]

    def matches(record: dict[str, Any]) -> bool:
        pair = _comparable(get(record), literal)
        if pair is None:
            return False
        try:
            return compare(pair[0], pair[1])
        except TypeError:
            return False

    return matches


def compile_where(conditions: list[Condition]) -> Callable[[dict[str, Any]], bool] | None:
    tests = [compile_condition(condition) for condition in conditions]
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda record: all(test(record) for test in tests)


def id_sort_key(record: dict[str, Any]) -> tuple[int, int, str]:
    """Numeric Ids in numeric order; non-numeric ones (TaxCode TAX/NON) after them."""
    record_id = record.get("Id", "")
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


def stamp_readable(value: str) -> bool:
    """Whether a stored MetaData stamp is a date-time at all.

    Real QBO cannot hold anything else; the admin seed can (a client's handling of a stamp it cannot parse is tested
    that way). Such a stamp has no place in time: it sorts before every stamp, as a missing one does, and it satisfies
    every `>`/`>=` bound and no `<`/`<=` bound, as a record just written would, so an incremental reader is shown it on
    every run rather than never (it would otherwise vanish from every read but a full one)."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def stamp_key(value: Any) -> tuple[int, Any]:
    """Sort key of a MetaData stamp: missing, then not a date-time, then in time order (as text, one offset)."""
    if value is None:
        return (0, 0)
    text = str(value)
    return (3, text.lower()) if stamp_readable(text) else (1, text.lower())


def _value_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value.lower())
    return (4, str(value))


def leading_range(
    conditions: list[Condition], order: list[tuple[tuple[str, ...], bool]]
) -> tuple[Condition | None, list[Condition]]:
    """The `stamp >= x` (or `>`) condition on the leading ascending ORDERBY stamp, and the other conditions.

    Such a condition cuts the other conditions' ordered rows at one point, as an index range scan would, so a
    reader paging by stamp does not cost a filter and a sort of the whole entity per page."""
    if not order or order[0][1]:
        return None, conditions
    path = order[0][0]
    for index, condition in enumerate(conditions):
        if condition.path == path and path in DATETIME_FIELDS and condition.op in (">=", ">"):
            return condition, conditions[:index] + conditions[index + 1 :]
    return None, conditions


def cut_at(rows: list[dict[str, Any]], condition: Condition) -> list[dict[str, Any]]:
    """The rows (sorted ascending on the condition's stamp field) that the range condition keeps: the tail from the
    bound, after the head of stamps that are not date-times (which every lower bound keeps)."""
    get = _getter(condition.path)

    def key(record: dict[str, Any]) -> tuple[int, Any]:
        return stamp_key(get(record))

    bound = stamp_key(str(condition.values[0]))
    find = bisect.bisect_left if condition.op == ">=" else bisect.bisect_right
    tail = rows[find(rows, bound, key=key) :]
    unreadable = rows[bisect.bisect_left(rows, (1, ""), key=key) : bisect.bisect_left(rows, (2, ""), key=key)]
    return unreadable + tail if unreadable else tail


def sort_records(records: list[dict[str, Any]], order: list[tuple[tuple[str, ...], bool]]) -> list[dict[str, Any]]:
    """Stable multi-key sort; Id breaks ties so paging over equal stamps is deterministic."""
    rows = sorted(records, key=id_sort_key)
    for path, descending in reversed(order):
        if path == ("Id",):
            rows.sort(key=id_sort_key, reverse=descending)
            continue
        get = _getter(path)
        order_key = stamp_key if path in DATETIME_FIELDS else _value_key
        rows.sort(key=lambda record: order_key(get(record)), reverse=descending)
    return rows
