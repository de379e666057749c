"""Command groups wired to the services: db, demo, users, and each domain's own group."""
from __future__ import annotations

import json
import secrets

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from erhc_h5.db import session_scope

db_cli = AppGroup("db", help="数据库结构(Alembic)。")
demo_cli = AppGroup("demo", help="沙箱演示数据。")
users_cli = AppGroup("users", help="工作人员账号。")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    from erhc_h5 import migrate

    migrate.upgrade(current_app)
    click.echo(json.dumps({"migrated": sorted(migrate.current(current_app))}))


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create the sandbox demo app, staff users and scan device; prints JSON last."""
    from erhc_h5.sandbox import demo

    if not current_app.config["SANDBOX"]:
        raise click.ClickException("演示数据只能在沙箱或演练环境中创建(ERHC_ENV=production 时不可用)")
    if current_app.config["STAGING"]:
        click.echo("警告:演练环境。将创建示范应用、各角色示范账号和示范扫码设备(账号密码与设备令牌见下方输出);"
                   "它们只用于演练,切勿在生产数据库中使用。", err=True)
    with session_scope() as session:
        result = demo.seed(current_app, session)
    click.echo(json.dumps(result, ensure_ascii=False))


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, help="admin | reviewer | operator | ops | nurse")
@click.option("--password", default=None, help="不给出时交互输入;与 --one-time-password 二选一")
@click.option("--one-time-password", "one_time", is_flag=True,
              help="生成一次性密码并只显示这一次;首次登录后必须修改(用于创建第一个管理员)")
@click.option("--display-name", default="")
@click.option("--site", "site_name", default="")
def users_create(username: str, role: str, password: str | None, one_time: bool, display_name: str,
                 site_name: str) -> None:
    """Create a staff user; ``--one-time-password`` makes one, prints it once, and forces a change."""
    from erhc_h5.staff.services import StaffError, create_user

    if one_time and password is not None:
        raise click.UsageError("--password 与 --one-time-password 只能选一个")
    if one_time:
        password = secrets.token_urlsafe(12)
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope() as session:
            user = create_user(session, username, password, role, display_name=display_name, site_name=site_name,
                               must_change=one_time)
            out = {"id": user.id, "username": user.username, "role": user.role,
                   "must_change_password": user.must_change_password}
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    if one_time:
        click.echo("一次性密码只显示这一次,请当面交给账号本人;首次登录后必须设置自己的密码:", err=True)
        out["one_time_password"] = password
    click.echo(json.dumps(out, ensure_ascii=False))


def init_app(app: Flask) -> None:
    from erhc_h5.code.cli import keys_cli
    from erhc_h5.filing.cli import filing_cli
    from erhc_h5.ops.cli import purge_cmd
    from erhc_h5.cards.cli import notices_cli, residents_cli
    from erhc_h5.scan.cli import devices_cli
    from erhc_h5.security.cli import rotate_pii_cmd
    from erhc_h5.sync.cli import sync_cli

    for group in (db_cli, demo_cli, users_cli, sync_cli, residents_cli, notices_cli, keys_cli, devices_cli,
                  filing_cli):
        app.cli.add_command(group)
    app.cli.add_command(purge_cmd)
    keys_cli.add_command(rotate_pii_cmd)
