"""Dagster pools per external system: a step that calls Intacct, Salesforce, QuickBooks Online or ESP+ takes a slot of
that system's pool (named after it), so runs launched together (schedules, backfills, assets materialised from the
UI) never call a system more often at once than it allows. One step makes one call at a time (the extract reads
ahead in one thread), so a pool's limit is the number of calls in flight. A code location talks to one Intacct
company and one QuickBooks realm, so these are per company and per realm.

The limits are `operations.pools` in the settings; Dagster keeps pool limits in the instance's storage, not in
dagster.yaml (whose `concurrency.pools.default_limit` caps any pool not set), so the `crosswalk_pool_limits`
sensor writes them there and keeps them in step with the settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dagster import (
    AssetsDefinition,
    DagsterInstance,
    In,
    OpDefinition,
    Out,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from crosswalk.clients.catalog import ESP, INTACCT, QUICKBOOKS, SALESFORCE
from crosswalk.config import OperationsSettings, operations_settings
from pipelines.schedules import sensor_status

SYSTEMS = (INTACCT, SALESFORCE, QUICKBOOKS, ESP)
POOL_LIMITS_SENSOR = "crosswalk_pool_limits"


class PoolError(ValueError):
    pass


def pool_of(assets_def: AssetsDefinition) -> str | None:
    """The pool of the system an asset's step calls (the system resource it requires), None for one that calls none."""
    systems = sorted(set(assets_def.required_resource_keys) & set(SYSTEMS))
    if len(systems) > 1:
        # A step holds one pool: it could not be kept within both systems' limits.
        names = ", ".join(key.to_user_string() for key in assets_def.keys)
        raise PoolError(
            f"asset {names} requires {' and '.join(systems)}: a step takes one pool, so split it, or choose the "
            "pool it takes with @asset(pool=...)"
        )
    return systems[0] if systems else None


def with_pool(assets_def: AssetsDefinition, pool: str) -> AssetsDefinition:
    """The asset with its op in `pool`. Dagster has no public way to set a pool after @asset; the asset modules can
    pass `pool=` to @asset instead, and then this returns the definition unchanged."""
    op = assets_def.op
    if op.pool == pool:
        return assets_def
    if op.pool is not None:
        raise PoolError(f"op {op.name} is in pool {op.pool!r}, not {pool!r}")
    pooled = OpDefinition.dagster_internal_init(
        name=op.name,
        ins={input_def.name: In.from_definition(input_def) for input_def in op.input_defs},
        outs={output_def.name: Out.from_definition(output_def) for output_def in op.output_defs},
        compute_fn=op.compute_fn,
        config_schema=op.config_schema,
        description=op.description,
        tags=op.tags,
        required_resource_keys=op.required_resource_keys,
        code_version=op._version,  # what OpDefinition.with_replaced_properties passes on
        retry_policy=op.retry_policy,
        version=None,
        pool=pool,
    )
    return AssetsDefinition.dagster_internal_init(**{**assets_def.get_attributes_dict(), "node_def": pooled})


def with_pools(assets: Iterable[AssetsDefinition]) -> list[AssetsDefinition]:
    """Each asset that calls a system, in that system's pool; the others, and those that chose a pool, as they are."""
    pooled = []
    for assets_def in assets:
        if assets_def.op.pool is not None:  # the asset chose its pool itself
            pooled.append(assets_def)
            continue
        pool = pool_of(assets_def)
        pooled.append(with_pool(assets_def, pool) if pool else assets_def)
    return pooled


def apply_pool_limits(instance: DagsterInstance, limits: Mapping[str, int]) -> dict[str, int]:
    """Set each pool's limit in the instance where it differs; returns the ones changed."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        raise PoolError("this Dagster instance's event log storage does not support pools")
    changed = {}
    for pool, limit in sorted(limits.items()):
        if storage.get_concurrency_info(pool).slot_count != limit:
            storage.set_concurrency_slots(pool, limit)
            changed[pool] = limit
    return changed


def build_pool_limits_sensor(settings: OperationsSettings | None = None) -> SensorDefinition:
    limits = dict((settings or operations_settings()).pools)
    shown = ", ".join(f"{pool} {limit}" for pool, limit in sorted(limits.items()))

    @sensor(
        name=POOL_LIMITS_SENSOR,
        minimum_interval_seconds=300,
        default_status=sensor_status(),
        description=f"Keeps the instance's pool limits at operations.pools ({shown}).",
    )
    def pool_limits(context: SensorEvaluationContext) -> SkipReason:
        changed = apply_pool_limits(context.instance, limits)
        if changed:
            context.log.info(f"pool limits set: {changed}")
        return SkipReason(f"pool limits in place: {shown}" + (f" (just set: {', '.join(changed)})" if changed else ""))

    return pool_limits


def pooled_systems(assets: Sequence[AssetsDefinition]) -> dict[str, str | None]:
    """asset key -> pool, as the definitions carry them (what the UI shows)."""
    return {key.to_user_string(): a.op.pool for a in assets for key in a.keys}
