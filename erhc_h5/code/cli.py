"""The `keys` command group."""
from __future__ import annotations

from flask.cli import AppGroup

keys_cli = AppGroup("keys", help="签名密钥。")
