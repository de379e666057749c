"""The `sync` command group."""
from __future__ import annotations

from flask.cli import AppGroup

sync_cli = AppGroup("sync", help="实名认证记录上传。")
