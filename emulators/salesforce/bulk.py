"""Bulk API 2.0: ingest jobs (CSV upload, processing, per-row results) and query jobs (CSV result pages)."""

from __future__ import annotations

import base64
import csv
import io
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.salesforce.catalogue import OBJECTS_BY_LOWER
from emulators.salesforce.errors import RecordError, SalesforceApiError, not_found
from emulators.salesforce.formats import NULL_MS, ms_to_bulk, ms_to_wire
from emulators.salesforce.soql import parse
from emulators.salesforce.store import SalesforceOrg, SelectItem, Table
from emulators.world import salesforce_id

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
NULL_CELL = "#N/A"


def job_error(status: int, code: str, message: str) -> SalesforceApiError:
    return SalesforceApiError(status, code, message)


@dataclass
class IngestJob:
    info: dict[str, Any]
    uploads: list[bytes] = field(default_factory=list)
    polls_left: int = 0
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)


@dataclass
class QueryJob:
    info: dict[str, Any]
    table: Table
    rows: array
    columns: list[tuple[str, Any]]  # (header, SelectItem)
    polls_left: int = 0


class BulkJobs:
    """Every Bulk 2.0 job of the org, processed synchronously once the client polls past `in_progress_polls`."""

    def __init__(self, org: SalesforceOrg, on_write: Callable[[int], None], in_progress_polls: int = 1) -> None:
        self.org = org
        self.on_write = on_write
        self.in_progress_polls = in_progress_polls
        self.ingest: dict[str, IngestJob] = {}
        self.queries: dict[str, QueryJob] = {}
        self.job_number = 0
        self.batches_used = 0  # DailyBulkApiBatches: one per 10,000 records processed, as Salesforce counts

    def _new_id(self) -> str:
        self.job_number += 1
        return salesforce_id("750", self.job_number)

    def _base_info(self, job_id: str, operation: str, object_name: str, version: str, body: dict[str, Any]) -> dict:
        stamp = ms_to_wire(self.org.now_ms())
        return {
            "id": job_id, "operation": operation, "object": object_name, "createdById": self.org.user_id,
            "createdDate": stamp, "systemModstamp": stamp,
        }

    # ---- ingest ------------------------------------------------------------------------------------------------

    def create_ingest(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise job_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        spec = OBJECTS_BY_LOWER.get(str(body.get("object", "")).lower())
        if spec is None:
            raise job_error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        if body.get("contentType", "CSV") != "CSV":
            raise job_error(400, "INVALIDJOB", "InvalidJob : Invalid content type. Only CSV is supported")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise job_error(400, "INVALIDJOB", "InvalidJob : Invalid columnDelimiter or lineEnding")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            ext_spec = spec.field(str(external or ""))
            if ext_spec is None or not (ext_spec.external_id or ext_spec.name == "Id"):
                raise job_error(400, "INVALIDJOB", f"InvalidJob : Field name provided, {external} is not an External "
                                f"ID or indexed field for {spec.name}")
            external = ext_spec.name
        job_id = self._new_id()
        info = self._base_info(job_id, operation, spec.name, version, body)
        info["state"] = "Open"
        if external and operation == "upsert":
            info["externalIdFieldName"] = external
        info.update({
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(version), "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{version}/jobs/ingest/{job_id}/batches", "lineEnding": line_ending,
            "columnDelimiter": delimiter,
        })
        self.ingest[job_id] = IngestJob(info=info)
        return dict(info)

    def ingest_job(self, job_id: str) -> IngestJob:
        job = self.ingest.get(job_id)
        if job is None:
            raise not_found()
        return job

    def upload(self, job_id: str, data: bytes) -> None:
        job = self.ingest_job(job_id)
        if job.info["state"] != "Open":
            raise job_error(409, "INVALIDJOBSTATE", f"Job {job_id} is not in the Open state")
        if sum(len(u) for u in job.uploads) + len(data) > MAX_UPLOAD_BYTES:
            raise job_error(400, "CLIENTINPUTERROR", "ClientInputError : Data exceeds the maximum of 100 MB per job")
        job.uploads.append(data)

    def set_state(self, job_id: str, state: str, query: bool) -> dict[str, Any]:
        job: IngestJob | QueryJob = self.query_job(job_id) if query else self.ingest_job(job_id)
        current = job.info["state"]
        if state == "UploadComplete" and not query and current == "Open":
            job.info["state"] = "UploadComplete"
            job.polls_left = self.in_progress_polls
        elif state == "Aborted" and current in ("Open", "UploadComplete", "InProgress"):
            job.info["state"] = "Aborted"
            if isinstance(job, IngestJob):
                job.unprocessed = [row for data in job.uploads for row in self._rows(job, data)[1]]
        else:
            raise job_error(400, "INVALIDJOBSTATE", f"Invalid state transition from {current} to {state}")
        job.info["systemModstamp"] = ms_to_wire(self.org.now_ms())
        return self.describe_ingest(job_id) if not query else self.describe_query(job_id)

    def describe_ingest(self, job_id: str) -> dict[str, Any]:
        job = self.ingest_job(job_id)
        if job.info["state"] in ("UploadComplete", "InProgress"):
            if job.polls_left > 0:
                job.polls_left -= 1
                job.info["state"] = "InProgress"
            else:
                self._process(job)
        info = dict(job.info)
        if info["state"] in ("JobComplete", "Failed", "InProgress", "Aborted"):
            processed = len(job.successful) + len(job.failed)
            info.update({"numberRecordsProcessed": processed, "numberRecordsFailed": len(job.failed), "retries": 0,
                         "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0})
        return info

    def delete_job(self, job_id: str, query: bool) -> None:
        jobs: dict[str, Any] = self.queries if query else self.ingest
        if jobs.pop(job_id, None) is None:
            raise not_found()

    def _rows(self, job: IngestJob, data: bytes) -> tuple[list[str], list[list[str]]]:
        text = data.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.info["columnDelimiter"]])
        rows = [row for row in reader if row]
        if not rows:
            return [], []
        return rows[0], rows[1:]

    def _process(self, job: IngestJob) -> None:
        org = self.org
        operation, object_name = job.info["operation"], job.info["object"]
        spec = OBJECTS_BY_LOWER[object_name.lower()]
        parsed = [self._rows(job, data) for data in job.uploads]
        header = parsed[0][0] if parsed else []
        job.header = header
        for column in header:
            relationship = column.partition(".")[0]
            if spec.field(column) is None and spec.relationships.get(relationship.lower()) is None:
                job.info["state"] = "Failed"
                job.info["errorMessage"] = f"InvalidBatch : Field name not found : {column}"
                job.unprocessed = [row for _, rows in parsed for row in rows]
                return
        if operation in ("delete", "hardDelete") and [c.lower() for c in header] != ["id"]:
            job.info["state"] = "Failed"
            job.info["errorMessage"] = "InvalidBatch : The 'delete' batch must contain only ids"
            return
        written = 0
        external = job.info.get("externalIdFieldName")
        for chunk_header, rows in parsed:
            for cells in rows:
                body: dict[str, Any] = {}
                for name, cell in zip(chunk_header, cells, strict=False):
                    if cell == "":
                        continue  # an empty cell leaves the field unchanged
                    body[name] = None if cell == NULL_CELL else cell
                record_id = next((v for k, v in body.items() if k.lower() == "id"), None) or ""
                try:
                    if operation == "insert":
                        record_id, created = org.insert(object_name, body, csv_mode=True), True
                    elif operation == "update":
                        rest = {k: v for k, v in body.items() if k.lower() != "id"}
                        record_id, created = org.update(object_name, record_id, rest, csv_mode=True), False
                    elif operation == "upsert":
                        key = next((v for k, v in body.items() if k.lower() == str(external).lower()), None)
                        if key is None:
                            raise RecordError("MISSING_ARGUMENT", f"{external} not specified", [str(external)])
                        rest = {k: v for k, v in body.items() if k.lower() != str(external).lower()}
                        record_id, created = org.upsert(object_name, str(external), str(key), rest, csv_mode=True)
                    else:
                        record_id, created = self._delete(object_name, record_id, operation == "hardDelete"), False
                except RecordError as error:
                    job.failed.append([record_id if operation != "insert" else "", error.bulk_text(), *cells])
                    continue
                except SalesforceApiError as error:
                    job.failed.append(["", f"{error.error_code}:{error.message}:--", *cells])
                    continue
                written += 1
                job.successful.append([record_id, "true" if created else "false", *cells])
        total = written + len(job.failed)
        self.batches_used += max(1, -(-total // 10_000))
        self.on_write(written)
        job.info["state"] = "JobComplete"

    def _delete(self, object_name: str, record_id: str, hard: bool) -> str:
        try:
            return self.org.delete(object_name, record_id, hard=hard)
        except RecordError as error:
            if error.status_code != "NOT_FOUND":
                raise
            # Bulk reports an id that names no record as a bad reference, not as a missing REST resource.
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []) from None

    def ingest_results(self, job_id: str, kind: str) -> str:
        job = self.ingest_job(job_id)
        line_ending = LINE_ENDINGS[job.info["lineEnding"]]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=DELIMITERS[job.info["columnDelimiter"]], quoting=csv.QUOTE_ALL,
                            lineterminator=line_ending)
        header = job.header or (self._rows(job, job.uploads[0])[0] if job.uploads else [])
        kind = kind.lower()
        if kind == "successfulresults":
            writer.writerow(["sf__Id", "sf__Created", *header])
            writer.writerows(job.successful)
        elif kind == "failedresults":
            writer.writerow(["sf__Id", "sf__Error", *header])
            writer.writerows(job.failed)
        elif kind == "unprocessedrecords":
            writer.writerow(header)
            writer.writerows(job.unprocessed)
        else:
            raise not_found()
        return out.getvalue()

    # ---- query ------------------------------------------------------------------------------------------------

    def create_query(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        operation = body.get("operation", "query")
        if operation not in ("query", "queryAll"):
            raise job_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise job_error(400, "INVALIDJOB", "InvalidJob : Invalid columnDelimiter or lineEnding")
        query = parse(str(body.get("query") or ""))
        if query.count:
            raise job_error(400, "API_ERROR", "Aggregate queries are not supported by Bulk API 2.0")
        table, rows, select = self.org.execute(query, include_deleted=operation == "queryAll")
        columns: list[tuple[str, Any]] = []
        for item in select:
            if item.spec is not None:
                columns.append((item.key, item))
            else:
                columns.extend((f"{item.key}.{spec.name}", (item, spec)) for spec in item.parent_fields)
        job_id = self._new_id()
        info = self._base_info(job_id, operation, table.spec.name, version, body)
        info.update({
            "state": "UploadComplete", "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(version), "lineEnding": line_ending, "columnDelimiter": delimiter,
        })
        self.queries[job_id] = QueryJob(info=info, table=table, rows=rows, columns=columns,
                                        polls_left=self.in_progress_polls)
        return dict(info)

    def query_job(self, job_id: str) -> QueryJob:
        job = self.queries.get(job_id)
        if job is None:
            raise not_found()
        return job

    def describe_query(self, job_id: str) -> dict[str, Any]:
        job = self.query_job(job_id)
        if job.info["state"] in ("UploadComplete", "InProgress"):
            if job.polls_left > 0:
                job.polls_left -= 1
                job.info["state"] = "InProgress"
            else:
                job.info["state"] = "JobComplete"
                self.batches_used += 1
        info = dict(job.info)
        info.update({"jobType": "V2Query",
                     "numberRecordsProcessed": len(job.rows) if info["state"] == "JobComplete" else 0,
                     "retries": 0, "totalProcessingTime": 0})
        return info

    def query_results(self, job_id: str, locator: str | None, max_records: int | None) -> tuple[str, int, str]:
        """(CSV text, number of records, next locator or 'null')."""
        job = self.query_job(job_id)
        if job.info["state"] != "JobComplete":
            raise job_error(412, "JOB_NOT_COMPLETE", "Job is not complete")
        start = 0
        if locator:
            try:
                start = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except ValueError:
                raise job_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        size = max_records if max_records and max_records > 0 else len(job.rows) or 1
        page = job.rows[start:start + size]
        end = start + len(page)
        next_locator = "null" if end >= len(job.rows) else base64.b64encode(str(end).encode()).decode().rstrip("=")
        out = io.StringIO()
        writer = csv.writer(out, delimiter=DELIMITERS[job.info["columnDelimiter"]], quoting=csv.QUOTE_ALL,
                            lineterminator=LINE_ENDINGS[job.info["lineEnding"]])
        writer.writerow([header for header, _ in job.columns])
        table = job.table
        for row in page:
            writer.writerow([self._cell(table, row, target) for _, target in job.columns])
        return out.getvalue(), len(page), next_locator

    def _cell(self, table: Table, row: int, target: Any) -> str:
        if isinstance(target, SelectItem):
            spec, source, source_row = target.spec, table, row
        else:
            item, spec = target
            parent_id = table.columns[item.reference.name][row]
            source = item.parent
            source_row = source.row_of_id.get(parent_id) if parent_id is not None else None
            if source_row is None:
                return ""
        value = source.columns[spec.name][source_row]
        if value is None or (spec.type == "datetime" and value == NULL_MS):
            return ""
        if spec.type == "datetime":
            return ms_to_bulk(value)
        if spec.type == "boolean":
            return "true" if value else "false"
        return str(value)
