"""The projects sync's assets (group `projects`): the plan, then one load per target. Thin: the engine
(crosswalk/sync/engine.py) does the work; these wire it to Dagster's resources and report what it did.

The plan's code version is the mapping file's hash, so a mapping change shows the plan as changed in the UI; the
loads of a run execute exactly the plan that run stored.
"""

import os
from collections import Counter
from collections.abc import Iterator
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

from crosswalk.clients.catalog import find_stream
from crosswalk.config import config_path, extract_settings, projects_settings
from crosswalk.extract.runner import extract_stream
from crosswalk.sync.engine import SyncEngine, SyncPlan
from crosswalk.sync.mapping import load_mapping
from crosswalk.sync.plan import Action, PlanItem
from crosswalk.sync.projects import INTACCT, SALESFORCE, SYNC, projects_engine, streams_read
from crosswalk.sync.validation import SuiteResult, suite_names

GROUP = SYNC
PLAN_KEY = AssetKey([SYNC, "plan"])
PREVIEW_ITEMS = 25


def plan_id_of(run_id: str, stage: str | None = None) -> str:
    """A run's plan: the loads of the run find the plan its plan step stored (a second pass has its own)."""
    return f"{SYNC}-{run_id}" if stage is None else f"{SYNC}-{stage}-{run_id}"


def disabled_reason() -> str | None:
    settings = projects_settings()
    if settings.enabled:
        return None
    return f"projects.enabled is false in {config_path()}: no project or task is planned or written"


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
            "expectations": MetadataValue.json(
                [{"expectation": o.expectation, "column": o.column, "success": o.success, "unexpected": o.unexpected}
                 for o in suite.outcomes]
            ),
            "refused_preview": MetadataValue.json(
                {key: [p.reason for p in suite.refused[key]] for key in refused}
            ),
        },
    )


def record_link(target: str, object_name: str, key: str) -> str:
    """Where a person opens a written record: Salesforce's record page; Intacct's key (its RECORD_URL is on the
    Salesforce project, ia_crm__View_Project__c)."""
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


def build_projects_assets() -> list[AssetsDefinition]:
    mapping = load_mapping(projects_settings().mapping_path)  # a bad mapping stops the code location, naming it
    deps = [AssetKey([system, object_name.lower()]) for system, object_name in streams_read(mapping)]

    suites = suite_names(mapping)

    @asset(
        key=PLAN_KEY,
        group_name=GROUP,
        deps=deps,
        check_specs=[
            AssetCheckSpec(
                name=check_name(entity, system),
                asset=PLAN_KEY,
                description=f"Great Expectations suite over the {system} side's mapped {entity} records: required "
                "fields, unique ids, value maps, ranges, target lengths, ordered dates, references.",
            )
            for entity, system in suites
        ],
        code_version=mapping.content_hash[:16],
        required_resource_keys={"staging"},
        description="Map, match and reconcile Intacct projects and tasks with Salesforce into a write plan "
        "(create / update with field diffs / refused / flagged), stored before anything is written.",
    )
    def plan(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        reason = disabled_reason()
        if reason:
            context.log.info(reason)
            yield MaterializeResult(metadata={"skipped": reason})
            for entity, system in suites:
                yield AssetCheckResult(
                    check_name=check_name(entity, system), passed=True, severity=AssetCheckSeverity.WARN,
                    description="not evaluated: the projects sync is off", metadata={"skipped": reason},
                )  # fmt: skip
            return
        engine = projects_engine(context.resources.staging.store, projects_settings())
        sync_plan = engine.plan()
        sync_plan.plan_id = plan_id_of(context.run_id)
        engine.save_plan(sync_plan, context.run_id)
        metadata = plan_metadata(sync_plan)
        context.log.info(
            f"projects plan: {metadata['creates']} creates, {metadata['updates']} updates, {metadata['conflicts']} "
            f"conflicts, {metadata['refused']} refused, {metadata['in_sync']} pairs in sync"
        )
        yield MaterializeResult(metadata=metadata)
        evaluated = {(suite.entity, suite.system) for suite in sync_plan.validation}
        for suite in sync_plan.validation:
            yield check_result(suite)
        for entity, system in suites:
            if (entity, system) not in evaluated:  # an entity this company's settings leave out (SPEC A8)
                yield AssetCheckResult(
                    check_name=check_name(entity, system), passed=True, severity=AssetCheckSeverity.WARN,
                    description=f"not evaluated: {entity} is not synced with these settings",
                )  # fmt: skip

    def build_load(target: str, after: AssetKey) -> AssetsDefinition:
        @asset(
            key=AssetKey([SYNC, f"load_{target}"]),
            group_name=GROUP,
            deps=[after],
            required_resource_keys={"staging", target},
            kinds={target},
            description=f"Write this run's plan to {target}: batched, each write committed as an intent first.",
        )
        def load(context: AssetExecutionContext) -> MaterializeResult:
            reason = disabled_reason()
            if reason:
                context.log.info(reason)
                return MaterializeResult(metadata={"skipped": reason})
            store = context.resources.staging.store
            engine: SyncEngine = projects_engine(store, projects_settings())
            writer = getattr(context.resources, target).source(store, extract_settings())
            plan_id = plan_id_of(context.run_id)
            result = engine.load(plan_id, target, writer, context.run_id, progress=context.log.info)
            settled = engine.settle(plan_id, context.run_id)
            context.log.info(
                f"{target}: {result.created} created, {result.updated} updated, {result.failed} refused, "
                f"{result.retryable} to retry, {result.api_calls} calls"
            )
            return MaterializeResult(
                metadata={
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
            )

        return load

    # Salesforce first: Intacct's link fields take the Ids Salesforce's creates return.
    load_salesforce = build_load(SALESFORCE, PLAN_KEY)
    load_intacct = build_load(INTACCT, AssetKey([SYNC, f"load_{SALESFORCE}"]))

    def intacct_created(context: AssetExecutionContext) -> int:
        """Records this run's load created in Intacct: Intacct computes their progress fields once they exist."""
        engine = projects_engine(context.resources.staging.store, projects_settings())
        return engine.created_in(plan_id_of(context.run_id), INTACCT)

    def read_again(context: AssetExecutionContext, system: str) -> int:
        store = context.resources.staging.store
        settings = extract_settings()
        source = getattr(context.resources, system).source(store, settings)
        read = 0
        for stream_system, object_name in streams_read(projects_engine(store, projects_settings()).mapping):
            if stream_system == system:
                result = extract_stream(find_stream(system, object_name), source, store, context.run_id,
                                        key_scan_every=settings.key_scan_every)  # fmt: skip
                read += result.rows_read
        return read

    @asset(
        key=AssetKey([SYNC, "read_intacct_again"]),
        group_name=GROUP,
        deps=[AssetKey([SYNC, f"load_{INTACCT}"])],
        required_resource_keys={"staging", INTACCT},
        kinds={INTACCT},
        pool=INTACCT,
        description="When this run created records in Intacct, read Intacct again (incrementally): the progress, "
        "record URLs and other values Intacct computes for them.",
    )
    def read_intacct_again(context: AssetExecutionContext) -> MaterializeResult:
        if reason := disabled_reason():
            return MaterializeResult(metadata={"skipped": reason})
        created = intacct_created(context)
        if not created:
            return MaterializeResult(metadata={"skipped": "this run created nothing in Intacct", "created": 0})
        return MaterializeResult(metadata={"created": created, "records_read": read_again(context, INTACCT)})

    @asset(
        key=AssetKey([SYNC, "progress_back"]),
        group_name=GROUP,
        deps=[AssetKey([SYNC, "read_intacct_again"])],
        required_resource_keys={"staging", SALESFORCE},
        kinds={SALESFORCE},
        pool=SALESFORCE,
        description="When this run created records in Intacct, read Salesforce again and write what Intacct "
        "computed for them (SPEC A6, A7) to Salesforce in the same run, so the next run has nothing left to write.",
    )
    def progress_back(context: AssetExecutionContext) -> MaterializeResult:
        if reason := disabled_reason():
            return MaterializeResult(metadata={"skipped": reason})
        if not intacct_created(context):
            return MaterializeResult(metadata={"skipped": "this run created nothing in Intacct"})
        read = read_again(context, SALESFORCE)
        store = context.resources.staging.store
        engine = projects_engine(store, projects_settings())
        sync_plan = engine.plan_writes_to(SALESFORCE)
        sync_plan.plan_id = plan_id_of(context.run_id, "progress")
        engine.save_plan(sync_plan, context.run_id)
        writer = context.resources.salesforce.source(store, extract_settings())
        result = engine.load(sync_plan.plan_id, SALESFORCE, writer, context.run_id, progress=context.log.info)
        settled = engine.settle(sync_plan.plan_id, context.run_id)
        context.log.info(f"progress back: {result.updated} Salesforce records updated, {result.failed} refused")
        return MaterializeResult(
            metadata={
                "records_read_again": read,
                "updated": result.updated,
                "created": result.created,
                "failed": result.failed,
                "retry_next_run": result.retryable,
                "api_calls": result.api_calls,
                "links_saved": settled["saved"],
                "errors": MetadataValue.json(result.errors[:50]),
                "written": MetadataValue.md(written_markdown(SALESFORCE, result.written)),
            }
        )

    return [plan, load_salesforce, load_intacct, read_intacct_again, progress_back]
