"""The `purge` command: retention of verification artefacts and scan audit."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from erhc_h5.audit import audit
from erhc_h5.db import get_db
from erhc_h5.logs import log_event


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="只统计将被删除的行数,不删除。")
@with_appcontext
def purge_cmd(dry_run: bool) -> None:
    """Remove verification artefacts and scan audit older than the configured retention; JSON last."""
    from erhc_h5.ops.retention import purge

    cfg = current_app.config
    session = get_db().factory()
    try:
        counts = purge(session, cfg, dry_run=dry_run)
        if not dry_run:
            audit(session, "retention.purge", detail=counts)
            session.commit()
    finally:
        session.close()
    log_event("retention_purge", dry_run=dry_run, **counts)
    for name, n in counts.items():
        click.echo(f"{name}: {'将删除' if dry_run else '已删除'} {n} 行")
    click.echo(json.dumps({
        "dry_run": dry_run, **counts,
        "retention_days": {"verification": int(cfg["RETENTION_VERIFICATION_DAYS"]),
                           "scan": int(cfg["RETENTION_SCAN_DAYS"])},
    }, ensure_ascii=False))
