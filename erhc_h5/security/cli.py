"""The `keys rotate-pii` command: re-encrypt personal data under the active PII key."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from erhc_h5.db import get_db
from erhc_h5.security.pii import Keyring, PIIError


@click.command("rotate-pii")
@click.option("--batch", "batch_size", default=500, show_default=True, type=click.IntRange(1, 100000),
              help="每批重新加密的行数(每批提交一次)。")
@with_appcontext
def rotate_pii_cmd(batch_size: int) -> None:
    """Re-encrypt every personal-data value not under the active key (resumable); prints JSON last."""
    from erhc_h5.ops.rotation import rotate_pii

    try:
        ring = Keyring.from_config(current_app.config)
    except PIIError as exc:
        raise click.ClickException(f"个人数据密钥配置有误:{exc}") from None

    def progress(table: str, counts: dict) -> None:
        click.echo(f"{table}: 已检查 {counts['scanned']} 行,已重新加密 {counts['rotated']} 项,失败 {counts['failed']} 项")

    session = get_db().factory()
    try:
        report = rotate_pii(session, ring, batch_size=batch_size, on_batch=progress)
    finally:
        session.close()
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    if report.failed:
        raise SystemExit(1)
