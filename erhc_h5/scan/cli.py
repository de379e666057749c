"""The `devices` command group: enrol (prints the token once), revoke, list."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from erhc_h5.db import session_scope

devices_cli = AppGroup("devices", help="扫码设备。")


@devices_cli.command("add")
@click.argument("name")
@click.option("--site", "site_name", default="", help="接种点名称")
def devices_add(name: str, site_name: str) -> None:
    """Enrol a scan device; its bearer token is printed this once (last line JSON)."""
    from erhc_h5.scan.devices import DeviceError, enrol_device

    try:
        with session_scope() as session:
            device, token = enrol_device(session, name, site_name)
            out = {"id": device.id, "name": device.name, "site_name": device.site_name, "token": token}
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("设备令牌只显示这一次,请立即配置到扫码设备:", err=True)
    click.echo(json.dumps(out, ensure_ascii=False))


@devices_cli.command("revoke")
@click.argument("device_id", type=int)
def devices_revoke(device_id: int) -> None:
    """Revoke a device: its token stops working."""
    from erhc_h5.scan.devices import DeviceError, revoke_device

    try:
        with session_scope() as session:
            device = revoke_device(session, device_id)
            out = {"id": device.id, "active": device.active}
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(out, ensure_ascii=False))


@devices_cli.command("list")
def devices_list() -> None:
    """List devices (token hints only, never tokens)."""
    from erhc_h5.scan.devices import list_devices

    with session_scope() as session:
        rows = [{"id": d.id, "name": d.name, "site_name": d.site_name, "token_hint": d.token_hint,
                 "active": d.active, "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None}
                for d in list_devices(session)]
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False))
