"""The `residents` command group."""
from __future__ import annotations

from flask.cli import AppGroup

residents_cli = AppGroup("residents", help="居民批量登记。")
