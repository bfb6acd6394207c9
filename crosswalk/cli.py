"""The `crosswalk` command: sandbox, status, quarantine, migrate."""

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


def _status(args: argparse.Namespace) -> int:
    from crosswalk.staging import StoreUnavailable

    url = database_url_from_env()
    try:
        rows = _status_rows(url)
    except StoreUnavailable as exc:
        print(f"crosswalk status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"database": redact_url(url), "streams": rows}, indent=2))
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


def _migrate(_: argparse.Namespace) -> int:
    from crosswalk.staging import StagingStore, StoreUnavailable
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
    print(
        f"staging {redact_url(url)}: schema version {version}"
        + (f" (applied {applied})" if applied else " (already current)")
    )
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

    quarantine = commands.add_parser(
        "quarantine", help="records kept aside (not staged or not synced) with the rule they broke and why"
    )
    quarantine.add_argument("--json", action="store_true", help="machine-readable output, with each record as read")
    quarantine.add_argument("--all", action="store_true", help="include records released since (resolved)")
    quarantine.set_defaults(func=_quarantine)

    migrate = commands.add_parser("migrate", help="create or upgrade the staging store's schema")
    migrate.set_defaults(func=_migrate)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
