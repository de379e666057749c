"""Alembic wiring: upgrade to head, and whether the database is at head."""
from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from erhc_h5 import ROOT
from erhc_h5.db import get_db


def alembic_config(app: Flask) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", app.config["DATABASE_URL"].replace("%", "%%"))
    cfg.attributes["app"] = app
    return cfg


def upgrade(app: Flask, revision: str = "heads") -> None:
    """Create or migrate the schema (SQLite's folder is created first)."""
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(app)
    with get_db(app).engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def heads(app: Flask) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(app)).get_heads())


def current(app: Flask) -> set[str]:
    with get_db(app).engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def at_head(app: Flask) -> bool:
    return current(app) == heads(app)
