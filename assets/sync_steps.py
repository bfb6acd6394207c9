"""What every sync's assets share (assets/projects_sync.py, assets/quickbooks_sync.py): the plan's metadata and
asset checks, a load of the run's plan into one target, and reading a system's streams again within the run.

A sync names itself with a `SyncSteps`: its group, how to build its engine, its run's plan id and whether it is
switched off. The rest differs by sync and stays in its own module (the QuickBooks plan's held-back documents, the
projects' second pass reading Intacct's computed values).
"""

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from crosswalk.clients.catalog import SALESFORCE, find_stream
from crosswalk.config import extract_settings
from crosswalk.extract.runner import extract_stream
from crosswalk.staging import StagingStore
from crosswalk.sync.engine import PLAN_PHASES, LoadResult, SyncEngine, SyncPlan
from crosswalk.sync.plan import Action, PlanItem
from crosswalk.sync.validation import SuiteResult

PREVIEW_ITEMS = 25


@dataclass(frozen=True)
class SyncSteps:
    group: str  # the Dagster group, and the first part of each of the sync's asset keys
    engine: Callable[[StagingStore], SyncEngine]
    plan_id_of: Callable[[str], str]  # a run's id -> the id its plan step stores the plan under
    disabled_reason: Callable[[], str | None]  # why the sync is off in the settings; None when it is on


def plan_metadata(plan: SyncPlan) -> dict[str, Any]:
    counts = plan.counts()
    by_action: Counter[str] = Counter(
        f"{item.action.value}_{item.target}" if item.target else item.action.value for item in plan.items
    )
    writes = plan.writes()
    return {
        "plan_id": plan.plan_id,
        "mapping_hash": plan.mapping_hash,
        "creates": sum(1 for item in writes if item.action is Action.CREATE),
        "updates": sum(1 for item in writes if item.action is Action.UPDATE),
        "in_sync": counts["in_sync"],
        "matched": counts["matched"],
        "conflicts": counts["conflicts"],
        "refused": sum(1 for item in plan.items if item.action is Action.REFUSED),
        "review": counts["review"],
        "flagged": sum(1 for item in plan.items if item.action is Action.FLAG),
        "by_action": MetadataValue.json(dict(sorted(by_action.items()))),
        # Where the plan's time went (read_map, validate, match_reconcile, references), for tuning large syncs.
        "plan_seconds": MetadataValue.json(
            {phase: round(plan.seconds[phase], 2) for phase in PLAN_PHASES}
            | {"total": round(sum(plan.seconds.values()), 2)}
        ),
        "preview": MetadataValue.md(plan_preview(plan.items)),
    }


def plan_preview(items: list[PlanItem]) -> str:
    shown = [item for item in items if item.action is not Action.LINK][:PREVIEW_ITEMS]
    if not shown:
        return "_nothing to write: both sides agree_"

    def cell(value: Any) -> str:
        return ("" if value is None else str(value)).replace("|", "\\|").replace("\n", " ")[:80]

    lines = ["| entity | action | target | record | fields | why |", "| --- | --- | --- | --- | --- | --- |"]
    for item in shown:
        record = item.target_key or (item.identity[1] if item.identity else item.source_key)
        changes = ", ".join(f"{name}: {item.before.get(name)!r} → {value!r}" for name, value in item.values.items())
        changes = changes or ", ".join(f"{name} = {value}" for name, value in item.link_values.items())
        lines.append(
            f"| {item.entity} | {item.action.value} | {item.target or ''} | {cell(record)} | {cell(changes)} | "
            f"{cell(item.reason)} |"
        )
    return "\n".join(lines)


def check_name(entity: str, system: str) -> str:
    return f"{entity}_{system}_expectations"


def check_result(suite: SuiteResult) -> AssetCheckResult:
    """A suite's outcome as an asset check: failing records were quarantined and the rest planned, so a failure
    warns rather than stops the run."""
    failed = [o for o in suite.outcomes if not o.success]
    refused = sorted(suite.refused)[:20]
    # Records of pairs unchanged since a plan found them with nothing to do passed then and are not evaluated again.
    unchanged = f" ({suite.unchanged:,} unchanged since they last passed)" if suite.unchanged else ""
    return AssetCheckResult(
        check_name=check_name(suite.entity, suite.system),
        passed=suite.success,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(suite.refused)} of {suite.evaluated} records refused and quarantined{unchanged}"
        if failed
        else f"all {suite.evaluated} records pass{unchanged}",
        metadata={
            "records": suite.evaluated,
            "unchanged": suite.unchanged,
            "refused": len(suite.refused),
            "seconds": round(suite.seconds, 3),  # Great Expectations' run of the suite
            "expectations": MetadataValue.json(
                [{"expectation": o.expectation, "column": o.column, "success": o.success, "unexpected": o.unexpected}
                 for o in suite.outcomes]
            ),
            "refused_preview": MetadataValue.json(
                {key: [p.reason for p in suite.refused[key]] for key in refused}
            ),
        },
    )


def check_specs(
    plan_key: AssetKey, suites: Iterable[tuple[str, str]], describe: Callable[[str, str], str]
) -> list[AssetCheckSpec]:
    """The plan asset's checks: one per suite (entity, system), described by `describe(entity, system)`."""
    return [
        AssetCheckSpec(name=check_name(entity, system), asset=plan_key, description=describe(entity, system))
        for entity, system in suites
    ]


def checks_not_run(suites: Iterable[tuple[str, str]], description: str, reason: str) -> Iterator[AssetCheckResult]:
    """Every suite's check when the sync is off: passed, saying why nothing was evaluated."""
    for entity, system in suites:
        yield AssetCheckResult(
            check_name=check_name(entity, system), passed=True, severity=AssetCheckSeverity.WARN,
            description=description, metadata={"skipped": reason},
        )  # fmt: skip


def plan_checks(
    plan: SyncPlan, suites: Iterable[tuple[str, str]], not_evaluated: Callable[[str], str]
) -> Iterator[AssetCheckResult]:
    """A check per suite the plan ran; the others (an entity these settings leave out, no records) passed, with
    `not_evaluated(entity)` as their description."""
    evaluated = {(suite.entity, suite.system) for suite in plan.validation}
    for suite in plan.validation:
        yield check_result(suite)
    for entity, system in suites:
        if (entity, system) not in evaluated:
            yield AssetCheckResult(check_name=check_name(entity, system), passed=True,
                                   severity=AssetCheckSeverity.WARN, description=not_evaluated(entity))  # fmt: skip


def record_link(target: str, object_name: str, key: str) -> str:
    """Where a person opens a written record: Salesforce's record page; other systems' keys as they are (Intacct's
    RECORD_URL is on the Salesforce project, ia_crm__View_Project__c)."""
    instance = os.environ.get("SALESFORCE_INSTANCE_URL", "").rstrip("/")
    if target == SALESFORCE and instance and key:
        return f"[{key}]({instance}/lightning/r/{object_name}/{key}/view)"
    return key


def written_markdown(target: str, written: list[tuple[str, str, str, str]]) -> str:
    if not written:
        return "_nothing written_"
    lines = ["| entity | action | record |", "| --- | --- | --- |"]
    lines += [f"| {entity} | {action} | {record_link(target, obj, key)} |" for entity, action, obj, key in written]
    return "\n".join(lines)


def write_plan(
    context: AssetExecutionContext, engine: SyncEngine, plan_id: str, target: str
) -> tuple[LoadResult, dict[str, Any]]:
    """Load a stored plan's writes to `target`, settle its links, log the outcome; the result and its metadata."""
    store = engine.store
    writer = getattr(context.resources, target).source(store, extract_settings())
    result = engine.load(plan_id, target, writer, context.run_id, progress=context.log.info)
    settled = engine.settle(plan_id, context.run_id)
    context.log.info(
        f"{target}: {result.created} created, {result.updated} updated, {result.failed} refused, "
        f"{result.retryable} to retry, {result.api_calls} calls"
    )
    metadata = {
        "created": result.created,
        "updated": result.updated,
        "failed": result.failed,
        "retry_next_run": result.retryable,
        "recovered": result.recovered,
        "api_calls": result.api_calls,
        "links_saved": settled["saved"],
        "errors": MetadataValue.json(result.errors[:50]),
        "written": MetadataValue.md(written_markdown(target, result.written)),
    }
    return result, metadata


def system_step(steps: SyncSteps, name: str, after: AssetKey, system: str, description: str) -> Any:
    """@asset for a step of the sync that calls one system: keyed under the sync's group, after `after`, in the
    system's pool, with the staging store and that system's resource."""
    return asset(
        key=AssetKey([steps.group, name]),
        group_name=steps.group,
        deps=[after],
        required_resource_keys={"staging", system},
        kinds={system},
        pool=system,
        description=description,
    )


def build_load(steps: SyncSteps, target: str, after: AssetKey, description: str) -> AssetsDefinition:
    """The asset that writes the run's plan to `target` once `after` has materialised."""

    @system_step(steps, f"load_{target}", after, target, description)
    def load(context: AssetExecutionContext) -> MaterializeResult:
        if reason := steps.disabled_reason():
            context.log.info(reason)
            return MaterializeResult(metadata={"skipped": reason})
        engine = steps.engine(context.resources.staging.store)
        _result, metadata = write_plan(context, engine, steps.plan_id_of(context.run_id), target)
        return MaterializeResult(metadata=metadata)

    return load


def read_again(context: AssetExecutionContext, system: str, streams: Iterable[tuple[str, str]]) -> int:
    """Read `system`'s streams among `streams` again (incrementally, as an extract does) within the run; rows read."""
    store = context.resources.staging.store
    settings = extract_settings()
    source = getattr(context.resources, system).source(store, settings)
    read = 0
    for stream_system, object_name in streams:
        if stream_system == system:
            result = extract_stream(find_stream(system, object_name), source, store, context.run_id,
                                    key_scan_every=settings.key_scan_every)  # fmt: skip
            read += result.rows_read
    return read
