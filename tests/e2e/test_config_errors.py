"""A bad settings file stops a job once, when the code location loads, naming the file and key; no step runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswalk.sandbox import Sandbox
from tests.e2e.conftest import job_env, run_job

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("extract:\n  retry:\n    max_attemps: 3\n", ":3: unknown key extract.retry.max_attemps"),
        ("extract:\n  retry:\n    max_attempts: six\n", ":3: extract.retry.max_attempts must be a number"),
        ("extract:\n  retry:\n    max_attempts: 0\n", ":3: extract.retry.max_attempts must be a number >= 1"),
        ("extract:\n  retry: [1\n", ":3: not valid YAML"),
        (None, "CROSSWALK_CONFIG names "),
    ],
    ids=["unknown-key", "wrong-type", "out-of-range", "bad-yaml", "missing-file"],
)
def test_a_bad_settings_file_fails_the_job_once_before_any_step(
    sandbox: Sandbox, tmp_path: Path, text: str | None, expected: str
) -> None:
    settings = tmp_path / "my.yaml"
    if text is not None:
        settings.write_text(text)
    env = job_env(sandbox, f"sqlite:///{tmp_path / 'staging.sqlite'}", tmp_path / "dagster")
    env["CROSSWALK_CONFIG"] = str(settings)
    result = run_job("sync_projects", env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert output.count(expected) == 1, output[-6000:]
    assert output.count(f"{settings}") == 1, output[-6000:]
    assert f"{settings}{expected}" in output or (text is None and f"{expected}{settings}" in output)
    assert "STEP_START" not in output and "RUN_START" not in output
    assert not (tmp_path / "staging.sqlite").exists()
