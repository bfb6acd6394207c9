"""The deployment's files (deploy/, docs/DEPLOYMENT.md) agree with what they stand for: the Helm values with the
production dagster.yaml, the chart version with the Dagster pin, the Secret's variables with the ones Crosswalk
reads, the image with the packages. None of them can be run here (no Kubernetes, no Docker daemon), so a change on
one side that the other misses fails here instead of in a cluster."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from crosswalk.settings import DATABASE_URL_ENV
from pipelines.alerts import WEBHOOK_ENV
from pipelines.jobs import EXECUTOR_ENV, executor_config
from resources.systems import ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel_to_snake(k): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def helm_values() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def instance() -> dict[str, Any]:
    return yaml.safe_load((REPO / "dagster.yaml").read_text())


def pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["k8s"]]
    return dict(r.split("==", 1) for r in requirements if "==" in r)


def crosswalk_deployment() -> dict[str, Any]:
    (deployment,) = helm_values()["dagster-user-deployments"]["deployments"]
    return deployment


def test_the_helm_values_give_the_instance_the_limits_and_driver_of_dagster_yaml() -> None:
    values, production = helm_values(), instance()
    concurrency = values["concurrency"]
    assert concurrency.pop("enabled") is True
    assert snake_keys(concurrency) == production["concurrency"]
    assert values["postgresql"]["postgresqlScheme"] == production["storage"]["postgres"]["postgres_db"]["scheme"]
    assert values["telemetry"] == production["telemetry"]
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == production["run_coordinator"]["class"]
    # The run limits in one place only: Dagster refuses an instance with them in the run coordinator too.
    assert "config" not in values["dagsterDaemon"]["runCoordinator"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["computeLogManager"]["type"] == "NoOpComputeLogManager"


def test_the_code_server_runs_the_code_location_with_a_process_per_step_and_the_secret() -> None:
    deployment = crosswalk_deployment()
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "pipelines.definitions"]
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"] == (
        "pipelines.definitions"
    )
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["CROSSWALK_AUTOMATION"] == "running"
    assert "multiprocess" in executor_config(env[EXECUTOR_ENV])
    assert deployment["envSecrets"] == [{"name": "crosswalk-env"}]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}  # the run pods get the same


def test_the_chart_version_everywhere_is_the_pinned_dagster_and_dagster_k8s_pairs_with_it() -> None:
    versions = pins()
    dagster = versions["dagster"]
    assert versions["dagster-k8s"] == versions["dagster-postgres"]
    for path in (DEPLOY / "helm" / "values.yaml", REPO / "docs" / "DEPLOYMENT.md"):
        shown = set(re.findall(r"--version ([0-9][0-9A-Za-z.]*)", path.read_text()))
        assert shown == {dagster}, (path.name, shown)


def test_the_secret_template_names_every_setting_crosswalk_reads_and_no_other() -> None:
    lines = (DEPLOY / "crosswalk.env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    wanted = {variable for _, fields in ENVIRONMENT.values() for variable in fields.values()}
    wanted |= {DATABASE_URL_ENV, WEBHOOK_ENV}
    assert len(names) == len(set(names))
    assert set(names) == wanted
    assert (DEPLOY / ".gitignore").read_text().splitlines()[-1] == "crosswalk.env"  # the filled-in copy


def test_the_image_holds_every_package_and_its_build_context_nothing_else() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = {
        source.rstrip("/") for line in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M) for source in line.split()
    }
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert {include.rstrip("*") for include in packages["include"]} | {"config"} <= copied
    assert 'pip install -e ".[k8s]"' in dockerfile
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == copied
    assert "*" in ignore
