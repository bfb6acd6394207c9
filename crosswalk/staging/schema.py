"""The current shape of the staging tables, as SQLAlchemy Core objects used by queries.

Migrations (migrations.py) create and alter the database; a test checks that the migrated database has
exactly these columns, so the two cannot drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# The raw record as the source API returned it, per system and object (one row per source record).
raw_records = sa.Table(
    "raw_records",
    metadata,
    sa.Column("system", sa.String(32), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("record_key", sa.String(255), primary_key=True),
    sa.Column("replication_stamp", sa.String(64)),  # the modification stamp exactly as the API wrote it
    sa.Column("replicated_at", sa.DateTime(timezone=True)),  # the same stamp as a UTC instant, for ordering
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON text of the API's own record
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("first_seen_run", sa.String(64)),
    sa.Column("last_seen_run", sa.String(64)),  # last run that wrote a new version (unchanged re-reads do not write)
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_raw_records_stream_deleted", raw_records.c.system, raw_records.c.object, raw_records.c.deleted)

# Records mapped to Crosswalk's canonical shape, ready for validation and reconcile.
canonical_records = sa.Table(
    "canonical_records",
    metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("source_system", sa.String(32), primary_key=True),
    sa.Column("source_key", sa.String(255), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("mapping_version", sa.String(64)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Records kept aside with the rule they broke; never silently dropped.
quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("system", sa.String(32), nullable=False),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("record_key", sa.String(255)),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
)
sa.Index("ix_quarantine_record", quarantine.c.system, quarantine.c.object, quarantine.c.record_key)

# Links: which record in one system is which record in the other, per entity, with the mapped values each side
# held after the last sync (the bases of three-way reconcile, JSON). A pair last planned with nothing to do keeps
# each side's state then (`*_hash`: the staged record's content hash with the plan context, see sync/engine.py) and
# its identity values (link_identities): while neither side's state changes, it is not planned again.
id_crosswalk = sa.Table(
    "id_crosswalk",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("left_system", sa.String(32), nullable=False),
    sa.Column("left_key", sa.String(255)),
    sa.Column("left_hash", sa.String(64)),
    sa.Column("right_system", sa.String(32), nullable=False),
    sa.Column("right_key", sa.String(255)),
    sa.Column("right_hash", sa.String(64)),
    sa.Column("last_synced_at", sa.DateTime(timezone=True)),
    sa.Column("last_run_id", sa.String(64)),
    sa.Column("sync", sa.String(32)),  # the sync (mapping) that owns the link: projects, quickbooks
    sa.Column("base_left", sa.Text),  # JSON {field: value} in the left system's terms; null: never synced
    sa.Column("base_right", sa.Text),
    sa.Column("matched_by", sa.String(255)),  # how the pair was made: created, link field ..., natural key ...
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("entity", "left_system", "left_key", name="uq_id_crosswalk_left"),
    sa.UniqueConstraint("entity", "right_system", "right_key", name="uq_id_crosswalk_right"),
)

# The marks' reads: a plan reads every link's keys and marks, and the bases of the pairs it plans only.
sa.Index(
    "ix_id_crosswalk_marks", id_crosswalk.c.entity, id_crosswalk.c.left_system, id_crosswalk.c.right_system,
    id_crosswalk.c.id, id_crosswalk.c.left_key, id_crosswalk.c.right_key, id_crosswalk.c.left_hash,
    id_crosswalk.c.right_hash,
)  # fmt: skip

# The identity values of a marked pair's records (the fields other records refer to them by, the fields no two
# records of a side may share): a plan looks up the values of the records it maps, not every pair's.
link_identities = sa.Table(
    "link_identities",
    metadata,
    sa.Column("link_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("system", sa.String(32), primary_key=True),
    sa.Column("field", sa.String(255), primary_key=True),
    sa.Column("sync", sa.String(32), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
)
sa.Index(
    "ix_link_identities_value", link_identities.c.sync, link_identities.c.entity, link_identities.c.system,
    link_identities.c.value,
)  # fmt: skip

# A sync run's plan: when, from which mapping, and its counts (the items are in plan_items).
sync_plans = sa.Table(
    "sync_plans",
    metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("sync", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("mapping_hash", sa.String(64), nullable=False),
    sa.Column("counts", sa.Text, nullable=False),  # JSON {name: count}
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_sync_plans_sync", sync_plans.c.sync, sync_plans.c.created_at)

# The write plan of a sync run: one row per planned action (create, update, link, skip, refused, review, flag), in
# execution order. A dry run shows it; a real run executes exactly its own rows.
plan_items = sa.Table(
    "plan_items",
    metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sync", sa.String(32), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("target_system", sa.String(32)),
    sa.Column("target_object", sa.String(64)),
    sa.Column("target_key", sa.String(255)),
    sa.Column("source_system", sa.String(32)),
    sa.Column("source_key", sa.String(255)),
    sa.Column("link_id", sa.Integer),
    sa.Column("item", sa.Text, nullable=False),  # JSON: field values, before values, conflicts, reason
)

# Every write is committed here as an intent before it is sent, and its outcome after: a run killed in between finds
# the open intent and looks the record up by its marker before writing again.
write_intents = sa.Table(
    "write_intents",
    metadata,
    sa.Column("marker", sa.String(64), primary_key=True),  # idempotency key sent with the write
    sa.Column("plan_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("target_system", sa.String(32), nullable=False),
    sa.Column("target_object", sa.String(64), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("lookup_field", sa.String(128)),  # where the record can be found in the target if the outcome is lost
    sa.Column("lookup_value", sa.String(255)),
    sa.Column("state", sa.String(16), nullable=False),  # open | done | failed
    sa.Column("result_key", sa.String(255)),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)
sa.Index("ix_write_intents_state", write_intents.c.state, write_intents.c.target_system)

# Every conflict found by reconcile: the field, both bases, both values, the side kept and the rule that chose it.
sync_conflicts = sa.Table(
    "sync_conflicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("plan_id", sa.String(64)),
    sa.Column("sync", sa.String(32), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("left_key", sa.String(255)),
    sa.Column("right_key", sa.String(255)),
    sa.Column("field", sa.String(128), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON: base_left, base_right, left, right, winner, rule
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Records that could not be paired safely (several candidates, ids that disagree): a person decides.
match_reviews = sa.Table(
    "match_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sync", sa.String(32), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("system", sa.String(32), nullable=False),
    sa.Column("record_key", sa.String(255), nullable=False),
    sa.Column("candidates", sa.Text, nullable=False),  # JSON list of keys on the other side
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
)

# Per stream, the largest modification stamp already committed to staging.
watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("system", sa.String(32), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(64)),
    sa.Column("last_key_scan_at", sa.DateTime(timezone=True)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per write attempted against a target system.
sync_log = sa.Table(
    "sync_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("target_system", sa.String(32), nullable=False),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("record_key", sa.String(255)),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_sync_log_run", sync_log.c.run_id)

# One row per stream per extract run: what the run read and wrote, for `crosswalk status` and run history.
extract_runs = sa.Table(
    "extract_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("system", sa.String(32), nullable=False),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # succeeded | failed
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("rows_read", sa.Integer, nullable=False, default=0),
    sa.Column("rows_new", sa.Integer, nullable=False, default=0),
    sa.Column("rows_changed", sa.Integer, nullable=False, default=0),
    sa.Column("rows_unchanged", sa.Integer, nullable=False, default=0),
    sa.Column("rows_deleted", sa.Integer, nullable=False, default=0),
    sa.Column("pages", sa.Integer, nullable=False, default=0),
    sa.Column("api_calls", sa.Integer, nullable=False, default=0),
    sa.Column("retries", sa.Integer, nullable=False, default=0),
    sa.Column("watermark_before", sa.String(64)),
    sa.Column("watermark_after", sa.String(64)),
    sa.Column("error", sa.Text),
)
sa.Index("ix_extract_runs_stream", extract_runs.c.system, extract_runs.c.object, extract_runs.c.id)

# Connection state a vendor rotates (QBO refresh tokens): written before use so a crash never loses the connection.
connection_credentials = sa.Table(
    "connection_credentials",
    metadata,
    sa.Column("system", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
