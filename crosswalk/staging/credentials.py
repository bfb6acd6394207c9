"""Rotating credentials kept by several processes at once: a lock held across read-refresh-store, and credential
rows written without going through the store's watched token path (connection metadata, markers).

A refresh token that rotates on every refresh cannot be refreshed by two processes from the same stored copy: the
second one sends a token the first has just replaced, which Intuit refuses once the replaced token expires (at once
under its current policy). So a client takes `credential_lock` for the credential, reads the stored token, refreshes
and stores the rotated one before it lets go; the next process reads the token the first stored.

The lock is one the database gives where it can and the operating system otherwise:
- PostgreSQL: a transaction-level advisory lock (released at commit, or when a killed process's connection drops).
- SQLite: an exclusive `flock` on a file beside the database. SQLite's own write lock would also exclude other
  processes, but it would stall every staging write of every process for the length of an HTTP call; processes
  sharing a SQLite file share a host, so a file lock is exact. The kernel releases it when a process dies.
- SQLite in memory (one process): a thread lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crosswalk.staging import schema
from crosswalk.staging.store import StagingStore

LOCK_TIMEOUT_SECONDS = 120  # PostgreSQL: a holder makes one bounded HTTP call; waiting longer means it is wedged

_memory_locks: dict[str, threading.Lock] = {}
_memory_locks_guard = threading.Lock()


class CredentialLockTimeout(Exception):
    """Another process held the credential's lock for longer than LOCK_TIMEOUT_SECONDS."""


def advisory_key(system: str, name: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock, stable across processes and Python versions."""
    digest = hashlib.sha256(f"crosswalk-credential:{system}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_file_of(store: StagingStore) -> str | None:
    """The lock file beside a SQLite store's database file, or None for an in-memory database."""
    database = store.engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return f"{database}.credentials.lock"


@contextmanager
def credential_lock(store: StagingStore, system: str, name: str) -> Iterator[None]:
    """Held by one process (and one thread) at a time for the credential `name` of `system`, until the block ends."""
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'")
            try:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(system, name)})
            except sa.exc.OperationalError as exc:
                raise CredentialLockTimeout(
                    f"{system} credential {name.split(':')[0]}: lock not granted within {LOCK_TIMEOUT_SECONDS} s"
                ) from exc
            yield
        return
    path = lock_file_of(store)
    if path is None:
        with _memory_locks_guard:
            lock = _memory_locks.setdefault(f"{id(store.engine)}:{system}:{name}", threading.Lock())
        with lock:
            yield
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # each open() is its own lock owner: threads exclude each other too
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def put_credential(store: StagingStore, system: str, name: str, value: str) -> None:
    """Store a credential row (committed when this returns), replacing any earlier value."""
    write_credentials(store, system, {name: value})


def write_credentials(store: StagingStore, system: str, values: Mapping[str, str], forget: Sequence[str] = ()) -> None:
    """Set these credential rows of `system` and delete those named in `forget`, all in one transaction."""
    table = schema.connection_credentials
    with store.transaction() as conn:
        if forget:
            conn.execute(table.delete().where(table.c.system == system, table.c.name.in_(list(forget))))
        for name, value in values.items():
            insert = pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
            statement = insert.values(system=system, name=name, value=value, updated_at=datetime.now(UTC))
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[table.c.system, table.c.name],
                    set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
                )
            )
