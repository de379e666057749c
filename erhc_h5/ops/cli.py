"""The `purge` command: retention of verification artefacts and scan audit."""
from __future__ import annotations

import click


@click.command("purge")
def purge_cmd() -> None:
    """Remove verification artefacts and scan audit older than the configured retention."""
    raise click.ClickException("尚未实现")
