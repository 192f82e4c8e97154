"""The deployment files in deploy/ hold together (a config check: CI has neither systemd nor
Docker to start them): the commands they run exist, the database URL they give is one the
settings accept, and installs use the lock with its hashes."""

import configparser
from pathlib import Path

import yaml
from typer.main import get_command

from bot.cli import app
from bot.config import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def dlxh_commands() -> set[str]:
    group = get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def test_the_systemd_unit_runs_migrations_then_the_bot_and_stops_on_a_setting_mistake() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "dlxh.service").read_text(encoding="utf-8"))
    service = unit["Service"]
    assert service["ExecStartPre"].endswith("dlxh db upgrade")
    assert service["ExecStart"].endswith("dlxh run")
    assert {"db", "run"} <= dlxh_commands()
    assert service["RestartPreventExitStatus"] == "2"  # the exit code of a configuration mistake
    assert service["UMask"] == "0077" and service["ReadWritePaths"].split() == [
        "/opt/dlxh/data",
        "/opt/dlxh/bot/locales",
    ]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_compose_gives_the_bot_a_postgresql_url_the_settings_accept() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    bot, db = compose["services"]["bot"], compose["services"]["db"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy" and "healthcheck" in db
    url = bot["environment"]["DATABASE_URL"].replace("${POSTGRES_PASSWORD}", "secret")
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert settings.database_url.startswith("postgresql+asyncpg://dlxh:secret@db:5432/")
    assert bot["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_image_installs_the_locked_dependencies_and_migrates_before_running() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "dlxh db upgrade && exec dlxh run" in dockerfile
    assert "USER dlxh" in dockerfile
