"""Alerts (SPEC C4) against a webhook served by the test (http.server in a thread): a run that fails because its
systems are down is POSTed once with its job, run id, failed steps and a link; a sync whose last success is older
than `operations.freshness_hours` fails its freshness checks and is POSTed once. The sensors are evaluated as the
daemon evaluates them, over a real instance holding the real runs."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    DagsterRunStatus,
    SensorDefinition,
    build_sensor_context,
    materialize,
)
from dagster._core.test_utils import freeze_time
from dagster._time import get_current_datetime

from crosswalk.config import operations_settings, read_config
from crosswalk.sandbox import Sandbox
from pipelines.alerts import (
    FRESHNESS_ALERT_SENSOR,
    FRESHNESS_CHECKS_SENSOR,
    RUN_FAILURE_SENSOR,
    WEBHOOK_ENV,
    AlertDeliveryError,
    build_alerts,
    build_freshness_checks,
    post_alert,
    scrub,
)
from tests.e2e.conftest import job_env, run_job

pytestmark = pytest.mark.slow

TOKEN = "T0KEN-in-the-webhook-path"
UI_URL = "https://dagster.example.com"


class Webhook:
    """A local HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    hook = Webhook()
    monkeypatch.setenv(WEBHOOK_ENV, hook.url)
    yield hook
    hook.close()


def settings_file(directory: Path, text: str) -> Path:
    path = directory / "operations.yaml"
    path.write_text(text)
    return path


def sensors(settings_path: Path) -> dict[str, SensorDefinition]:
    from pipelines.definitions import ASSETS

    _, built = build_alerts(ASSETS, operations_settings(read_config(settings_path)))
    return {sensor.name: sensor for sensor in built}


def tick(sensor: SensorDefinition, instance: DagsterInstance, cursor: str | None) -> str | None:
    """One evaluation as the daemon makes it; the cursor it leaves."""
    from pipelines.definitions import defs

    context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs, sensor_name=sensor.name)
    result = sensor.evaluate_tick(context)
    return result.cursor


def test_a_run_failed_by_a_system_that_is_down_is_posted_once_with_its_job_run_and_link(
    start_emulator: Any, webhook: Webhook, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # ESP+ and QuickBooks Online answered once, then went down: their address now refuses connections.
    down: dict[str, str] = {}
    for system in ("esp", "quickbooks"):
        emulator = start_emulator(system, scale="none")
        down.update(emulator.env)
        emulator.server.stop()
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = settings_file(tmp_path, f"operations:\n  ui_url: {UI_URL}/\n")
    # Entered: the instance is the current one for definitions loaded meanwhile (Dagster's defs state).
    with DagsterInstance.from_config(str(home)) as instance:
        sensor = sensors(config)[RUN_FAILURE_SENSOR]
        cursor = tick(sensor, instance, None)  # the first tick only marks where it starts

        env = {
            **os.environ,
            **down,
            "CROSSWALK_DATABASE_URL": f"sqlite:///{tmp_path / 'staging.sqlite'}",
            "CROSSWALK_CONFIG": str(config),
            "DAGSTER_HOME": str(home),
        }
        failed = run_job("sync_quickbooks", env)
        assert failed.returncode != 0
        [run] = instance.get_runs()
        assert run.status is DagsterRunStatus.FAILURE

        cursor = tick(sensor, instance, cursor)
        assert len(webhook.posts) == 1
        path, alert = webhook.posts[0]
        assert path == f"/hooks/{TOKEN}"
        assert alert["kind"] == "run_failure"
        assert (alert["job"], alert["run_id"], alert["status"]) == ("sync_quickbooks", run.run_id, "FAILURE")
        assert alert["run_url"] == f"{UI_URL}/runs/{run.run_id}"
        steps = {step["step"]: step["error"] for step in alert["failed_steps"]}
        assert steps and all(step.startswith(("esp", "quickbooks")) for step in steps), steps
        origin = down["ESP_URL"].split("/")[2]
        assert any(origin in error for error in steps.values()), steps
        assert run.run_id in alert["text"] and "sync_quickbooks" in alert["text"]

        tick(sensor, instance, cursor)
        assert len(webhook.posts) == 1  # the same failure is not sent again
        assert TOKEN not in capfd.readouterr().err


def test_a_sync_stale_beyond_its_freshness_hours_fails_its_checks_and_is_posted_once(
    sandbox: Sandbox, webhook: Webhook, tmp_path: Path
) -> None:
    home = tmp_path / "dagster_home"
    env = job_env(sandbox, f"sqlite:///{tmp_path / 'staging.sqlite'}", home)
    # Both syncs off: the run reads the shared sandbox and writes to no system.
    config = settings_file(
        tmp_path, "projects:\n  enabled: false\nquickbooks:\n  enabled: false\noperations:\n  freshness_hours: 3\n"
    )
    env["CROSSWALK_CONFIG"] = str(config)
    result = run_job("sync_quickbooks", env)
    assert result.returncode == 0, result.stderr[-3000:]

    from pipelines.definitions import ASSETS

    settings = operations_settings(read_config(config))
    checks, sync_of = build_freshness_checks(ASSETS, settings)
    by_name = sensors(config)
    # Entered: the instance is the current one for definitions loaded meanwhile (Dagster's defs state).
    with DagsterInstance.from_config(str(home)) as instance:
        quickbooks_checks = {key for key, job in sync_of.items() if job == "sync_quickbooks"}
        assert quickbooks_checks
        summaries = instance.event_log_storage.get_asset_check_summary_records(list(quickbooks_checks))
        # The run evaluated its own freshness checks after its extracts: fresh.
        assert all(s.last_completed_check_execution_record.status.value == "SUCCEEDED" for s in summaries.values())
        cursor = tick(by_name[FRESHNESS_ALERT_SENSOR], instance, None)
        assert webhook.posts == []

        # Three hours and a minute later, without another run, the freshness sensor asks for the checks again and
        # they fail.
        with freeze_time(get_current_datetime() + timedelta(hours=3, minutes=1)):
            from pipelines.definitions import defs

            context = build_sensor_context(instance=instance, definitions=defs, sensor_name=FRESHNESS_CHECKS_SENSOR)
            evaluation = by_name[FRESHNESS_CHECKS_SENSOR].evaluate_tick(context)
            [request] = evaluation.run_requests or []
            requested = set(request.asset_check_keys or [])
            assert quickbooks_checks <= requested
            due = [check for check in checks if set(check.check_keys) & requested]
            specs = [AssetSpec(key) for key in {key.asset_key for key in requested}]
            checked = materialize([*due, *specs], instance=instance, selection=AssetSelection.checks(*requested))
            assert checked.success
            assert not any(e.passed for e in checked.get_asset_check_evaluations())

            cursor = tick(by_name[FRESHNESS_ALERT_SENSOR], instance, cursor)
        [alerts] = [[alert for _, alert in webhook.posts if alert["job"] == "sync_quickbooks"]]
        assert len(alerts) == 1
        alert = alerts[0]
        assert alert["kind"] == "freshness" and alert["freshness_hours"] == 3
        stale = {item["asset"] for item in alert["stale_assets"]}
        assert stale == {key.asset_key.to_user_string() for key in quickbooks_checks}
        assert all(item["last_updated"] for item in alert["stale_assets"])

        posted = len(webhook.posts)
        tick(by_name[FRESHNESS_ALERT_SENSOR], instance, cursor)
        assert len(webhook.posts) == posted  # one message per stale episode


def test_a_webhook_that_refuses_or_is_down_is_named_by_host_never_by_its_token(
    webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refuses(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(403)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        refusing = f"http://127.0.0.1:{server.server_port}/hooks/{TOKEN}"
        with pytest.raises(AlertDeliveryError) as caught:
            post_alert({"text": "x"}, refusing)
        assert str(caught.value) == f"alert webhook http://127.0.0.1:{server.server_port} answered HTTP 403"
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(AlertDeliveryError) as caught:
        post_alert({"text": "x"}, refusing)  # now nothing listens there
    assert TOKEN not in str(caught.value) and "unreachable" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__

    monkeypatch.setenv("ESP_CLIENT_SECRET", "s3cret-value")
    assert scrub(f"login refused for s3cret-value at {webhook.url}") == "login refused for *** at ***"
    monkeypatch.delenv(WEBHOOK_ENV)
    assert post_alert({"text": "x"}) is False  # no webhook configured: nothing sent, nothing raised
    assert webhook.posts == []
