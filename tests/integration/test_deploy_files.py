"""The container and systemd files cannot be run here, so they must name exactly the commands of
the Procfile, which CI does run (`careloop serve` in .ci/wheel-check, on PostgreSQL)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from app.serve import procfile_commands

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = procfile_commands(ROOT / "Procfile")


def test_the_procfile_has_web_mail_webhooks_and_scheduler():
    assert set(PROCFILE) == {"web", "mail", "webhooks", "scheduler"}
    assert PROCFILE["web"].startswith("gunicorn --config python:app.gunicorn_conf ")


def test_compose_runs_the_procfile_commands_on_postgresql():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {name: services[name]["command"] for name in PROCFILE} == PROCFILE
    assert services["migrate"]["command"] == "careloop db upgrade"
    assert services["db"]["image"].startswith("postgres:")
    for name in PROCFILE:
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_dockerfile_is_built_on_the_wheel_and_the_lock_file_and_runs_the_web_command():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "--no-deps /tmp/careloop-*.whl" in dockerfile
    command = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    assert " ".join(yaml.safe_load(command)) == PROCFILE["web"]


def test_each_systemd_unit_runs_one_procfile_command_from_the_venv():
    units = sorted((ROOT / "deploy" / "systemd").glob("careloop-*.service"))
    found = {}
    for unit in units:
        exec_start = re.search(r"^ExecStart=(.*)$", unit.read_text(), re.M).group(1)
        program, *args = shlex.split(exec_start)
        assert program.startswith("/opt/careloop/venv/bin/")
        found[unit.stem.removeprefix("careloop-")] = " ".join([Path(program).name, *args])
        assert "EnvironmentFile=/etc/careloop/careloop.env" in unit.read_text()
    assert found == PROCFILE
    target = (ROOT / "deploy" / "systemd" / "careloop.target").read_text()
    assert all(f"careloop-{name}.service" in target for name in PROCFILE)
