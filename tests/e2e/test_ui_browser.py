"""The Dagster UI in a real browser (SPEC C4): `dagster dev` serves the code location against a sandbox of the test's
own; headless Chromium (Debian's, driven by playwright) launches `sync_all` from the job page, waits on the run page
for it to succeed and reads what a data engineer reads there: the asset groups, counts, previews and record links
as metadata, the asset checks with their status, conflicts and quarantined records. What the UI shows is compared
with what the definitions declare, the Dagster instance recorded and the emulators hold.

Screenshots of every page visited go to $CROSSWALK_TEST_SCREENSHOTS (default: the test's tmp dir)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from crosswalk.sandbox import Sandbox
from tests.e2e.conftest import REPO, job_env
from tests.e2e.projects_support import records
from tests.e2e.test_projects_features import cli_json, intacct_update, salesforce

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, ViewportSize

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("CROSSWALK_TEST_CHROMIUM", "/usr/bin/chromium"))
# Headless on a closed network: without the background-networking flags Chromium opens connections that are
# refused many at a time.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
SERVE_TIMEOUT = 240.0  # seconds for `dagster dev` to answer and load the code location (2 busy cores)
RUN_TIMEOUT_MS = 420_000  # a sync_all run at demo scale takes seconds alone; generous for a loaded machine
UI_TIMEOUT_MS = 60_000  # a page or element to render
PROJECT = "ia_crm__Project__c"
TASK = "ia_crm__Task__c"
PLAN = AssetKey(["projects", "plan"])
LOAD_SALESFORCE = AssetKey(["projects", "load_salesforce"])
EXTRACT = AssetKey(["intacct", "project"])
# Printed by a subprocess with the run's environment: what the code location declares for sync_all.
DEFINITIONS_SCRIPT = """
import json
from pipelines.definitions import defs
job = defs.resolve_job_def("sync_all")
graph = defs.resolve_asset_graph()
groups = {}
for key in job.asset_layer.selected_asset_keys:
    groups.setdefault(graph.get(key).group_name, []).append(key.to_user_string())
checks = {}
for check in graph.asset_check_keys:
    checks.setdefault(check.asset_key.to_user_string(), []).append(check.name)
print(json.dumps({"groups": groups, "checks": checks}))
"""


def browser_missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (scripts/install-browser installs Debian's chromium; CROSSWALK_TEST_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package is missing ({exc}): pip install -e '.[dev]'"
    return None


@pytest.fixture(scope="module")
def browser_ready() -> None:
    reason = browser_missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"the Dagster UI browser test must run in CI, but {reason}")
    if reason:
        pytest.skip(f"Dagster UI browser test SKIPPED: {reason}")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CROSSWALK_TEST_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("ui-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def ui_sandbox(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox the runs launched from the UI write to (the shared one stays as generated)."""
    with Sandbox(state_dir=tmp_path_factory.mktemp("ui-sandbox"), scale="demo") as running:
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class DagsterUI:
    url: str
    env: dict[str, str]
    log: Path

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def dagster_ui(ui_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterUI]:
    """`dagster dev` as the README starts it (webserver and daemon, which launches queued runs), with the projects
    sync on, a staging store and a Dagster instance of its own, on a free port."""
    home = tmp_path_factory.mktemp("ui")
    env = job_env(ui_sandbox, f"sqlite:///{home / 'staging.sqlite'}", home / "dagster_home", projects_sync=True)
    (home / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    log = home / "dagster-dev.log"
    command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as output:
        # A session of its own, so its webserver, daemon and code servers end with it; Ctrl-C (SIGINT) stops it
        # even when this process was started with SIGINT ignored (a background job), which children inherit.
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=default_sigint)  # fmt: skip
    ui = DagsterUI(f"http://127.0.0.1:{port}", env, log)
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT
        while True:
            assert process.poll() is None, f"dagster dev exited ({process.returncode}):\n{ui.log_tail()}"
            assert time.monotonic() < deadline, f"dagster dev did not answer in {SERVE_TIMEOUT}s:\n{ui.log_tail()}"
            try:
                if httpx.get(f"{ui.url}/server_info", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)  # polling a server that is starting
        yield ui
    finally:
        stop(process)


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a person stops `dagster dev` (it ends its children); its session killed if that takes too long."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # what is left of its session (its own: start_new_session)
    process.wait()


@pytest.fixture
def page(dagster_ui: DagsterUI) -> Iterator[Page]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, viewport=VIEWPORT
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        # dagster dev asks a first visitor on localhost to join its community, a second after the page loads, over
        # whatever is being clicked: a click it swallows launches nothing. The browser says it was dismissed (the
        # UI's own localStorage key), and the handler still skips it should it show.
        context.add_init_script("try { localStorage.setItem('communityNux', JSON.stringify('1')); } catch (e) {}")
        page = context.new_page()
        page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
        try:
            yield page
        finally:
            context.close()


def declared(env: dict[str, str]) -> dict[str, Any]:
    """sync_all's assets by group and every asset's checks, as the code location defines them now."""
    result = subprocess.run([sys.executable, "-c", DEFINITIONS_SCRIPT], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def shoot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"))


def launch_sync_all(page: Page, ui: DagsterUI) -> str:
    """Materialize all on the job page; the id of the run the UI says it launched."""
    page.goto(f"{ui.url}/locations/crosswalk/jobs/sync_all")
    page.get_by_role("button", name="Materialize all").click()
    href = page.get_by_role("link", name="View", exact=True).get_attribute("href") or ""  # the "Launched run" toast
    match = re.fullmatch(r"/runs/([0-9a-f-]{36})", href)
    assert match, f"no run link in the launch toast: {href!r}"
    return match.group(1)


def wait_for_success(page: Page, ui: DagsterUI, run_id: str) -> None:
    """The run page until its status tag reads Success (it follows the run live); a failure names its steps."""
    from playwright.sync_api import expect

    page.goto(f"{ui.url}/runs/{run_id}")
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    expect(status).to_be_visible(timeout=RUN_TIMEOUT_MS)
    if status.inner_text() != "Success":
        with ui.instance() as instance:
            failures = [
                f"{event.step_key}: {event.message}"
                for event in instance.all_logs(run_id)
                if event.dagster_event is not None and event.dagster_event.is_step_failure
            ]
        pytest.fail(f"run {run_id} ended {status.inner_text()}: {failures}\n{ui.log_tail()}")


def metadata_row(page: Page, key: str) -> Locator:
    """The row `key` of a metadata table (an asset's, a materialisation's, a check evaluation's)."""
    row = page.locator(f"xpath=//tr[normalize-space(td[1])='{key}']").first
    row.wait_for()
    return row


def value_cell(page: Page, key: str) -> Locator:
    """The value of a metadata row: its last cell that shows something (the asset page puts a timestamp before it,
    a materialisation an empty cell after it)."""
    return metadata_row(page, key).locator("xpath=td[normalize-space() != ''][last()]")


def metadata_value(page: Page, key: str) -> str:
    return value_cell(page, key).inner_text().strip()


def metadata_number(page: Page, key: str) -> int:
    return int(metadata_value(page, key).replace(",", ""))


@contextmanager
def markdown(page: Page, key: str) -> Iterator[Locator]:
    """Where the markdown of metadata `key` renders: inline in its cell, or (when long) in the dialog that
    [Show Markdown] opens, closed again after."""
    cell = value_cell(page, key)
    show = cell.get_by_text("[Show Markdown]")
    if not show.count():
        yield cell
        return
    show.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("table").first.wait_for()
    yield dialog
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")


def show_json(page: Page, key: str) -> Any:
    """The JSON of metadata `key`, as the dialog [Show JSON] opens shows it."""
    metadata_row(page, key).get_by_text("[Show JSON]").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    text = dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    return json.loads(text[text.index("{") : text.rindex("}") + 1])


def table_rows(container: Locator) -> list[dict[str, str]]:
    """A rendered markdown table as rows keyed by its header."""
    cells: list[list[str]] = container.locator("table").first.evaluate(
        "t => [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    header, *rows = cells
    return [dict(zip(header, row, strict=True)) for row in rows]


def links(container: Locator) -> list[tuple[str, str]]:
    found: list[list[str]] = container.locator("a").evaluate_all(
        "links => links.map(a => [a.innerText.trim(), a.getAttribute('href')])"
    )
    return [(text, href) for text, href in found]


def recorded(ui: DagsterUI, key: AssetKey, run_id: str) -> dict[str, Any]:
    """The metadata the instance recorded for the asset's latest materialisation, which must be the run's."""
    with ui.instance() as instance:
        event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None, f"{key} was not materialised"
    assert event.run_id == run_id, key
    return {name: value.value for name, value in event.asset_materialization.metadata.items()}


def check_statuses(ui: DagsterUI, key: AssetKey, names: list[str], run_id: str) -> dict[str, str]:
    """Each check's latest evaluation, which must be the run's, as the UI words it (Succeeded / Failed)."""
    with ui.instance() as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(key, name) for name in names]
        )
    assert {check.name for check in latest} == set(names)
    assert {record.run_id for record in latest.values()} == {run_id}
    return {check.name: record.status.value.capitalize() for check, record in latest.items()}


@pytest.mark.timeout(900)  # two runs on a loaded 2-core machine, with the servers' start
def test_sync_all_launched_from_the_ui_shows_groups_metadata_links_checks_conflicts_and_quarantine(
    dagster_ui: DagsterUI, ui_sandbox: Sandbox, page: Page, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    ui = dagster_ui
    try:
        definitions = declared(ui.env)
        groups: dict[str, list[str]] = definitions["groups"]
        assert {"intacct", "salesforce", "projects", "esp", "quickbooks"} <= set(groups), groups
        intacct_projects = records(ui_sandbox, "intacct", "PROJECT")

        # ---- the first run, launched from the job page ---------------------------------------------------------
        first = launch_sync_all(page, ui)
        wait_for_success(page, ui, first)
        shoot(page, screenshots, "01-run-success")

        # The lineage graph: a node per group the definitions put in sync_all (whichever exist today), each
        # counting its assets, all materialised.
        page.goto(f"{ui.url}/asset-groups")
        for group, keys in groups.items():
            node = page.locator("svg [class*=CollapsedGroupNode_collapsedGroupNodeBox]").filter(
                has=page.get_by_text(group, exact=True)
            )
            expect(node).to_contain_text(str(len(keys)))
        expect(page.get_by_text(re.compile("fetching statuses"))).to_have_count(0)
        shoot(page, screenshots, "02-asset-groups")

        # An extract's counts and preview: every Intacct project read and new, their RECORDNOs in the preview.
        page.goto(f"{ui.url}/assets/intacct/project")
        extract = recorded(ui, EXTRACT, first)
        for key in ("rows_read", "new", "changed", "deleted", "quarantined", "pages", "api_calls"):
            assert metadata_number(page, key) == extract[key], key
        assert extract["rows_read"] == extract["new"] == len(intacct_projects)
        with markdown(page, "preview") as preview:
            shown = table_rows(preview)
            assert shown and {row["RECORDNO"] for row in shown} <= {p["RECORDNO"] for p in intacct_projects}
            assert {row["PROJECTID"] for row in shown} <= {p["PROJECTID"] for p in intacct_projects}
        shoot(page, screenshots, "03-extract-metadata")

        # The Salesforce load: its counts, and every record it wrote as a link to that record's page in Salesforce.
        page.goto(f"{ui.url}/assets/projects/load_salesforce")
        load = recorded(ui, LOAD_SALESFORCE, first)
        for key in ("created", "updated", "failed", "api_calls", "links_saved"):
            assert metadata_number(page, key) == load[key], key
        assert load["created"] > 0 and load["updated"] > 0
        instance_url = re.escape(ui.env["SALESFORCE_INSTANCE_URL"].rstrip("/"))
        in_salesforce = {obj: {r["Id"] for r in records(ui_sandbox, "salesforce", obj)} for obj in (PROJECT, TASK)}
        with markdown(page, "written") as written:
            record_links = links(written)
            assert len(record_links) == load["created"] + load["updated"], record_links
            for record_id, href in record_links:
                match = re.fullmatch(rf"{instance_url}/lightning/r/(\w+)/(\w+)/view", href or "")
                assert match and match.group(2) == record_id, href
                assert record_id in in_salesforce[match.group(1)], f"{href} names no record in Salesforce"
            shoot(page, screenshots, "04-load-salesforce-links")

        # ---- a field edited on both sides, two records the mapping refuses, and a second run from the UI ---------
        project = next(p for p in records(ui_sandbox, "intacct", "PROJECT") if p["SFDC_PROJECT_ID"])
        twin = project["SFDC_PROJECT_ID"]
        intacct_update(ui_sandbox, "PROJECT", project["RECORDNO"], project["MEGAENTITYID"],
                       DESCRIPTION="Edited in Intacct")  # fmt: skip
        with salesforce(ui_sandbox) as client:
            client.ia_crm__Project__c.update(twin, {"ia_crm__Description__c": "Edited in Salesforce"})
            backwards = client.ia_crm__Project__c.create({
                "Name": "Ends before it begins", "ia_crm__Project_Status__c": "In Progress",
                "ia_crm__Begin_Date__c": "2026-06-01", "ia_crm__End_Date__c": "2026-01-31",
            })["id"]  # fmt: skip
            unmapped = client.ia_crm__Project__c.create({"Name": "Status nobody mapped",
                                                         "ia_crm__Project_Status__c": "Bogus"})["id"]  # fmt: skip
        second = launch_sync_all(page, ui)
        wait_for_success(page, ui, second)

        # The projects group: its assets materialised, the plan's checks summed up on its node.
        plan_checks: list[str] = definitions["checks"][PLAN.to_user_string()]
        statuses = check_statuses(ui, PLAN, plan_checks, second)
        # Wide enough that the group's nodes are drawn in full (a narrow graph is zoomed out to names only).
        page.set_viewport_size({"width": 2400, "height": 1100})
        page.goto(f"{ui.url}/locations/crosswalk/asset-groups/projects")
        for key in groups["projects"]:
            name = key.split("/")[-1]
            expect(page.locator("svg").get_by_text(name, exact=True)).to_be_visible()
        passed = sum(1 for status in statuses.values() if status == "Succeeded")
        expect(page.get_by_text(re.compile(rf"^{passed} / {len(plan_checks)} Passed$"))).to_be_visible()
        expect(page.locator("svg").get_by_text("Materialized", exact=True)).to_have_count(len(groups["projects"]))
        shoot(page, screenshots, "05-projects-group")
        page.set_viewport_size(VIEWPORT)

        # The plan: its counts as recorded, the conflict among them and settled by the policy (Intacct wins), and
        # the two refused records with their reasons, which are what the quarantine holds.
        page.goto(f"{ui.url}/assets/projects/plan?view=events")
        plan = recorded(ui, PLAN, second)
        for key in ("creates", "updates", "in_sync", "conflicts", "refused", "review", "flagged"):
            assert metadata_number(page, key) == plan[key], key
        assert plan["conflicts"] == 1 and plan["refused"] == 2, plan
        with markdown(page, "preview") as preview:
            rows = table_rows(preview)
        [settled] = [row for row in rows if row["record"] == twin]
        assert (settled["action"], settled["target"]) == ("update", "salesforce"), settled
        assert settled["fields"] == "description: 'Edited in Salesforce' → 'Edited in Intacct'", settled
        refused = {row["record"]: row["why"] for row in rows if row["action"] == "refused"}
        assert set(refused) == {backwards, unmapped}, rows
        assert "ia_crm__End_Date__c is before ia_crm__Begin_Date__c" in refused[backwards]
        assert "'Bogus' is not in the value map" in refused[unmapped]
        quarantined = {(r["system"], r["key"]) for r in cli_json(ui.env, "quarantine")["records"]}
        assert {("salesforce", backwards), ("salesforce", unmapped)} <= quarantined
        page.set_viewport_size({"width": 1800, "height": 1250})  # the whole preview in view
        shoot(page, screenshots, "06-plan-conflicts-and-refused")
        page.set_viewport_size(VIEWPORT)

        # The plan's asset checks, each with the status of its latest evaluation; the failing one says what it
        # quarantined, and names the record and why.
        page.goto(f"{ui.url}/assets/projects/plan?view=checks")
        for name, status in statuses.items():
            listed = page.get_by_title(name, exact=True).first.locator("xpath=following-sibling::span[1]")
            expect(listed).to_have_text(status)
        failing = "project_salesforce_expectations"
        assert statuses[failing] == "Failed" and list(statuses.values()).count("Failed") == 1, statuses
        page.get_by_title(failing, exact=True).first.click()
        refused = r"^1 of \d+ records refused and quarantined( \([\d,]+ unchanged since they last passed\))?$"
        expect(page.get_by_text(re.compile(refused))).to_be_visible()
        assert metadata_number(page, "refused") == 1
        assert show_json(page, "refused_preview") == {
            backwards: ["ia_crm__End_Date__c: ia_crm__End_Date__c is before ia_crm__Begin_Date__c"]
        }
        shoot(page, screenshots, "07-plan-failing-check")
    except BaseException:
        shoot(page, screenshots, "failure")
        print(f"screenshots in {screenshots}; dagster dev log:\n{ui.log_tail()}")
        raise
