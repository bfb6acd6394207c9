"""The settings file: unknown keys, wrong types, a missing or malformed file are refused with file, line and key."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from crosswalk.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    extract_settings,
    load_config,
    load_settings,
    projects_settings,
    read_config,
)


def write(tmp_path: Path, text: str, name: str = "my.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problem(path: Path, defaults: Path = DEFAULT_CONFIG_PATH) -> str:
    with pytest.raises(ConfigError) as caught:
        extract_settings(read_config(path, defaults=defaults))
    return str(caught.value)


def test_the_shipped_defaults_are_valid_and_a_partial_file_keeps_the_other_defaults(tmp_path: Path) -> None:
    assert extract_settings(read_config(DEFAULT_CONFIG_PATH)).retry.max_attempts == 6
    path = write(tmp_path, "extract:\n  retry:\n    max_attempts: 2\n")
    settings = extract_settings(read_config(path))
    assert settings.retry.max_attempts == 2
    assert settings.retry.base_delay == 0.5
    assert settings.key_scan_every == timedelta(hours=24)
    assert load_config(path)["extract"]["retry"]["max_attempts"] == 2


def test_an_empty_file_means_every_default(tmp_path: Path) -> None:
    assert extract_settings(read_config(write(tmp_path, "# nothing\n"))).retry.max_attempts == 6


def test_an_unknown_key_is_refused_with_file_line_dotted_key_known_keys_and_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# my settings\nextract:\n  key_scan_every_hours: 1\n  retry:\n    base_delay_seconds: 0.1\n\n"
        "    max_attemps: 3\n",
    )
    message = problem(path)
    assert message.startswith(f"{path}:7: unknown key extract.retry.max_attemps (known: max_attempts, ")
    assert "base_delay_seconds" in message and "max_delay_seconds" in message
    assert "did you mean max_attempts?" in message


def test_an_unknown_section_is_refused_at_its_line(tmp_path: Path) -> None:
    message = problem(write(tmp_path, "extrct:\n  key_scan_every_hours: 1\n"))
    assert f"{tmp_path / 'my.yaml'}:1: unknown key extrct (known: extract, " in message
    assert "did you mean extract?" in message


def test_every_unknown_key_is_listed_in_one_error(tmp_path: Path) -> None:
    path = write(tmp_path, "extract:\n  timeout: 5\n  retry:\n    attempts: 2\n")
    message = problem(path)
    assert f"{path}:2: unknown key extract.timeout" in message
    assert f"{path}:4: unknown key extract.retry.attempts" in message


def test_known_keys_come_from_the_defaults_file(tmp_path: Path) -> None:
    defaults = write(tmp_path, DEFAULT_CONFIG_PATH.read_text() + "sync:\n  batch_size: 200\n", name="defaults.yaml")
    user = write(tmp_path, "sync:\n  batch_size: 50\n")
    assert read_config(user, defaults=defaults).values["sync"]["batch_size"] == 50
    assert "unknown key sync" in problem(user)  # the shipped defaults have no such section


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("extract:\n  retry:\n    max_attempts: six\n", 3, "extract.retry.max_attempts"),
        ("extract:\n  retry:\n    max_attempts:\n", 3, "extract.retry.max_attempts"),
        ("extract:\n  request_timeout_seconds: true\n", 2, "extract.request_timeout_seconds"),
        ("extract:\n  retry: 3\n", 2, "extract.retry"),
        ("extract:\n  key_scan_every_hours:\n    hours: 3\n", 2, "extract.key_scan_every_hours"),
    ],
)
def test_a_wrong_type_names_file_line_and_key(tmp_path: Path, text: str, line: int, key: str) -> None:
    path = write(tmp_path, text)
    assert problem(path).startswith(f"{path}:{line}: {key} must be ")


def test_a_value_out_of_range_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "extract:\n  retry:\n    max_attempts: 0\n")
    assert problem(path) == f"{path}:3: extract.retry.max_attempts must be a number >= 1, got 0"


def test_a_top_level_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- extract\n")
    assert problem(path).startswith(f"{path}:1: ")


def test_a_repeated_key_is_refused_at_its_second_line(tmp_path: Path) -> None:
    path = write(tmp_path, "extract:\n  retry:\n    max_attempts: 2\n    max_attempts: 3\n")
    assert problem(path).startswith(f"{path}:4: extract.retry.max_attempts is set twice (first on line 3)")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=re.escape(f"CROSSWALK_CONFIG names {path}, which does not exist")):
        read_config(path)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "extract:\n  retry:\n    max_attempts: [2\n  request_timeout_seconds: 5\n")
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    assert str(caught.value).startswith(f"{path}:4:")
    assert "not valid YAML" in str(caught.value)


def test_the_environment_variable_picks_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "extract:\n  retry:\n    max_attemps: 3\n")
    monkeypatch.setenv("CROSSWALK_CONFIG", str(path))
    with pytest.raises(ConfigError, match=re.escape("unknown key extract.retry.max_attemps")):
        extract_settings()


def test_projects_settings_name_file_and_line_when_wrong(tmp_path: Path) -> None:
    path = write(tmp_path, "conflict_policy: esp_wins\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:1: conflict_policy must be one of intacct_wins, ")):
        projects_settings(read_config(path))
    mapping = tmp_path / "mine.yaml"
    path = write(tmp_path, f"projects:\n  mapping: {mapping.name}\n  enabled: false\n")
    settings = projects_settings(read_config(path))
    assert settings.mapping_path == mapping and settings.enabled is False
    assert settings.create_project_at_top_level is False
    assert load_settings(read_config(path)).salesforce_bulk_threshold == 2000
    path = write(tmp_path, "load:\n  intacct_functions_per_request: 500\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:2: load.intacct_functions_per_request must be at most")):
        load_settings(read_config(path))
