"""The projects sync's assets (group `projects`): the plan, then one load per target. Thin: the engine
(crosswalk/sync/engine.py) does the work; these wire it to Dagster's resources and report what it did.

The plan's code version is the mapping file's hash, so a mapping change shows the plan as changed in the UI; the
loads of a run execute exactly the plan that run stored.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
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
from crosswalk.config import config_path, projects_settings
from crosswalk.staging import StagingStore
from crosswalk.sync.engine import SyncEngine
from crosswalk.sync.mapping import load_mapping
from crosswalk.sync.projects import INTACCT, SALESFORCE, SYNC, projects_engine, streams_read
from crosswalk.sync.validation import suite_names

GROUP = SYNC
PLAN_KEY = AssetKey([SYNC, "plan"])


def plan_id_of(run_id: str, stage: str | None = None) -> str:
    """A run's plan: the loads of the run find the plan its plan step stored (a second pass has its own)."""
    return f"{SYNC}-{run_id}" if stage is None else f"{SYNC}-{stage}-{run_id}"


def disabled_reason() -> str | None:
    settings = projects_settings()
    if settings.enabled:
        return None
    return f"projects.enabled is false in {config_path()}: no project or task is planned or written"


def engine_for(store: StagingStore) -> SyncEngine:
    return projects_engine(store, projects_settings())


STEPS = SyncSteps(GROUP, engine_for, plan_id_of, disabled_reason)


def build_projects_assets() -> list[AssetsDefinition]:
    mapping = load_mapping(projects_settings().mapping_path)  # a bad mapping stops the code location, naming it
    streams = streams_read(mapping)  # what the plan reads, and what the second pass reads again
    deps = [AssetKey([system, object_name.lower()]) for system, object_name in streams]

    suites = suite_names(mapping)

    @asset(
        key=PLAN_KEY,
        group_name=GROUP,
        deps=deps,
        check_specs=check_specs(PLAN_KEY, suites, lambda entity, system: f"Great Expectations suite over the "
                                f"{system} side's mapped {entity} records: required fields, unique ids, value maps, "
                                "ranges, target lengths, ordered dates, references."),
        code_version=mapping.content_hash[:16],
        required_resource_keys={"staging"},
        description="Map, match and reconcile Intacct projects and tasks with Salesforce into a write plan "
        "(create / update with field diffs / refused / flagged), stored before anything is written.",
    )
    def plan(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        if reason := disabled_reason():
            context.log.info(reason)
            yield MaterializeResult(metadata={"skipped": reason})
            yield from checks_not_run(suites, "not evaluated: the projects sync is off", reason)
            return
        engine = engine_for(context.resources.staging.store)
        sync_plan = engine.plan()
        sync_plan.plan_id = plan_id_of(context.run_id)
        engine.save_plan(sync_plan, context.run_id)
        metadata = plan_metadata(sync_plan)
        context.log.info(
            f"projects plan: {metadata['creates']} creates, {metadata['updates']} updates, {metadata['conflicts']} "
            f"conflicts, {metadata['refused']} refused, {metadata['in_sync']} pairs in sync"
        )
        yield MaterializeResult(metadata=metadata)
        # A suite not run: an entity this company's settings leave out (SPEC A8).
        yield from plan_checks(sync_plan, suites, lambda entity: f"not evaluated: {entity} is not synced with these "
                               "settings")  # fmt: skip

    # Salesforce first: Intacct's link fields take the Ids Salesforce's creates return.
    written = "batched, each write committed as an intent first."
    load_salesforce = build_load(STEPS, SALESFORCE, PLAN_KEY, f"Write this run's plan to {SALESFORCE}: {written}")
    load_intacct = build_load(STEPS, INTACCT, AssetKey([SYNC, f"load_{SALESFORCE}"]),
                              f"Write this run's plan to {INTACCT}: {written}")  # fmt: skip

    def intacct_created(context: AssetExecutionContext) -> int:
        """Records this run's load created in Intacct: Intacct computes their progress fields once they exist."""
        return engine_for(context.resources.staging.store).created_in(plan_id_of(context.run_id), INTACCT)

    @system_step(STEPS, "read_intacct_again", AssetKey([SYNC, f"load_{INTACCT}"]), INTACCT,
                 "When this run created records in Intacct, read Intacct again (incrementally): the progress, "
                 "record URLs and other values Intacct computes for them.")  # fmt: skip
    def read_intacct_again(context: AssetExecutionContext) -> MaterializeResult:
        if reason := disabled_reason():
            return MaterializeResult(metadata={"skipped": reason})
        created = intacct_created(context)
        if not created:
            return MaterializeResult(metadata={"skipped": "this run created nothing in Intacct", "created": 0})
        return MaterializeResult(metadata={"created": created, "records_read": read_again(context, INTACCT, streams)})

    @system_step(STEPS, "progress_back", AssetKey([SYNC, "read_intacct_again"]), SALESFORCE,
                 "When this run created records in Intacct, read Salesforce again and write what Intacct computed "
                 "for them (SPEC A6, A7) to Salesforce in the same run, so the next run has nothing left to write.")
    def progress_back(context: AssetExecutionContext) -> MaterializeResult:
        if reason := disabled_reason():
            return MaterializeResult(metadata={"skipped": reason})
        if not intacct_created(context):
            return MaterializeResult(metadata={"skipped": "this run created nothing in Intacct"})
        read = read_again(context, SALESFORCE, streams)
        engine = engine_for(context.resources.staging.store)
        sync_plan = engine.plan_writes_to(SALESFORCE)
        sync_plan.plan_id = plan_id_of(context.run_id, "progress")
        engine.save_plan(sync_plan, context.run_id)
        result, metadata = write_plan(context, engine, sync_plan.plan_id, SALESFORCE)
        context.log.info(f"progress back: {result.updated} Salesforce records updated, {result.failed} refused")
        return MaterializeResult(metadata={"records_read_again": read, **metadata})

    return [plan, load_salesforce, load_intacct, read_intacct_again, progress_back]
