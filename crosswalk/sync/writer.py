"""What the load stage needs from a system's client: batched writes whose every item is answered on its own, and
lookups by a field that identifies a record (an external id, a key chosen before the call) for lookup-before-retry.

The client batches at its API's floor (Salesforce sObject Collections of 200 or Bulk API 2.0; Intacct several
functions per request; QBO batch of 30) and reads every item's result: a failed item fails alone, and a reply that
claims success without the record's key is a failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from crosswalk.extract.retry import CallMeter


class WriteOp(StrEnum):
    CREATE = "create"
    UPDATE = "update"  # by the target's key
    UPSERT = "upsert"  # by an external id field: creates or updates, never duplicates


@dataclass(frozen=True)
class WriteRequest:
    op: WriteOp
    object: str  # the API object, e.g. ia_crm__Project__c, PROJECT
    fields: Mapping[str, Any]  # API field -> value in the API's wire form
    marker: str  # the intent's idempotency key: a Salesforce/Intacct function controlid, a QBO requestid
    key: str | None = None  # the target record's key, for UPDATE
    external_id: tuple[str, str] | None = None  # (field, value) naming the record, for UPSERT and lookups
    scope: str | None = None  # where to write: an Intacct entity (locationid); None is the top level


@dataclass(frozen=True)
class WriteResult:
    request: WriteRequest
    ok: bool
    key: str | None = None  # the record's key in the target after the write
    created: bool | None = None  # for UPSERT: whether the record was new
    errors: tuple[str, ...] = ()  # "CODE: message" per error the API gave for this item
    retryable: bool = False  # a failure worth trying again on a later run (throttling, lock, server error)


class RecordWriter(Protocol):
    system: str
    meter: CallMeter  # counts every API call and retry, as for extract

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Every request written in as few calls as the API allows; one result per request, in the same order."""
        ...

    def find(self, object_name: str, field_name: str, values: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Records of `object_name` whose `field_name` is one of `values`, by that value (the record as the API
        returns it, with its key); values no record has are absent. Used before a retried create."""
        ...
