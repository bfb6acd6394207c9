"""One Dagster resource per external system. Each owns its client for the length of a run (one session per run),
reads its connection settings from the SPEC E environment variables, and never puts a secret in run config or logs.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import PrivateAttr

from crosswalk.config import ExtractSettings, extract_settings
from crosswalk.extract.source import StreamSource
from crosswalk.staging import StagingStore


class SystemResource(ConfigurableResource):
    """Base of the four system resources: builds the client on first use, closes it when the run ends."""

    _source: Any = PrivateAttr(default=None)

    @abstractmethod
    def build_source(self, store: StagingStore, settings: ExtractSettings) -> StreamSource:
        """A new client for this system."""

    def source(self, store: StagingStore, settings: ExtractSettings | None = None) -> StreamSource:
        if self._source is None:
            self._source = self.build_source(store, settings or extract_settings())
        return self._source

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None


class IntacctResource(SystemResource):
    url: str
    sender_id: str
    sender_password: str
    company_id: str
    user_id: str
    user_password: str

    def build_source(self, store: StagingStore, settings: ExtractSettings) -> StreamSource:
        from crosswalk.sources.intacct import IntacctSource

        return IntacctSource(
            url=self.url,
            sender_id=self.sender_id,
            sender_password=self.sender_password,
            company_id=self.company_id,
            user_id=self.user_id,
            user_password=self.user_password,
            retry=settings.retry,
            timeout=settings.request_timeout_seconds,
        )


class SalesforceResource(SystemResource):
    instance_url: str
    client_id: str
    client_secret: str
    ca_bundle: str | None = None  # unset: SALESFORCE_CA_BUNDLE when set (sandbox), else the system's trust store

    def build_source(self, store: StagingStore, settings: ExtractSettings) -> StreamSource:
        from crosswalk.sources.salesforce import SalesforceSource

        return SalesforceSource(
            instance_url=self.instance_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            ca_bundle=self.ca_bundle or os.environ.get("SALESFORCE_CA_BUNDLE") or None,
            retry=settings.retry,
            timeout=settings.request_timeout_seconds,
        )


class QuickBooksResource(SystemResource):
    base_url: str
    discovery_url: str
    client_id: str
    client_secret: str
    realm_id: str
    refresh_token: str  # the first one; rotated tokens are kept in the staging store

    def build_source(self, store: StagingStore, settings: ExtractSettings) -> StreamSource:
        from crosswalk.sources.quickbooks import QuickBooksSource

        return QuickBooksSource(
            base_url=self.base_url,
            discovery_url=self.discovery_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            realm_id=self.realm_id,
            initial_refresh_token=self.refresh_token,
            store=store,
            retry=settings.retry,
            timeout=settings.request_timeout_seconds,
        )


class EspResource(SystemResource):
    url: str
    client_id: str
    client_secret: str

    def build_source(self, store: StagingStore, settings: ExtractSettings) -> StreamSource:
        from crosswalk.sources.esp import EspSource

        return EspSource(
            url=self.url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            retry=settings.retry,
            timeout=settings.request_timeout_seconds,
        )


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


# Optional settings: read when the client is built (os.environ) rather than required by Dagster at launch.
OPTIONAL_ENVIRONMENT: dict[str, dict[str, str]] = {"salesforce": {"ca_bundle": "SALESFORCE_CA_BUNDLE"}}


def resources_from_env() -> dict[str, Any]:
    """The resources of the code location, every connection setting read from its environment variable at run time."""
    from resources.staging import StagingStoreResource

    resources: dict[str, Any] = {"staging": StagingStoreResource()}
    for system, (resource_class, fields) in ENVIRONMENT.items():
        resources[system] = resource_class(**{name: EnvVar(variable) for name, variable in fields.items()})
    return resources


def resource_from_values(system: str, values: Mapping[str, str]) -> SystemResource:
    """A system resource configured with plain values taken from a mapping of the same variables (e.g. a sandbox
    env file's), for scripts and tests that run outside Dagster."""
    resource_class, fields = ENVIRONMENT[system]
    settings = {name: values[variable] for name, variable in fields.items()}
    settings.update(
        {
            name: values[variable]
            for name, variable in OPTIONAL_ENVIRONMENT.get(system, {}).items()
            if values.get(variable)
        }
    )
    return resource_class(**settings)
