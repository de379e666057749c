"""deploy/systemd: the units parse, run the one gunicorn command line the README gives, reload by
SIGHUP, stop by SIGTERM within a bound, read the shipped environment file, and that file names every
key production refuses to start without."""
from __future__ import annotations

import configparser
import re
import shlex

import pytest

from tests.support import PRODUCTION, REPO, env_file

SYSTEMD = REPO / "deploy" / "systemd"
README = (REPO / "README.md").read_text(encoding="utf-8")
GRACEFUL_TIMEOUT = 30  # gunicorn.conf.py's graceful_timeout default, read below too


def unit(name: str) -> configparser.ConfigParser:
    """A unit file read as systemd's INI dialect (case-sensitive keys, no interpolation)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    parser.optionxform = str
    parser.read_string((SYSTEMD / name).read_text(encoding="utf-8"))
    return parser


def readme_gunicorn_command_lines() -> set[str]:
    """Every gunicorn command line the README gives (path prefixes dropped)."""
    return {re.sub(r"\s+", " ", m).strip() for m in re.findall(r"(?<![\w./-])(?:\S*/)?(gunicorn\s+[^`\n]*?app:app)", README)}


def test_the_readme_names_one_gunicorn_command_line():
    assert readme_gunicorn_command_lines() == {"gunicorn -c gunicorn.conf.py app:app"}


def test_web_unit_runs_that_command_line_reloads_by_sighup_and_stops_in_time():
    web = unit("erhc-web.service")["Service"]
    argv = shlex.split(web["ExecStart"])
    assert argv[0].endswith("/gunicorn")
    assert " ".join(["gunicorn", *argv[1:]]) in readme_gunicorn_command_lines()
    assert web["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert web["KillSignal"] == "SIGTERM"
    conf = (REPO / "gunicorn.conf.py").read_text(encoding="utf-8")
    assert f'graceful_timeout = _env("graceful_timeout", {GRACEFUL_TIMEOUT})' in conf
    assert int(web["TimeoutStopSec"]) > GRACEFUL_TIMEOUT  # gunicorn finishes requests in hand before systemd kills
    assert web["EnvironmentFile"] == "/etc/erhc-h5/env"
    assert web["User"] not in ("", "root") and web["NoNewPrivileges"] == "yes"
    assert web["ProtectSystem"] == "strict" and web["StateDirectory"] == "erhc-h5"


def test_sync_unit_is_a_template_running_the_worker_with_the_same_environment():
    sync = unit("erhc-sync@.service")
    service = sync["Service"]
    assert shlex.split(service["ExecStart"])[1:] == ["--app", "app", "sync", "run"]
    assert "%i" in sync["Unit"]["Description"]
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) > 0
    assert service["EnvironmentFile"] == "/etc/erhc-h5/env"
    assert service["User"] == unit("erhc-web.service")["Service"]["User"]


def test_the_env_file_names_every_key_production_requires():
    named = env_file()
    required = {f"ERHC_{key}" for key in PRODUCTION} - {"ERHC_ENV"}
    assert required - set(named) == set()
    assert named["ERHC_ENV"] == "production" and named["ERHC_TRUSTED_PROXIES"] == "1"


def test_production_refuses_the_env_file_until_every_placeholder_is_replaced(monkeypatch):
    from erhc_h5 import create_app
    from erhc_h5.config import ConfigError

    for key, value in env_file().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        create_app()
    message = str(info.value)
    assert "CHANGE-ME" in message and "ERHC_SECRET_KEY" in message and "ERHC_PII_KEYS" in message
    assert "\n" not in message
