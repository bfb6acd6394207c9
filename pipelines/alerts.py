"""Alerts (SPEC C4): a failed run, or a sync gone stale, is POSTed as JSON to the webhook CROSSWALK_ALERT_WEBHOOK_URL.

The webhook's address usually carries a token, so it is never logged, put in metadata or in an error: a delivery
that fails names only the webhook's scheme and host. A failed delivery fails the sensor's tick and leaves its
cursor where it was, so the next tick sends the alert again. The JSON has a `text` line (what Slack and Teams
incoming webhooks show) beside the fields a program reads.

Freshness: each sync's last assets (its loads; for a sync without loads yet, its extracts) must have succeeded within
`operations.freshness_hours`. Dagster's freshness checks say so in the UI (evaluated by `freshness_checks_sensor`
and after each sync run), and `crosswalk_freshness_alert` sends each newly failed evaluation, one POST per sync.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from dagster import (
    AssetCheckKey,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    SupersessionWarning,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
    run_failure_sensor,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from crosswalk.clients.catalog import ESP, INTACCT, QUICKBOOKS, SALESFORCE
from crosswalk.config import OperationsSettings, operations_settings
from pipelines.schedules import SCHEDULED_JOBS, sensor_status

WEBHOOK_ENV = "CROSSWALK_ALERT_WEBHOOK_URL"
RUN_FAILURE_SENSOR = "crosswalk_run_failure_alert"
FRESHNESS_CHECKS_SENSOR = "freshness_checks_sensor"
FRESHNESS_ALERT_SENSOR = "crosswalk_freshness_alert"
SYSTEMS = (INTACCT, SALESFORCE, QUICKBOOKS, ESP)
ERROR_CHARS = 500
DELIVERY_TIMEOUT_SECONDS = 20
# Variables whose values never go into an alert, whatever an error message quotes.
SECRET_SUFFIXES = ("PASSWORD", "SECRET", "TOKEN", "_WEBHOOK_URL")


class AlertDeliveryError(RuntimeError):
    """The webhook did not take an alert; the message names its scheme and host only."""


def webhook_url() -> str | None:
    return os.environ.get(WEBHOOK_ENV, "").strip() or None


def webhook_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def scrub(text: str) -> str:
    """`text` without the value of any secret environment variable (credentials, tokens, the webhook)."""
    for name, value in os.environ.items():
        if len(value) >= 4 and name.upper().endswith(SECRET_SUFFIXES):
            text = text.replace(value, "***")
    return text


def post_alert(payload: Mapping[str, Any], url: str | None = None) -> bool:
    """POST one alert; False when no webhook is configured. Raises AlertDeliveryError, naming only the host."""
    url = url or webhook_url()
    if not url:
        return False
    origin = webhook_origin(url)
    try:
        response = httpx.post(url, json=dict(payload), timeout=DELIVERY_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        # httpx's message quotes the whole URL: keep only the kind of failure.
        raise AlertDeliveryError(f"alert webhook {origin} unreachable: {type(exc).__name__}") from None
    if response.status_code >= 300:
        raise AlertDeliveryError(f"alert webhook {origin} answered HTTP {response.status_code}")
    return True


def run_url(run_id: str, settings: OperationsSettings) -> str | None:
    return f"{settings.ui_url}/runs/{run_id}" if settings.ui_url else None


def error_summary(error: Any) -> str:
    """What went wrong in the step's own code: the first error below Dagster's wrappers in the chain of causes
    (its class and message, as Python prints them), secrets scrubbed, shortened."""
    chosen = error
    while chosen is not None and str(getattr(chosen, "cls_name", "")).startswith("Dagster") and chosen.cause:
        chosen = chosen.cause
    if chosen is None:
        return ""
    message = scrub((getattr(chosen, "message", "") or "").strip())
    return message if len(message) <= ERROR_CHARS else message[: ERROR_CHARS - 1] + "…"


def run_failure_payload(context: RunFailureSensorContext, settings: OperationsSettings) -> dict[str, Any]:
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        steps.append({"step": event.step_key, "error": error_summary(data.error if data else None)})
    url = run_url(run.run_id, settings)
    names = [step["step"] for step in steps]
    where = ", ".join(names[:3]) + (f" and {len(names) - 3} more steps" if len(names) > 3 else "")
    first_error = steps[0]["error"] if steps else scrub(context.failure_event.message or "")
    where = where or "before any step"
    text = f"Crosswalk: run {run.run_id} of {run.job_name} failed at {where}: {first_error}"
    return {
        "text": text + (f" ({url})" if url else ""),
        "kind": "run_failure",
        "job": run.job_name,
        "run_id": run.run_id,
        "status": run.status.value,
        "failed_steps": steps,
        "run_url": url,
    }


def build_run_failure_sensor(settings: OperationsSettings) -> SensorDefinition:
    @run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=sensor_status(),
        description=f"POSTs each failed run of this code location (job, run id, failed steps and their errors, "
        f"a link to the run) to the webhook in {WEBHOOK_ENV}.",
    )
    def run_failure_alert(context: RunFailureSensorContext) -> SkipReason | None:
        if not webhook_url():
            return SkipReason(f"{WEBHOOK_ENV} is not set: run {context.dagster_run.run_id} failed, no alert sent")
        post_alert(run_failure_payload(context, settings))
        context.log.info(f"alert sent: run {context.dagster_run.run_id} of {context.dagster_run.job_name} failed")
        return None

    return run_failure_alert


def sync_final_assets(assets: Sequence[AssetsDefinition]) -> dict[str, list[AssetKey]]:
    """Each scheduled sync's loads: its job's assets outside the extract groups that call a system. A sync without
    loads yet is judged by its last extracts."""
    extracts = AssetSelection.groups(*SYSTEMS)
    calls_a_system = {key for a in assets if set(a.required_resource_keys) & set(SYSTEMS) for key in a.keys}
    final: dict[str, list[AssetKey]] = {}
    for job_name, job in SCHEDULED_JOBS.items():
        keys = (job.selection - extracts).resolve(assets) & calls_a_system or job.selection.sinks().resolve(assets)
        final[job_name] = sorted(keys, key=lambda key: key.to_user_string())
    return final


def build_freshness_checks(
    assets: Sequence[AssetsDefinition], settings: OperationsSettings
) -> tuple[list[AssetChecksDefinition], dict[AssetCheckKey, str]]:
    """One last-update freshness check per sync's final asset, and the sync each check belongs to."""
    checks: list[AssetChecksDefinition] = []
    sync_of: dict[AssetCheckKey, str] = {}
    for job_name, keys in sync_final_assets(assets).items():
        if not keys:
            continue
        with warnings.catch_warnings():
            # Superseded by FreshnessPolicy, which the UI shows without checks or a sensor but cannot alert on here.
            warnings.simplefilter("ignore", category=SupersessionWarning)
            built = build_last_update_freshness_checks(
                assets=keys, lower_bound_delta=settings.freshness, severity=AssetCheckSeverity.ERROR
            )
        for definition in built:
            sync_of.update(dict.fromkeys(definition.check_keys, job_name))
        checks.extend(built)
    return checks, sync_of


def _timestamp(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    raw = getattr(value, "value", value)
    return datetime.fromtimestamp(float(raw), tz=UTC).isoformat() if isinstance(raw, int | float) else None


def freshness_payload(
    job_name: str, failures: list[tuple[AssetCheckKey, Any]], settings: OperationsSettings
) -> dict[str, Any]:
    hours = settings.freshness.total_seconds() / 3600
    stale = []
    for check_key, evaluation in failures:
        metadata = evaluation.metadata if evaluation is not None else {}
        stale.append(
            {
                "asset": check_key.asset_key.to_user_string(),
                "check": check_key.name,
                "last_updated": _timestamp(metadata, "dagster/last_updated_timestamp"),
                "description": (evaluation.description if evaluation is not None else None) or "",
            }
        )
    names = ", ".join(item["asset"] for item in stale)
    return {
        "text": f"Crosswalk: {job_name} is stale: {names} not updated in the last {hours:g} hours",
        "kind": "freshness",
        "job": job_name,
        "freshness_hours": hours,
        "stale_assets": stale,
        "ui_url": settings.ui_url,
    }


def build_freshness_alert_sensor(
    sync_of: Mapping[AssetCheckKey, str], settings: OperationsSettings
) -> SensorDefinition:
    check_keys = sorted(sync_of, key=lambda key: key.to_user_string())

    @sensor(
        name=FRESHNESS_ALERT_SENSOR,
        minimum_interval_seconds=60,
        default_status=sensor_status(),
        description=f"POSTs each newly failed freshness check to the webhook in {WEBHOOK_ENV}, one message per sync.",
    )
    def freshness_alert(context: SensorEvaluationContext) -> SkipReason:
        # Cursor: per check, the last completed evaluation already handled (alerted if it failed).
        seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        summaries = context.instance.event_log_storage.get_asset_check_summary_records(check_keys)
        failures: dict[str, list[tuple[AssetCheckKey, Any]]] = {}
        for check_key in check_keys:
            record = summaries[check_key].last_completed_check_execution_record
            name = check_key.to_user_string()
            if record is None or record.id <= seen.get(name, 0):
                continue
            if record.status is AssetCheckExecutionRecordStatus.FAILED:
                evaluation = record.event.asset_check_evaluation if record.event else None
                failures.setdefault(sync_of[check_key], []).append((check_key, evaluation))
            seen[name] = record.id
        if failures and not webhook_url():
            context.update_cursor(json.dumps(seen, sort_keys=True))
            return SkipReason(f"{WEBHOOK_ENV} is not set: stale {', '.join(sorted(failures))}, no alert sent")
        for job_name, failed in sorted(failures.items()):
            post_alert(freshness_payload(job_name, failed, settings))
            context.log.info(f"alert sent: {job_name} stale ({len(failed)} assets)")
        context.update_cursor(json.dumps(seen, sort_keys=True))
        stale = ", ".join(sorted(failures))
        return SkipReason(f"alert sent: {stale} stale" if failures else "no new freshness failure")

    return freshness_alert


def build_alerts(
    assets: Sequence[AssetsDefinition], settings: OperationsSettings | None = None
) -> tuple[list[AssetChecksDefinition], list[SensorDefinition]]:
    """The freshness checks, and the sensors: failed runs and stale syncs to the webhook, freshness evaluation."""
    settings = settings or operations_settings()
    checks, sync_of = build_freshness_checks(assets, settings)
    sensors = [build_run_failure_sensor(settings)]
    if checks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SupersessionWarning)
            sensors.append(
                build_sensor_for_freshness_checks(
                    freshness_checks=checks, name=FRESHNESS_CHECKS_SENSOR, default_status=sensor_status()
                )
            )
        sensors.append(build_freshness_alert_sensor(sync_of, settings))
    return checks, sensors
