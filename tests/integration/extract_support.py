"""Shared pieces of the extract integration tests: a real emulator on a socket, the system's real client built from
the emulator's environment exports through its Dagster resource, and the extract loop run stream by stream against
a staging store (SQLite and PostgreSQL through the `store` fixture).
"""

from __future__ import annotations

import gc
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crosswalk.clients.catalog import find_stream, streams_of
from crosswalk.config import ExtractSettings
from crosswalk.extract.retry import RetryPolicy
from crosswalk.extract.runner import StreamResult, extract_stream
from crosswalk.extract.source import StreamSource
from crosswalk.extract.streams import StreamSpec
from crosswalk.staging import StagingStore
from crosswalk.staging import schema as staging_schema
from resources.systems import resource_from_values
from tests.conftest import RunningEmulator
from tests.emulator_objects import ADMIN_OBJECTS

# Tiny delays: retried calls must not slow the suite down.
RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)
SETTINGS = ExtractSettings(key_scan_every=timedelta(hours=24), retry=RETRY, request_timeout_seconds=30)

# Every environment value that is a secret, per system (none may appear in exception text).
SECRET_VARIABLES = {
    "intacct": ("INTACCT_SENDER_PASSWORD", "INTACCT_USER_PASSWORD"),
    "salesforce": ("SALESFORCE_CLIENT_SECRET",),
    "quickbooks": ("QBO_CLIENT_SECRET", "QBO_REFRESH_TOKEN"),
    "esp": ("ESP_CLIENT_SECRET",),
}


def build_source(system: str, env: dict[str, str], store: StagingStore) -> StreamSource:
    """A new client for `system`, exactly as the Dagster resource builds it."""
    return resource_from_values(system, env).build_source(store, SETTINGS)


@dataclass
class Harness:
    """One emulator, one staging store, and the sources opened against them (closed when the test ends)."""

    system: str
    emulator: RunningEmulator
    store: StagingStore
    sources: list[StreamSource] = field(default_factory=list)
    _runs: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def env(self) -> dict[str, str]:
        return self.emulator.env

    @property
    def streams(self) -> tuple[StreamSpec, ...]:
        return streams_of(self.system)

    def spec(self, object_name: str) -> StreamSpec:
        return find_stream(self.system, object_name)

    def source(self, store: StagingStore | None = None, **env_overrides: str) -> StreamSource:
        source = build_source(self.system, {**self.env, **env_overrides}, store or self.store)
        self.sources.append(source)
        return source

    def new_run_id(self) -> str:
        return f"run-{next(self._runs)}"

    def run(
        self,
        object_name: str,
        source: StreamSource,
        run_id: str | None = None,
        store: StagingStore | None = None,
        **options: Any,
    ) -> StreamResult:
        """Extract one stream through the shared extract loop."""
        return extract_stream(
            self.spec(object_name), source, store or self.store, run_id or self.new_run_id(), **options
        )

    # ---- the emulator's side -----------------------------------------------------------------------------------

    def admin_records(self, object_name: str) -> list[dict[str, Any]]:
        admin_object = ADMIN_OBJECTS.get((self.system, object_name), object_name)
        reply = self.emulator.admin("GET", f"records/{admin_object}")
        assert reply.status_code == 200, reply.text
        return reply.json()["records"]

    def reset_stats(self) -> None:
        assert self.emulator.admin("DELETE", "stats").status_code == 200

    def stats(self) -> dict[str, Any]:
        return self.emulator.admin("GET", "stats").json()

    def fault(self, **rule: Any) -> None:
        """Install one fault rule (it replaces any plan in place)."""
        reply = self.emulator.admin("POST", "faults", json={"seed": 1, "faults": [rule]})
        assert reply.status_code == 200, reply.text

    # ---- the staging side --------------------------------------------------------------------------------------

    def staged_keys(self, object_name: str, include_deleted: bool = False) -> set[str]:
        return set(self.store.iter_staged_keys(self.system, object_name, include_deleted=include_deleted))

    def staged_rows(self, object_name: str) -> dict[str, tuple[Any, ...]]:
        """Per key: what a rewrite would change (hash, deleted flag, last run that wrote it, time of that write)."""
        table = staging_schema.raw_records
        query = sa.select(
            table.c.record_key, table.c.content_hash, table.c.deleted, table.c.last_seen_run, table.c.updated_at
        ).where(table.c.system == self.system, table.c.object == object_name)
        with self.store.engine.connect() as conn:
            return {key: tuple(rest) for key, *rest in conn.execute(query)}

    def rows_written_by(self, run_id: str) -> int:
        table = staging_schema.raw_records
        query = sa.select(sa.func.count()).select_from(table).where(table.c.last_seen_run == run_id)
        with self.store.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # ---- checks shared by the four systems' tests ------------------------------------------------------------

    def assert_a_second_run_reads_little_and_writes_nothing(self) -> None:
        """After a complete first run: a new run (new client, new session) of every stream makes no write call, at
        most two read calls per stream, and rewrites no staging row."""
        before = {spec.object: self.staged_rows(spec.object) for spec in self.streams}
        second_source = self.source()
        for spec in self.streams:
            self.reset_stats()
            result = self.run(spec.object, second_source, "second")
            stats = self.stats()
            assert stats["writes"] == 0, spec.name
            assert stats["reads"] <= 2, (spec.name, stats)
            assert result.counts.new == result.counts.changed == result.counts.deleted == 0
            assert self.staged_rows(spec.object) == before[spec.object], spec.name
        assert self.rows_written_by("second") == 0

    def assert_first_run_within_page_budget(
        self, source: StreamSource, object_name: str, expected_keys: set[str], include_deleted: bool = False
    ) -> None:
        """A first run of one stream reads every expected record in at most page_budget read calls (plus sessions)
        and stages exactly those keys."""
        self.reset_stats()
        result = self.run(object_name, source)
        stats = self.stats()
        budget = page_budget(len(expected_keys), self.spec(object_name).page_size)
        assert result.rows_read == len(expected_keys)
        assert stats["reads"] <= budget, (object_name, stats, budget)
        assert result.api_calls <= budget + stats["sessions"], (object_name, result.api_calls)
        assert self.staged_keys(object_name, include_deleted=include_deleted) == expected_keys

    def close(self) -> None:
        # Client sockets are closed before the server stops: its shutdown otherwise waits on idle keep-alives.
        for source in self.sources:
            source.close()  # type: ignore[attr-defined]
        self.sources.clear()
        gc.collect()  # tracebacks kept by pytest.raises hold sockets of failed calls


HarnessFactory = Callable[..., Harness]


def page_budget(records: int, page_size: int) -> float:
    """The most read calls a first run may make for a stream: 1.1 x its pages (session calls are counted apart)."""
    return 1.1 * max(math.ceil(records / page_size), 1)


def secrets_of(system: str, env: dict[str, str]) -> list[str]:
    return [env[name] for name in SECRET_VARIABLES[system] if env.get(name)]
