"""Content hashing shared by every stage: one canonical JSON form, one digest."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Stable JSON text: sorted keys, no whitespace, non-ASCII kept, non-JSON types rendered as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON form of `value`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
