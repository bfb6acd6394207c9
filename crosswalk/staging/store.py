"""StagingStore: the one place that reads and writes staging tables, on SQLite (embedded) or PostgreSQL.

Bulk writes take each database's fast path: COPY into a temporary table then one set-based upsert on
PostgreSQL, executemany on SQLite. Nothing here knows about Dagster or any vendor API.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crosswalk.hashing import canonical_json, content_hash
from crosswalk.settings import redact_url
from crosswalk.staging import migrations, schema

# Keys per IN (...) lookup: well under SQLite's bound-parameter limit, large enough to be one query per page.
_LOOKUP_CHUNK = 5000
_SQLITE_TIMEOUT_SECONDS = 60.0  # how long a SQLite connection waits for another's lock

# Built once: the same statement runs for every page of every stream (the key list expands at execution).
_EXISTING_HASHES = sa.select(
    schema.raw_records.c.record_key, schema.raw_records.c.content_hash, schema.raw_records.c.deleted
).where(
    schema.raw_records.c.system == sa.bindparam("system"),
    schema.raw_records.c.object == sa.bindparam("object"),
    schema.raw_records.c.record_key.in_(sa.bindparam("keys", expanding=True)),
)


@dataclass(frozen=True)
class RawRecord:
    """One record of one stream, as the source API returned it."""

    key: str
    payload: Mapping[str, Any]
    replication_stamp: str | None = None
    replicated_at: datetime | None = None
    deleted: bool = False

    @property
    def content_hash(self) -> str:
        return content_hash(self.payload)

    def canonical_payload(self) -> tuple[str, str]:
        """(canonical JSON text of the payload, its content hash): the text is made once and serves both."""
        text = canonical_json(self.payload)
        return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class WriteCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, other: WriteCounts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.deleted += other.deleted


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names by default (it gives COPY from Python)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class StoreUnavailable(Exception):
    """The staging store a URL names cannot be used: the URL is not one, its database or driver is not supported,
    the database cannot be reached, or (for a reader) no store is there. The message is one line naming the redacted
    URL and the reason, never the password."""

    def __init__(self, url: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"staging store {redact_url(url)}: {reason}")


_SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def parse_database_url(url: str) -> sa.URL:
    """The URL as SQLAlchemy reads it (PostgreSQL on psycopg 3), or StoreUnavailable saying why not."""
    try:
        sa_url = sa.engine.make_url(normalise_database_url(url))
    except (sa.exc.ArgumentError, ValueError):
        # Not chained: the parser's message may quote the whole URL, password included.
        reason = "not a database URL (expected sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)"
        raise StoreUnavailable(url, reason) from None
    if sa_url.get_backend_name() not in _SUPPORTED_BACKENDS:
        reason = f"unsupported database {sa_url.get_backend_name()!r} (the staging store is SQLite or PostgreSQL)"
        raise StoreUnavailable(url, reason)
    return sa_url


def unavailable_reason(error: sa.exc.DBAPIError, url: str) -> str:
    """The database's own first line of why an operation failed, with the URL's password masked should it appear."""
    text = str(error.orig if error.orig is not None else error).strip()
    reason = text.splitlines()[0].strip() if text else type(error).__name__
    try:
        password = sa.engine.make_url(url).password
    except (sa.exc.ArgumentError, ValueError):
        password = None
    return reason.replace(password, "***") if password else reason


@contextmanager
def unavailable_on_database_error(url: str) -> Iterator[None]:
    """Database errors inside become StoreUnavailable, one line naming the redacted URL and the database's reason."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise StoreUnavailable(url, unavailable_reason(exc, url)) from exc


def create_staging_engine(url: str) -> sa.Engine:
    sa_url = parse_database_url(url)
    try:
        if sa_url.get_backend_name() == "sqlite":
            engine = sa.create_engine(sa_url, connect_args={"timeout": _SQLITE_TIMEOUT_SECONDS})
            if sa_url.database and sa_url.database != ":memory:":
                _create_directory_on_connect(engine, Path(sa_url.database).parent, url)
            _use_explicit_sqlite_transactions(engine)
            return engine
        # No server-side prepared statements: a generic plan for a 5000-key IN list is catastrophically slow.
        return sa.create_engine(sa_url, pool_pre_ping=True, connect_args={"prepare_threshold": None})
    except (sa.exc.NoSuchModuleError, ImportError):
        raise StoreUnavailable(url, f"database driver {sa_url.drivername!r} is not installed or unknown") from None


def _create_directory_on_connect(engine: sa.Engine, directory: Path, url: str) -> None:
    """The SQLite file's directory is made when a connection opens, not when the engine is built, so a store only
    looked for (crosswalk status) leaves nothing behind where there was none."""

    @event.listens_for(engine, "do_connect")
    def _on_do_connect(_dialect: Any, _record: Any, _args: Any, _kwargs: Any) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(url, f"cannot create directory {directory}: {exc.strerror or exc}") from exc


def _use_explicit_sqlite_transactions(engine: sa.Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (so DDL is transactional too)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Staged payloads are JSON documents of a few KB: 16 KB pages keep most in one page instead of overflow
        # chains, which halves bulk-write time. Takes effect only when the file is new (ignored afterwards).
        cursor.execute("PRAGMA page_size=16384")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A deferred BEGIN that reads and then writes cannot wait for the write lock: SQLite answers 'database is
        # locked' at once, busy timeout or not, when another process holds it or committed since the read. Write
        # transactions therefore take the write lock first (waiting up to the busy timeout); reads stay deferred.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.pop("begin_immediate", False) else "BEGIN")


def _switch_to_wal(cursor: Any, timeout_seconds: float = _SQLITE_TIMEOUT_SECONDS) -> None:
    """WAL mode, waiting out other connections: the switch needs an exclusive lock, and SQLite reports a busy
    database at once instead of calling the busy handler, so processes opening a new file together would fail."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _PreparedUpsert:
    """An upsert statement, and for SQLite its compiled text, positional parameters and their value converters."""

    statement: Any
    driver_sql: str | None = None
    parameters: tuple[str, ...] = ()
    converters: tuple[Callable[[Any], Any] | None, ...] = ()

    @classmethod
    def of(cls, statement: Any, table: sa.Table, columns: list[str], dialect: sa.Dialect) -> _PreparedUpsert:
        if dialect.name != "sqlite":
            return cls(statement)
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        parameters = tuple(compiled.positiontup or ())
        if not compiled.positional or sorted(parameters) != sorted(columns):
            return cls(statement)  # defaults or expressions to evaluate: SQLAlchemy executes it
        converters = tuple(table.c[name].type._cached_bind_processor(dialect) for name in parameters)
        return cls(statement, str(compiled), parameters, converters)


def _watermark_row(system: str, object_name: str, value: str | None, run_id: str | None) -> dict[str, Any]:
    return {"system": system, "object": object_name, "value": value, "run_id": run_id, "updated_at": _now()}


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for what was stored as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class StagingStore:
    def __init__(self, url: str) -> None:
        """Raises StoreUnavailable for a URL that is not one or names a database or driver the store cannot use;
        connects only when first used."""
        self.url = normalise_database_url(url)
        self.engine = create_staging_engine(url)
        # Upsert statements by (dialect, table, columns, kept columns): building one costs more than running it
        # for a small page, and every page of a stream needs the same one.
        self._upsert_statements: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], _PreparedUpsert] = {}

    def __repr__(self) -> str:
        return f"StagingStore({redact_url(self.url)})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> list[int]:
        """Create or upgrade the schema (Alembic revisions, crosswalk/staging/migrations.py); returns the schema
        versions applied now. Raises StoreUnavailable when the store's recorded schema is not one this release
        can upgrade."""
        with self.engine.connect() as conn:
            conn.info["begin_immediate"] = True  # the migration lock on SQLite
            try:
                return migrations.migrate(conn)
            except migrations.MigrationError as exc:
                raise StoreUnavailable(self.url, str(exc)) from None

    def exists(self) -> bool:
        """Whether a staging store is there (a schema version recorded), found without creating one: a SQLite file
        that is missing is not opened, since opening it would create it."""
        sa_url = self.engine.url
        if self.dialect == "sqlite":
            if not sa_url.database or sa_url.database == ":memory:":
                return False
            if not sa_url.query.get("uri") and not Path(sa_url.database).is_file():
                return False
        return self.schema_version() > 0

    def schema_version(self) -> int:
        """The store's schema version (its Alembic revision's number, or the version the runner before Alembic
        recorded); 0 when there is no store. Reads only."""
        with self.engine.connect() as conn:
            try:
                return migrations.current_version(conn)
            except migrations.MigrationError as exc:
                raise StoreUnavailable(self.url, str(exc)) from None

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write transaction: on SQLite it holds the write lock from its start, so concurrent writers queue."""
        with self.engine.connect() as conn:
            conn.info["begin_immediate"] = True
            with conn.begin():
                yield conn

    # ---- raw records -------------------------------------------------------------------------------------

    def existing_hashes(
        self, system: str, object_name: str, keys: Sequence[str], conn: sa.Connection | None = None
    ) -> dict[str, tuple[str, bool]]:
        """For the given keys of one stream, the stored (content hash, deleted flag) of those already staged."""
        found: dict[str, tuple[str, bool]] = {}
        with self._connection(conn) as c:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = list(keys[start : start + _LOOKUP_CHUNK])
                rows = c.execute(_EXISTING_HASHES, {"system": system, "object": object_name, "keys": chunk})
                for key, digest, deleted in rows:
                    found[key] = (digest, bool(deleted))
        return found

    def stage_raw_records(
        self,
        system: str,
        object_name: str,
        records: Sequence[RawRecord],
        run_id: str | None,
        watermark: str | None = None,
    ) -> WriteCounts:
        """Write one page of a stream: new and changed records are upserted, unchanged ones are not touched.

        A record is unchanged when its content hash and deleted flag equal the stored ones. Later records in
        the page win over earlier ones with the same key (an API may return a record twice across a boundary).
        A `watermark` given is stored in the same transaction (as set_watermark would), so it commits with the page.
        """
        latest: dict[str, RawRecord] = {}
        for record in records:
            latest[record.key] = record
        counts = WriteCounts()
        with self.transaction() as conn:
            stored = self.existing_hashes(system, object_name, list(latest), conn)
            rows: list[dict[str, Any]] = []
            now = _now()
            for key, record in latest.items():
                # JSON encoding is the largest per-record cost of staging: the canonical text hashed is also the
                # payload stored (same JSON value, keys sorted) rather than encoding every record twice.
                payload, digest = record.canonical_payload()
                previous = stored.get(key)
                if previous is not None and previous == (digest, record.deleted):
                    counts.unchanged += 1
                    continue
                if record.deleted:
                    counts.deleted += 1
                elif previous is None:
                    counts.new += 1
                else:
                    counts.changed += 1
                rows.append(
                    {
                        "system": system,
                        "object": object_name,
                        "record_key": key,
                        "replication_stamp": record.replication_stamp,
                        "replicated_at": record.replicated_at,
                        "content_hash": digest,
                        "payload": payload,
                        "deleted": record.deleted,
                        "first_seen_run": run_id,
                        "last_seen_run": run_id,
                        "updated_at": now,
                    }
                )
            if rows:
                self._upsert(conn, schema.raw_records, rows, keep_on_update=("first_seen_run",))
            if watermark is not None:
                self._upsert(
                    conn,
                    schema.watermarks,
                    [_watermark_row(system, object_name, watermark, run_id)],
                    keep_on_update=("last_key_scan_at",),
                )
        return counts

    def mark_deleted(self, system: str, object_name: str, keys: Iterable[str], run_id: str | None) -> int:
        """Flag staged records as deleted (keys not already flagged); returns how many changed."""
        table = schema.raw_records
        total = 0
        key_list = list(keys)
        with self.transaction() as conn:
            for start in range(0, len(key_list), _LOOKUP_CHUNK):
                chunk = key_list[start : start + _LOOKUP_CHUNK]
                result = conn.execute(
                    table.update()
                    .where(
                        table.c.system == system,
                        table.c.object == object_name,
                        table.c.record_key.in_(chunk),
                        table.c.deleted.is_(False),
                    )
                    .values(deleted=True, last_seen_run=run_id, updated_at=_now())
                )
                total += result.rowcount or 0
        return total

    def iter_staged_keys(self, system: str, object_name: str, include_deleted: bool = False) -> Iterator[str]:
        table = schema.raw_records
        query = sa.select(table.c.record_key).where(table.c.system == system, table.c.object == object_name)
        if not include_deleted:
            query = query.where(table.c.deleted.is_(False))
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=10_000).execute(query)
            yield from result.scalars()

    def iter_staged_records(self, system: str, object_name: str) -> Iterator[tuple[str, dict[str, Any], bool, str]]:
        """Every staged record of a stream: (key, payload, deleted, content hash), streamed."""
        table = schema.raw_records
        query = sa.select(table.c.record_key, table.c.payload, table.c.deleted, table.c.content_hash).where(
            table.c.system == system, table.c.object == object_name
        )
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=10_000).execute(query)
            for key, payload, deleted, digest in result:
                yield key, orjson.loads(payload), bool(deleted), digest

    def driver_rows(self, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
        """All rows of a query as the database driver returns them (no SQLAlchemy type processing: SQLite gives
        booleans as 0/1): for large reads of plain columns, where per-row processing is most of the cost."""
        compiled = query.compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
        values = compiled.params
        params = [values[name] for name in compiled.positiontup or ()] if compiled.positional else values
        with self.engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(str(compiled), params)
                return list(cursor.fetchall())
            finally:
                cursor.close()

    @staticmethod
    def driver_executemany(conn: sa.Connection, statement: sa.Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a statement once per row through the driver's executemany, compiled once and without SQLAlchemy's
        per-row processing: for many rows of plain values (text, numbers), inside the caller's transaction."""
        if not rows:
            return
        compiled = statement.compile(dialect=conn.dialect)
        names = compiled.positiontup
        params = [tuple(row[name] for name in names) for row in rows] if compiled.positional and names else rows
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(str(compiled), params)
        finally:
            cursor.close()

    def staged_states(self, system: str, object_name: str) -> dict[str, tuple[Any, str]]:
        """Every staged record of a stream without its payload: key -> (deleted (truthy), content hash)."""
        table = schema.raw_records
        query = sa.select(table.c.record_key, table.c.deleted, table.c.content_hash).where(
            table.c.system == system, table.c.object == object_name
        )
        return {key: (deleted, digest) for key, deleted, digest in self.driver_rows(query)}

    def iter_staged_records_of(
        self, system: str, object_name: str, keys: Iterable[str]
    ) -> Iterator[tuple[str, dict[str, Any], bool, str]]:
        """The staged records of a stream with these keys, as iter_staged_records gives them (in no set order)."""
        table = schema.raw_records
        query = sa.select(table.c.record_key, table.c.payload, table.c.deleted, table.c.content_hash).where(
            table.c.system == system, table.c.object == object_name
        )
        wanted = list(keys)
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = query.where(table.c.record_key.in_(wanted[start : start + _LOOKUP_CHUNK]))
            for key, payload, deleted, digest in self.driver_rows(chunk):
                yield key, orjson.loads(payload), bool(deleted), digest

    def staged_record(self, system: str, object_name: str, key: str) -> dict[str, Any] | None:
        table = schema.raw_records
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(table).where(
                        table.c.system == system, table.c.object == object_name, table.c.record_key == key
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        out = dict(row)
        out["payload"] = json.loads(out["payload"])
        out["updated_at"] = _as_utc(out["updated_at"])
        out["replicated_at"] = _as_utc(out["replicated_at"])
        return out

    def stream_counts(self) -> list[dict[str, Any]]:
        """Per staged stream: rows and deleted rows."""
        table = schema.raw_records
        query = (
            sa.select(
                table.c.system,
                table.c.object,
                sa.func.count().label("rows"),
                sa.func.sum(sa.case((table.c.deleted.is_(True), 1), else_=0)).label("deleted"),
            )
            .group_by(table.c.system, table.c.object)
            .order_by(table.c.system, table.c.object)
        )
        with self.engine.connect() as conn:
            return [
                {"system": s, "object": o, "rows": int(r), "deleted": int(d or 0)} for s, o, r, d in conn.execute(query)
            ]

    # ---- watermarks --------------------------------------------------------------------------------------

    def get_watermark(self, system: str, object_name: str) -> str | None:
        table = schema.watermarks
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(table.c.value).where(table.c.system == system, table.c.object == object_name)
            ).scalar_one_or_none()

    def set_watermark(self, system: str, object_name: str, value: str | None, run_id: str | None) -> None:
        self._upsert_one(
            schema.watermarks, _watermark_row(system, object_name, value, run_id), keep_on_update=("last_key_scan_at",)
        )

    def mark_key_scan(self, system: str, object_name: str, when: datetime) -> None:
        table = schema.watermarks
        with self.transaction() as conn:
            updated = conn.execute(
                table.update()
                .where(table.c.system == system, table.c.object == object_name)
                .values(last_key_scan_at=when)
            ).rowcount
            if not updated:
                conn.execute(
                    table.insert().values(
                        system=system, object=object_name, value=None, last_key_scan_at=when, updated_at=_now()
                    )
                )

    def last_key_scan(self, system: str, object_name: str) -> datetime | None:
        table = schema.watermarks
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(table.c.last_key_scan_at).where(table.c.system == system, table.c.object == object_name)
            ).scalar_one_or_none()
        return _as_utc(value)

    # ---- extract run history -----------------------------------------------------------------------------

    def record_extract_run(self, row: Mapping[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(schema.extract_runs.insert().values(**row))

    def latest_extract_runs(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The most recent extract run row per (system, object)."""
        table = schema.extract_runs
        latest = sa.select(sa.func.max(table.c.id).label("id")).group_by(table.c.system, table.c.object).subquery()
        query = sa.select(table).join(latest, table.c.id == latest.c.id)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            row["started_at"] = _as_utc(row["started_at"])
            row["finished_at"] = _as_utc(row["finished_at"])
        return {(r["system"], r["object"]): r for r in rows}

    def watermarks(self) -> dict[tuple[str, str], str | None]:
        table = schema.watermarks
        with self.engine.connect() as conn:
            return {(s, o): v for s, o, v in conn.execute(sa.select(table.c.system, table.c.object, table.c.value))}

    # ---- rotating credentials ----------------------------------------------------------------------------

    def get_credential(self, system: str, name: str) -> str | None:
        table = schema.connection_credentials
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(table.c.value).where(table.c.system == system, table.c.name == name)
            ).scalar_one_or_none()

    def set_credential(self, system: str, name: str, value: str) -> None:
        """Durably store a credential (committed when this returns)."""
        self._upsert_one(
            schema.connection_credentials, {"system": system, "name": name, "value": value, "updated_at": _now()}
        )

    def delete_credential(self, system: str, name: str) -> None:
        table = schema.connection_credentials
        with self.transaction() as conn:
            conn.execute(table.delete().where(table.c.system == system, table.c.name == name))

    # ---- append-only logs --------------------------------------------------------------------------------

    def bulk_insert(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append many rows at once (COPY on PostgreSQL, executemany elsewhere)."""
        if not rows:
            return 0
        with self.transaction() as conn:
            if conn.dialect.name == "postgresql":
                self._copy_rows(conn, table.name, list(rows[0].keys()), rows)
            else:
                conn.execute(table.insert(), [dict(r) for r in rows])
        return len(rows)

    def count_rows(self, table: sa.Table) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    # ---- internals ---------------------------------------------------------------------------------------

    @contextmanager
    def _connection(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        if conn is not None:
            yield conn
        else:
            with self.engine.connect() as fresh:
                yield fresh

    def _upsert_one(self, table: sa.Table, row: Mapping[str, Any], keep_on_update: Sequence[str] = ()) -> None:
        with self.transaction() as conn:
            self._upsert(conn, table, [dict(row)], keep_on_update=keep_on_update)

    @staticmethod
    def _copy_rows(conn: sa.Connection, table_name: str, columns: list[str], rows: Sequence[Mapping[str, Any]]) -> None:
        driver_conn = conn.connection.driver_connection
        column_list = ", ".join(columns)
        with driver_conn.cursor() as cursor, cursor.copy(f"COPY {table_name} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def _upsert(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], keep_on_update: Sequence[str] = ()
    ) -> None:
        key_columns = [c.name for c in table.primary_key.columns]
        columns = list(rows[0].keys())
        update_columns = [c for c in columns if c not in key_columns and c not in keep_on_update]
        if conn.dialect.name == "postgresql" and len(rows) > 1:
            staging_name = f"_incoming_{table.name}"
            conn.exec_driver_sql(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging_name} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            self._copy_rows(conn, staging_name, columns, rows)
            column_list = ", ".join(columns)
            assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in update_columns)
            conn.exec_driver_sql(
                f"INSERT INTO {table.name} ({column_list}) SELECT {column_list} FROM {staging_name} "
                f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {assignments}"
            )
            conn.exec_driver_sql(f"TRUNCATE {staging_name}")
            return
        cache_key = (conn.dialect.name, table.name, tuple(columns), tuple(keep_on_update))
        prepared = self._upsert_statements.get(cache_key)
        if prepared is None:
            insert = pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
            statement = insert.on_conflict_do_update(
                index_elements=key_columns, set_={c: insert.excluded[c] for c in update_columns}
            )
            prepared = _PreparedUpsert.of(statement, table, columns, conn.dialect)
            self._upsert_statements[cache_key] = prepared
        if prepared.driver_sql is None or len(rows) == 1:
            conn.execute(prepared.statement, rows)
            return
        # SQLAlchemy converts each value of each row on its own, which costs as much as SQLite's insert of a staged
        # record. The same converters are applied here column by column, a value shared by every row (the stream,
        # the run, the write time) once, and the compiled statement goes to the driver's executemany.
        values_by_column = []
        for name, convert in zip(prepared.parameters, prepared.converters, strict=True):
            values = [row[name] for row in rows]
            if convert is not None:
                first = values[0]
                if all(value is first for value in values):
                    values = [convert(first)] * len(values)
                else:
                    values = [convert(value) for value in values]
            values_by_column.append(values)
        conn.exec_driver_sql(prepared.driver_sql, list(zip(*values_by_column, strict=True)))

    # ---- quarantine ----------------------------------------------------------------------------------------

    def quarantine(
        self, system: str, object_name: str, stage: str, entries: Sequence[Mapping[str, Any]], run_id: str | None
    ) -> None:
        """Keep records aside with the rule they broke. Each entry has record_key, rule, reason and payload (the
        record as read). A record has at most one open row per stage: quarantined again, its row takes the new rule,
        reason, payload and run rather than a second row being added."""
        if not entries:
            return
        table = schema.quarantine
        latest = {str(entry["record_key"]): entry for entry in entries}
        now = _now()
        with self.transaction() as conn:
            open_ids: dict[str, int] = {}
            keys = list(latest)
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                query = sa.select(table.c.record_key, table.c.id).where(
                    table.c.system == system,
                    table.c.object == object_name,
                    table.c.stage == stage,
                    table.c.resolved_at.is_(None),
                    table.c.record_key.in_(keys[start : start + _LOOKUP_CHUNK]),
                )
                open_ids.update((key, row_id) for key, row_id in conn.execute(query))
            inserts: list[dict[str, Any]] = []
            for key, entry in latest.items():
                values = {
                    "run_id": run_id,
                    "rule": entry["rule"],
                    "reason": entry["reason"],
                    "payload": canonical_json(entry["payload"]) if entry.get("payload") is not None else None,
                }
                if key in open_ids:
                    conn.execute(table.update().where(table.c.id == open_ids[key]).values(**values))
                else:
                    inserts.append(
                        {"stage": stage, "system": system, "object": object_name, "record_key": key, "created_at": now}
                        | values
                    )
            if inserts:
                conn.execute(table.insert(), inserts)

    def open_quarantine_keys(self, system: str, object_name: str, stage: str) -> set[str]:
        """Keys of one stream's records quarantined at `stage` and not resolved since."""
        table = schema.quarantine
        query = sa.select(table.c.record_key).where(
            table.c.system == system,
            table.c.object == object_name,
            table.c.stage == stage,
            table.c.resolved_at.is_(None),
            table.c.record_key.is_not(None),
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def resolve_quarantine(self, system: str, object_name: str, stage: str, keys: Iterable[str]) -> int:
        """Mark the open quarantine rows of these records at `stage` resolved (the record passed, or is gone)."""
        table = schema.quarantine
        key_list = list(keys)
        total = 0
        if not key_list:
            return 0
        with self.transaction() as conn:
            for start in range(0, len(key_list), _LOOKUP_CHUNK):
                result = conn.execute(
                    table.update()
                    .where(
                        table.c.system == system,
                        table.c.object == object_name,
                        table.c.stage == stage,
                        table.c.resolved_at.is_(None),
                        table.c.record_key.in_(key_list[start : start + _LOOKUP_CHUNK]),
                    )
                    .values(resolved_at=_now())
                )
                total += result.rowcount or 0
        return total

    def quarantined(self, system: str | None = None, object_name: str | None = None) -> list[dict[str, Any]]:
        """Quarantine rows, open and resolved, oldest first, payload decoded."""
        table = schema.quarantine
        query = sa.select(table).order_by(table.c.id)
        if system is not None:
            query = query.where(table.c.system == system)
        if object_name is not None:
            query = query.where(table.c.object == object_name)
        with self.engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        for row in rows:
            row["payload"] = json.loads(row["payload"]) if row["payload"] is not None else None
            row["created_at"] = _as_utc(row["created_at"])
            row["resolved_at"] = _as_utc(row["resolved_at"])
        return rows
