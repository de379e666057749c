"""PII key rotation: re-encrypt every encrypted column value still under an old key id or cipher.

Works on the raw stored text (plain SQL, no ORM objects), one table at a time in primary-key
order, committing after each batch. Each update is conditional on the old ciphertext, so a row
changed meanwhile by the application is left alone (it was just written under the active key).
Running it again resumes: values already under the active key are not selected.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Table, Text, and_, func, literal, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from erhc_h5.db import Base, import_models
from erhc_h5.logs import log_event
from erhc_h5.security.pii import EncryptedText, Keyring, PIIError


@dataclass
class RotationReport:
    """Counts of one rotation run, per table and in total."""

    active_key: str
    scanned: int = 0
    rotated: int = 0
    failed: int = 0
    skipped: int = 0  # changed by someone else between read and write
    batches: int = 0
    tables: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "active_key": self.active_key, "scanned": self.scanned, "rotated": self.rotated,
            "failed": self.failed, "skipped": self.skipped, "batches": self.batches, "tables": self.tables,
        }


def encrypted_columns() -> dict[Table, list[str]]:
    """Every table with encrypted columns, and those columns' names (EncryptedJSON included)."""
    import_models()
    found: dict[Table, list[str]] = {}
    for table in Base.metadata.sorted_tables:
        names = [c.name for c in table.columns if isinstance(c.type, EncryptedText)]
        if names:
            found[table] = names
    return found


def _primary_key(table: Table):
    pk = list(table.primary_key.columns)
    if len(pk) != 1:
        raise PIIError(f"table {table.name} needs a single-column primary key for rotation")
    return pk[0]


def rotate_table(session: Session, ring: Keyring, table: Table, columns: list[str], report: RotationReport,
                 batch_size: int = 500, on_batch=None) -> None:
    """Re-encrypt one table's stale values, a batch per commit, in primary-key order."""
    pk = _primary_key(table)
    prefix = ring.active_prefix
    # Raw text: these column objects bypass the EncryptedText type (no decrypt on read).
    raw = {name: type_coerce(table.c[name], Text()) for name in columns}
    stale = [and_(raw[n].is_not(None), func.substr(raw[n], 1, len(prefix)) != prefix) for n in columns]
    counts = report.tables.setdefault(table.name, {"scanned": 0, "rotated": 0, "failed": 0, "skipped": 0})
    last = None
    while True:
        query = select(pk, *raw.values()).where(or_(*stale)).order_by(pk).limit(batch_size)
        if last is not None:
            query = query.where(pk > last)
        rows = session.execute(query).all()
        if not rows:
            break
        for row in rows:
            key = row[0]
            counts["scanned"] += 1
            for name, value in zip(columns, row[1:]):
                if value is None or not ring.needs_rotation(value):
                    continue
                try:
                    fresh = ring.encrypt(ring.decrypt(value))
                except PIIError as exc:
                    counts["failed"] += 1
                    log_event("pii_rotation_failed", table=table.name, column=name, reason=str(exc)[:80])
                    continue
                result = session.execute(
                    update(table).where(pk == key, raw[name] == value).values({name: literal(fresh, Text())})
                )
                counts["rotated" if result.rowcount else "skipped"] += 1
            last = key
        session.commit()
        report.batches += 1
        if on_batch is not None:
            on_batch(table.name, counts)
    for name in ("scanned", "rotated", "failed", "skipped"):
        setattr(report, name, getattr(report, name) + counts[name])


def rotate_pii(session: Session, ring: Keyring, *, batch_size: int = 500, on_batch=None) -> RotationReport:
    """Re-encrypt every encrypted column of every table whose values use a non-active key or cipher."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = RotationReport(active_key=ring.active)
    for table, columns in encrypted_columns().items():
        rotate_table(session, ring, table, columns, report, batch_size=batch_size, on_batch=on_batch)
    log_event("pii_rotated", active_key=ring.active, rotated=report.rotated, failed=report.failed)
    return report

