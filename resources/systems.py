"""One Dagster resource per external system. Each owns its client for the length of a run (one session per run),
reads its connection settings from the SPEC E environment variables, and never puts a secret in run config or logs.

The variables are read when a stream first needs the client, not by Dagster when the run starts: a system whose
settings are incomplete fails its own streams (MissingSettingsError naming the variables) and the others still run.
"""

from __future__ import annotations

import os
import sys
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from crosswalk.config import ExtractSettings, MissingSettingsError, extract_settings, load_settings
from crosswalk.extract.retry import ConnectionCircuit
from crosswalk.extract.source import StreamSource
from crosswalk.staging import StagingStore

if TYPE_CHECKING:
    from crosswalk.clients.quickbooks import RealmLimits

# Whether the QuickBooks Online client paces itself to the realm's limits: on (the default) or off.
QBO_PACING_VARIABLE = "CROSSWALK_QBO_PACING"


class SystemResource(ConfigurableResource):
    """Base of the four system resources: builds the client on first use, closes it when the run ends. A field left
    unset is read from its environment variable (ENVIRONMENT) when the client is built."""

    system: ClassVar[str]

    _source: Any = PrivateAttr(default=None)

    def build_source(self, store: StagingStore, settings: ExtractSettings) -> StreamSource:
        """A new client for this system; MissingSettingsError names every required variable that is not set."""
        values, missing = self.connection_values()
        missing = self.still_missing(values, missing, store)
        if missing:
            raise MissingSettingsError(self.system, missing)
        # The client lives for the run, and so does its circuit: once this system's server could not be reached,
        # the run's other streams of this system fail at once instead of retrying all over again.
        retry = replace(settings.retry, circuit=ConnectionCircuit())
        return self.make_source(values, store, replace(settings, retry=retry))

    def connection_values(self) -> tuple[dict[str, str], list[str]]:
        """The set connection settings by field name, and the variables of those that are not set."""
        values: dict[str, str] = {}
        missing: list[str] = []
        for name, variable in ENVIRONMENT[self.system][1].items():
            value = getattr(self, name) or os.environ.get(variable)
            if value:
                values[name] = value
            else:
                missing.append(variable)
        for name, variable in OPTIONAL_ENVIRONMENT.get(self.system, {}).items():
            value = getattr(self, name) or os.environ.get(variable)
            if value:
                values[name] = value
        return values, missing

    def still_missing(self, values: dict[str, str], missing: list[str], store: StagingStore) -> list[str]:
        """The missing variables this system cannot do without (all of them unless a system says otherwise)."""
        return missing

    @abstractmethod
    def make_source(self, values: dict[str, str], store: StagingStore, settings: ExtractSettings) -> StreamSource:
        """A new client for this system from complete connection values."""

    def source(self, store: StagingStore, settings: ExtractSettings | None = None) -> StreamSource:
        if self._source is None:
            self._source = self.build_source(store, settings or extract_settings())
        return self._source

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None


class IntacctResource(SystemResource):
    system: ClassVar[str] = "intacct"
    url: str | None = None
    sender_id: str | None = None
    sender_password: str | None = None
    company_id: str | None = None
    user_id: str | None = None
    user_password: str | None = None

    def make_source(self, values: dict[str, str], store: StagingStore, settings: ExtractSettings) -> StreamSource:
        from crosswalk.clients.intacct import IntacctSource

        return IntacctSource(
            **values,
            retry=settings.retry,
            timeout=settings.request_timeout_seconds,
            functions_per_request=load_settings().intacct_functions_per_request,
        )


class SalesforceResource(SystemResource):
    system: ClassVar[str] = "salesforce"
    instance_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    ca_bundle: str | None = None  # unset: SALESFORCE_CA_BUNDLE when set (sandbox), else the system's trust store

    def make_source(self, values: dict[str, str], store: StagingStore, settings: ExtractSettings) -> StreamSource:
        from crosswalk.clients.salesforce import SalesforceSource

        return SalesforceSource(
            instance_url=values["instance_url"],
            client_id=values["client_id"],
            client_secret=values["client_secret"],
            ca_bundle=values.get("ca_bundle"),
            retry=settings.retry,
            timeout=settings.request_timeout_seconds,
            bulk_threshold=load_settings().salesforce_bulk_threshold,
        )


class QuickBooksResource(SystemResource):
    system: ClassVar[str] = "quickbooks"
    base_url: str | None = None
    discovery_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    realm_id: str | None = None
    refresh_token: str | None = None  # the first one; rotated tokens are kept in the staging store

    def still_missing(self, values: dict[str, str], missing: list[str], store: StagingStore) -> list[str]:
        from crosswalk.clients.quickbooks import connection_recorded

        token = ENVIRONMENT[self.system][1]["refresh_token"]
        realm = values.get("realm_id")
        # Only the first connection needs the variable: every rotated token is in the store before it is used. A
        # disconnected realm needs no variable either: its client refuses at once, saying how to reconnect.
        if token in missing and realm and connection_recorded(store, realm):
            return [variable for variable in missing if variable != token]
        return missing

    def make_source(self, values: dict[str, str], store: StagingStore, settings: ExtractSettings) -> StreamSource:
        from crosswalk.clients.quickbooks import QuickBooksSource

        return QuickBooksSource(
            base_url=values["base_url"],
            discovery_url=values["discovery_url"],
            client_id=values["client_id"],
            client_secret=values["client_secret"],
            realm_id=values["realm_id"],
            initial_refresh_token=values.get("refresh_token"),
            store=store,
            retry=settings.retry,
            timeout=settings.request_timeout_seconds,
            limits=quickbooks_pacing(),
        )


def quickbooks_pacing() -> RealmLimits | None:
    """The limits the QuickBooks Online client paces its calls to: the realm's (None, the client's default) unless
    CROSSWALK_QBO_PACING is `off`, which lifts them, for benchmarks against an emulator whose own limits are lifted
    (a real realm answers calls over its limits with 429)."""
    from crosswalk.clients.quickbooks import RealmLimits

    value = os.environ.get(QBO_PACING_VARIABLE, "on").strip().lower()
    if value in ("", "on"):
        return None
    if value == "off":
        return RealmLimits(requests_per_second=sys.maxsize, requests_per_minute=sys.maxsize,
                           batch_calls_per_minute=sys.maxsize)  # fmt: skip
    raise ValueError(f"{QBO_PACING_VARIABLE} must be on or off, not {value!r}")


class EspResource(SystemResource):
    system: ClassVar[str] = "esp"
    url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def make_source(self, values: dict[str, str], store: StagingStore, settings: ExtractSettings) -> StreamSource:
        from crosswalk.clients.esp import EspSource

        return EspSource(**values, retry=settings.retry, timeout=settings.request_timeout_seconds)


# Each system resource's fields and the SPEC E environment variable that sets each one.
ENVIRONMENT: dict[str, tuple[type[SystemResource], dict[str, str]]] = {
    "intacct": (
        IntacctResource,
        {
            "url": "INTACCT_URL",
            "sender_id": "INTACCT_SENDER_ID",
            "sender_password": "INTACCT_SENDER_PASSWORD",
            "company_id": "INTACCT_COMPANY_ID",
            "user_id": "INTACCT_USER_ID",
            "user_password": "INTACCT_USER_PASSWORD",
        },
    ),
    "salesforce": (
        SalesforceResource,
        {
            "instance_url": "SALESFORCE_INSTANCE_URL",
            "client_id": "SALESFORCE_CLIENT_ID",
            "client_secret": "SALESFORCE_CLIENT_SECRET",
        },
    ),
    "quickbooks": (
        QuickBooksResource,
        {
            "base_url": "QBO_BASE_URL",
            "discovery_url": "QBO_DISCOVERY_URL",
            "client_id": "QBO_CLIENT_ID",
            "client_secret": "QBO_CLIENT_SECRET",
            "realm_id": "QBO_REALM_ID",
            "refresh_token": "QBO_REFRESH_TOKEN",
        },
    ),
    "esp": (EspResource, {"url": "ESP_URL", "client_id": "ESP_CLIENT_ID", "client_secret": "ESP_CLIENT_SECRET"}),
}


# Settings a system can do without.
OPTIONAL_ENVIRONMENT: dict[str, dict[str, str]] = {"salesforce": {"ca_bundle": "SALESFORCE_CA_BUNDLE"}}


def resources_from_env() -> dict[str, Any]:
    """The resources of the code location, every connection setting read from its environment variable when a
    stream first needs the system's client (not by Dagster at launch, which would fail every system's streams)."""
    from resources.staging import StagingStoreResource

    resources: dict[str, Any] = {"staging": StagingStoreResource()}
    for system, (resource_class, _fields) in ENVIRONMENT.items():
        resources[system] = resource_class()
    return resources


def resource_from_values(system: str, values: Mapping[str, str]) -> SystemResource:
    """A system resource configured with plain values taken from a mapping of the same variables (e.g. a sandbox
    env file's), for scripts and tests that run outside Dagster; a variable the mapping lacks is read from the
    environment when the client is built."""
    resource_class, fields = ENVIRONMENT[system]
    every = {**fields, **OPTIONAL_ENVIRONMENT.get(system, {})}
    return resource_class(**{name: values[variable] for name, variable in every.items() if values.get(variable)})
