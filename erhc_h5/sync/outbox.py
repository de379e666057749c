"""The outbox: every record version goes upward through one pending row, written with the version."""
from __future__ import annotations

import datetime as dt

from erhc_h5.db import utcnow
from erhc_h5.sync.models import OutboxState


def pending_entry(auth_record_id: int, now: dt.datetime | None = None) -> dict:
    """The ``outbox_entries`` row of a new record version (the ORM path and the bulk import both write it)."""
    now = now or utcnow()
    return {"auth_record_id": auth_record_id, "state": OutboxState.PENDING.value, "created_at": now, "updated_at": now}
