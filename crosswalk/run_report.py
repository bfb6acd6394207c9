"""What one run did, for a person: what it read from each system, what each sync wrote where (with a few of the
records), what it kept aside and why, the conflicts it settled and the records left for a person to pair.

Built from the staging store alone (extract_runs, sync_plans with plan_items and write_intents, quarantine,
sync_conflicts, match_reviews), so it reads the same for a run launched by the demo, the UI or a schedule.
`crosswalk report` prints it; `crosswalk report --json` gives the same figures to machines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crosswalk.staging import schema
from crosswalk.staging.store import StagingStore

# `crosswalk plan` extracts under run ids of its own (a dry run, not a sync run): never the latest run by default.
DRY_RUN_PREFIX = "plan-"
SAMPLES = 3  # records named per group of writes, quarantine reason or review list
TOP_REASONS = 5
# Where a record's name is, in the sync's canonical values and then in the API's own record.
_CANONICAL_NAMES = ("name", "number")
_API_NAMES = ("Name", "NAME", "DisplayName", "DocNumber", "Number", "CompanyName", "FullyQualifiedName")


class RunNotFound(LookupError):
    """No run in the store has this id (or the store holds no run at all)."""


@dataclass(frozen=True)
class _Window:
    started_at: datetime | None
    finished_at: datetime | None


def _utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes for what was stored as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _iso(value: datetime | None) -> str | None:
    value = _utc(value)
    return value.isoformat() if value else None


def resolve_run(store: StagingStore, requested: str | None = None) -> str:
    """The run to report: `requested` (a whole run id, or the start of exactly one) or the latest sync run."""
    runs, plans = schema.extract_runs, schema.sync_plans
    with store.engine.connect() as conn:
        if requested:
            for table in (plans, runs):
                if conn.execute(sa.select(table.c.run_id).where(table.c.run_id == requested).limit(1)).first():
                    return requested
            pattern = requested.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            found = {
                run_id
                for table in (plans, runs)
                for (run_id,) in conn.execute(
                    sa.select(table.c.run_id).where(table.c.run_id.like(pattern, escape="\\")).distinct().limit(2)
                )
            }
            if len(found) == 1:
                return found.pop()
            if found:
                raise RunNotFound(f"more than one run starts with {requested!r}: give more of its id")
            raise RunNotFound(f"no run {requested!r} in the staging store")
        latest: list[tuple[datetime, str]] = []
        for table, column in ((plans, plans.c.created_at), (runs, runs.c.started_at)):
            row = conn.execute(
                sa.select(column, table.c.run_id)
                .where(table.c.run_id.is_not(None), sa.not_(table.c.run_id.startswith(DRY_RUN_PREFIX)))
                .order_by(column.desc())
                .limit(1)
            ).first()
            if row is not None:
                latest.append((_utc(row[0]) or datetime.min.replace(tzinfo=UTC), row[1]))
    if not latest:
        raise RunNotFound("no sync run recorded in the staging store yet")
    return max(latest)[1]


def run_report(store: StagingStore, run_id: str) -> dict[str, Any]:
    """Everything `crosswalk report` shows about one run, as plain JSON-ready values."""
    with store.engine.connect() as conn:
        reads, window = _reads(conn, run_id)
        syncs, plan_window = _syncs(conn, run_id)
        quarantine = _quarantine(conn, run_id)
        conflicts = _conflicts(conn, run_id)
        reviews = _reviews(conn, run_id)
    starts = [t for t in (window.started_at, plan_window.started_at) if t]
    ends = [t for t in (window.finished_at, plan_window.finished_at) if t]
    return {
        "run_id": run_id,
        "started_at": _iso(min(starts)) if starts else None,
        "finished_at": _iso(max(ends)) if ends else None,
        "read": reads,
        "syncs": syncs,
        "quarantine": quarantine,
        "conflicts": conflicts,
        "reviews": reviews,
    }


# ---- what the run read ----------------------------------------------------------------------------------------------


def _reads(conn: sa.Connection, run_id: str) -> tuple[list[dict[str, Any]], _Window]:
    """Per system: the streams read, their rows, and the streams that failed with why. A stream read again in the
    same run (the QuickBooks sync reads what it wrote) adds its rows and calls and counts as read again."""
    table = schema.extract_runs
    rows = conn.execute(sa.select(table).where(table.c.run_id == run_id).order_by(table.c.id)).mappings().all()
    systems: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    for row in rows:
        system = systems.setdefault(row["system"], {
            "system": row["system"], "streams": 0, "read_again": 0, "rows_read": 0, "new": 0, "changed": 0,
            "unchanged": 0, "deleted": 0, "api_calls": 0, "retries": 0, "failed": [],
        })  # fmt: skip
        stream = (row["system"], row["object"])
        if stream in seen:
            system["read_again"] += 1
        else:
            seen.add(stream)
            system["streams"] += 1
        for name, column in (("rows_read", "rows_read"), ("new", "rows_new"), ("changed", "rows_changed"),
                             ("unchanged", "rows_unchanged"), ("deleted", "rows_deleted"),
                             ("api_calls", "api_calls"), ("retries", "retries")):  # fmt: skip
            system[name] += int(row[column] or 0)
        if row["status"] != "succeeded":
            system["failed"].append({"object": row["object"], "error": row["error"]})
    starts = [_utc(r["started_at"]) for r in rows if r["started_at"]]
    ends = [_utc(r["finished_at"]) for r in rows if r["finished_at"]]
    window = _Window(min(starts) if starts else None, max(ends) if ends else None)  # type: ignore[type-var]
    return list(systems.values()), window


# ---- what each sync wrote -------------------------------------------------------------------------------------------


def _plan_stage(plan_id: str, sync: str, run_id: str) -> str | None:
    """The step of the sync a plan belongs to, from its id `<sync>[-<stage>]-<run>` (quickbooks: send, status)."""
    middle = plan_id.removeprefix(f"{sync}-").removesuffix(run_id).strip("-")
    return middle or None


def _syncs(conn: sa.Connection, run_id: str) -> tuple[list[dict[str, Any]], _Window]:
    plans, intents = schema.sync_plans, schema.write_intents
    stored = (
        conn.execute(sa.select(plans).where(plans.c.run_id == run_id).order_by(plans.c.created_at, plans.c.plan_id))
        .mappings()
        .all()
    )
    syncs: dict[str, dict[str, Any]] = {}
    for plan in stored:
        sync = syncs.setdefault(plan["sync"], {"sync": plan["sync"], "plans": []})
        sync["plans"].append({
            "plan_id": plan["plan_id"], "stage": _plan_stage(plan["plan_id"], plan["sync"], run_id),
            "planned_at": _iso(plan["created_at"]), "mapping_hash": plan["mapping_hash"],
            "counts": json.loads(plan["counts"]), "written": _written(conn, plan["plan_id"]),
        })  # fmt: skip
    finished = conn.execute(
        sa.select(sa.func.max(intents.c.finished_at)).where(intents.c.run_id == run_id)
    ).scalar_one_or_none()
    starts = [_utc(plan["created_at"]) for plan in stored]
    window = _Window(min(starts) if starts else None, _utc(finished) or (max(starts) if starts else None))  # type: ignore[type-var]
    # The projects sync first, then the others by name; a sync's plans in the order its steps made them.
    return sorted(syncs.values(), key=lambda sync: sync["sync"]), window


def _written(conn: sa.Connection, plan_id: str) -> list[dict[str, Any]]:
    """The plan's writes by target, entity and action: how many landed, were refused or never got an answer, with
    the first few records of each (their name and the key the target gave them) and the first refusals."""
    intents, items = schema.write_intents, schema.plan_items
    joined = intents.join(items, sa.and_(items.c.plan_id == intents.c.plan_id, items.c.seq == intents.c.seq))
    group = (intents.c.target_system, intents.c.target_object, items.c.entity, items.c.action)
    counts = conn.execute(
        sa.select(*group, intents.c.state, sa.func.count())
        .select_from(joined)
        .where(intents.c.plan_id == plan_id, intents.c.operation != "link")
        .group_by(*group, intents.c.state)
    ).all()
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for target, object_name, entity, action, state, count in counts:
        entry = groups.setdefault((target, object_name, entity, action), {
            "target": target, "object": object_name, "entity": entity, "action": action,
            "done": 0, "failed": 0, "open": 0, "records": [], "errors": [],
        })  # fmt: skip
        entry[state if state in ("done", "failed") else "open"] += int(count)
    # The first few landed and refused writes of every group at once: one pass over the plan's intents, however
    # many groups and writes it has.
    rank = sa.func.row_number().over(partition_by=(*group, intents.c.state), order_by=intents.c.seq).label("rank")
    ranked = (
        sa.select(
            *group, intents.c.state, intents.c.seq, intents.c.result_key, intents.c.lookup_value, intents.c.error, rank
        )
        .select_from(joined)
        .where(intents.c.plan_id == plan_id, intents.c.operation != "link", intents.c.state.in_(("done", "failed")))
        .subquery()
    )
    firsts = (
        sa.select(
            ranked.c.target_system,
            ranked.c.target_object,
            ranked.c.entity,
            ranked.c.action,
            ranked.c.state,
            ranked.c.result_key,
            ranked.c.lookup_value,
            ranked.c.error,
            items.c.item,
        )
        # plan_items by its key: only the few rows ranked first are looked up
        .select_from(ranked.join(items, sa.and_(items.c.plan_id == plan_id, items.c.seq == ranked.c.seq)))
        .where(ranked.c.rank <= SAMPLES)
        .order_by(ranked.c.seq)
    )
    for target, object_name, entity, action, state, result_key, lookup_value, error, item_text in conn.execute(firsts):
        item = json.loads(item_text)
        entry = groups[(target, object_name, entity, action)]
        if state == "done":
            key = result_key or item.get("target_key") or lookup_value
            name = _item_name(item) or _staged_name(conn, entry["target"], entry["object"], key)
            entry["records"].append({"key": key, "name": name})
        else:
            entry["errors"].append(
                {"source": item.get("source"), "source_key": item.get("source_key"), "error": _first_line(error)}
            )
    return sorted(groups.values(), key=lambda g: (g["target"], g["entity"], g["action"] != "create", g["object"]))


def _item_name(item: Mapping[str, Any]) -> str | None:
    for values in (item.get("values") or {}, item.get("before") or {}):
        for field in _CANONICAL_NAMES:
            value = values.get(field)
            if isinstance(value, str) and value:
                return value
    return None


def _staged_name(conn: sa.Connection, system: str, object_name: str, key: str | None) -> str | None:
    """The record's name as its system holds it (the staged copy), for a write whose plan item does not carry one."""
    if not key:
        return None
    table = schema.raw_records
    payload = conn.execute(
        sa.select(table.c.payload).where(
            table.c.system == system, table.c.object == object_name, table.c.record_key == key
        )
    ).scalar_one_or_none()
    if payload is None:
        return None
    record = json.loads(payload)
    for field in _API_NAMES:
        value = record.get(field)
        if isinstance(value, str | int) and str(value):
            return str(value)
    return None


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""


# ---- kept aside, settled, left to a person --------------------------------------------------------------------------


def _quarantine(conn: sa.Connection, run_id: str) -> dict[str, Any]:
    """Records the run quarantined (still open, or released later) and the open quarantine as a whole, with the
    most frequent reasons of this run's and a few record keys for each."""
    table = schema.quarantine
    this_run = table.c.run_id == run_id
    is_open = table.c.resolved_at.is_(None)
    with_run = conn.execute(
        sa.select(sa.func.count(), sa.func.sum(sa.case((is_open, 1), else_=0))).where(this_run)
    ).one()
    open_total = conn.execute(sa.select(sa.func.count()).where(is_open)).scalar_one()
    reason_group = (table.c.stage, table.c.system, table.c.object, table.c.rule, table.c.reason)
    top = conn.execute(
        sa.select(*reason_group, sa.func.count().label("records"))
        .where(this_run, is_open)
        .group_by(*reason_group)
        .order_by(sa.func.count().desc(), table.c.system, table.c.object, table.c.reason)
        .limit(TOP_REASONS)
    ).all()
    reasons = []
    for stage, system, object_name, rule, reason, records in top:
        keys = conn.execute(
            sa.select(table.c.record_key)
            .where(this_run, is_open, table.c.stage == stage, table.c.system == system, table.c.object == object_name,
                   table.c.rule == rule, table.c.reason == reason)
            .order_by(table.c.id)
            .limit(SAMPLES)
        ).scalars().all()  # fmt: skip
        reasons.append({"stage": stage, "system": system, "object": object_name, "rule": rule, "reason": reason,
                        "records": int(records), "keys": [key for key in keys if key]})  # fmt: skip
    groups = sa.select(*reason_group).where(this_run, is_open).group_by(*reason_group).subquery()
    reason_count = conn.execute(sa.select(sa.func.count()).select_from(groups)).scalar_one()
    this_run_open = int(with_run[1] or 0)
    return {
        "this_run": int(with_run[0] or 0),
        "this_run_open": this_run_open,
        "open": int(open_total),
        "top_reasons": reasons,
        "other_reasons": {
            "reasons": int(reason_count) - len(reasons),
            "records": this_run_open - sum(reason["records"] for reason in reasons),
        },
    }


def _conflicts(conn: sa.Connection, run_id: str) -> dict[str, Any]:
    """Conflicts the run's plans settled, per sync, entity and field, with one example (both values, the winner)."""
    table = schema.sync_conflicts
    group = (table.c.sync, table.c.entity, table.c.field)
    rows = conn.execute(
        sa.select(*group, sa.func.count(), sa.func.min(table.c.id))
        .where(table.c.run_id == run_id)
        .group_by(*group)
        .order_by(sa.func.count().desc(), *group)
    ).all()
    fields = []
    for sync, entity, field, count, first_id in rows:
        example = conn.execute(
            sa.select(table.c.left_key, table.c.right_key, table.c.detail).where(table.c.id == first_id)
        ).one()
        detail = json.loads(example.detail)
        fields.append({
            "sync": sync, "entity": entity, "field": field, "conflicts": int(count),
            "example": {"left_key": example.left_key, "right_key": example.right_key, "left": detail.get("left"),
                        "right": detail.get("right"), "winner": detail.get("winner"), "rule": detail.get("rule")},
        })  # fmt: skip
    return {"count": sum(f["conflicts"] for f in fields), "fields": fields}


def _reviews(conn: sa.Connection, run_id: str) -> dict[str, Any]:
    """Records waiting for a person to pair them (the open review lists, which each run replaces with its own)."""
    table = schema.match_reviews
    is_open = table.c.resolved_at.is_(None)
    group = (table.c.sync, table.c.entity, table.c.system)
    rows = conn.execute(sa.select(*group, sa.func.count()).where(is_open).group_by(*group).order_by(*group)).all()
    lists = []
    for sync, entity, system, count in rows:
        samples = conn.execute(
            sa.select(table.c.record_key, table.c.candidates, table.c.reason)
            .where(is_open, table.c.sync == sync, table.c.entity == entity, table.c.system == system)
            .order_by(table.c.id)
            .limit(SAMPLES)
        ).all()  # fmt: skip
        lists.append({
            "sync": sync, "entity": entity, "system": system, "records": int(count),
            "examples": [{"key": key, "candidates": json.loads(candidates), "reason": reason}
                         for key, candidates, reason in samples],
        })  # fmt: skip
    this_run = conn.execute(sa.select(sa.func.count()).where(is_open, table.c.run_id == run_id)).scalar_one()
    return {"open": sum(r["records"] for r in lists), "this_run": int(this_run), "lists": lists}


# ---- text ---------------------------------------------------------------------------------------------------------


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (plural or word + 's')}"


def _record_text(record: Mapping[str, Any]) -> str:
    name, key = record.get("name"), record.get("key")
    if name and key and name != key:
        return f"{name} ({key})"
    return str(name or key or "?")


def _samples_text(records: list[Mapping[str, Any]], total: int, width: int = 80) -> str:
    """A few records by name and key, as many as fit the width (at least one), `...` when there are more."""
    shown: list[str] = []
    for record in records:
        text = _record_text(record)
        if shown and len(", ".join([*shown, text])) > width:
            break
        shown.append(text)
    return ", ".join(shown) + (", ..." if total > len(shown) else "")


def render_text(report: Mapping[str, Any], database: str) -> str:
    """The report as a person reads it: a few lines per system and sync, then what needs attention."""
    lines: list[str] = []
    span = ""
    if report["started_at"]:
        start, end = report["started_at"][:19].replace("T", " "), (report["finished_at"] or "?")[:19].replace("T", " ")
        span = f", {start} to {end[11:] if end[:10] == start[:10] else end} UTC"
    lines.append(f"run {report['run_id']}{span}")
    lines.append(f"staging: {database}")

    lines.append("")
    lines.append("read")
    if not report["read"]:
        lines.append("  nothing was read in this run")
    for system in report["read"]:
        text = (
            f"  {system['system']:<11} {_plural(system['streams'], 'stream'):>11}  "
            f"{system['rows_read']:>9,} rows: {system['new']:,} new, {system['changed']:,} changed, "
            f"{system['deleted']:,} deleted, {_plural(system['api_calls'], 'call')}"
        )
        if system["read_again"]:
            text += f"; {system['read_again']} read again after the writes"
        if system["retries"]:
            text += f"; {_plural(system['retries'], 'retry', 'retries')}"
        lines.append(text)
        for failure in system["failed"]:
            lines.append(f"    FAILED {failure['object']}: {_first_line(failure['error'])}")

    for sync in report["syncs"]:
        for plan in sync["plans"]:
            counts = plan["counts"]
            title = f"sync {sync['sync']}" + (f" ({plan['stage']})" if plan["stage"] else "")
            lines.append("")
            lines.append(
                f"{title}: planned {_plural(counts.get('creates', 0), 'create')}, "
                f"{_plural(counts.get('updates', 0), 'update')}, {counts.get('refused', 0):,} refused, "
                f"{counts.get('in_sync', 0):,} pairs already in sync"
            )
            if not plan["written"]:
                lines.append("  nothing to write")
            for group in plan["written"]:
                verb = "created" if group["action"] == "create" else "updated"
                text = f"  {group['target']:<11} {group['entity']:<15} {verb} {group['done']:>6,}"
                if group["records"]:
                    text += f"  {_samples_text(group['records'], group['done'])}"
                lines.append(text)
                if group["failed"]:
                    first = group["errors"][0] if group["errors"] else None
                    why = f"  {first['source']} {first['source_key']}: {first['error']}" if first else ""
                    lines.append(f"  {'':<11} {'':<15} refused {group['failed']:>6,}{why}")
                if group["open"]:
                    lines.append(f"  {'':<11} {'':<15} no answer {group['open']:>4,} (settled on the next run)")
    if not report["syncs"]:
        lines.append("")
        lines.append("no sync planned in this run (syncs switched off, or the run stopped before planning)")

    quarantine = report["quarantine"]
    lines.append("")
    lines.append(
        f"quarantined: {_plural(quarantine['this_run_open'], 'record')} in this run "
        f"({quarantine['open']:,} open in all; `crosswalk quarantine` lists them)"
    )
    for reason in quarantine["top_reasons"]:
        keys = f" ({', '.join(reason['keys'])}{', ...' if reason['records'] > len(reason['keys']) else ''})"
        lines.append(f"  {reason['records']:>5,}  {reason['stage']} {reason['system']}.{reason['object']}: "
                     f"{_first_line(reason['reason'])}{keys if reason['keys'] else ''}")  # fmt: skip

    others = quarantine["other_reasons"]
    if others["reasons"]:
        lines.append(f"  {others['records']:>5,}  for {_plural(others['reasons'], 'other reason')}")

    conflicts = report["conflicts"]
    lines.append(f"conflicts: {conflicts['count']:,} settled in this run"
                 + ("; `crosswalk conflicts` shows them" if conflicts["count"] else ""))  # fmt: skip
    for field in conflicts["fields"]:
        example = field["example"]
        kept = example["left"] if example["winner"] == "left" else example["right"]
        lines.append(f"  {field['conflicts']:>5,}  {field['sync']} {field['entity']}.{field['field']}: e.g. "
                     f"{example['left']!r} vs {example['right']!r}, kept {kept!r} ({example['rule']})")  # fmt: skip

    reviews = report["reviews"]
    lines.append(f"waiting for review: {_plural(reviews['open'], 'record')} a person must pair"
                 + (" (`crosswalk plan` lists them)" if reviews["open"] else ""))  # fmt: skip
    for review in reviews["lists"]:
        examples = ", ".join(f"{e['key']} ({_plural(len(e['candidates']), 'candidate')})" for e in review["examples"])
        more = ", ..." if review["records"] > len(review["examples"]) else ""
        lines.append(f"  {review['records']:>5,}  {review['sync']} {review['entity']} in {review['system']}: "
                     f"{examples}{more}")  # fmt: skip
    return "\n".join(lines) + "\n"
