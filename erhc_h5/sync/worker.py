"""The sync worker: lease a due batch, send it, record the attempt and apply the province's answer.

A lease (lease_owner, lease_expires_at) is taken in its own committed transaction before the HTTP
call, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and a conditional UPDATE everywhere, so two
workers never hold the same batch. A worker killed mid-batch leaves a ``sending`` batch whose lease
expires; the next worker resends it unchanged (the receiver is idempotent per version).

``run`` keeps going whatever one pass meets: a database error or any other exception is logged,
counted and backed off. An answer the province gave while the database was away is kept in memory
and settled once the database is back, so no answered success is lost; a lease whose batch was never
sent is handed back. SIGTERM cuts the HTTP call short (the client watches the stop flag) and hands
the batch back at once, ready for any worker, without spending one of its attempts.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import get_db, utcnow, write_transaction
from erhc_h5.logs import log_event
from erhc_h5.records.models import AuthRecord
from erhc_h5.sync.batching import batch_body, batch_members, make_batches
from erhc_h5.sync.client import ProvinceClient, Reply
from erhc_h5.sync.models import BatchState, OutboxEntry, OutboxState, SyncAttempt, SyncBatch
from erhc_h5.sync.repair import outbox_counts, waiting_count

DUE_STATES = (BatchState.READY, BatchState.SENDING)
# Outcomes that no number of attempts can change until someone fixes a clock or a certificate: the
# batch waits (retried with backoff) without spending its attempts, so it never dies of them.
WAITS_FOR_FIX = ("clock_skew", "tls_untrusted", "tls_expired", "tls_not_yet_valid", "tls_hostname")


def worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.randrange(16**4):04x}"


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, then a random point in its upper half."""
    if base <= 0:
        return 0.0
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return (rng or random).uniform(delay / 2, delay)


@dataclass
class RunStats:
    """What one pass did, in record versions (the CLI prints it as JSON)."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    retrying: int = 0
    refused: int = 0
    dead: int = 0
    batches: int = 0
    attempts: int = 0
    outcomes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def claim_batch(session: Session, owner: str, lease_seconds: int, exclude: set[int],
                now: dt.datetime | None = None) -> SyncBatch | None:
    """Take the lease on one batch due at ``now`` (default: the wall clock; committed by the caller), or None."""
    write_transaction(session)
    now = utcnow() if now is None else now
    query = (
        select(SyncBatch)
        .where(SyncBatch.state.in_(DUE_STATES), SyncBatch.next_attempt_at <= now)
        .where(or_(SyncBatch.lease_expires_at.is_(None), SyncBatch.lease_expires_at < now))
        .order_by(SyncBatch.next_attempt_at, SyncBatch.id)
        .limit(5)
    )
    if exclude:
        query = query.where(SyncBatch.id.not_in(sorted(exclude)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for batch in session.scalars(query).all():
        taken = session.execute(
            update(SyncBatch)
            .where(SyncBatch.id == batch.id, SyncBatch.state.in_(DUE_STATES))
            .where(or_(SyncBatch.lease_expires_at.is_(None), SyncBatch.lease_expires_at < now))
            .values(state=BatchState.SENDING, lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                    attempts=SyncBatch.attempts + 1, sent_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:
            session.refresh(batch)
            return batch
    return None


class Worker:
    """Sends batches for one app; ``once`` is one pass, ``run`` loops until stopped. ``clock`` (naive UTC,
    the wall clock by default) decides which batches are due, when leases end and when a retry falls due."""

    def __init__(self, app: Flask, client: ProvinceClient | None = None, owner: str | None = None,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.app = app
        self.clock = clock
        self.cfg = app.config
        self.client = client or ProvinceClient.from_config(app.config)
        self.owner = owner or worker_id()
        self.stop_event = threading.Event()
        # Answers in hand that the database has not taken yet, and leases to hand back (batch ids).
        self.unsettled: dict[int, tuple[Reply, int]] = {}
        self.held: set[int] = set()

    def _session(self) -> Session:
        return get_db(self.app).factory()

    def once(self, *, outbox_figures: bool = True) -> dict:
        """Batch what is pending, then try every due batch at most once; returns the figures, with the
        whole outbox by state when ``outbox_figures`` (``sync once``), else only how many versions
        still wait (the loop's every pass: counting every version ever sent, each second, in each
        worker, grows with the table)."""
        stats = RunStats()
        tried: set[int] = set()
        with self.app.app_context():
            self.recover(stats)
            make_batches(self._session)
            while not self.stop_event.is_set():
                if not self.send_one(stats, tried):
                    break
            session = self._session()
            try:
                counts = outbox_counts(session) if outbox_figures else None
                waiting = (counts[OutboxState.PENDING] + counts[OutboxState.BATCHED] if counts is not None
                           else waiting_count(session))
            finally:
                session.close()
        out = stats.as_dict()
        out["pending"] = waiting
        if counts is not None:
            out["outbox"] = counts
        return out

    def run(self, poll_seconds: float | None = None) -> None:
        """Loop until ``stop_event`` is set (SIGTERM/SIGINT in the CLI); no error ends the loop."""
        poll = float(self.cfg["SYNC_POLL_SECONDS"] if poll_seconds is None else poll_seconds)
        log_event("sync.worker_start", owner=self.owner)
        failures = 0
        while not self.stop_event.is_set():
            try:
                figures = self.once(outbox_figures=False)
            except Exception as exc:  # noqa: BLE001 — the worker outlives any one pass
                failures += 1
                self._error(exc, failures)
                continue
            failures = 0
            if figures["attempts"]:
                log_event("sync.pass", **{k: figures[k] for k in ("sent", "accepted", "rejected", "retrying",
                                                                    "refused", "dead", "pending")})
            if not figures["attempts"]:
                self.stop_event.wait(poll)
        try:
            with self.app.app_context():
                self.recover(RunStats())
        except Exception as exc:  # noqa: BLE001 — the database is away: the leases expire on their own
            log_event("sync.worker_error", kind=_error_kind(exc), error=type(exc).__name__, stage="stop")
        log_event("sync.worker_stop", owner=self.owner, unsettled=len(self.unsettled), held=len(self.held))

    def _error(self, exc: Exception, failures: int) -> None:
        """Log and count a failed pass, then wait (backing off) unless asked to stop."""
        kind = _error_kind(exc)
        base = max(0.05, float(self.cfg["SYNC_ERROR_BACKOFF_SECONDS"]))
        delay = min(float(self.cfg["SYNC_ERROR_BACKOFF_MAX_SECONDS"]), base * 2 ** min(failures - 1, 16))
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
        # The type and SQLSTATE only: a database error's text can quote statement parameters.
        log_event("sync.worker_error", kind=kind, error=type(exc).__name__, sqlstate=sqlstate, failures=failures,
                  retry_in=round(delay, 2), unsettled=len(self.unsettled), held=len(self.held))
        metrics = self.app.extensions.get("erhc_metrics")
        if metrics is not None and hasattr(metrics, "sync_worker_errors"):
            metrics.sync_worker_errors.labels(kind).inc()
        self.stop_event.wait(delay)

    def recover(self, stats: RunStats) -> None:
        """Settle the answers kept through a database error and hand back leases never used."""
        for batch_id in list(self.unsettled):
            self._settle_kept(batch_id, stats)
        for batch_id in list(self.held):
            session = self._session()
            try:
                self.release(session, batch_id)
                session.commit()
                self.held.discard(batch_id)
            except BaseException:
                _rollback(session)
                raise
            finally:
                session.close()

    def send_one(self, stats: RunStats, tried: set[int]) -> bool:
        """Lease, send and settle one due batch; False when none is due."""
        session = self._session()
        try:
            batch = claim_batch(session, self.owner, int(self.cfg["SYNC_LEASE_SECONDS"]), tried, self.clock())
            if batch is None:
                session.rollback()
                return False
            session.commit()
            batch_id, cd_batch, size = batch.id, batch.cd_batch, batch.record_count
            self.held.add(batch_id)
            tried.add(batch_id)
            try:
                members = batch_members(session, batch_id)
                body = batch_body(batch, members)
            except SQLAlchemyError:
                raise
            except Exception as exc:  # noqa: BLE001 — this batch cannot be built: back it off, go on
                reply = Reply("worker_error", detail=f"building the body: {type(exc).__name__}")
            else:
                ids = [record_id for record_id, _ in members]
                size = len(ids)
                session.rollback()  # no transaction may stay open across the network call (SQLite snapshots)
                reply = self.client.send(body, cd_batch, ids, stop=self.stop_event)
            session.rollback()
        except BaseException:
            _rollback(session)
            raise
        finally:
            session.close()
        self.unsettled[batch_id] = (reply, size)
        self.held.discard(batch_id)
        self._settle_kept(batch_id, stats)
        return True

    def _settle_kept(self, batch_id: int, stats: RunStats) -> None:
        """Apply a kept answer in its own transaction; it stays kept if the database fails."""
        reply, size = self.unsettled[batch_id]
        session = self._session()
        try:
            if reply.outcome == "stopped":
                self.release(session, batch_id)
            else:
                self.settle(session, batch_id, reply, size, stats)
            session.commit()
            del self.unsettled[batch_id]
        except SQLAlchemyError:
            _rollback(session)
            raise
        except Exception as exc:
            _rollback(session)
            if reply.outcome != "worker_error":  # settle the failure itself next time
                self.unsettled[batch_id] = (Reply("worker_error", detail=f"settling: {type(exc).__name__}"), size)
            else:
                del self.unsettled[batch_id]
                self.held.add(batch_id)
            raise
        finally:
            session.close()

    def release(self, session: Session, batch_id: int) -> None:
        """Hand a leased batch back, due now; the attempt never reached an answer, so it is not counted."""
        write_transaction(session)
        released = session.execute(
            update(SyncBatch)
            .where(SyncBatch.id == batch_id, SyncBatch.lease_owner == self.owner, SyncBatch.state == BatchState.SENDING)
            .values(state=BatchState.READY, lease_owner=None, lease_expires_at=None, next_attempt_at=self.clock(),
                    attempts=SyncBatch.attempts - 1)
            .execution_options(synchronize_session=False)
        )
        if released.rowcount:
            log_event("sync.lease_released", batch_id=batch_id, owner=self.owner)

    def settle(self, session: Session, batch_id: int, reply: Reply, size: int, stats: RunStats) -> None:
        """Record the attempt and move the batch and its entries to their next state."""
        write_transaction(session)
        batch = session.get(SyncBatch, batch_id, with_for_update=session.get_bind().dialect.name == "postgresql")
        now = self.clock()
        stats.attempts += 1
        stats.sent += size
        stats.outcomes[reply.outcome] = stats.outcomes.get(reply.outcome, 0) + 1
        session.add(SyncAttempt(batch_id=batch_id, at=now, outcome=reply.outcome[:32], status_code=reply.status,
                                accepted=len(reply.accepted), rejected=len(reply.rejected),
                                elapsed_ms=reply.elapsed_ms, detail=reply.detail[:200],
                                clock_offset_seconds=reply.clock_offset))
        if batch.lease_owner != self.owner:  # our lease ran out and another worker took the batch
            log_event("sync.lease_lost", cd_batch=batch.cd_batch, outcome=reply.outcome)
            if reply.outcome == "ok":
                self._apply_results(session, batch, reply)
            return
        batch.last_status = reply.status
        batch.last_error = "" if reply.outcome == "ok" else reply.outcome
        batch.last_detail = reply.detail[:500]
        batch.lease_owner = None
        batch.lease_expires_at = None
        if reply.outcome == "ok":
            self._apply_results(session, batch, reply)
            batch.state, batch.finished_at = BatchState.DONE, now
            stats.batches += 1
            stats.accepted += len(reply.accepted)
            stats.rejected += len(reply.rejected)
        elif reply.outcome == "refused":
            self._finish_badly(session, batch, BatchState.REFUSED, now)
            stats.refused += size
            audit(session, "sync.batch_refused", target_type="sync_batch", target_id=batch.cd_batch,
                  detail={"status": reply.status, "error": reply.detail})
        elif reply.outcome in WAITS_FOR_FIX:
            self._wait_for_fix(session, batch, now)
            stats.retrying += size
        elif batch.attempts >= int(self.cfg["SYNC_MAX_ATTEMPTS"]):
            self._finish_badly(session, batch, BatchState.DEAD, now)
            stats.dead += size
            audit(session, "sync.batch_dead", target_type="sync_batch", target_id=batch.cd_batch,
                  detail={"attempts": batch.attempts, "last_error": reply.outcome})
        else:
            delay = backoff_seconds(batch.attempts, float(self.cfg["SYNC_RETRY_BASE_SECONDS"]),
                                    float(self.cfg["SYNC_RETRY_MAX_SECONDS"]))
            if reply.retry_after is not None:
                delay = max(delay, min(reply.retry_after, 3600.0))
            batch.state = BatchState.READY
            batch.next_attempt_at = now + dt.timedelta(seconds=delay)
            stats.retrying += size
        log_event("sync.attempt", cd_batch=batch.cd_batch, outcome=reply.outcome, status=reply.status,
                  records=size, accepted=len(reply.accepted), rejected=len(reply.rejected),
                  attempts=batch.attempts, elapsed_ms=reply.elapsed_ms, state=batch.state)

    def _wait_for_fix(self, session: Session, batch: SyncBatch, now: dt.datetime) -> None:
        """A clock or a certificate is wrong, not the batch (WAITS_FOR_FIX). The attempt is not spent
        (the batch never dies of it); it is tried again, backing off, until someone fixes the cause."""
        batch.attempts -= 1
        waits = consecutive_outcomes(session, batch.id, WAITS_FOR_FIX)
        delay = backoff_seconds(waits, float(self.cfg["SYNC_RETRY_BASE_SECONDS"]),
                                float(self.cfg["SYNC_RETRY_MAX_SECONDS"]))
        batch.state = BatchState.READY
        batch.next_attempt_at = now + dt.timedelta(seconds=delay)

    def _apply_results(self, session: Session, batch: SyncBatch, reply: Reply) -> None:
        rows = session.execute(
            select(OutboxEntry.id, AuthRecord.record_id)
            .join(AuthRecord, AuthRecord.id == OutboxEntry.auth_record_id)
            .where(OutboxEntry.batch_id == batch.id)
        ).all()
        by_record = {record_id: entry_id for entry_id, record_id in rows}
        now = utcnow()
        accepted_ids = [by_record[r] for r in reply.accepted]
        for start in range(0, len(accepted_ids), 500):
            session.execute(
                update(OutboxEntry).where(OutboxEntry.id.in_(accepted_ids[start:start + 500]))
                .where(OutboxEntry.state.in_((OutboxState.BATCHED, OutboxState.DEAD)))
                .values(state=OutboxState.ACCEPTED, errors=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        for item in reply.rejected:
            session.execute(
                update(OutboxEntry).where(OutboxEntry.id == by_record[item["id"]])
                .where(OutboxEntry.state.in_((OutboxState.BATCHED, OutboxState.DEAD)))
                .values(state=OutboxState.REJECTED, errors=item["errors"], updated_at=now)
                .execution_options(synchronize_session=False)
            )

    def _finish_badly(self, session: Session, batch: SyncBatch, state: str, now: dt.datetime) -> None:
        """Refused or dead: the batch stops and its versions wait for ops (``sync requeue``)."""
        batch.state, batch.finished_at = state, now
        session.execute(
            update(OutboxEntry).where(OutboxEntry.batch_id == batch.id, OutboxEntry.state == OutboxState.BATCHED)
            .values(state=OutboxState.DEAD, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def consecutive_outcomes(session: Session, batch_id: int, outcomes: tuple[str, ...], look_back: int = 16) -> int:
    """How many of the batch's latest attempts in a row ended with one of ``outcomes`` (at most ``look_back``)."""
    latest = session.scalars(select(SyncAttempt.outcome).where(SyncAttempt.batch_id == batch_id)
                             .order_by(SyncAttempt.id.desc()).limit(look_back)).all()
    count = 0
    for seen in latest:
        if seen not in outcomes:
            break
        count += 1
    return count


def _error_kind(exc: BaseException) -> str:
    return "database" if isinstance(exc, SQLAlchemyError) else "unexpected"


def _rollback(session: Session) -> None:
    """Roll back, even on a connection the database already dropped."""
    try:
        session.rollback()
    except Exception:  # noqa: BLE001 — the original error is the one worth raising
        pass
