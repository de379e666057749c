"""The `keys` command group: rotate, revoke and list the code-signing keys."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from erhc_h5.db import session_scope

keys_cli = AppGroup("keys", help="签名密钥。")


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Sign new codes with a new key; older keys keep verifying until their codes expire."""
    from erhc_h5.code.keys import rotate

    with session_scope() as session:
        key = rotate(session)
        out = {"kid": key.kid, "created_at": key.created_at.isoformat()}
    click.echo(json.dumps(out))


@keys_cli.command("revoke")
@click.argument("kid")
def keys_revoke(kid: str) -> None:
    """End every code of a leaked key at once (every worker refuses them on its next request);
    when it was the active key, a new key signs from now on."""
    from erhc_h5.audit import audit
    from erhc_h5.code.keys import KeyRefused, revoke

    with session_scope() as session:
        try:
            key, new = revoke(session, kid.strip())
        except KeyRefused as exc:
            raise click.ClickException(str(exc)) from exc
        audit(session, "code_key_revoked", target_type="code_signing_key", target_id=key.kid,
              detail={"new_kid": new.kid if new else None})
        out = {"kid": key.kid, "revoked_at": key.revoked_at.isoformat(), "new_kid": new.kid if new else None}
    click.echo(json.dumps(out))


@keys_cli.command("list")
def keys_list() -> None:
    """List key ids and dates (never secrets)."""
    from erhc_h5.code.keys import list_keys

    with session_scope() as session:
        rows = [{"kid": k.kid, "created_at": k.created_at.isoformat(),
                 "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                 "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None} for k in list_keys(session)]
    for row in rows:
        click.echo(json.dumps(row))
