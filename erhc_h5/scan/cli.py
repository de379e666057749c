"""The `devices` command group."""
from __future__ import annotations

from flask.cli import AppGroup

devices_cli = AppGroup("devices", help="扫码设备。")
