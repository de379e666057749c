"""The scan's statements, compiled once per dialect and run on the driver's own cursor.

A scan is the busiest write of a vaccination day. Its three statements are built with SQLAlchemy
Core (one definition of tables and columns, checked by the migrations) but compiled once and run
on the DBAPI cursor, so a scan pays neither SQLAlchemy's per-execute bookkeeping nor its result
processing; the few conversions it needs (SQLite's stored datetimes, the encrypted name and ID
number) are applied here. The cursor is the transaction's: the request's own pooled connection
(``driver_transaction``) or, in the console and in tests, the session's connection.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect, Engine

from erhc_h5.code.models import CardCodeRef
from erhc_h5.records.models import AuthRecord
from erhc_h5.cards.models import EHealthCard
from erhc_h5.scan.models import ProvinceVerifyNonce, ScanDevice, ScanEvent, ScanTokenClaim
from erhc_h5.security import revocation
from erhc_h5.security.pii import keyring
from erhc_h5.sync.models import OutboxEntry, SyncBatch

RESIDENT_FIELDS = ("name", "sex", "birthday", "id_card_type_code", "idcode", "nation")
ENCRYPTED_FIELDS = ("name", "idcode")
EVENT_FIELDS = ("at", "device_id", "staff_user_id", "terminal", "site_name", "card_id", "result", "token_fingerprint",
                "voucher_no")


@dataclass(frozen=True)
class Statement:
    """One compiled statement: its SQL in the driver's parameter style and, for positional styles,
    the order of its named parameters."""

    sql: str
    order: tuple[str, ...] | None

    def run(self, cursor, params: dict):
        cursor.execute(self.sql, params if self.order is None else [params[name] for name in self.order])
        return cursor


@dataclass(frozen=True)
class CardRow:
    """The card a code refers to, and who (if anyone) already claimed this code."""

    id: int
    status: str
    recognize_flag: int
    authentication_method: str
    authenticated_at: dt.datetime | None
    resident: dict
    claimed: bool
    owner_device_id: int | None
    owner_staff_user_id: int | None
    owner_terminal: str | None = None


def _compile(statement, dialect: Dialect) -> Statement:
    compiled = statement.compile(dialect=dialect)
    return Statement(compiled.string, tuple(compiled.positiontup) if compiled.positional else None)


def _processor(column, dialect: Dialect, kind: str) -> Callable[[Any], Any]:
    impl = column.type.dialect_impl(dialect)
    process = impl.bind_processor(dialect) if kind == "bind" else impl.result_processor(dialect, None)
    return process or (lambda value: value)


def card_select(with_counter: bool):
    """The code's card with the claim on this code folded in (a rescan needs no second statement)
    and, ``with_counter``, the revocation counter (the scan needs no round trip of its own for it)."""
    claim, card = ScanTokenClaim.__table__.c, EHealthCard.__table__.c
    columns = [card.id, card.status, card.recognize_flag, card.authentication_method, card.authenticated_at,
               *[card[f] for f in RESIDENT_FIELDS], claim.token_fingerprint, claim.device_id, claim.staff_user_id,
               claim.terminal]
    if with_counter:
        columns.append(revocation.CURRENT.scalar_subquery())
    return (select(*columns)
            .select_from(EHealthCard.__table__.join(CardCodeRef.__table__, CardCodeRef.card_id == card.id)
                         .outerjoin(ScanTokenClaim.__table__, claim.token_fingerprint == bindparam("fp")))
            .where(CardCodeRef.ref == bindparam("ref")))


class ScanStatements:
    """The scan's statements and conversions for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect_name = dialect.name
        claim = ScanTokenClaim.__table__.c
        card = EHealthCard.__table__.c
        fp = bindparam("fp")
        self.card_by_ref = _compile(card_select(with_counter=True), dialect)
        self.card_id_by_ref = _compile(select(CardCodeRef.card_id).where(CardCodeRef.ref == bindparam("ref")), dialect)
        insert_fn = pg_insert if dialect.name == "postgresql" else sqlite_insert
        claim_row = insert_fn(ScanTokenClaim).values(
            token_fingerprint=fp, device_id=bindparam("device_id"), staff_user_id=bindparam("staff_user_id"),
            terminal=bindparam("terminal"), at=bindparam("at")).on_conflict_do_nothing(index_elements=["token_fingerprint"])
        self.claim = _compile(claim_row.returning(claim.token_fingerprint), dialect)
        if dialect.name == "postgresql":
            # The claim and its event in one statement: whole by itself, so no transaction (and no
            # BEGIN and COMMIT round trips) is needed; a lost claim inserts no event.
            claimed = claim_row.returning(claim.token_fingerprint).cte("claimed")
            self.claim_and_event = _compile(
                insert(ScanEvent).from_select(
                    list(EVENT_FIELDS),
                    select(*[bindparam(name, type_=ScanEvent.__table__.c[name].type) for name in EVENT_FIELDS])
                    .select_from(claimed)).returning(ScanEvent.id), dialect)
        self.claim_owner = _compile(select(claim.device_id, claim.staff_user_id, claim.terminal)
                                    .where(claim.token_fingerprint == fp),
                                    dialect)
        self.insert_event = _compile(
            insert(ScanEvent).values({name: bindparam(name) for name in EVENT_FIELDS}), dialect)
        nonce = ProvinceVerifyNonce.__table__.c
        self.nonce = _compile(insert_fn(ProvinceVerifyNonce).values(nonce=bindparam("nonce"), seen_at=bindparam("at"))
                              .on_conflict_do_nothing(index_elements=["nonce"]).returning(nonce.nonce), dialect)
        # The card's newest record version and the batch it joined, if any (the province's 验码).
        self.newest_record = _compile(
            select(AuthRecord.payload, SyncBatch.cd_batch)
            .outerjoin(OutboxEntry, OutboxEntry.auth_record_id == AuthRecord.id)
            .outerjoin(SyncBatch, SyncBatch.id == OutboxEntry.batch_id)
            .where(AuthRecord.card_id == bindparam("card_id"))
            .where(AuthRecord.version == select(func.max(AuthRecord.version))
                   .where(AuthRecord.card_id == bindparam("card_id")).scalar_subquery()), dialect)
        self._result_payload = _processor(AuthRecord.__table__.c.payload, dialect, "result")
        device = ScanDevice.__table__.c
        self.touch = _compile(update(ScanDevice).where(device.id == bindparam("device_id"))
                              .values(last_seen_at=bindparam("at")), dialect)
        self.revocations = _compile(revocation.CURRENT, dialect)
        self._bind_datetime = _processor(ScanEvent.__table__.c.at, dialect, "bind")
        self._result_datetime = _processor(card.authenticated_at, dialect, "result")

    def revocation_version(self, cursor) -> int:
        """The revocation counter, as the scan's transaction sees it (``security.revocation``)."""
        row = self.revocations.run(cursor, {}).fetchone()
        return 0 if row is None else row[0]

    def card(self, cursor, ref: str, fp: str | None) -> CardRow | None:
        return self.card_and_counter(cursor, ref, fp)[0]

    def card_and_counter(self, cursor, ref: str, fp: str | None) -> tuple[CardRow | None, int]:
        """The card of ``ref`` and the revocation counter, in one statement when the card exists."""
        row = self.card_by_ref.run(cursor, {"ref": ref, "fp": fp}).fetchone()
        if row is None:
            return None, self.revocation_version(cursor)
        return self._card_row(row), row[15] or 0

    def _card_row(self, row) -> CardRow:
        ring = keyring()
        resident = dict(zip(RESIDENT_FIELDS, row[5:11]))
        for field in ENCRYPTED_FIELDS:
            if resident[field] is not None:
                resident[field] = ring.decrypt(resident[field])
        return CardRow(row[0], row[1], row[2], row[3], self._result_datetime(row[4]), resident,
                       row[11] is not None, row[12], row[13], row[14])

    def card_id(self, cursor, ref: str) -> int | None:
        row = self.card_id_by_ref.run(cursor, {"ref": ref}).fetchone()
        return None if row is None else row[0]

    def claim_and_record(self, cursor, event: dict) -> bool:
        """Claim the event's code for its scanner and record the event, both or neither; False
        when another scanner's claim was there first."""
        params = {**event, "fp": event["token_fingerprint"], "at": self._bind_datetime(event["at"])}
        if self.dialect_name == "postgresql":
            return self.claim_and_event.run(cursor, params).fetchone() is not None
        if self.claim.run(cursor, params).fetchone() is None:
            return False
        self.insert_event.run(cursor, params)
        return True

    def owner(self, cursor, fp: str) -> tuple[int | None, int | None, str | None] | None:
        row = self.claim_owner.run(cursor, {"fp": fp}).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def current_record(self, cursor, card_id: int) -> dict | None:
        """The card's newest record version as queued upward (decrypted), with the ``cd_batch`` it
        joined or None; None when the card has no version."""
        row = self.newest_record.run(cursor, {"card_id": card_id}).fetchone()
        return None if row is None else {**self._result_payload(row[0]), "cd_batch": row[1]}

    def use_nonce(self, cursor, nonce: str, at: dt.datetime) -> bool:
        """Store a signed request's nonce; False when it was stored before (a replay). Two requests
        racing with one nonce: the second insert waits for the first's commit, then does nothing."""
        return self.nonce.run(cursor, {"nonce": nonce, "at": self._bind_datetime(at)}).fetchone() is not None

    def touch_device(self, cursor, device_id: int, at: dt.datetime) -> None:
        self.touch.run(cursor, {"device_id": device_id, "at": self._bind_datetime(at)})

    def record(self, cursor, event: dict) -> None:
        self.insert_event.run(cursor, {**event, "at": self._bind_datetime(event["at"])})


def statements_for(dialect: Dialect) -> ScanStatements:
    """The compiled statements of this dialect (built once per dialect and process)."""
    found = _BY_DIALECT.get(dialect.name)
    if found is None:
        found = _BY_DIALECT[dialect.name] = ScanStatements(dialect)
    return found


_BY_DIALECT: dict[str, ScanStatements] = {}


def session_cursor(conn: Connection):
    """A driver cursor inside a Core connection's current transaction (console, tests)."""
    return conn.connection.dbapi_connection.cursor()


@contextmanager
def driver_transaction(engine: Engine) -> Iterator[Any]:
    """A cursor on a pooled driver connection of the scan's own; what it wrote is committed when
    the block ends without an exception.

    On SQLite the block is one transaction begun IMMEDIATE (the caller holds the cross-process
    writer lock): its reads see the newest commit, its write cannot fail on a stale snapshot, and
    an exception rolls it back (the pool resets a returned connection). On PostgreSQL each
    statement commits by itself, durably: the scan's statements are written to be whole alone
    (``ScanStatements.claim_and_record``), and a read followed by a write is no weaker than the
    same two under READ COMMITTED, while the BEGIN and COMMIT round trips are saved. Driver errors
    are raised as SQLAlchemy's (an unreachable database is a 503 like everywhere else), and a
    connection the driver reports lost is discarded, not pooled again."""
    dialect = engine.dialect
    try:
        raw = engine.raw_connection()
    except dialect.loaded_dbapi.Error as exc:  # the pool re-raises the driver's own error on connect
        raise sa_exc.DBAPIError.instance(None, None, exc, dialect.loaded_dbapi.Error,
                                         connection_invalidated=True, dialect=dialect) from exc
    autocommit = dialect.name == "postgresql"
    try:
        if autocommit:
            raw.driver_connection.autocommit = True
        cursor = raw.cursor()
        if dialect.name == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        yield cursor
        if not autocommit:
            raw.commit()
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, raw.dbapi_connection, None)
        if lost:
            raw.invalidate(exc)
        raise sa_exc.DBAPIError.instance(None, None, exc, dialect.loaded_dbapi.Error,
                                         connection_invalidated=lost, dialect=dialect) from exc
    finally:
        if autocommit and raw.is_valid:
            raw.driver_connection.autocommit = False
        raw.close()
