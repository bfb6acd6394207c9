"""The projects sync (SPEC A): Intacct projects and tasks with Salesforce ia_crm__Project__c and ia_crm__Task__c, as
the engine's mapping, settings and the choices that are this sync's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crosswalk.config import ProjectsSettings
from crosswalk.staging import StagingStore
from crosswalk.sync.engine import PlanExtension, SyncEngine
from crosswalk.sync.mapper import MappedRecord
from crosswalk.sync.mapping import EntityRule, SyncMapping, load_mapping
from crosswalk.sync.plan import Action, EntityData, EntityPlan, OnDelete, PairOutcome, PlanItem, PlanOptions
from crosswalk.sync.reconcile import Translate, Untranslatable, policy_from_setting

SYNC = "projects"
INTACCT = "intacct"
SALESFORCE = "salesforce"
# What Intacct's Projects application adds (SPEC A8): tasks, and the progress it computes from tasks and time.
SUBSCRIPTION_ENTITIES = ("task",)
SUBSCRIPTION_FIELDS = frozenset({"PERCENTCOMPLETE", "OBSPERCENTCOMPLETE", "ESTQTY", "ACTUALQTY", "APPROVEDQTY",
                                 "REMAININGQTY", "BUDGETQTY"})  # fmt: skip


def streams_read(mapping: SyncMapping) -> list[tuple[str, str]]:
    """Every (system, object) the projects plan reads: its entities' objects, and the opportunities that ask for
    projects (SPEC A5). A run extracts these before it plans, and so does a dry run."""
    objects = {pair for entity in mapping.entities.values() for pair in entity.objects.items()}
    objects.add((SALESFORCE, "Opportunity"))
    return sorted(objects)


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
        store, mapping, options, upsert_targets={SALESFORCE}, skip_entities=skip_entities, skip_fields=skip_fields,
        extend_plan=opportunity_projects(settings),
    )  # fmt: skip


def _asks_for_project(settings: ProjectsSettings, opportunity: Mapping[str, Any]) -> bool:
    if settings.opportunity_checkbox and opportunity.get(settings.opportunity_checkbox) in (True, "true"):
        return True
    return opportunity.get("StageName") in settings.opportunity_stages


def opportunity_projects(settings: ProjectsSettings) -> PlanExtension:
    """SPEC A5: each opportunity that asks for a project and has none gets one, in Intacct (SFDCKEY = the opportunity,
    PROJECTID = its Id, chosen before any call) and in Salesforce (linked to the opportunity, upserted by that
    PROJECTID), linked to each other. An opportunity some project already names is not asked again, so asking twice,
    or a crash and a retry, makes one project."""

    def extend(
        engine: SyncEngine, entity: EntityRule, data: EntityData, plan: EntityPlan, translate: Translate
    ) -> None:
        if entity.name != "project" or not entity.sync:
            return
        taken = data.values_of("opportunity")
        taken |= {item.values.get("opportunity") for item in plan.items if item.action is Action.CREATE}
        customer, opportunity_field = entity.field("customer"), entity.field("opportunity")
        for key, payload, deleted, _digest in engine.store.iter_staged_records(SALESFORCE, "Opportunity"):
            if deleted or key in taken or not _asks_for_project(settings, payload):
                continue
            pair = f"new:project:opportunity:{key}"
            project_id = new_intacct_id(key)
            name = payload.get("Name") or key
            account = payload.get("AccountId")
            try:
                customer_id = translate(customer, INTACCT, account) if account else None
            except Untranslatable as exc:
                plan.items.append(PlanItem("project", Action.REFUSED, pair, source=SALESFORCE, source_key=key,
                                           reason=f"opportunity {key} asks for a project: {exc}"))  # fmt: skip
                continue
            right_values = {"name": translate(entity.field("name"), SALESFORCE, name), "customer": account,
                            "opportunity": key}  # fmt: skip
            left_values = {"name": translate(entity.field("name"), INTACCT, name), "customer": customer_id,
                           "opportunity": translate(opportunity_field, INTACCT, key)}  # fmt: skip
            right_link, left_link = entity.link_fields[SALESFORCE], entity.link_fields[INTACCT]
            why = f"opportunity {key} asks for a project"
            plan.items.append(PlanItem(
                "project", Action.CREATE, pair, target=SALESFORCE, target_object=entity.objects[SALESFORCE],
                source=SALESFORCE, source_key=key, values=right_values, link_values={right_link.field: project_id},
                identity=(right_link.field, project_id), reason=why,
            ))  # fmt: skip
            plan.items.append(PlanItem(
                "project", Action.CREATE, pair, target=INTACCT, target_object=entity.objects[INTACCT],
                source=SALESFORCE, source_key=key, values=left_values, link_values={right_link.holds: project_id},
                link_from_result=left_link.field, identity=(right_link.holds, project_id), reason=why,
                fixed_values=dict(entity.create_defaults.get(INTACCT, {})),
            ))  # fmt: skip
            plan.pairs[pair] = PairOutcome(pair, None, None, None, left_values, right_values, why)
            plan.counts["from_opportunity"] += 1
            taken.add(key)

    return extend
