"""One asset per stream (key [system, object], grouped by system): extract it into staging and report counts."""

from datetime import UTC, datetime
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from crosswalk.clients.catalog import STREAMS
from crosswalk.config import MissingSettingsError, extract_settings
from crosswalk.extract.runner import StreamResult, extract_stream
from crosswalk.extract.streams import StreamSpec
from crosswalk.staging import StagingStore


def extract_metadata(result: StreamResult) -> dict[str, Any]:
    return {
        "rows_read": result.rows_read,
        "new": result.counts.new,
        "changed": result.counts.changed,
        "unchanged": result.counts.unchanged,
        "deleted": result.counts.deleted,
        "quarantined": result.quarantined,
        "pages": result.pages,
        "api_calls": result.api_calls,
        "retries": result.retries,
        "retry_reasons": MetadataValue.json(result.retry_reasons),
        "watermark_before": MetadataValue.text(result.watermark_before or "(none: full read)"),
        "watermark_after": MetadataValue.text(result.watermark_after or "(none)"),
        "key_scan": result.key_scan,
        "seconds": round(result.seconds, 3),
        "preview": MetadataValue.md(preview_markdown(result.preview)),
    }


def preview_markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_no rows read_"
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    columns = columns[:8]

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:60]

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def record_unstarted(spec: StreamSpec, store: StagingStore, run_id: str, error: str) -> None:
    """An extract_runs row for a stream that failed before reading anything; its watermark is where it was."""
    now = datetime.now(UTC)
    watermark = store.get_watermark(spec.system, spec.object)
    result = StreamResult(
        spec=spec, run_id=run_id, started_at=now, finished_at=now, watermark_before=watermark,
        watermark_after=watermark, error=error,
    )  # fmt: skip
    store.record_extract_run(result.as_row())


def build_extract_asset(spec: StreamSpec) -> AssetsDefinition:
    @asset(
        name=spec.asset_name,
        key_prefix=[spec.system],
        group_name=spec.system,
        required_resource_keys={"staging", spec.system},
        kinds={spec.system},
        description=f"{spec.object} from {spec.system}, staged raw (key {spec.primary_key}, "
        f"incremental on {spec.replication_key or 'nothing: full read'}).",
        metadata={"system": spec.system, "object": spec.object, "page_size": spec.page_size},
    )
    def extract(context: AssetExecutionContext) -> MaterializeResult:
        settings = extract_settings()
        store = context.resources.staging.store
        try:
            source = getattr(context.resources, spec.system).source(store, settings)
        except MissingSettingsError as exc:
            # The stream never started, but its status must say this run failed it, and why.
            record_unstarted(spec, store, context.run_id, str(exc))
            raise
        result = extract_stream(
            spec, source, store, context.run_id, key_scan_every=settings.key_scan_every, log=context.log.info
        )
        context.log.info(
            f"{spec.name}: read {result.rows_read} ({result.counts.new} new, {result.counts.changed} changed, "
            f"{result.counts.deleted} deleted) in {result.pages} pages, {result.api_calls} calls"
        )
        return MaterializeResult(metadata=extract_metadata(result))

    return extract


EXTRACT_ASSETS: list[AssetsDefinition] = [build_extract_asset(spec) for spec in STREAMS]


def extract_asset_key(spec: StreamSpec) -> AssetKey:
    return AssetKey([spec.system, spec.asset_name])
