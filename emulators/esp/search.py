"""ESP+ search: `from` (1-based page) / `size` paging, JSON `sortBy` and `filters`, `status`, `term`, `modifiedSince`.

ASI's `GET /{resource}/search` returns `{Results, ResultsTotal, Aggregations}`. The ordered id list of a query is
computed once and cached until the object changes, so walking 1,000 pages of a 100k-record object costs one sort.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from emulators.esp.dates import parse_instant
from emulators.esp.errors import bad_request
from emulators.esp.model import LINK_OBJECT, LINKABLE_MEMBER_TYPES, MEMBER_TYPES, EspStore

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100  # SmartLink's documented rpp cap, applied to every ESP+ search here

Predicate = Callable[[dict[str, Any]], bool]
T = TypeVar("T")


class Tail(Sequence[T]):
    """rows[start:] without the copy: an incremental reader cuts a cached 100k-row ordering once per page."""

    def __init__(self, rows: list[T], start: int = 0) -> None:
        self.rows = rows
        self.start = start

    def __len__(self) -> int:
        return len(self.rows) - self.start

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            low, high, step = index.indices(len(self))
            return self.rows[self.start + low : self.start + high : step]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.rows[self.start + index % len(self)]


# sortBy keys (camelCase as the ESP+ web app sends them) -> stored field
_SORT_FIELDS: dict[str, dict[str, str]] = {
    "Company": {
        "id": "Id",
        "name": "Name",
        "createDate": "CreateDate",
        "updateDate": "UpdateDate",
        "lastActivityDate": "LastActivityDate",
    },
    "Contact": {"id": "Id", "name": "Name", "createDate": "CreateDate", "updateDate": "UpdateDate"},
    "User": {"id": "Id", "name": "Name", "createDate": "CreateDate", "updateDate": "UpdateDate"},
    "Order": {"id": "Id", "number": "Number", "date": "Date", "createDate": "CreateDate", "updateDate": "UpdateDate"},
    "PurchaseOrder": {
        "id": "Id",
        "number": "Number",
        "date": "Date",
        "createDate": "CreateDate",
        "updateDate": "UpdateDate",
    },
    "Bill": {"id": "Id", "number": "Number", "date": "Date", "createDate": "CreateDate", "updateDate": "UpdateDate"},
}
_FILTERS: dict[str, tuple[str, ...]] = {
    "Company": ("CompanyType", "Owners", "UpdateDate"),
    "Contact": ("Companies", "Owners", "UpdateDate"),
    "User": ("UpdateDate",),
    "Order": ("Type", "Status", "Customers", "Owners", "IsSentToQuickbooks", "UpdateDate"),
    "PurchaseOrder": ("Status", "Vendors", "Customers", "Owners", "IsSentToQuickbooks", "UpdateDate"),
    "Bill": ("Status", "Vendors", "Customers", "Owners", "IsSentToQuickbooks", "UpdateDate"),
}
_REFERENCE_FILTERS = {"Owners": "OwnerId", "Customers": "CustomerId", "Vendors": "VendorId", "Companies": "CompanyId"}
_TERM_FIELD = {
    "Company": "Name",
    "Contact": "Name",
    "User": "Name",
    "Order": "Number",
    "PurchaseOrder": "Number",
    "Bill": "Number",
}


@dataclass(frozen=True)
class SearchCriteria:
    page: int
    size: int
    term: str
    status: str
    type: str
    sort: tuple[tuple[str, bool], ...]  # (stored field, descending)
    filters: tuple[tuple[str, tuple[str, ...], str], ...]  # (name, terms, behavior)
    modified_since: int | None

    @property
    def query_key(self) -> tuple[Any, ...]:
        return (self.term, self.status, self.type, self.sort, self.filters, self.modified_since)


def parse_page(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        page = int(params.get("from", "1"))
    except ValueError:
        raise bad_request("from must be a page number (1 or more)", "from") from None
    try:
        size = int(params.get("size", str(DEFAULT_PAGE_SIZE)))
    except ValueError:
        raise bad_request(f"size must be between 1 and {MAX_PAGE_SIZE}", "size") from None
    if page < 1:
        raise bad_request("from must be a page number (1 or more)", "from")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(f"size must be between 1 and {MAX_PAGE_SIZE}", "size")
    return page, size


def _json_param(params: Mapping[str, str], name: str) -> dict[str, Any]:
    raw = params.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise bad_request(f"{name} must be a JSON object", name) from None
    if not isinstance(value, dict):
        raise bad_request(f"{name} must be a JSON object", name)
    return value


def parse_sort(params: Mapping[str, str], sort_fields: dict[str, str]) -> tuple[tuple[str, bool], ...]:
    sort: list[tuple[str, bool]] = []
    for key, direction in _json_param(params, "sortBy").items():
        field = next((stored for name, stored in sort_fields.items() if name.lower() == key.lower()), None)
        if field is None:
            raise bad_request(f"sortBy cannot sort on {key}; use one of {', '.join(sort_fields)}", "sortBy")
        if str(direction).lower() not in ("asc", "desc"):
            raise bad_request("sortBy directions are asc or desc", "sortBy")
        sort.append((field, str(direction).lower() == "desc"))
    return tuple(sort)


def parse_criteria(object_name: str, params: Mapping[str, str]) -> SearchCriteria:
    page, size = parse_page(params)
    filters = []
    for name, spec in _json_param(params, "filters").items():
        if name not in _FILTERS[object_name]:
            known = ", ".join(_FILTERS[object_name])
            raise bad_request(f"Unknown filter {name}; {object_name} search filters: {known}", "filters")
        if not isinstance(spec, dict) or not isinstance(spec.get("terms"), list) or not spec["terms"]:
            raise bad_request(f'filters.{name} must be {{"terms": [...], "behavior": "Any"}}', "filters")
        behavior = spec.get("behavior") or "Any"
        if behavior not in ("Any", "All", "Not", "GreaterThanOrEqual", "LessThanOrEqual"):
            raise bad_request(f"Unknown filter behavior {behavior}", "filters")
        filters.append((name, tuple(str(t) for t in spec["terms"]), behavior))
    modified_since = params.get("modifiedSince")
    status = params.get("status", "")
    if object_name in ("Company", "Contact", "User") and status.lower() not in ("", "active", "inactive"):
        raise bad_request("status must be Active, Inactive or empty", "status")
    return SearchCriteria(
        page=page,
        size=size,
        term=params.get("term", "").strip().lower(),
        status=status.lower(),
        type=params.get("type", "").strip().lower(),
        sort=parse_sort(params, _SORT_FIELDS[object_name]),
        filters=tuple(filters),
        modified_since=parse_instant(modified_since, "modifiedSince") if modified_since else None,
    )


def _filter_predicate(object_name: str, name: str, terms: tuple[str, ...], behavior: str) -> Predicate:
    if name == "UpdateDate":
        bound = parse_instant(terms[0], "filters.UpdateDate")
        if behavior == "LessThanOrEqual":
            return lambda r: r["UpdateDate"] <= bound
        return lambda r: r["UpdateDate"] >= bound
    if name == "CompanyType":
        flags = []
        for term in terms:
            if term.lower() not in MEMBER_TYPES:
                raise bad_request(f"Unknown CompanyType {term}", "filters")
            flags.append(MEMBER_TYPES[term.lower()][1])
        if behavior == "All":
            return lambda r: all(r.get(f) for f in flags)
        if behavior == "Not":
            return lambda r: not any(r.get(f) for f in flags)
        return lambda r: any(r.get(f) for f in flags)
    if name in _REFERENCE_FILTERS:
        field = _REFERENCE_FILTERS[name]
        try:
            ids = {int(t) for t in terms}
        except ValueError:
            raise bad_request(f"filters.{name} takes ids", "filters") from None
        if behavior == "Not":
            return lambda r: r.get(field) not in ids
        return lambda r: r.get(field) in ids
    if name == "IsSentToQuickbooks":
        wanted = {t.lower() == "true" for t in terms}
        return lambda r: bool(r.get("IsSentToQuickbooks")) in wanted
    values = {t.lower() for t in terms}  # Type, Status
    if behavior == "Not":
        return lambda r: str(r.get(name) or "").lower() not in values
    return lambda r: str(r.get(name) or "").lower() in values


def _predicates(object_name: str, criteria: SearchCriteria) -> list[Predicate]:
    predicates = [_filter_predicate(object_name, *spec) for spec in criteria.filters]
    if criteria.modified_since is not None:
        since = criteria.modified_since
        predicates.append(lambda r: r["UpdateDate"] >= since)
    if criteria.term:
        field, term = _TERM_FIELD[object_name], criteria.term
        predicates.append(lambda r: term in str(r.get(field) or "").lower())
    if criteria.status:
        if object_name in ("Company", "Contact", "User"):
            active = criteria.status == "active"
            predicates.append(lambda r: r["IsActive"] is active)
        else:
            status = criteria.status
            predicates.append(lambda r: str(r.get("Status") or "").lower() == status)
    if criteria.type:
        if object_name == "Company":
            if criteria.type not in MEMBER_TYPES:
                raise bad_request("type must be customer, supplier, decorator or prospect", "type")
            flag = MEMBER_TYPES[criteria.type][1]
            predicates.append(lambda r: bool(r.get(flag)))
        elif object_name == "Order":
            kind = criteria.type
            predicates.append(lambda r: r["Type"] == kind)
    return predicates


def _sort_key(field: str) -> Callable[[dict[str, Any]], Any]:
    if field in ("Name", "Number"):
        return lambda r: (r.get(field) or "").lower()
    return lambda r: (r.get(field) is None, r.get(field) or 0)


def ordered(rows: list[dict[str, Any]], sort: tuple[tuple[str, bool], ...]) -> list[dict[str, Any]]:
    """Sort by the requested keys, then by Id in the first key's direction, so pages are stable."""
    tiebreak_descending = sort[0][1] if sort else False
    rows.sort(key=lambda r: r["Id"], reverse=tiebreak_descending)
    for field, descending in reversed(sort):
        rows.sort(key=_sort_key(field), reverse=descending)
    return rows


class SearchCache:
    """Ordered id lists of recent queries, valid while the store's generation of the object is unchanged."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()

    def lookup(self, key: tuple[Any, ...], compute: Callable[[], list[Any]]) -> list[Any]:
        found = self.entries.get(key)
        if found is None:
            found = compute()
            self.entries[key] = found
            if len(self.entries) > self.capacity:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(key)
        return found


def search_ids(store: EspStore, cache: SearchCache, object_name: str, criteria: SearchCriteria) -> Tail[int]:
    if criteria.modified_since is not None and criteria.sort[:1] == (("UpdateDate", False),):
        # The incremental-extract query: every page asks from a new modifiedSince. Cut the cached full ordering at
        # the first UpdateDate >= modifiedSince instead of filtering and sorting the object again.
        everything = search_ids(store, cache, object_name, dataclasses.replace(criteria, modified_since=None)).rows
        records = store.records[object_name]
        stamp_key = _sort_key("UpdateDate")
        start = bisect.bisect_left(everything, (False, criteria.modified_since), key=lambda i: stamp_key(records[i]))
        return Tail(everything, start)

    def compute() -> list[int]:
        predicates = _predicates(object_name, criteria)
        rows = [r for r in store.records[object_name].values() if all(p(r) for p in predicates)]
        return [r["Id"] for r in ordered(rows, criteria.sort)]

    key = (object_name, store.generations[object_name], criteria.query_key)
    return Tail(cache.lookup(key, compute))


def link_keys(
    store: EspStore,
    cache: SearchCache,
    member_type: str | None,
    linked: bool | None,
    modified_since: int | None,
    by_update_date: bool,
) -> tuple[Tail[tuple[int, str]], int, int]:
    """The (CompanyId, MemberType) rows of the link table, plus linked and unlinked counts for the member type(s)."""
    types = (member_type,) if member_type else LINKABLE_MEMBER_TYPES

    def compute() -> list[Any]:
        rows: list[tuple[int, str]] = []
        linked_count = unlinked_count = 0
        flags = [(t, MEMBER_TYPES[t.lower()][1]) for t in types]
        for company_id in sorted(store.records["Company"]):
            company = store.records["Company"][company_id]
            for display, flag in flags:
                if not company.get(flag):
                    continue
                link = store.links.get((company_id, display))
                if link is None:
                    unlinked_count += 1
                else:
                    linked_count += 1
                if linked is not None and (link is not None) is not linked:
                    continue
                if modified_since is not None and (link is None or link["UpdateDate"] < modified_since):
                    continue
                rows.append((company_id, display))
        if by_update_date:
            rows.sort(key=lambda k: store.links[k]["UpdateDate"] if k in store.links else 0)
        return [rows, linked_count, unlinked_count]

    if modified_since is not None and by_update_date:
        tail, linked_count, unlinked_count = link_keys(store, cache, member_type, linked, None, by_update_date)
        start = bisect.bisect_left(
            tail.rows, modified_since, key=lambda k: store.links[k]["UpdateDate"] if k in store.links else 0
        )
        return Tail(tail.rows, start), linked_count, unlinked_count

    key = (
        LINK_OBJECT,
        store.generations["Company"],
        store.generations[LINK_OBJECT],
        types,
        linked,
        modified_since,
        by_update_date,
    )
    rows, linked_count, unlinked_count = cache.lookup(key, compute)
    return Tail(rows), linked_count, unlinked_count
