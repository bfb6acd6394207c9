"""Operating settings and definitions (SPEC C3-C5): the `operations` section and its errors, the automation switch,
the schedules' cron and time zone, the pools the definitions carry and the limits dagster.yaml and the settings give
them, and which assets each sync's freshness is judged by."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_sensor_context,
)
from dagster._core.instance.config import dagster_instance_config

from crosswalk.clients.catalog import STREAMS
from crosswalk.config import ConfigError, OperationsSettings, operations_settings, read_config
from crosswalk.settings import AUTOMATION_ENV
from pipelines.alerts import build_alerts, sync_final_assets
from pipelines.jobs import JOBS, SYNC_TAGS
from pipelines.pools import SYSTEMS, PoolError, apply_pool_limits, build_pool_limits_sensor, with_pools
from pipelines.schedules import build_schedules

REPO = Path(__file__).resolve().parents[2]


def settings_from(tmp_path: Path, text: str) -> OperationsSettings:
    path = tmp_path / "ops.yaml"
    path.write_text(text)
    return operations_settings(read_config(path))


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, text)
    return str(caught.value)


def test_the_shipped_operations_settings() -> None:
    settings = operations_settings(read_config())
    assert settings.schedules == {"sync_projects": "*/15 * * * *", "sync_quickbooks": "*/15 * * * *"}
    assert settings.timezone == "UTC"
    assert settings.freshness == timedelta(hours=2)
    assert settings.ui_url is None
    assert settings.pools == {"intacct": 2, "salesforce": 5, "quickbooks": 10, "esp": 2}


def test_a_copy_changes_the_schedules_time_zone_freshness_and_link(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        "operations:\n  schedules:\n    sync_projects: '0 6 * * 1-5'\n  timezone: Europe/Paris\n"
        "  freshness_hours: 0.5\n  ui_url: https://dagster.example.com/\n  pools:\n    intacct: 4\n",
    )
    assert settings.schedules["sync_projects"] == "0 6 * * 1-5"
    assert settings.schedules["sync_quickbooks"] == "*/15 * * * *"
    assert settings.freshness == timedelta(minutes=30)
    assert settings.ui_url == "https://dagster.example.com"
    assert settings.pools["intacct"] == 4 and settings.pools["quickbooks"] == 10
    schedules = {s.name: s for s in build_schedules(settings)}
    assert schedules["sync_projects_schedule"].cron_schedule == "0 6 * * 1-5"
    assert schedules["sync_projects_schedule"].execution_timezone == "Europe/Paris"
    assert schedules["sync_projects_schedule"].job_name == "sync_projects"
    assert schedules["sync_quickbooks_schedule"].cron_schedule == "*/15 * * * *"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("operations:\n  timezone: Mars/Olympus\n", ":2: operations.timezone must be an IANA time zone"),
        ("operations:\n  freshness_hours: 0\n", ":2: operations.freshness_hours must be a number of hours above 0"),
        ("operations:\n  ui_url: dagster.local\n", ":2: operations.ui_url must start with http:// or https://"),
        ("operations:\n  pools:\n    intacct: 0\n", ":3: operations.pools.intacct must be a number >= 1"),
        ("operations:\n  pools:\n    intacct: 1.5\n", ":3: operations.pools.intacct must be a whole number"),
        ("operations:\n  pools:\n    netsuite: 3\n", ":3: unknown key operations.pools.netsuite"),
        ("operations:\n  schedules:\n    sync_all: '* * * * *'\n", ":3: unknown key operations.schedules.sync_all"),
        ("operations:\n  schedules:\n    sync_projects: ''\n", ":3: operations.schedules.sync_projects must be a cron"),
    ],
)
def test_a_bad_operations_value_is_refused_with_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    message = refused(tmp_path, text)
    assert message.startswith(str(tmp_path / "ops.yaml")) and expected in message, message


def test_a_cron_dagster_cannot_read_is_refused_with_file_line_and_key(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "operations:\n  schedules:\n    sync_quickbooks: every quarter hour\n")
    with pytest.raises(ConfigError) as caught:
        build_schedules(settings)
    assert str(caught.value).startswith(f"{tmp_path / 'ops.yaml'}:3: operations.schedules.sync_quickbooks must be")
    assert "'every quarter hour'" in str(caught.value)


def statuses(monkeypatch: pytest.MonkeyPatch, value: str | None) -> set[str]:
    if value is None:
        monkeypatch.delenv(AUTOMATION_ENV, raising=False)
    else:
        monkeypatch.setenv(AUTOMATION_ENV, value)
    from pipelines.definitions import ASSETS

    settings = operations_settings(read_config())
    _, sensors = build_alerts(ASSETS, settings)
    definitions = [*build_schedules(settings), *sensors, build_pool_limits_sensor(settings)]
    return {d.default_status.value for d in definitions}


def test_schedules_and_sensors_run_by_default_and_stop_when_the_deployment_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert DefaultScheduleStatus.RUNNING.value == DefaultSensorStatus.RUNNING.value
    assert statuses(monkeypatch, None) == {DefaultScheduleStatus.RUNNING.value}
    assert statuses(monkeypatch, "running") == {DefaultScheduleStatus.RUNNING.value}
    assert statuses(monkeypatch, "Stopped") == {DefaultScheduleStatus.STOPPED.value}
    with pytest.raises(ConfigError, match="CROSSWALK_AUTOMATION must be running or stopped, got 'yes'"):
        statuses(monkeypatch, "yes")


def test_every_step_that_calls_a_system_is_in_its_pool_in_the_jobs_too() -> None:
    from pipelines.definitions import ASSETS, defs

    pools = {key: a.op.pool for a in ASSETS for key in a.keys}
    for spec in STREAMS:
        assert pools[AssetKey([spec.system, spec.asset_name])] == spec.system, spec.name
    assert pools[AssetKey(["projects", "load_salesforce"])] == "salesforce"
    assert pools[AssetKey(["projects", "load_intacct"])] == "intacct"
    assert pools[AssetKey(["projects", "plan"])] is None  # reads and writes the staging store only
    for asset in ASSETS:
        if set(asset.required_resource_keys) & set(SYSTEMS):
            assert asset.op.pool in SYSTEMS, asset.keys
    for job in JOBS:
        resolved = defs.resolve_job_def(job.name)
        in_job = {node.definition.pool for node in resolved.graph.nodes} - {None}
        assert in_job, job.name
        assert in_job <= set(SYSTEMS)


def test_dagster_yaml_queues_one_run_per_sync_and_caps_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "x")
    config, _ = dagster_instance_config(str(REPO))
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    limits = {item["key"]: item for item in config["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert set(limits) == set(SYNC_TAGS.values())
    assert all(item["limit"] == 1 and "value" not in item for item in limits.values())
    assert config["concurrency"]["pools"] == {"granularity": "op", "default_limit": 2}
    # The tags the limits name are the ones the jobs put on their runs.
    tagged = {job.name: {k for k in (job.tags or {}) if k in limits} for job in JOBS}
    assert tagged == {
        "sync_projects": {SYNC_TAGS["sync_projects"]},
        "sync_quickbooks": {SYNC_TAGS["sync_quickbooks"]},
        "sync_all": set(SYNC_TAGS.values()),
    }


def test_the_pool_limits_sensor_writes_the_settings_limits_into_the_instance(tmp_path: Path) -> None:
    settings = operations_settings(read_config())
    assert set(settings.pools) == set(SYSTEMS)
    # Entered: the instance is the current one for definitions loaded meanwhile (Dagster's defs state).
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots("intacct", 7)  # set by hand in the UI, say
        sensor = build_pool_limits_sensor(settings)
        result = sensor.evaluate_tick(build_sensor_context(instance=instance, sensor_name=sensor.name))
        assert "intacct 2" in (result.skip_message or "") and "quickbooks 10" in (result.skip_message or "")
        storage = instance.event_log_storage
        assert {pool: storage.get_concurrency_info(pool).slot_count for pool in SYSTEMS} == settings.pools
        assert apply_pool_limits(instance, settings.pools) == {}  # in step: nothing to change


def test_each_sync_is_judged_fresh_by_its_loads() -> None:
    from pipelines.definitions import ASSETS

    final = sync_final_assets(ASSETS)
    names = ("load_intacct", "load_salesforce", "progress_back", "read_intacct_again")
    assert final["sync_projects"] == [AssetKey(["projects", name]) for name in names]
    # Its loads, not the extracts that feed them (extract groups are named after their system).
    assert final["sync_quickbooks"] and all(key.path[0] not in SYSTEMS for key in final["sync_quickbooks"])


def test_a_step_that_needs_two_systems_must_choose_its_pool_and_a_chosen_pool_is_kept() -> None:
    from dagster import asset

    @asset(required_resource_keys={"intacct", "salesforce"})
    def both() -> None: ...

    @asset(required_resource_keys={"intacct", "salesforce"}, pool="salesforce")
    def chosen() -> None: ...

    @asset(required_resource_keys={"staging", "esp"})
    def one() -> None: ...

    with pytest.raises(PoolError, match=r"asset both requires intacct and salesforce: a step takes one pool"):
        with_pools([both])
    kept, pooled = with_pools([chosen, one])
    assert kept is chosen and kept.op.pool == "salesforce"
    assert pooled.op.pool == "esp" and pooled.keys == one.keys and pooled.op.compute_fn is one.op.compute_fn
