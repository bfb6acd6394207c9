"""The sync schedules (SPEC C3): each sync on its own cron from `operations.schedules`, never over a run of itself.

Whether Crosswalk's schedules and sensors run by themselves is the deployment's choice, made once with
CROSSWALK_AUTOMATION: `running` (the default: a production instance runs its syncs unattended) or `stopped` (what the
sandbox's env file sets, so trying Crosswalk writes nothing on its own). It is each definition's default status, so
it applies until someone turns one on or off in the Dagster UI, which the instance then remembers.
"""

from __future__ import annotations

import os

from dagster import (
    DagsterInvalidDefinitionError,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from crosswalk.config import ConfigError, OperationsSettings, operations_settings
from crosswalk.settings import AUTOMATION_ENV
from pipelines.jobs import SYNC_TAGS, sync_projects, sync_quickbooks

AUTOMATION_STATES = ("running", "stopped")
SCHEDULED_JOBS = {job.name: job for job in (sync_projects, sync_quickbooks)}
# Statuses of a run that is waiting for or holding its turn: a tick that found one would start a second run.
UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def automation_running() -> bool:
    """True unless CROSSWALK_AUTOMATION says `stopped`; any other value is refused, naming the variable."""
    value = (os.environ.get(AUTOMATION_ENV) or "running").strip().lower()
    if value not in AUTOMATION_STATES:
        raise ConfigError(f"{AUTOMATION_ENV} must be running or stopped, got {value!r}")
    return value == "running"


def schedule_status() -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if automation_running() else DefaultScheduleStatus.STOPPED


def sensor_status() -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if automation_running() else DefaultSensorStatus.STOPPED


def schedule_name(job_name: str) -> str:
    return f"{job_name}_schedule"


def unfinished_run_skip(context: ScheduleEvaluationContext, job_name: str) -> SkipReason | None:
    """Why this tick starts nothing: a run performing the same sync (its own job's or sync_all's) is queued or going."""
    tag = SYNC_TAGS[job_name]
    runs = context.instance.get_runs(RunsFilter(tags={tag: "true"}, statuses=UNFINISHED), limit=1)
    if not runs:
        return None
    run = runs[0]
    return SkipReason(
        f"{job_name}: run {run.run_id} of {run.job_name} is still {run.status.value}; this tick starts nothing, "
        "the next one tries again"
    )


def build_sync_schedule(job_name: str, cron: str, timezone: str, status: DefaultScheduleStatus) -> ScheduleDefinition:
    @schedule(
        name=schedule_name(job_name),
        job=SCHEDULED_JOBS[job_name],
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=status,
        description=f"Runs {job_name} on `{cron}` ({timezone}); skips a tick while a run of the same sync is queued "
        "or going.",
    )
    def sync_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        return unfinished_run_skip(context, job_name) or RunRequest()

    return sync_schedule


def build_schedules(settings: OperationsSettings | None = None) -> list[ScheduleDefinition]:
    settings = settings or operations_settings()
    status = schedule_status()
    schedules = []
    for job_name, cron in settings.schedules.items():
        try:
            schedules.append(build_sync_schedule(job_name, cron, settings.timezone, status))
        except DagsterInvalidDefinitionError:
            raise ConfigError(
                f"{settings.schedule_places.get(job_name, '')}operations.schedules.{job_name} must be a cron "
                f"expression of five fields (minute hour day month weekday), got {cron!r}"
            ) from None
    return schedules
