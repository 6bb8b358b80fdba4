"""The docker-compose stack is complete and consistent (no Docker engine here to start it)."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from socle.airflow_env import airflow_bin
from socle.config import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
ENV_EXAMPLE = (PROJECT_ROOT / ".env.example").read_text()
AIRFLOW_SERVICES = {name: s for name, s in COMPOSE["services"].items() if name.startswith("airflow-")}


def _variables(text: str) -> set[str]:
    """Variables a compose file reads without a default (``${VAR}``, not ``${VAR:-x}``)."""
    return {m.group(1) for m in re.finditer(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)\}", text)}


def test_the_stack_has_the_airflow_3_components_on_postgres():
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"} <= set(
        AIRFLOW_SERVICES
    )
    assert "postgres" in COMPOSE["services"]
    env = COMPOSE["x-airflow-common"]["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "LocalExecutor" in env["AIRFLOW__CORE__EXECUTOR"]


def test_every_service_has_an_image_and_long_running_ones_a_health_check():
    for name, service in COMPOSE["services"].items():
        assert service.get("image") or service.get("build"), name
        if name not in ("airflow-init",):
            assert "healthcheck" in service, f"{name} has no health check"


def test_every_named_volume_is_declared():
    declared = set(COMPOSE["volumes"])
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith(("/", ".")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_every_variable_without_default_is_in_env_example():
    compose_text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE, re.M))
    missing = _variables(compose_text) - documented
    assert not missing, f"variables used by docker-compose.yml but absent from .env.example: {missing}"


def test_env_example_carries_no_secret_value():
    for line in ENV_EXAMPLE.splitlines():
        if re.match(r"^[A-Z_]*(SECRET|PASSWORD)[A-Z_]*=", line):
            assert line.endswith("="), f"{line.split('=')[0]} has a value in .env.example"


def test_dockerfile_installs_the_same_lock():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.lock" in dockerfile
    assert "pip install --no-deps -e ." in dockerfile
    assert "FROM python:3.11" in dockerfile


def _commands() -> list[list[str]]:
    commands = []
    for service in COMPOSE["services"].values():
        command = service.get("command")
        if isinstance(command, list) and command[:1] == ["airflow"]:
            commands.append(command[1:])
        checks = service.get("healthcheck", {}).get("test", [])
        if checks[:2] == ["CMD", "airflow"]:
            commands.append(checks[2:])
    init = COMPOSE["services"]["airflow-init"]["command"][-1]
    commands += [part.strip().split()[1:3] for part in init.split("&&")]
    return commands


@pytest.mark.integration
@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_airflow_command_the_stack_runs_exists(command):
    # Only the sub-command words: '--help' proves the installed Airflow knows them.
    words = [w for w in command if not w.startswith("-")][:2]
    if words[:1] == ["pools"]:
        words = words[:2]
    result = subprocess.run(
        [airflow_bin(), *words, "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
