"""The projects sync (SPEC A): Intacct projects and tasks with Salesforce ia_crm__Project__c and ia_crm__Task__c, as
the engine's mapping, settings and the choices that are this sync's own."""

from __future__ import annotations

from typing import Any

from crosswalk.config import ProjectsSettings
from crosswalk.staging import StagingStore
from crosswalk.sync.engine import SyncEngine
from crosswalk.sync.mapper import MappedRecord
from crosswalk.sync.mapping import EntityRule, load_mapping
from crosswalk.sync.plan import OnDelete, PlanOptions
from crosswalk.sync.reconcile import policy_from_setting

SYNC = "projects"
INTACCT = "intacct"
SALESFORCE = "salesforce"
# What Intacct's Projects application adds (SPEC A8): tasks, and the progress it computes from tasks and time.
SUBSCRIPTION_ENTITIES = ("task",)
SUBSCRIPTION_FIELDS = frozenset({"PERCENTCOMPLETE", "OBSPERCENTCOMPLETE", "ESTQTY", "ACTUALQTY", "APPROVEDQTY",
                                 "REMAININGQTY", "BUDGETQTY"})  # fmt: skip


def new_intacct_id(salesforce_key: str) -> str:
    """The PROJECTID / TASKID of a record created in Intacct from a Salesforce record that names none: its 18-character
    Salesforce Id (case-safe, at most 20 characters as a TASKID must be), so planning it again chooses the same."""
    return salesforce_key


def projects_engine(store: StagingStore, settings: ProjectsSettings) -> SyncEngine:
    mapping = load_mapping(settings.mapping_path)

    def scope_of(entity: EntityRule, record: MappedRecord, target: str) -> str | None:
        # SPEC A4: a project goes to the entity its Salesforce record names, unless projects go to the top level.
        if entity.name != "project" or target != INTACCT or settings.create_project_at_top_level:
            return None
        value = record.values.get("entity")
        return str(value) if value else None

    def create_values_of(entity: EntityRule, record: MappedRecord, target: str) -> dict[str, Any]:
        # A multi-entity company needs a project's LOCATIONID: the entity it is created in (the mapping's
        # create_defaults give the one for the top level).
        scope = scope_of(entity, record, target)
        return {"LOCATIONID": scope} if scope else {}

    options = PlanOptions(
        policy=policy_from_setting(settings.conflict_policy, mapping.systems),
        on_delete=OnDelete(settings.on_delete),
        new_identity=new_intacct_id,
        scope_of=scope_of,
        create_values_of=create_values_of,
    )
    skip_entities: tuple[str, ...] = ()
    skip_fields: list[tuple[str, str]] = []
    if not settings.projects_subscribed:
        skip_entities = SUBSCRIPTION_ENTITIES
        skip_fields = [
            (entity.name, rule.name)
            for entity in mapping.entities.values()
            for rule in entity.fields
            if rule.fields.get(INTACCT) in SUBSCRIPTION_FIELDS
        ]
    return SyncEngine(
        store, mapping, options, upsert_targets={SALESFORCE}, skip_entities=skip_entities, skip_fields=skip_fields
    )
