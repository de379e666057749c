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
    run(app, lambda cfg: command.upgrade(cfg, revision))


def run(app: Flask, step) -> None:
    """Run an Alembic command in one transaction. On SQLite, foreign keys are off meanwhile: a table
    rebuild (copy, drop, rename) would otherwise fail on the rows that refer to the table; they are
    checked before the commit instead (``PRAGMA foreign_key_check``)."""
    cfg = alembic_config(app)
    with get_db(app).engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where the pragma takes effect
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                step(cfg)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("migration left rows that refer to missing rows (PRAGMA foreign_key_check)")
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")


def heads(app: Flask) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(app)).get_heads())


def current(app: Flask) -> set[str]:
    with get_db(app).engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def at_head(app: Flask) -> bool:
    return current(app) == heads(app)
