"""The `residents` command group: bulk on-site registration from CSV."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from erhc_h5.db import session_scope

residents_cli = AppGroup("residents", help="居民批量登记。")


@residents_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--app-record-no", required=True, help="办理登记的应用的接入组件入网编码")
@click.option("--chunk-size", type=int, default=1000, show_default=True, help="每次提交的行数")
def residents_import(path: str, app_record_no: str, chunk_size: int) -> None:
    """Register residents from a CSV whose header names record fields; prints JSON last, exit 1 on bad rows."""
    from erhc_h5.audit import audit
    from erhc_h5.logs import log_event
    from erhc_h5.resident.importer import ImportRefused, import_csv

    try:
        with session_scope() as session:
            result = import_csv(session, path, app_record_no, chunk_size=max(1, chunk_size), report=click.echo)
            audit(session, "residents.import", detail={"imported": result.imported, "rejected": result.rejected,
                                                       "app_record_no": app_record_no})
    except ImportRefused as exc:
        click.echo(f"error: {exc.reason}: {exc.message}", err=True)
        click.echo(json.dumps({"imported": 0, "rejected": 0, "error": exc.reason}, ensure_ascii=False))
        raise SystemExit(2) from None
    log_event("residents.import", imported=result.imported, rejected=result.rejected)
    click.echo(json.dumps({"imported": result.imported, "rejected": result.rejected}, ensure_ascii=False))
    if result.rejected:
        raise SystemExit(1)
