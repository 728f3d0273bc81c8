"""The deploy/ files parse and start commands the chronos CLI really has."""
from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import yaml

from chronos.cli import build_parser

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def cli_verbs() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def test_compose_runs_redis_stack_and_every_chronos_process():
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = doc["services"]
    assert services["redis"]["image"].startswith("redis/redis-stack-server:")
    assert "--appendonly" in services["redis"]["command"]
    verbs = cli_verbs()
    for name in ("web", "scheduler", "batch-runner"):
        svc = services[name]
        assert svc["command"][0] == "chronos" and svc["command"][1] in verbs, name
        assert svc["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["web"]["ports"] == ["8050:8050"]
    assert (DEPLOY / services["web"]["build"]["dockerfile"].removeprefix("deploy/")).exists()


def test_systemd_units_parse_and_exec_real_verbs():
    verbs = cli_verbs()
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} == {"chronos-web.service", "chronos-scheduler.service",
                                       "chronos-batch-runner@.service"}
    for unit in units:
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.optionxform = str
        cp.read_string(unit.read_text())
        assert {"Unit", "Service", "Install"} <= set(cp.sections()), unit.name
        argv = shlex.split(cp["Service"]["ExecStart"])
        assert argv[0].endswith("/chronos") and argv[1] in verbs, unit.name
        assert cp["Service"]["EnvironmentFile"] == "/etc/chronos/chronos.env"
        assert cp["Service"]["Restart"] == "on-failure"
