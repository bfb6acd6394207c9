"""The staging store as a Dagster resource: SQLite by default, PostgreSQL when CROSSWALK_DATABASE_URL says so."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from crosswalk.settings import database_url_from_env, redact_url
from crosswalk.staging import StagingStore
from crosswalk.staging.store import unavailable_on_database_error


class StagingStoreResource(ConfigurableResource):
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means CROSSWALK_DATABASE_URL, else the embedded SQLite file.",
    )

    _store: StagingStore | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        url = self.database_url or database_url_from_env()
        self._store = StagingStore(url)
        with unavailable_on_database_error(url):  # one line naming the redacted URL, not a driver traceback
            applied = self._store.migrate()
        if applied and context.log:
            context.log.info(f"staging store {redact_url(self._store.url)}: applied migrations {applied}")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._store is not None:
            self._store.dispose()

    @property
    def store(self) -> StagingStore:
        if self._store is None:
            self._store = StagingStore(self.database_url or database_url_from_env())
            self._store.migrate()
        return self._store
