"""`crosswalk status` and `crosswalk migrate` pointed at the wrong place: status never creates a store, and a bad
database URL gives one line naming the redacted URL and the reason (no traceback, no password), exit non-zero."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from crosswalk.staging import StagingStore
from tests.e2e.conftest import REPO

CROSSWALK = Path(sys.executable).parent / "crosswalk"
PASSWORD = "s3cret-Pw0rd"


def crosswalk(command: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CROSSWALK_DATABASE_URL": database_url, "CROSSWALK_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [str(CROSSWALK), command], env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    output = (result.stdout + result.stderr).strip()
    assert len(output.splitlines()) == 1, output[-3000:]
    return output


def test_status_on_a_missing_sqlite_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "staging.sqlite"
    result = crosswalk("status", f"sqlite:///{missing}", tmp_path)
    assert result.returncode != 0
    line = only_line(result)
    assert str(missing) in line and "no staging store" in line, line
    assert not missing.exists() and not missing.parent.exists()


def test_status_on_a_postgres_database_without_the_store_tables_says_so_and_creates_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    result = crosswalk("status", postgres_url, tmp_path)
    assert result.returncode != 0
    line = only_line(result)
    assert "no staging store" in line and "127.0.0.1" in line, line
    engine = sa.create_engine(postgres_url)
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_migrate_creates_the_store_then_status_reads_it(database_url: str, tmp_path: Path) -> None:
    migrated = crosswalk("migrate", database_url, tmp_path)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    status = crosswalk("status", database_url, tmp_path)
    assert status.returncode == 0, status.stderr[-3000:]
    assert "never" in status.stdout
    store = StagingStore(database_url)
    assert store.exists()
    store.dispose()


@pytest.mark.parametrize("command", ["status", "migrate"])
@pytest.mark.parametrize(
    ("database_url", "shown", "reason"),
    [
        ("not a database url " + PASSWORD, "<unparseable database URL>", "not a database URL"),
        (f"postgresql://cw:{PASSWORD}@127.0.0.1:notaport/db", "<unparseable database URL>", "not a database URL"),
        (f"mongodb://cw:{PASSWORD}@127.0.0.1/db", "mongodb://cw:***@127.0.0.1/db", "unsupported database"),
        (f"postgresql+nodriver://cw:{PASSWORD}@127.0.0.1/db", "postgresql+nodriver://cw:***@127.0.0.1/db", "driver"),
        (f"postgresql://cw:{PASSWORD}@127.0.0.1:1/db", "postgresql://cw:***@127.0.0.1:1/db", "refused"),
        (f"postgresql://cw:{PASSWORD}@no-such-host.invalid/db", "cw:***@no-such-host.invalid/db", "no-such-host"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_database", "127.0.0.1:5432/no_such_database", "not exist"),
    ],
    ids=["unparseable", "bad-port", "unsupported", "unknown-driver", "refused", "unknown-host", "no-database"],
)
def test_a_bad_database_url_gives_one_line_without_the_password(
    command: str, database_url: str, shown: str, reason: str, tmp_path: Path
) -> None:
    result = crosswalk(command, database_url, tmp_path)
    assert result.returncode != 0
    line = only_line(result)
    assert PASSWORD not in line
    assert shown in line and reason in line, line
    assert line.startswith(f"crosswalk {command}: "), line
