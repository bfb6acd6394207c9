"""Crosswalk's settings file (CROSSWALK_CONFIG, YAML): defaults shipped in config/crosswalk.yaml, user values on top.

The defaults file is also the schema: a key it does not have is refused, and a value must have its default's type
(a section a mapping, a number a number). Errors name the file, line and dotted key, all problems in one message.
"""

from __future__ import annotations

import difflib
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from crosswalk.extract.retry import RetryPolicy
from crosswalk.settings import CONFIG_ENV
from crosswalk.yamlfile import LocatedYaml, YamlFileError, load_located_yaml

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "crosswalk.yaml"

Keys = tuple[str, ...]


class ConfigError(ValueError):
    """The settings file is unreadable or a setting has a wrong value; the message names the file and setting."""


class MissingSettingsError(ValueError):
    """A system's connection settings are not all set; the message names the missing environment variables."""

    def __init__(self, system: str, variables: list[str], hint: str = "") -> None:
        self.system = system
        self.variables = variables
        names = ", ".join(variables)
        super().__init__(
            f"{system}: not configured: environment variable{'s' if len(variables) > 1 else ''} {names} "
            f"{'are' if len(variables) > 1 else 'is'} not set{hint}; the other systems are not affected"
        )


@dataclass(frozen=True)
class Config:
    """The merged settings and where each leaf value came from ("file:line"), to point at a bad value."""

    values: dict[str, Any]
    places: dict[Keys, str] = field(default_factory=dict)

    def get(self, keys: Keys) -> Any:
        value: Any = self.values
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    def where(self, keys: Keys) -> str:
        """`file:line: ` of the value at `keys`, or nothing when the settings did not come from a file."""
        place = self.places.get(keys)
        return f"{place}: " if place else ""


@dataclass(frozen=True)
class ExtractSettings:
    key_scan_every: timedelta
    retry: RetryPolicy
    request_timeout_seconds: float


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def read_config(path: Path | None = None, *, defaults: Path = DEFAULT_CONFIG_PATH) -> Config:
    """The defaults file overlaid with the user's file (when it is not the defaults file itself), validated against
    the defaults' keys and types; ConfigError lists every problem with its file and line."""
    base_values, places = _read(defaults, schema=None)
    values = base_values if isinstance(base_values, dict) else {}
    path = path or config_path()
    if path.resolve() != defaults.resolve():
        user_values, user_places = _read(path, schema=values)
        _deep_merge(values, user_values or {})
        places.update(user_places)
    return Config(values, places)


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The merged settings as plain mappings (see read_config)."""
    return read_config(path).values


def _read(path: Path, schema: dict[str, Any] | None) -> tuple[Any, dict[Keys, str]]:
    """A YAML file's values and leaf places; with a schema (the defaults), refuses what the schema does not allow."""
    if not path.exists():
        raise ConfigError(f"{CONFIG_ENV} names {path}, which does not exist")
    try:
        doc = load_located_yaml(path)
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None
    checker = _Checker(doc)
    values = checker.value(doc.data, (), schema) if doc.data is not None else {}
    if checker.problems:
        raise ConfigError("\n".join(checker.problems))
    return values, checker.places


class _Checker:
    """Walks a document beside the schema, keeping each leaf's place and collecting every problem."""

    def __init__(self, doc: LocatedYaml) -> None:
        self.doc = doc
        self.places: dict[Keys, str] = {}
        self.problems: list[str] = []

    def value(self, value: Any, keys: Keys, schema: Any) -> Any:
        if isinstance(value, dict) and (schema is None or isinstance(schema, dict)):
            return self.section(value, keys, schema)
        if isinstance(schema, dict):
            # An emptied section (its children all commented out) keeps its defaults.
            if value is None and keys:
                return {}
            known = ", ".join(schema)
            what = (
                f"{_dotted(keys)} must be a section (keys: {known})"
                if keys
                else f"the top level must be a mapping of sections ({known})"
            )
            self.problems.append(f"{self.doc.where(keys)}: {what}, got {value!r}")
            return None
        return value

    def section(self, section: dict[str, Any], keys: Keys, schema: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, raw in section.items():
            at = (*keys, key)
            dotted = _dotted(at)
            if schema is not None and key not in schema:
                self.problems.append(f"{self.doc.where(at)}: unknown key {dotted}{_known(key, schema)}")
                continue
            expected = schema[key] if schema is not None else None
            value = self.value(raw, at, expected)
            if schema is not None and not isinstance(expected, dict):
                wrong = _wrong_type(value, expected)
                if wrong:
                    self.problems.append(f"{self.doc.where(at)}: {dotted} must be {wrong}, got {value!r}")
            if not isinstance(value, dict):
                self.places[at] = self.doc.where(at)
            out[key] = value
        return out


def _dotted(keys: Keys) -> str:
    return ".".join(keys)


def _known(key: str, schema: dict[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
    return f" (known: {', '.join(schema)})" + (f"; did you mean {close[0]}?" if close else "")


def _wrong_type(value: Any, default: Any) -> str | None:
    """What the value should be when it lacks its default's type, else None (a null default accepts anything)."""
    if default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int | float):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "text"
    if isinstance(default, list):
        return None if isinstance(value, list) else "a list"
    return None


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _number(config: Config, keys: Keys, minimum: float = 0) -> float:
    value = config.get(keys)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must be a number >= {minimum}, got {value!r}")
    return float(value)


def extract_settings(config: Config | Mapping[str, Any] | None = None) -> ExtractSettings:
    if config is None:
        config = read_config()
    elif not isinstance(config, Config):
        config = Config(dict(config))
    retry = ("extract", "retry")
    return ExtractSettings(
        key_scan_every=timedelta(hours=_number(config, ("extract", "key_scan_every_hours"))),
        retry=RetryPolicy(
            max_attempts=int(_number(config, (*retry, "max_attempts"), 1)),
            base_delay=_number(config, (*retry, "base_delay_seconds")),
            max_delay=_number(config, (*retry, "max_delay_seconds")),
        ),
        request_timeout_seconds=_number(config, ("extract", "request_timeout_seconds"), 1),
    )


REPOSITORY_ROOT = DEFAULT_CONFIG_PATH.parent.parent
CONFLICT_POLICIES = ("intacct_wins", "salesforce_wins", "latest_wins")
ON_DELETE = ("flag", "deactivate", "ignore")


@dataclass(frozen=True)
class ProjectsSettings:
    """The projects sync's settings (SPEC A) and the load settings it uses."""

    enabled: bool
    mapping_path: Path
    create_project_at_top_level: bool
    projects_subscribed: bool
    opportunity_checkbox: str | None  # an Opportunity checkbox that asks for a project ("" in the file: none)
    opportunity_stages: tuple[str, ...]  # stages that ask for one
    conflict_policy: str
    on_delete: str


@dataclass(frozen=True)
class LoadSettings:
    """How writes are batched (the `load` section)."""

    salesforce_bulk_threshold: int
    intacct_functions_per_request: int


def _choice(config: Config, keys: Keys, choices: tuple[str, ...]) -> str:
    value = config.get(keys)
    if value not in choices:
        raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _flag(config: Config, keys: Keys) -> bool:
    value = config.get(keys)
    if not isinstance(value, bool):
        raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must be true or false, got {value!r}")
    return value


def _path(config: Config, keys: Keys) -> Path:
    """A path setting: relative to the folder of the file that set it (the repository root for the defaults)."""
    value = config.get(keys)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must be a file path, got {value!r}")
    path = Path(value)
    if path.is_absolute():
        return path
    place = config.places.get(keys, "")
    origin = Path(place.rsplit(":", 1)[0]) if place else DEFAULT_CONFIG_PATH
    base = REPOSITORY_ROOT if origin.resolve() == DEFAULT_CONFIG_PATH else origin.parent
    return base / path


def _texts(config: Config, keys: Keys) -> tuple[str, ...]:
    value = config.get(keys)
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must be a list of names, got {value!r}")
    return tuple(value)


def projects_settings(config: Config | None = None) -> ProjectsSettings:
    config = config if config is not None else read_config()
    return ProjectsSettings(
        enabled=_flag(config, ("projects", "enabled")),
        mapping_path=_path(config, ("projects", "mapping")),
        create_project_at_top_level=_flag(config, ("projects", "create_project_at_top_level")),
        projects_subscribed=_flag(config, ("projects", "projects_subscribed")),
        opportunity_checkbox=config.get(("projects", "opportunity_rule", "checkbox")) or None,
        opportunity_stages=_texts(config, ("projects", "opportunity_rule", "stages")),
        conflict_policy=_choice(config, ("conflict_policy",), CONFLICT_POLICIES),
        on_delete=_choice(config, ("on_delete",), ON_DELETE),
    )


def load_settings(config: Config | None = None) -> LoadSettings:
    config = config if config is not None else read_config()
    functions = int(_number(config, ("load", "intacct_functions_per_request"), 1))
    if functions > 100:
        raise ConfigError(
            f"{config.where(('load', 'intacct_functions_per_request'))}load.intacct_functions_per_request must be "
            f"at most 100 (the gateway's limit), got {functions}"
        )
    return LoadSettings(
        salesforce_bulk_threshold=int(_number(config, ("load", "salesforce_bulk_threshold"), 1)),
        intacct_functions_per_request=functions,
    )


@dataclass(frozen=True)
class OperationsSettings:
    """How the syncs run unattended (the `operations` section): schedules, freshness, alert links, pool limits."""

    schedules: dict[str, str]  # job name -> cron expression
    schedule_places: dict[str, str]  # job name -> "file:line: " of its cron, to name a bad one
    timezone: str
    freshness: timedelta
    ui_url: str | None
    pools: dict[str, int]  # pool (system) -> steps that may call it at once


def operations_settings(config: Config | None = None) -> OperationsSettings:
    config = config if config is not None else read_config()
    section = ("operations",)
    schedules = config.get((*section, "schedules")) or {}
    for job, cron in schedules.items():
        if not isinstance(cron, str) or not cron.strip():
            keys = (*section, "schedules", job)
            raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must be a cron expression, got {cron!r}")
    timezone = config.get((*section, "timezone"))
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        keys = (*section, "timezone")
        raise ConfigError(
            f"{config.where(keys)}{_dotted(keys)} must be an IANA time zone such as UTC or Europe/Paris, "
            f"got {timezone!r}"
        ) from None
    hours = _number(config, (*section, "freshness_hours"))
    if hours <= 0:
        keys = (*section, "freshness_hours")
        raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must be a number of hours above 0, got {hours:g}")
    ui_url = str(config.get((*section, "ui_url")) or "").strip().rstrip("/")
    if ui_url and not ui_url.startswith(("http://", "https://")):
        keys = (*section, "ui_url")
        raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must start with http:// or https://, got {ui_url!r}")
    pools: dict[str, int] = {}
    for pool in config.get((*section, "pools")) or {}:
        keys = (*section, "pools", pool)
        limit = _number(config, keys, 1)
        if limit != int(limit):
            raise ConfigError(f"{config.where(keys)}{_dotted(keys)} must be a whole number, got {limit:g}")
        pools[pool] = int(limit)
    return OperationsSettings(
        schedules=dict(schedules),
        schedule_places={job: config.where((*section, "schedules", job)) for job in schedules},
        timezone=str(timezone),
        freshness=timedelta(hours=hours),
        ui_url=ui_url or None,
        pools=pools,
    )


@dataclass(frozen=True)
class QuickBooksSyncSettings:
    """The ESP+ -> QuickBooks Online sync's settings (the `quickbooks` section, SPEC B)."""

    enabled: bool
    mapping_path: Path
    allow_billable_with_invoices: bool
    on_delete: str


def quickbooks_sync_settings(config: Config | None = None) -> QuickBooksSyncSettings:
    config = config if config is not None else read_config()
    return QuickBooksSyncSettings(
        enabled=_flag(config, ("quickbooks", "enabled")),
        mapping_path=_path(config, ("quickbooks", "mapping")),
        allow_billable_with_invoices=_flag(config, ("quickbooks", "allow_billable_with_invoices")),
        on_delete=_choice(config, ("on_delete",), ON_DELETE),
    )
