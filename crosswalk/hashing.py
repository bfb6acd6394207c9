"""Content hashing shared by every stage: one canonical JSON form, one digest."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

# Sorted keys, no whitespace, non-ASCII kept; datetimes and dataclasses go through `default=str` as with json. For
# text, integers, booleans, null and nested objects and arrays of them the text equals
# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str); floats may be written
# differently (2.5e-05 as 0.000025), and NaN and infinities, which JSON cannot carry, become null.
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def canonical_json(value: Any) -> str:
    """Stable JSON text: sorted keys, no whitespace, non-ASCII kept, non-JSON types rendered as strings.

    Staging encodes every record it reads with this, so it uses orjson; values orjson refuses (integers beyond
    64 bits) fall back to the standard library, which gives the same form."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON form of `value`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
