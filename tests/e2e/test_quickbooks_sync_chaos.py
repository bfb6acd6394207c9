"""Exactly-once writes of the ESP+ -> QuickBooks Online sync, proven by killing it (SYNC.md, SPEC B): Dagster runs
`sync_quickbooks` against a sandbox of its own holding more than 1,000 ESP+ invoices, purchase orders and bills; runs
are killed with SIGKILL at seeded random points of their loads (write calls slowed so that kills land between and
inside them), or meet seeded transient faults on both APIs, then run to completion. Every document ESP+ may send
then exists once in QBO, its send state in ESP+ names that document with QBO's current SyncToken and balance, each
pair has exactly one link, no customer, vendor or item was created twice, and a further run writes nothing."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import ssl
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging import schema as staging_schema
from crosswalk.staging.links import LinkStore
from tests.e2e.conftest import REPO, admin, job_env
from tests.e2e.projects_support import CROSSWALK, ForkedRuns
from tests.e2e.quickbooks_support import SYSTEMS, esp_api, records, reset_stats, writes

pytestmark = pytest.mark.slow

# Few parties and items, many documents: some 1,000 ESP+ invoices, purchase orders and bills (900 of them sendable),
# for which the first sync makes about 250 creates and 350 updates in QBO (38 batch calls) and some 1,700 writes of
# links and send states to ESP+, one request each.
COUNTS = {"customers": 16, "vendors": 10, "products": 40, "contacts": 8, "sales_orders": 10, "invoices": 520,
          "purchase_orders": 300, "bills": 300}  # fmt: skip
MIN_DOCUMENTS = 1000
SEED = 20260612  # where kills land and which calls fail: a failure reproduces with the same seed
KILLS = 20
# A run is killed once its load has committed intents, then made up to this many write calls (0: none sent yet),
# then up to this long more: anywhere in a call (not sent yet, in flight, applied but its outcome not recorded).
MAX_CALLS_BEFORE_KILL = 6
MAX_KILL_DELAY = 0.3
# Write calls are slowed so that a kill lands within a few of them: QBO's batch calls (30 writes each) and ESP+'s
# writes (one request each). The faults are cleared before the runs that complete the sync.
SLOW_CALLS = {
    "quickbooks": [{"kind": "slow", "path": "/batch$", "rate": 1.0, "delay_seconds": 0.2}],
    "esp": [
        {"kind": "slow", "method": "POST", "path": "/sendto/QuickBooksOnline$", "rate": 1.0, "delay_seconds": 0.02},
        {"kind": "slow", "method": "PUT", "path": "/companies/[0-9]+/integrations/quickbooks/", "rate": 1.0,
         "delay_seconds": 0.02},
    ],
}  # fmt: skip
FAULT_RATE = 0.2
# Under faults some 400 calls of a first sync fail, most of them ESP+ writes: retried after tenths of a second rather
# than the default's seconds, and more often, so that a backoff still outlasts QBO's one-minute window of batch calls.
# ESP+'s throttle says Retry-After: 0 (its default, 1, would cost a second each).
RETRY_SETTINGS = """extract:
  retry:
    max_attempts: 10
    base_delay_seconds: 0.1
    max_delay_seconds: 4
"""
FAULT_KINDS = ("throttle", "server_error", "reset", "expire_session")
KILLS_UNDER_FAULTS = 3
FAULTY_RUNS = 8  # at most, until a run under faults finds nothing to write
# entity -> (ESP+ resource, the ESP+ object quarantined, the QBO entity, whether the send state shows a balance)
DOCUMENTS = {
    "invoice": ("orders", "invoices", "Invoice", True),
    "purchase_order": ("purchaseorders", "purchaseorders", "PurchaseOrder", False),
    "bill": ("bills", "bills", "Bill", True),
}


@pytest.fixture
def chaos_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(state_dir=tmp_path / "sandbox", scale="demo", counts=COUNTS) as running:
        yield running


@pytest.fixture
def env(chaos_sandbox: Sandbox, database_url: str, tmp_path: Path) -> dict[str, str]:
    env = job_env(chaos_sandbox, database_url, tmp_path / "dagster", quickbooks_sync=True)
    settings = tmp_path / "chaos.yaml"
    settings.write_text(f"projects:\n  enabled: false\n{RETRY_SETTINGS}")
    env["CROSSWALK_CONFIG"] = str(settings)
    return env


@pytest.fixture
def sync_runs(env: dict[str, str], tmp_path: Path) -> Iterator[ForkedRuns]:
    (tmp_path / "runs").mkdir()
    with ForkedRuns("sync_quickbooks", env) as runs:
        yield runs


def set_faults(sandbox: Sandbox, system: str, faults: list[dict[str, Any]], seed: int) -> None:
    reply = admin(sandbox, system, "POST", "faults", json={"seed": seed, "faults": faults})
    assert reply.status_code == 200, reply.text


def clear_faults(sandbox: Sandbox) -> None:
    for system in SYSTEMS:
        admin(sandbox, system, "DELETE", "faults")


def transient_faults(sandbox: Sandbox, seed: int) -> None:
    """FAULT_RATE of every call to either API fails transiently, each kind equally often."""
    rate = 1 - (1 - FAULT_RATE) ** (1 / len(FAULT_KINDS))  # rules are drawn one after the other
    for offset, system in enumerate(SYSTEMS):
        faults = [{"kind": kind, "rate": rate} for kind in FAULT_KINDS]
        if system == "esp":
            faults[FAULT_KINDS.index("throttle")]["retry_after"] = 0
        set_faults(sandbox, system, faults, seed + offset)


def intents(store: StagingStore) -> Counter[str]:
    """Write intents by state and target ("open quickbooks", "done esp", ...); empty before the first load."""
    table = staging_schema.write_intents
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.state, table.c.target_system, sa.func.count()).group_by(
                    table.c.state, table.c.target_system
                )
            ).all()
    except sa.exc.DBAPIError:
        return Counter()  # the run has not made the tables yet
    return Counter({f"{state} {target}": int(n) for state, target, n in rows})


def open_qbo_creates(store: StagingStore) -> dict[str, list[tuple[str, str]]]:
    """The creates in QBO a killed run left open: QBO entity -> (lookup field, value) of each."""
    table = staging_schema.write_intents
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.target_object, table.c.lookup_field, table.c.lookup_value).where(
                table.c.state == "open", table.c.target_system == "quickbooks", table.c.operation == "create"
            )
        ).all()
    creates: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for entity, lookup_field, lookup_value in rows:
        creates[entity].append((lookup_field, lookup_value))
    return creates


def landed_without_outcome(sandbox: Sandbox, store: StagingStore) -> int:
    """Open QBO creates whose record QBO has: written, but killed before the run recorded it."""
    landed = 0
    for entity, lookups in open_qbo_creates(store).items():
        held = {(name, str(r.get(name) or "").casefold()) for r in records(sandbox, "quickbooks", entity)
                for name in {field for field, _ in lookups}}  # fmt: skip
        landed += sum(1 for field, value in lookups if (field, value.casefold()) in held)
    return landed


class WriteCalls:
    """The write calls both emulators have served, read from their stats over kept-alive connections."""

    def __init__(self, sandbox: Sandbox) -> None:
        context = ssl.create_default_context(cafile=sandbox.env["SALESFORCE_CA_BUNDLE"])
        self.clients = [
            httpx.Client(base_url=origin, verify=context if origin.startswith("https") else True, timeout=30)
            for system, origin in sandbox.origins().items()
            if system in SYSTEMS
        ]

    def __call__(self) -> int:
        return sum(client.get("/__admin/stats").json()["writes"] for client in self.clients)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Runs:
    """The runs of one test: numbered logs, kills at seeded points of the loads, and where each kill landed."""

    def __init__(self, runs: ForkedRuns, sandbox: Sandbox, database_url: str, logs: Path) -> None:
        self.runs = runs
        self.sandbox = sandbox
        self.database_url = database_url
        self.logs = logs
        self.count = 0
        self.where: Counter[str] = Counter()  # kills by the targets with open intents; "finished": not killed
        self.landed = 0  # QBO creates applied by a killed run that had not recorded them
        self.before = document_ids(sandbox)  # QBO's documents before any run

    def log(self) -> Path:
        self.count += 1
        return self.logs / f"run-{self.count}.log"

    def run(self) -> tuple[int, str]:
        return self.runs.run(self.log())

    def run_ok(self) -> None:
        code, output = self.run()
        assert code == 0, f"sync_quickbooks exited with {code}:\n{output[-4000:]}"

    def kill_in_load(self, calls: int, delay: float, must_succeed: bool = True) -> None:
        """Start a run; once a load has committed intents and made `calls` write calls, SIGKILL it `delay` seconds
        later. A run that finishes first is counted as finished."""
        store = StagingStore(self.database_url)
        write_calls = WriteCalls(self.sandbox)
        try:
            before = sum(intents(store).values())
            log = self.log()
            pid = self.runs.start(log)
            deadline = time.monotonic() + 300
            while alive(pid) and sum(intents(store).values()) <= before and time.monotonic() < deadline:
                time.sleep(0.02)
            began = write_calls()
            while alive(pid) and write_calls() < began + calls and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            code = self.runs.wait()
            if code != -signal.SIGKILL:
                output = log.read_text(errors="replace")[-4000:]
                assert code == 0 or not must_succeed, f"sync_quickbooks exited with {code} unkilled:\n{output}"
                self.where["finished"] += 1
                return
            assert time.monotonic() < deadline, f"the load never began:\n{log.read_text(errors='replace')[-4000:]}"
            open_targets = sorted(key.split()[1] for key in intents(store) if key.startswith("open "))
            self.where["+".join(open_targets) or "between"] += 1
            self.landed += landed_without_outcome(self.sandbox, store)
        finally:
            write_calls.close()
            store.dispose()

    def kill_loads(self, kills: int, rng: random.Random, must_succeed: bool = True) -> None:
        """Kill `kills` runs in their loads, each at a seeded point; runs that finish first are counted."""
        while self.where.total() - self.where["finished"] < kills:
            self.kill_in_load(rng.randint(0, MAX_CALLS_BEFORE_KILL), rng.uniform(0, MAX_KILL_DELAY), must_succeed)
            assert self.where["finished"] <= 3, f"the loads ran out of work before {kills} kills: {dict(self.where)}"

    def complete(self, env: dict[str, str]) -> str:
        """A run finishes the sync; a second writes nothing; then every sendable document is in QBO exactly once.
        Returns what was checked and created, to print."""
        self.run_ok()
        reset_stats(self.sandbox)
        self.run_ok()
        assert writes(self.sandbox) == {"esp": 0, "quickbooks": 0}
        store = StagingStore(self.database_url)
        try:
            left_open = {key: n for key, n in intents(store).items() if key.startswith("open ")}
        finally:
            store.dispose()
        assert left_open == {}, f"writes of killed runs never closed: {left_open}"
        checked = assert_sent_exactly_once(self.sandbox, env, self.database_url, self.before)
        created = {entity: len(ids - self.before[entity]) for entity, ids in document_ids(self.sandbox).items()}
        return f"documents checked: {checked}; created in QBO: {created}"


def open_quarantine(env: dict[str, str]) -> dict[tuple[str, str], set[str]]:
    """(system, object) -> keys of the records `crosswalk quarantine` lists as kept aside now."""
    result = subprocess.run([str(CROSSWALK), "quarantine", "--json"], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    keys: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in json.loads(result.stdout)["records"]:
        keys[(row["system"], row["object"])].add(str(row["key"]))
    return keys


def _repeated(values: list[Any]) -> dict[Any, int]:
    return {value: n for value, n in Counter(values).items() if n > 1}


def qbo_documents(sandbox: Sandbox) -> dict[str, list[dict[str, Any]]]:
    """QBO's invoices, purchase orders and bills, by entity."""
    return {entity: records(sandbox, "quickbooks", qbo_entity) for entity, (_, _, qbo_entity, _) in DOCUMENTS.items()}


def party_links(companies: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """ESP+ company id -> the QBO customer ("invoice") and vendor ("purchase_order", "bill") its links name."""
    linked: dict[str, dict[str, str]] = defaultdict(dict)
    for company in companies:
        for link in company.get("QuickBooksLinks") or []:
            entities = ("invoice",) if link["MemberType"] == "Customer" else ("purchase_order", "bill")
            for entity in entities:
                linked[str(company["Id"])].setdefault(entity, str(link["QuickBooksId"]))
    return linked


def _party_of(entity: str, document: dict[str, Any]) -> str:
    party = (document.get("BillingContact") or {}).get("Company") if entity == "invoice" else document.get("Vendor")
    return str((party or {}).get("Id"))


def assert_sent_exactly_once(
    sandbox: Sandbox, env: dict[str, str], database_url: str, before: dict[str, set[str]]
) -> dict[str, int]:
    """Every ESP+ document not quarantined (nor its QBO twin) exists once in QBO, by its number and its party's
    linked customer or vendor; its send state names that document with QBO's number, SyncToken and balance; its pair
    has one link, the one ESP+ names. No QBO document number is held twice (a bill's: per vendor, as QBO numbers
    them, and never twice among the bills Crosswalk created), no party or item name twice. `before`: the QBO
    documents' ids before the first run. Returns the documents checked, by entity."""
    parties = records(sandbox, "quickbooks", "Customer") + records(sandbox, "quickbooks", "Vendor")
    repeated = _repeated([str(p["DisplayName"]).casefold() for p in parties])
    assert repeated == {}, f"customers and vendors named twice: {list(repeated.items())[:10]}"
    repeated = _repeated([str(i["Name"]).casefold() for i in records(sandbox, "quickbooks", "Item")])
    assert repeated == {}, f"items named twice: {list(repeated.items())[:10]}"
    quarantined = open_quarantine(env)
    in_qbo = qbo_documents(sandbox)
    store = StagingStore(database_url)
    links = LinkStore(store, "quickbooks", ("esp", "quickbooks"))
    checked: dict[str, int] = {}
    try:
        with esp_api(env) as esp:
            linked_party = party_links(esp.search("companies"))
            for entity, (resource, esp_object, qbo_entity, has_balance) in DOCUMENTS.items():
                party_ref = "CustomerRef" if entity == "invoice" else "VendorRef"
                numbered = [(r[party_ref]["value"] if entity == "bill" else None, r["DocNumber"])
                            for r in in_qbo[entity] if r.get("DocNumber")]  # fmt: skip
                created = [r["DocNumber"] for r in in_qbo[entity] if r["Id"] not in before[entity]]
                for held in (numbered, created):
                    repeated = _repeated(held)
                    assert repeated == {}, f"QBO {qbo_entity}: numbers held twice: {list(repeated.items())[:10]}"
                by_number: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for record in in_qbo[entity]:
                    by_number[str(record.get("DocNumber"))].append(record)
                documents = [d for d in esp.search(resource) if entity != "invoice" or d["Type"] == "invoice"]
                sendable = [
                    d for d in documents
                    if str(d["Id"]) not in quarantined[("esp", esp_object)]
                    and str(d.get("ExternalId") or "") not in quarantined[("quickbooks", qbo_entity)]
                ]  # fmt: skip
                wrong = []
                for document in sendable:
                    party = linked_party[_party_of(entity, document)].get(entity)
                    twins = [r for r in by_number[document["Number"]] if r[party_ref]["value"] == party]
                    state = (document.get("ExternalId"), document.get("ExternalNumber"),
                             str(document.get("ExternalSyncToken")))  # fmt: skip
                    if len(twins) != 1 or state != (twins[0]["Id"], twins[0]["DocNumber"], twins[0]["SyncToken"]):
                        wrong.append((document["Id"], document["Number"], party, state, [t["Id"] for t in twins]))
                    elif has_balance and float(document.get("Balance") or 0) != pytest.approx(
                        float(twins[0]["Balance"])
                    ):
                        wrong.append((document["Id"], document["Number"], document.get("Balance"), twins[0]["Balance"]))
                assert wrong == [], f"{entity}: {len(wrong)} documents without their one QBO twin in step: {wrong[:5]}"

                pairs = [(link.left_key, link.right_key) for link in links.links(entity)]
                for side, keys in (("ESP+", [left for left, _ in pairs]), ("QBO", [right for _, right in pairs])):
                    repeated = _repeated(keys)
                    assert repeated == {}, f"{entity}: {side} records linked twice: {list(repeated.items())[:10]}"
                unlinked = sorted({(str(d["Id"]), d["ExternalId"]) for d in sendable} - set(pairs))
                assert unlinked == [], f"{entity}: documents without the link ESP+ names: {unlinked[:10]}"
                checked[entity] = len(sendable)
            assert sum(checked.values()) >= MIN_DOCUMENTS * 0.7, f"too few documents could be sent: {checked}"
    finally:
        store.dispose()
    return checked


def document_ids(sandbox: Sandbox) -> dict[str, set[str]]:
    return {entity: {r["Id"] for r in rows} for entity, rows in qbo_documents(sandbox).items()}


def test_the_sandbox_holds_over_a_thousand_documents_to_send(chaos_sandbox: Sandbox) -> None:
    esp = chaos_sandbox.seeded_counts()["esp"]
    # Orders hold the sales orders too, which are not sent.
    assert esp["Order"] - COUNTS["sales_orders"] + esp["PurchaseOrder"] + esp["Bill"] >= MIN_DOCUMENTS, esp


def test_a_sync_killed_twenty_times_in_its_loads_sends_every_document_exactly_once(
    chaos_sandbox: Sandbox, env: dict[str, str], sync_runs: ForkedRuns, database_url: str, tmp_path: Path
) -> None:
    runs = Runs(sync_runs, chaos_sandbox, database_url, tmp_path / "runs")
    for system, slow in SLOW_CALLS.items():
        set_faults(chaos_sandbox, system, slow, SEED)
    runs.kill_loads(KILLS, random.Random(SEED))
    print(f"runs by the targets with open intents when killed: {dict(runs.where)}; QBO creates applied by a killed "
          f"run before it recorded them: {runs.landed}")  # fmt: skip
    assert runs.where["quickbooks"] >= 5 and runs.where["esp"] >= 1, f"kills in one load only: {dict(runs.where)}"
    assert runs.landed > 0, "no kill fell between a QBO write and its recorded outcome"
    clear_faults(chaos_sandbox)
    print(runs.complete(env))


def test_a_sync_under_transient_faults_and_kills_converges_to_every_document_exactly_once(
    chaos_sandbox: Sandbox, env: dict[str, str], sync_runs: ForkedRuns, database_url: str, tmp_path: Path
) -> None:
    runs = Runs(sync_runs, chaos_sandbox, database_url, tmp_path / "runs")
    transient_faults(chaos_sandbox, SEED)
    # A run may fail under faults (a stream whose retries ran out): the next one takes over.
    runs.kill_loads(KILLS_UNDER_FAULTS, random.Random(SEED), must_succeed=False)
    faulty: list[int] = []  # exit code of each run under faults until one finds nothing to write
    while len(faulty) < FAULTY_RUNS:
        before = writes(chaos_sandbox)
        faulty.append(runs.run()[0])
        if faulty[-1] == 0 and writes(chaos_sandbox) == before:
            break
    else:
        pytest.fail(f"no run under {FAULT_RATE:.0%} faults converged in {FAULTY_RUNS} runs: exit codes {faulty}")
    injected = {s: admin(chaos_sandbox, s, "GET", "stats").json()["faults_injected"] for s in SYSTEMS}
    print(f"kills: {dict(runs.where)}; faulty runs' exit codes: {faulty}; faults injected: {injected}")
    assert all(sum(kinds.values()) >= 10 for kinds in injected.values()), injected
    clear_faults(chaos_sandbox)
    print(runs.complete(env))
