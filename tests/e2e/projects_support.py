"""What the projects sync's end-to-end tests read back: the records through the emulators' admin API, the write
counters, the dry-run plan, and the checks that both sides and the links are in step."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import traceback
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging import schema as staging_schema
from tests.e2e.conftest import REPO, admin, dagster_command

CROSSWALK = Path(sys.executable).parent / "crosswalk"
SYSTEMS = ("intacct", "salesforce")


def records(sandbox: Sandbox, system: str, object_name: str) -> list[dict[str, Any]]:
    return admin(sandbox, system, "GET", f"records/{object_name}").json()["records"]


def writes(sandbox: Sandbox) -> dict[str, int]:
    return {system: admin(sandbox, system, "GET", "stats").json()["writes"] for system in SYSTEMS}


def reset_stats(sandbox: Sandbox) -> None:
    for system in SYSTEMS:
        admin(sandbox, system, "DELETE", "stats")


def plan_json(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run([str(CROSSWALK), "plan", "--json"], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_in_step(sandbox: Sandbox) -> None:
    """Every project and task is on both sides, each naming the other, tasks under the right project."""
    intacct_projects = records(sandbox, "intacct", "PROJECT")
    salesforce_projects = {r["Id"]: r for r in records(sandbox, "salesforce", "ia_crm__Project__c")}
    by_project_id = {r["ia_crm__Project_ID__c"]: r for r in salesforce_projects.values()}
    assert len(intacct_projects) == len(salesforce_projects)
    for project in intacct_projects:
        twin = by_project_id[project["PROJECTID"]]
        assert project["SFDC_PROJECT_ID"] == twin["Id"]
        assert twin["Name"] == project["NAME"][:80]
    intacct_tasks = records(sandbox, "intacct", "TASK")
    salesforce_tasks = {r["ia_crm__Task_ID__c"]: r for r in records(sandbox, "salesforce", "ia_crm__Task__c")}
    assert len(intacct_tasks) == len(salesforce_tasks)
    project_of = {r["RECORDNO"]: r["PROJECTID"] for r in intacct_projects}
    for task in intacct_tasks:
        twin = salesforce_tasks[task["TASKID"]]
        assert task["SFDC_TASK_ID"] == twin["Id"]
        assert salesforce_projects[twin["ia_crm__Project__c"]]["ia_crm__Project_ID__c"] == project_of[
            task["PROJECTKEY"]
        ]


def _repeated(values: list[Any]) -> dict[Any, int]:
    return {value: n for value, n in Counter(values).items() if n > 1}


def assert_exactly_once(sandbox: Sandbox, database_url: str, world_projects: int, tasks: int) -> None:
    """Every project and task exists once on each side, carries the other side's id, has its twin there, and has
    exactly one link in id_crosswalk, the one the records name: the world's projects and tasks, plus one project per
    opportunity that asked for one (its PROJECTID is the opportunity's Id)."""
    sides = {
        ("intacct", "PROJECT"): ("PROJECTID", "SFDC_PROJECT_ID", "SFDCKEY"),
        ("intacct", "TASK"): ("TASKID", "SFDC_TASK_ID", None),
        ("salesforce", "ia_crm__Project__c"): ("ia_crm__Project_ID__c", "Id", "ia_crm__Opportunity__c"),
        ("salesforce", "ia_crm__Task__c"): ("ia_crm__Task_ID__c", "Id", None),
    }
    read = {side: records(sandbox, *side) for side in sides}
    from_opportunities = sum(
        1 for r in read[("salesforce", "ia_crm__Project__c")]
        if r["ia_crm__Opportunity__c"] and r["ia_crm__Project_ID__c"] == r["ia_crm__Opportunity__c"]
    )  # fmt: skip
    for (system, object_name), (own_id, other_id, opportunity) in sides.items():
        rows = read[(system, object_name)]
        where = f"{system} {object_name}"
        expected = tasks if opportunity is None else world_projects + from_opportunities
        assert len(rows) == expected, f"{where}: {len(rows)} records, expected {expected}"
        missing = [r.get("RECORDNO") or r.get("Id") for r in rows if not r.get(own_id) or not r.get(other_id)]
        assert missing == [], f"{where}: records without {own_id} or {other_id}: {missing[:10]}"
        for field_name in (own_id, other_id, opportunity):
            if field_name is not None:
                repeated = _repeated([r[field_name] for r in rows if r.get(field_name)])
                assert repeated == {}, f"{where}: {field_name} held by several records: {list(repeated.items())[:10]}"
    assert_in_step(sandbox)

    expected_links = {
        "project": {(str(r["RECORDNO"]), r["SFDC_PROJECT_ID"]) for r in read[("intacct", "PROJECT")]},
        "task": {(str(r["RECORDNO"]), r["SFDC_TASK_ID"]) for r in read[("intacct", "TASK")]},
    }
    table = staging_schema.id_crosswalk
    store = StagingStore(database_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.entity, table.c.left_key, table.c.right_key).where(table.c.sync == "projects")
            ).all()
    finally:
        store.dispose()
    for entity, wanted in expected_links.items():
        links = [(row.left_key, row.right_key) for row in rows if row.entity == entity]
        repeated = _repeated(links)
        assert repeated == {}, f"{entity}: pairs linked more than once: {list(repeated)[:10]}"
        assert set(links) == wanted, (
            f"{entity}: links not on the records: {sorted(set(links) - wanted)[:10]}; "
            f"records without their link: {sorted(wanted - set(links))[:10]}"
        )


class ForkedRuns:
    """Dagster runs of one job, each `dagster job execute` in a process of its own (its own session, so SIGKILL to
    its process group ends it and nothing else), forked from one interpreter that imported Dagster, the code
    location and Great Expectations once: a run then costs what it does, not seconds of imports. The environment
    is fixed when it starts (the code location reads its settings at import)."""

    def __init__(self, job: str, env: dict[str, str]) -> None:
        self.job = job
        self.running: int | None = None  # the run started and not yet waited for
        serve = f"from tests.e2e.projects_support import serve_forked_runs; serve_forked_runs({job!r})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", serve], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def start(self, log: Path) -> int:
        """Fork a run writing its output to `log`; its process id (also its process group)."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{log}\n")
        self.process.stdin.flush()
        self.running = int(self._reply("started"))
        return self.running

    def wait(self) -> int:
        """The exit code of the run started last, as subprocess gives it (-9 when killed with SIGKILL)."""
        code = int(self._reply("exited"))
        self.running = None
        return code

    def run(self, log: Path) -> tuple[int, str]:
        self.start(log)
        return self.wait(), log.read_text(errors="replace")

    def _reply(self, word: str) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        assert line[:1] == [word], f"the forked runner of {self.job} answered {line!r} (exit {self.process.poll()})"
        return line[1]

    def close(self) -> None:
        if self.running is not None:  # a test that failed during a run leaves no run behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.running, signal.SIGKILL)
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ForkedRuns:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def serve_forked_runs(job: str) -> None:
    """ForkedRuns' other end: one run per log path read from stdin, answered with "started PID" then "exited CODE"."""
    import great_expectations  # noqa: F401  (the plan's validation imports it on first use)
    import psycopg  # noqa: F401
    from dagster._cli import ENV_PREFIX, cli

    import pipelines.definitions  # noqa: F401

    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:  # the run: its output to the log, a session of its own
            code = 1
            try:
                os.setsid()
                output = os.open(line.strip(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(output, 1)
                os.dup2(output, 2)
                cli(args=dagster_command(job)[3:], prog_name="dagster", auto_envvar_prefix=ENV_PREFIX)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(f"started {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exited {os.waitstatus_to_exitcode(status)}", flush=True)
