"""The README against the code: the objects it says are extracted are the stream catalog's, what the sandbox serves
but Crosswalk does not extract is named, and the sandbox env file (secrets) it tells users to write is git-ignored."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from crosswalk.clients.catalog import ESP, INTACCT, QUICKBOOKS, SALESFORCE, streams_of
from emulators.intacct.schema import SCHEMAS as INTACCT_OBJECTS
from emulators.quickbooks.catalog import KINDS as QUICKBOOKS_KINDS
from emulators.quickbooks.catalog import SINGLETONS as QUICKBOOKS_SINGLETONS
from emulators.salesforce.catalogue import OBJECTS as SALESFORCE_OBJECTS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SYSTEM_TITLES = {"Sage Intacct": INTACCT, "Salesforce": SALESFORCE, "QuickBooks Online": QUICKBOOKS, "ESP+": ESP}
TABLE_HEADER = "| system | extracted (one asset each) | served by the sandbox, not extracted |"


def names(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def extraction_table() -> dict[str, tuple[set[str], set[str]]]:
    """system -> (objects the README says are extracted, objects it says are not), from its table."""
    lines = README.read_text().splitlines()
    assert TABLE_HEADER in lines, f"README.md has no table headed {TABLE_HEADER!r}"
    start = lines.index(TABLE_HEADER) + 2  # past the header and its |---| line
    table: dict[str, tuple[set[str], set[str]]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        title, extracted, not_extracted = (cell.strip() for cell in line.strip("|").split("|"))
        assert title in SYSTEM_TITLES, f"README.md extraction table: unknown system {title!r}"
        table[SYSTEM_TITLES[title]] = (names(extracted), names(not_extracted))
    return table


def test_readme_lists_exactly_the_streams_of_the_catalog() -> None:
    table = extraction_table()
    assert set(table) == set(SYSTEM_TITLES.values())
    for system, (extracted, _) in table.items():
        assert extracted == {spec.object for spec in streams_of(system)}, system


@pytest.mark.parametrize(
    ("system", "served"),
    [
        (INTACCT, set(INTACCT_OBJECTS)),
        (SALESFORCE, set(SALESFORCE_OBJECTS)),
        (QUICKBOOKS, set(QUICKBOOKS_KINDS) | set(QUICKBOOKS_SINGLETONS)),
    ],
)
def test_readme_names_every_served_object_as_extracted_or_not(system: str, served: set[str]) -> None:
    extracted, not_extracted = extraction_table()[system]
    assert not extracted & not_extracted
    assert extracted | not_extracted == served


def test_the_readme_says_the_extract_covers_the_listed_objects_not_every_object() -> None:
    assert "every object" not in README.read_text()


def test_the_code_location_docstring_names_only_what_it_assembles() -> None:
    import pipelines
    from pipelines.definitions import defs

    if not list(defs.schedules or []):
        assert "schedule" not in (pipelines.__doc__ or "").lower()


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs the git checkout")
@pytest.mark.parametrize("path", ["sandbox.env", ".crosswalk/sandbox.env"])
def test_sandbox_env_files_are_git_ignored(path: str) -> None:
    result = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, check=False)
    assert result.returncode == 0, f"{path} (the sandbox's credentials) is not git-ignored"


def test_readme_writes_the_sandbox_env_file_under_crosswalk_home() -> None:
    commands = re.findall(r"crosswalk sandbox --env-file ([^\s`]+)", README.read_text())
    assert commands
    assert all(path.startswith(".crosswalk/") or path == "PATH" for path in commands), commands
