"""The ESP+ -> QuickBooks Online sync's assets (group `quickbooks_sync`): the plan, the load into QBO, the load of
the link-backs into ESP+, then the status back. Thin: crosswalk/sync/quickbooks.py and the engine do the work.

The status back reads both sides' documents again once QBO has written them, and plans and writes what QBO now
holds (its document number, SyncToken, balance and any total difference) onto the ESP+ documents (B8), so a run
ends with every sent document's state in ESP+.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.sync_steps import (
    SyncSteps,
    build_load,
    check_specs,
    checks_not_run,
    plan_checks,
    plan_metadata,
    read_again,
    system_step,
    write_plan,
)
from crosswalk.config import config_path, quickbooks_sync_settings
from crosswalk.staging import StagingStore
from crosswalk.sync.engine import SyncEngine, SyncPlan
from crosswalk.sync.quickbooks import (
    ESP,
    QUICKBOOKS,
    SYNC,
    QuickBooksSync,
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


def engine_and_sync(store: StagingStore) -> tuple[SyncEngine, QuickBooksSync]:
    settings = quickbooks_sync_settings()
    return quickbooks_engine(
        store, settings.mapping_path, on_delete=settings.on_delete,
        allow_billable_with_invoices=settings.allow_billable_with_invoices,
    )  # fmt: skip


def engine_for(store: StagingStore) -> SyncEngine:
    return engine_and_sync(store)[0]


STEPS = SyncSteps(GROUP, engine_for, plan_id_of, disabled_reason)


def build_quickbooks_sync_assets() -> list[AssetsDefinition]:
    mapping = load_quickbooks_mapping(quickbooks_sync_settings().mapping_path)  # a bad mapping stops the location
    deps = [AssetKey([system, object_name.lower()]) for system, object_name in streams_read()]
    suites = suite_names(mapping)

    @asset(
        key=PLAN_KEY,
        group_name=GROUP,
        deps=deps,
        check_specs=check_specs(PLAN_KEY, suites, lambda entity, system: f"Great Expectations suite over the "
                                f"{system} side's {entity} records: required fields, unique ids, references, totals "
                                "equal to the lines, items on every line, sane quantities and amounts, currency of "
                                "the party."),
        code_version=mapping.content_hash[:16],
        required_resource_keys={"staging"},
        description="Map, match and reconcile ESP+ companies, items and documents with QuickBooks Online into a "
        "write plan (create / update with field diffs / refused / held back / review), stored before any write.",
    )
    def plan(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        if reason := disabled_reason():
            context.log.info(reason)
            yield MaterializeResult(metadata={"skipped": reason})
            yield from checks_not_run(suites, "not evaluated: the QuickBooks sync is off", reason)
            return
        engine, sync = engine_and_sync(context.resources.staging.store)
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
        yield from plan_checks(sync_plan, suites, lambda _entity: "no records")

    load_quickbooks = build_load(STEPS, QUICKBOOKS, PLAN_KEY, "Write this run's plan to QuickBooks Online: batches "
                                 "of up to 30, each write committed as an intent first, looked up before any retry.")
    load_esp = build_load(STEPS, ESP, AssetKey([GROUP, f"load_{QUICKBOOKS}"]), "Write the links of the companies and "
                          "documents QuickBooks Online created or matched back to ESP+.")

    def changed_since_the_send(store: StagingStore, run_id: str) -> int:
        """Records the reads after the send found new, changed or deleted (0: the send's plan, which already held
        every status write the staged state called for, left nothing for a second plan to find)."""
        wanted = set(status_streams())
        return sum(
            row["rows_new"] + row["rows_changed"] + row["rows_deleted"]
            for stream, row in store.latest_extract_runs().items()
            if stream in wanted and row["run_id"] == run_id
        )

    @system_step(STEPS, "read_quickbooks_again", AssetKey([GROUP, f"load_{ESP}"]), QUICKBOOKS,
                 "Read QuickBooks Online's invoices, purchase orders and bills again (incrementally) once written: "
                 "the numbers, SyncTokens, balances and totals QBO gave them.")  # fmt: skip
    def read_quickbooks_again(context: AssetExecutionContext) -> MaterializeResult:
        if reason := disabled_reason():
            return MaterializeResult(metadata={"skipped": reason})
        return MaterializeResult(metadata={"documents_read": read_again(context, QUICKBOOKS, status_streams())})

    @system_step(STEPS, "status_back", AssetKey([GROUP, "read_quickbooks_again"]), ESP,
                 "Read ESP+'s documents again and write what QuickBooks Online holds now (number, SyncToken, "
                 "balance, a total that differs) onto each sent document's QuickBooks send state (SPEC B8).")
    def status_back(context: AssetExecutionContext) -> MaterializeResult:
        if reason := disabled_reason():
            return MaterializeResult(metadata={"skipped": reason})
        read = read_again(context, ESP, status_streams())
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
        result, metadata = write_plan(context, engine, sync_plan.plan_id, ESP)
        context.log.info(f"status back: {result.updated} ESP+ documents updated, {result.failed} refused")
        return MaterializeResult(metadata={"documents_read_again": read, **metadata})

    return [plan, load_quickbooks, load_esp, read_quickbooks_again, status_back]
