"""The `crosswalk` command: sandbox, status, report, plan, conflicts, quarantine, migrate, quickbooks."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosswalk.settings import database_url_from_env, redact_url

if TYPE_CHECKING:
    from crosswalk.staging import StagingStore


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM ends the sandbox like Ctrl-C does, so the emulator processes are always stopped."""
    raise KeyboardInterrupt


def _sandbox(args: argparse.Namespace) -> int:
    from crosswalk.progress import ProgressLog
    from crosswalk.sandbox import Sandbox, SandboxError, env_file_text, write_env_file
    from emulators.serve import parse_counts

    scale = args.scale
    if scale not in ("demo", "none") and not scale.isdigit():
        print(f"--scale must be demo, none or a number of records, got {scale!r}", file=sys.stderr)
        return 2
    sandbox = Sandbox(
        state_dir=Path(args.state_dir) if args.state_dir else None,
        scale=scale,
        seed=args.seed,
        counts=parse_counts(args.count),
        progress=ProgressLog(),  # at a large scale the emulators take minutes to generate their data
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(f"starting the sandbox emulators (scale {scale}, seed {args.seed})...", file=sys.stderr, flush=True)
        env = sandbox.start()
    except SandboxError as exc:
        print(f"sandbox failed: {exc}", file=sys.stderr)
        return 1
    try:
        write_env_file(Path(args.env_file), env)
        sys.stdout.write(env_file_text(env))
        sys.stdout.flush()
        for system, origin in sandbox.origins().items():
            counts = sandbox.seeded_counts()[system]
            summary = ", ".join(f"{name} {count}" for name, count in counts.items())
            print(f"{system:<11} {origin}  ({summary})", file=sys.stderr)
        print(f"env file written to {args.env_file}; serving until interrupted (Ctrl-C)", file=sys.stderr, flush=True)
        return sandbox.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        sandbox.stop()


@contextmanager
def _existing_store(url: str) -> Iterator[StagingStore]:
    """The store at `url` for reading. Raises StoreUnavailable when there is none (a reader never creates one) or it
    cannot be read; an older store is upgraded first, as any run would, so queries fit it."""
    from crosswalk.staging import StagingStore, StoreUnavailable
    from crosswalk.staging.migrations import latest_version
    from crosswalk.staging.store import unavailable_on_database_error

    store = StagingStore(url)
    try:
        with unavailable_on_database_error(url):
            if not store.exists():
                raise StoreUnavailable(url, "no staging store there (a sync run or `crosswalk migrate` creates one)")
            if store.schema_version() < latest_version():
                store.migrate()
            yield store
    finally:
        store.dispose()


def _status_rows(url: str) -> list[dict[str, Any]]:
    from crosswalk.clients.catalog import STREAMS

    with _existing_store(url) as store:
        counts = {(c["system"], c["object"]): c for c in store.stream_counts()}
        runs = store.latest_extract_runs()
        watermarks = store.watermarks()
    rows = []
    for spec in STREAMS:
        key = (spec.system, spec.object)
        run = runs.get(key)
        rows.append(
            {
                "system": spec.system,
                "object": spec.object,
                "rows": counts.get(key, {}).get("rows", 0),
                "deleted": counts.get(key, {}).get("deleted", 0),
                "watermark": watermarks.get(key),
                "last_run_at": _iso(run["finished_at"] or run["started_at"]) if run else None,
                "last_run_id": run["run_id"] if run else None,
                "last_run_status": run["status"] if run else None,
                "last_run": {
                    "read": run["rows_read"],
                    "new": run["rows_new"],
                    "changed": run["rows_changed"],
                    "unchanged": run["rows_unchanged"],
                    "deleted": run["rows_deleted"],
                    "pages": run["pages"],
                    "api_calls": run["api_calls"],
                    "retries": run["retries"],
                    "error": run["error"],
                }
                if run
                else None,
            }
        )
    return rows


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _sync_rows(url: str) -> list[dict[str, Any]]:
    """Per sync: its latest plan (when, counts) and what its writes came to, with the open quarantine."""
    from crosswalk.staging.plans import PlanStore

    rows = []
    with _existing_store(url) as store:
        open_quarantine = sum(1 for row in store.quarantined() if row["resolved_at"] is None)
        for sync in ("projects", "quickbooks"):
            latest = PlanStore(store, sync).latest()
            rows.append({
                "sync": sync,
                "last_plan_at": _iso(latest["created_at"]) if latest else None,
                "last_run_id": latest["run_id"] if latest else None,
                "planned": latest["counts"] if latest else None,
                "written": latest["writes"] if latest else None,
                "open_quarantine": open_quarantine,
            })  # fmt: skip
    return rows


def _status(args: argparse.Namespace) -> int:
    from crosswalk.staging import StoreUnavailable

    url = database_url_from_env()
    try:
        rows = _status_rows(url)
        syncs = _sync_rows(url)
    except StoreUnavailable as exc:
        print(f"crosswalk status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"database": redact_url(url), "streams": rows, "syncs": syncs}, indent=2, default=str))
        return 0
    print(f"staging: {redact_url(url)}")
    header = f"{'system':<11} {'object':<22} {'rows':>9} {'deleted':>8}  {'watermark':<30} last run"
    print(header)
    print("-" * len(header))
    for row in rows:
        last = row["last_run"]
        run_text = "never"
        if last:
            run_text = (
                f"{row['last_run_at']} {row['last_run_status']}: read {last['read']}, new {last['new']}, "
                f"changed {last['changed']}, deleted {last['deleted']}, {last['api_calls']} calls"
            )
            if last["error"]:
                run_text += f" - {last['error']}"
        print(
            f"{row['system']:<11} {row['object']:<22} {row['rows']:>9} {row['deleted']:>8}  "
            f"{(row['watermark'] or '-'):<30} {run_text}"
        )
    for sync in syncs:
        if sync["planned"] is None:
            print(f"\nsync {sync['sync']}: never planned")
            continue
        planned = sync["planned"]
        print(
            f"\nsync {sync['sync']}: last plan {sync['last_plan_at']} (run {sync['last_run_id']}): "
            f"{planned.get('creates', 0)} creates, {planned.get('updates', 0)} updates, "
            f"{planned.get('conflicts', 0)} conflicts, {planned.get('refused', 0)} refused, "
            f"{planned.get('in_sync', 0)} pairs in sync"
        )
        for target, outcomes in sorted(sync["written"].items()):
            done = ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in sorted(outcomes.items()))
            print(f"  written to {target}: {done}")
        print(f"  open quarantine: {sync['open_quarantine']} (crosswalk quarantine lists them)")
    return 0


def _report(args: argparse.Namespace) -> int:
    """What one run read, wrote, kept aside and left for review (the latest sync run unless --run names one)."""
    from crosswalk.run_report import RunNotFound, render_text, resolve_run, run_report
    from crosswalk.staging import StoreUnavailable

    url = database_url_from_env()
    try:
        with _existing_store(url) as store:
            report = run_report(store, resolve_run(store, args.run))
    except (StoreUnavailable, RunNotFound) as exc:
        print(f"crosswalk report: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"database": redact_url(url), **report}, indent=2, default=str))
    else:
        sys.stdout.write(render_text(report, redact_url(url)))
    return 0


def _quarantine(args: argparse.Namespace) -> int:
    from crosswalk.staging import StoreUnavailable

    url = database_url_from_env()
    try:
        with _existing_store(url) as store:
            rows = [row for row in store.quarantined() if args.all or row["resolved_at"] is None]
    except StoreUnavailable as exc:
        print(f"crosswalk quarantine: {exc}", file=sys.stderr)
        return 1
    records = [
        {
            "system": row["system"],
            "object": row["object"],
            "key": row["record_key"],
            "stage": row["stage"],
            "rule": row["rule"],
            "reason": row["reason"],
            "run_id": row["run_id"],
            "quarantined_at": _iso(row["created_at"]),
            "resolved_at": _iso(row["resolved_at"]),
            **({"payload": row["payload"]} if args.json else {}),
        }
        for row in rows
    ]
    if args.json:
        print(json.dumps({"database": redact_url(url), "records": records}, indent=2, default=str))
        return 0
    state = "" if args.all else "open "
    print(f"staging: {redact_url(url)}: {len(records)} {state}quarantined record{'s' if len(records) != 1 else ''}")
    for record in records:
        resolved = f" (resolved {record['resolved_at']})" if record["resolved_at"] else ""
        print(
            f"{record['system']}.{record['object']} {record['key'] or '-'} [{record['stage']}: {record['rule']}] "
            f"{record['reason']}{resolved}"
        )
    return 0


def _plan(args: argparse.Namespace) -> int:
    """The next run's plan from what is staged now (a dry run: nothing is written anywhere)."""
    from crosswalk.config import ConfigError, MissingSettingsError, projects_settings, quickbooks_sync_settings
    from crosswalk.extract.errors import CredentialsError, ExtractError
    from crosswalk.staging import StoreUnavailable
    from crosswalk.sync import projects, quickbooks
    from crosswalk.sync.mapping import MappingError
    from crosswalk.sync.plan import Action

    url = database_url_from_env()
    notes: list[str] = []
    try:
        with _existing_store(url) as store:
            if args.sync == "projects":
                settings = projects_settings()
                enabled, switch = settings.enabled, "projects.enabled"
                engine = projects.projects_engine(store, settings)
                streams = projects.streams_read(engine.mapping)
            else:
                qbo_settings = quickbooks_sync_settings()
                enabled, switch = qbo_settings.enabled, "quickbooks.enabled"
                streams = quickbooks.streams_read()
            if not args.no_extract:
                _extract_streams(streams, store)
            if args.sync == "quickbooks":
                engine, sync = quickbooks.quickbooks_engine(
                    store, qbo_settings.mapping_path, on_delete=qbo_settings.on_delete,
                    allow_billable_with_invoices=qbo_settings.allow_billable_with_invoices,
                )  # fmt: skip
                notes.extend(sync.integration.notes)
            print(f"planning the {args.sync} sync from what is staged...", file=sys.stderr, flush=True)
            plan = engine.plan(progress=lambda line: print(line, file=sys.stderr, flush=True))
    except (StoreUnavailable, ConfigError, MappingError, MissingSettingsError, ExtractError, CredentialsError,
            quickbooks.QuickBooksSettingsError) as exc:  # fmt: skip
        print(f"crosswalk plan: {exc}", file=sys.stderr)
        return 1
    items = [item for item in plan.items if item.action is not Action.LINK]
    counts = dict(sorted(plan.counts().items()))
    reviews = [
        {"entity": name, "system": review.system, "key": review.key, "candidates": list(review.candidates),
         "reason": review.reason}
        for name, entity_plan in plan.entities.items() for review in entity_plan.reviews
    ]  # fmt: skip
    if args.json:
        body = {"sync": plan.sync, "mapping_hash": plan.mapping_hash, "enabled": enabled, "notes": notes,
                "counts": counts, "items": [item.as_json() for item in items], "reviews": reviews}  # fmt: skip
        print(json.dumps(body, indent=2, default=str))
        return 0
    if not enabled:
        print(f"{switch} is false: a run would write nothing; the plan below is what it would write if on")
    for note in notes:
        print(f"note: {note}")
    writes = [item for item in items if item.action.value in ("create", "update")]
    print(f"plan for the {plan.sync} sync (mapping {plan.mapping_hash[:12]}): {len(writes)} writes; "
          + ", ".join(f"{name} {count}" for name, count in counts.items() if count))  # fmt: skip
    for item in items[: None if args.all else 50]:
        record = item.target_key or (item.identity[1] if item.identity else item.source_key)
        fields = {**item.values, **item.link_values}
        detail = ", ".join(f"{name}={value!r}" for name, value in fields.items())
        reason = f"  ({item.reason})" if item.reason else ""
        print(f"{item.action.value:<8} {item.entity:<9} {item.target or '-':<11} {record or '-':<22} {detail}{reason}")
    if not args.all and len(items) > 50:
        print(f"... {len(items) - 50} more (--all shows every item, --json for machines)")
    if reviews:
        print(f"{len(reviews)} records wait for a person (never linked or created while ambiguous):")
        for review in reviews[: None if args.all else 20]:
            print(f"review   {review['entity']:<9} {review['system']:<11} {review['key']:<22} "
                  f"candidates {', '.join(review['candidates'])}: {review['reason']}")  # fmt: skip
    return 0


def _extract_streams(streams: list[tuple[str, str]], store: StagingStore) -> None:
    """Bring the streams a sync reads up to date (incrementally), so the plan is the one the next run would make:
    a run extracts before it plans. Progress goes to standard error."""
    import os
    import uuid

    from crosswalk.clients.catalog import find_stream
    from crosswalk.config import extract_settings
    from crosswalk.extract.runner import extract_stream
    from resources.systems import resource_from_values

    settings = extract_settings()
    run_id = f"plan-{uuid.uuid4().hex[:12]}"
    resources: dict[str, Any] = {}
    try:
        for system, object_name in streams:
            resource = resources.setdefault(system, resource_from_values(system, os.environ))
            spec = find_stream(system, object_name)
            result = extract_stream(
                spec, resource.source(store, settings), store, run_id, key_scan_every=settings.key_scan_every
            )
            print(f"extracted {spec.name}: {result.rows_read} read, {result.counts.new} new, "
                  f"{result.counts.changed} changed", file=sys.stderr)  # fmt: skip
    finally:
        for resource in resources.values():
            resource.teardown_after_execution(None)  # type: ignore[arg-type]


def _conflicts(args: argparse.Namespace) -> int:
    from crosswalk.staging import StoreUnavailable
    from crosswalk.staging.plans import PlanStore

    url = database_url_from_env()
    try:
        with _existing_store(url) as store:
            rows = PlanStore(store, args.sync).conflicts()
    except StoreUnavailable as exc:
        print(f"crosswalk conflicts: {exc}", file=sys.stderr)
        return 1
    records = [
        {"sync": row["sync"], "entity": row["entity"], "left_key": row["left_key"], "right_key": row["right_key"],
         "field": row["field"], "run_id": row["run_id"], "at": _iso(row["created_at"]), **row["detail"]}
        for row in rows
    ]  # fmt: skip
    if args.json:
        print(json.dumps({"database": redact_url(url), "conflicts": records}, indent=2, default=str))
        return 0
    print(f"staging: {redact_url(url)}: {len(records)} conflict{'s' if len(records) != 1 else ''} ({args.sync} sync)")
    for record in records:
        kept = record["left"] if record["winner"] == "left" else record["right"]
        print(
            f"{record['at']} {record['entity']} {record['left_key']}/{record['right_key']} {record['field']}: "
            f"base {record['base_left']!r}, left {record['left']!r}, right {record['right']!r} -> kept {kept!r} "
            f"({record['rule']})"
        )
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from crosswalk.staging import StagingStore, StoreUnavailable
    from crosswalk.staging.migrations import describe
    from crosswalk.staging.store import unavailable_on_database_error

    url = database_url_from_env()
    try:
        store = StagingStore(url)
        try:
            with unavailable_on_database_error(url):
                applied = store.migrate()
                version = store.schema_version()
        finally:
            store.dispose()
    except StoreUnavailable as exc:
        print(f"crosswalk migrate: {exc}", file=sys.stderr)
        return 1
    print(f"staging {redact_url(url)}: schema version {version}" + ("" if applied else " (already current)"))
    for applied_version in applied:
        print(f"  applied {applied_version:04d} {describe(applied_version)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosswalk", description="Crosswalk sync hub")
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="start the four local emulators and write an env file for them")
    sandbox.add_argument("--env-file", required=True, help="where to write the `export` lines")
    sandbox.add_argument("--scale", default="demo", help="demo (tens of records), none, or N records per kind")
    sandbox.add_argument("--seed", type=int, default=1, help="data generator seed (same seed, same data)")
    sandbox.add_argument(
        "--count",
        action="append",
        default=[],
        metavar="KIND=N",
        help="override one kind's record count, e.g. tasks=1000000",
    )
    sandbox.add_argument("--state-dir", help="certificates, logs and ready files (default .crosswalk/sandbox)")
    sandbox.set_defaults(func=_sandbox)

    status = commands.add_parser("status", help="per stream: staged rows, deleted rows, watermark, last run")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)

    report = commands.add_parser(
        "report", help="what a run read, wrote where, quarantined, settled and left for review (default: the latest)"
    )
    report.add_argument("--run", metavar="RUN_ID", help="the run's id (or the start of it); default: the latest run")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.set_defaults(func=_report)

    quarantine = commands.add_parser(
        "quarantine", help="records kept aside (not staged or not synced) with the rule they broke and why"
    )
    quarantine.add_argument("--json", action="store_true", help="machine-readable output, with each record as read")
    quarantine.add_argument("--all", action="store_true", help="include records released since (resolved)")
    quarantine.set_defaults(func=_quarantine)

    plan = commands.add_parser("plan", help="the next run's write plan from what is staged now (writes nothing)")
    plan.add_argument("--sync", choices=("projects", "quickbooks"), default="projects")
    plan.add_argument("--json", action="store_true", help="machine-readable output: every item")
    plan.add_argument("--all", action="store_true", help="list every item, not the first 50")
    plan.add_argument(
        "--no-extract",
        action="store_true",
        help="plan from staging as it is, without first reading what changed in the systems since the last run",
    )
    plan.set_defaults(func=_plan)

    conflicts = commands.add_parser("conflicts", help="conflicts the syncs found: both values, the base, the winner")
    conflicts.add_argument("--sync", choices=("projects", "quickbooks"), default="projects")
    conflicts.add_argument("--json", action="store_true", help="machine-readable output")
    conflicts.set_defaults(func=_conflicts)

    migrate = commands.add_parser("migrate", help="create or upgrade the staging store's schema")
    migrate.set_defaults(func=_migrate)

    from crosswalk.quickbooks_connection import add_quickbooks_commands

    add_quickbooks_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `crosswalk plan | head` ends quietly
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
