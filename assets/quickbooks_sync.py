"""The ESP+ -> QuickBooks Online sync's assets (group `quickbooks_sync`): the plan, the load into QBO, the load of
the link-backs into ESP+, then the status back. Thin: crosswalk/sync/quickbooks.py and the engine do the work.

The status back reads both sides' documents again once QBO has written them, and plans and writes what QBO now
holds (its document number, SyncToken, balance and any total difference) onto the ESP+ documents (B8), so a run
ends with every sent document's state in ESP+.
"""

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

from assets.projects_sync import check_name, check_result, plan_metadata, written_markdown
from crosswalk.clients.catalog import find_stream
from crosswalk.config import config_path, extract_settings, quickbooks_sync_settings
from crosswalk.extract.runner import extract_stream
from crosswalk.staging import StagingStore
from crosswalk.sync.engine import LoadResult, SyncEngine, SyncPlan
from crosswalk.sync.quickbooks import (
    ESP,
    QUICKBOOKS,
    SYNC,
    load_quickbooks_mapping,
    quickbooks_engine,
    status_plan,
    status_streams,
    streams_read,
)
from crosswalk.sync.validation import suite_names

GROUP = "quickbooks_sync"
PLAN_KEY = AssetKey([GROUP, "plan"])


def plan_id_of(run_id: str, stage: str = "send") -> str:
    return f"{SYNC}-{stage}-{run_id}"


def disabled_reason() -> str | None:
    if quickbooks_sync_settings().enabled:
        return None
    return f"quickbooks.enabled is false in {config_path()}: nothing is planned or written"


def engine_for(store: StagingStore) -> SyncEngine:
    settings = quickbooks_sync_settings()
    engine, _sync = quickbooks_engine(
        store, settings.mapping_path, on_delete=settings.on_delete,
        allow_billable_with_invoices=settings.allow_billable_with_invoices,
    )  # fmt: skip
    return engine


def load_metadata(result: LoadResult, settled: Any) -> dict[str, Any]:
    return {
        "created": result.created,
        "updated": result.updated,
        "failed": result.failed,
        "retry_next_run": result.retryable,
        "recovered": result.recovered,
        "api_calls": result.api_calls,
        "links_saved": settled["saved"],
        "errors": MetadataValue.json(result.errors[:50]),
        "written": MetadataValue.md(written_markdown(result.target, result.written)),
    }


def build_quickbooks_sync_assets() -> list[AssetsDefinition]:
    mapping = load_quickbooks_mapping(quickbooks_sync_settings().mapping_path)  # a bad mapping stops the location
    deps = [AssetKey([system, object_name.lower()]) for system, object_name in streams_read()]
    suites = suite_names(mapping)

    @asset(
        key=PLAN_KEY,
        group_name=GROUP,
        deps=deps,
        check_specs=[
            AssetCheckSpec(
                name=check_name(entity, system),
                asset=PLAN_KEY,
                description=f"Great Expectations suite over the {system} side's {entity} records: required fields, "
                "unique ids, references, totals equal to the lines, items on every line, sane quantities and "
                "amounts, currency of the party.",
            )
            for entity, system in suites
        ],
        code_version=mapping.content_hash[:16],
        required_resource_keys={"staging"},
        description="Map, match and reconcile ESP+ companies, items and documents with QuickBooks Online into a "
        "write plan (create / update with field diffs / refused / held back / review), stored before any write.",
    )
    def plan(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        reason = disabled_reason()
        if reason:
            context.log.info(reason)
            yield MaterializeResult(metadata={"skipped": reason})
            for entity, system in suites:
                yield AssetCheckResult(
                    check_name=check_name(entity, system), passed=True, severity=AssetCheckSeverity.WARN,
                    description="not evaluated: the QuickBooks sync is off", metadata={"skipped": reason},
                )  # fmt: skip
            return
        settings = quickbooks_sync_settings()
        store = context.resources.staging.store
        engine, sync = quickbooks_engine(
            store, settings.mapping_path, on_delete=settings.on_delete,
            allow_billable_with_invoices=settings.allow_billable_with_invoices,
        )  # fmt: skip
        sync_plan = engine.plan()
        sync_plan.plan_id = plan_id_of(context.run_id)
        engine.save_plan(sync_plan, context.run_id)
        metadata = plan_metadata(sync_plan)
        metadata["held_back"] = len(sync.held)
        for note in sync.integration.notes:
            context.log.warning(note)
        metadata["settings_notes"] = MetadataValue.json(list(sync.integration.notes))
        context.log.info(
            f"quickbooks plan: {metadata['creates']} creates, {metadata['updates']} updates, {metadata['refused']} "
            f"refused ({len(sync.held)} held back by ESP+'s send permissions), {metadata['review']} to review"
        )
        yield MaterializeResult(metadata=metadata)
        evaluated = {(suite.entity, suite.system) for suite in sync_plan.validation}
        for suite in sync_plan.validation:
            yield check_result(suite)
        for entity, system in suites:
            if (entity, system) not in evaluated:
                yield AssetCheckResult(check_name=check_name(entity, system), passed=True,
                                       severity=AssetCheckSeverity.WARN, description="no records")  # fmt: skip

    def build_load(target: str, after: AssetKey, description: str) -> AssetsDefinition:
        @asset(
            key=AssetKey([GROUP, f"load_{target}"]),
            group_name=GROUP,
            deps=[after],
            required_resource_keys={"staging", target},
            kinds={target},
            pool=target,
            description=description,
        )
        def load(context: AssetExecutionContext) -> MaterializeResult:
            reason = disabled_reason()
            if reason:
                return MaterializeResult(metadata={"skipped": reason})
            store = context.resources.staging.store
            engine = engine_for(store)
            writer = getattr(context.resources, target).source(store, extract_settings())
            plan_id = plan_id_of(context.run_id)
            result = engine.load(plan_id, target, writer, context.run_id, progress=context.log.info)
            settled = engine.settle(plan_id, context.run_id)
            context.log.info(
                f"{target}: {result.created} created, {result.updated} updated, {result.failed} refused, "
                f"{result.retryable} to retry, {result.api_calls} calls"
            )
            return MaterializeResult(metadata=load_metadata(result, settled))

        return load

    load_quickbooks = build_load(QUICKBOOKS, PLAN_KEY, "Write this run's plan to QuickBooks Online: batches of up "
                                 "to 30, each write committed as an intent first, looked up before any retry.")
    load_esp = build_load(ESP, AssetKey([GROUP, f"load_{QUICKBOOKS}"]), "Write the links of the companies and "
                          "documents QuickBooks Online created or matched back to ESP+.")

    def read_again(context: AssetExecutionContext, system: str) -> int:
        store = context.resources.staging.store
        settings = extract_settings()
        source = getattr(context.resources, system).source(store, settings)
        read = 0
        for stream_system, object_name in status_streams():
            if stream_system == system:
                result = extract_stream(find_stream(system, object_name), source, store, context.run_id,
                                        key_scan_every=settings.key_scan_every)  # fmt: skip
                read += result.rows_read
        return read

    def changed_since_the_send(store: StagingStore, run_id: str) -> int:
        """Records the reads after the send found new, changed or deleted (0: the send's plan, which already held
        every status write the staged state called for, left nothing for a second plan to find)."""
        wanted = set(status_streams())
        return sum(
            row["rows_new"] + row["rows_changed"] + row["rows_deleted"]
            for stream, row in store.latest_extract_runs().items()
            if stream in wanted and row["run_id"] == run_id
        )

    @asset(
        key=AssetKey([GROUP, "read_quickbooks_again"]),
        group_name=GROUP,
        deps=[AssetKey([GROUP, f"load_{ESP}"])],
        required_resource_keys={"staging", QUICKBOOKS},
        kinds={QUICKBOOKS},
        pool=QUICKBOOKS,
        description="Read QuickBooks Online's invoices, purchase orders and bills again (incrementally) once written: "
        "the numbers, SyncTokens, balances and totals QBO gave them.",
    )
    def read_quickbooks_again(context: AssetExecutionContext) -> MaterializeResult:
        if reason := disabled_reason():
            return MaterializeResult(metadata={"skipped": reason})
        return MaterializeResult(metadata={"documents_read": read_again(context, QUICKBOOKS)})

    @asset(
        key=AssetKey([GROUP, "status_back"]),
        group_name=GROUP,
        deps=[AssetKey([GROUP, "read_quickbooks_again"])],
        required_resource_keys={"staging", ESP},
        kinds={ESP},
        pool=ESP,
        description="Read ESP+'s documents again and write what QuickBooks Online holds now (number, SyncToken, "
        "balance, a total that differs) onto each sent document's QuickBooks send state (SPEC B8).",
    )
    def status_back(context: AssetExecutionContext) -> MaterializeResult:
        if reason := disabled_reason():
            return MaterializeResult(metadata={"skipped": reason})
        read = read_again(context, ESP)
        store = context.resources.staging.store
        if not changed_since_the_send(store, context.run_id):
            return MaterializeResult(metadata={
                "documents_read_again": read,
                "skipped": "nothing changed in ESP+ or QuickBooks Online since the send: its plan wrote every status",
            })  # fmt: skip
        engine = engine_for(store)
        sync_plan: SyncPlan = status_plan(engine)
        sync_plan.plan_id = plan_id_of(context.run_id, "status")
        engine.save_plan(sync_plan, context.run_id)
        writer = getattr(context.resources, ESP).source(store, extract_settings())
        result = engine.load(sync_plan.plan_id, ESP, writer, context.run_id, progress=context.log.info)
        settled = engine.settle(sync_plan.plan_id, context.run_id)
        context.log.info(f"status back: {result.updated} ESP+ documents updated, {result.failed} refused")
        return MaterializeResult(metadata={"documents_read_again": read, **load_metadata(result, settled)})

    return [plan, load_quickbooks, load_esp, read_quickbooks_again, status_back]
