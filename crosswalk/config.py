"""Crosswalk's settings file (CROSSWALK_CONFIG, YAML): defaults shipped in config/crosswalk.yaml, user values on top."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from crosswalk.extract.retry import RetryPolicy
from crosswalk.settings import CONFIG_ENV

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "crosswalk.yaml"


class ConfigError(ValueError):
    """The settings file is unreadable or a setting has a wrong value; the message names the file and setting."""


@dataclass(frozen=True)
class ExtractSettings:
    key_scan_every: timedelta
    retry: RetryPolicy
    request_timeout_seconds: float


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The shipped defaults overlaid with the user's file (when it is not the defaults file itself)."""
    with DEFAULT_CONFIG_PATH.open() as handle:
        merged: dict[str, Any] = yaml.safe_load(handle) or {}
    path = path or config_path()
    if path.resolve() != DEFAULT_CONFIG_PATH:
        try:
            with path.open() as handle:
                user = yaml.safe_load(handle) or {}
        except FileNotFoundError:
            raise ConfigError(f"{CONFIG_ENV} names {path}, which does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(user, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        _deep_merge(merged, user)
    return merged


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _number(section: dict[str, Any], name: str, where: str, minimum: float = 0) -> float:
    value = section.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}.{name} must be a number >= {minimum}, got {value!r}")
    return float(value)


def extract_settings(config: dict[str, Any] | None = None) -> ExtractSettings:
    config = config if config is not None else load_config()
    section = config.get("extract") or {}
    retry = section.get("retry") or {}
    return ExtractSettings(
        key_scan_every=timedelta(hours=_number(section, "key_scan_every_hours", "extract")),
        retry=RetryPolicy(
            max_attempts=int(_number(retry, "max_attempts", "extract.retry", 1)),
            base_delay=_number(retry, "base_delay_seconds", "extract.retry"),
            max_delay=_number(retry, "max_delay_seconds", "extract.retry"),
        ),
        request_timeout_seconds=_number(section, "request_timeout_seconds", "extract", 1),
    )
