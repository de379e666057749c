"""Bulk on-site registration from CSV: stream rows, validate each through the data standard, commit
in chunks. Bad rows are reported by line, field and reason and imported nowhere.

New people go through a bulk path that writes exactly the rows ``issue_or_update_card`` writes
(card, version 1 'i', pending outbox entry) with one multi-row INSERT per table per chunk; a row for
someone who already has a card (in the database or earlier in the file) goes through
``issue_or_update_card`` itself, unless the card already holds exactly what the row would give it:
then nothing is written. So re-running a file, or the rest of one after a crash, adds no version for
a person whose data did not change.
"""
from __future__ import annotations

import codecs
import csv
import uuid
from types import SimpleNamespace
from dataclasses import dataclass, field
from typing import Callable, Iterator

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow, write_transaction
from erhc_h5.errors import DomainError
from erhc_h5.filing.models import FiledApp
from erhc_h5.records.codes import AuthMethod
from erhc_h5.records.idnumbers import IdNumberError, check_idcode, uses_resident_id_layout
from erhc_h5.records.models import AuthRecord
from erhc_h5.records.versions import CD_TIME_FORMAT, RecordInvalid, build_payload, record_columns
from erhc_h5.records.standard import (
    FIELD_NAMES, SUPPLIED_FIELDS, Violation, canonical_methods, normalize_record, validate_record,
)
from erhc_h5.cards.service import issue_or_update_card
from erhc_h5.cards.writer import apply_identity, empi_of, new_card_no, passed_card
from erhc_h5.cards.models import EHealthCard
from erhc_h5.security.inputs import unsafe_text
from erhc_h5.security.pii import EncryptedText, keyring, seal, seal_json
from erhc_h5.sync.bulkwrite import executemany
from erhc_h5.sync.models import OutboxEntry
from erhc_h5.sync.outbox import pending_entry
from erhc_h5.timefmt import beijing_now

REQUIRED_COLUMNS = ("name", "id_card_type_code", "idcode", "phone", "nation")
# The longest record field is 200 characters; anything far beyond is a broken or hostile file, refused
# line by line instead of being held in memory (the csv module's own limit is 131,072).
MAX_FIELD_CHARS = 4096
# What a re-imported row may change on a card: compared before anything is written.
_COMPARED_COLUMNS = ("id_card_type_code", "idcode", "idcode_bidx", "phone_bidx", "name", "sex", "nation",
                     "nationality", "birthday", "address", "phone", "linkman", "telephone", "birthplace",
                     "county_code", "current_address")
DEFAULT_METHOD = AuthMethod.ONSITE
CARD_COLUMNS = (
    "erhc_card_no", "empi", "id_card_type_code", "idcode", "idcode_bidx", "name", "sex", "nation", "nationality",
    "birthday", "address", "phone", "phone_bidx", "linkman", "telephone", "birthplace", "county_code",
    "current_address", "recognize_flag", "authentication_method", "authenticated_at", "app_id", "status",
    "created_at", "updated_at", "assurance_level", "phone_level", "profile_level",
)
_PLATFORM_FIELDS = tuple(n for n in FIELD_NAMES if n != "cd_batch" and n not in SUPPLIED_FIELDS)
# Platform fields that differ row by row; the others (app, flag, cd_time, source, operation) are the
# same for every new person of a chunk, so they are checked once per chunk.
_ROW_FIELDS = tuple(n for n in _PLATFORM_FIELDS if n in ("id", "erhc_card_no", "empi"))
_CHUNK_FIELDS = tuple(n for n in _PLATFORM_FIELDS if n not in _ROW_FIELDS)
_SEALED_CARD_COLUMNS = tuple(c for c in CARD_COLUMNS if isinstance(EHealthCard.__table__.c[c].type, EncryptedText))


class ImportRefused(DomainError):
    """The whole file is refused before anything is written; the message is Chinese, for operators."""

    status = 422


class ImportInterrupted(Exception):
    """Asked to stop: raised between chunks, so every committed chunk is counted and no other is."""


@dataclass
class ImportResult:
    imported: int = 0  # valid rows now registered as the file says (written, or already so)
    rejected: int = 0
    unchanged: int = 0  # of the imported: people whose card already held the row; nothing written
    lines: list[str] = field(default_factory=list)  # only when no ``report`` callback is given

    def summary(self) -> dict:
        """The command's last line: {"imported", "rejected"} and, on a re-run, "unchanged"."""
        out = {"imported": self.imported, "rejected": self.rejected}
        if self.unchanged:
            out["unchanged"] = self.unchanged
        return out


def check_utf8(path: str, chunk: int = 1 << 20) -> None:
    """Refuse a file that is not UTF-8 (streamed, so a 100,000-row file is never held)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk)
            try:
                decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise ImportRefused("not_utf8", f"文件不是UTF-8编码(第{offset + exc.start + 1}字节附近),请另存为UTF-8后重试") from None
            if not data:
                return
            offset += len(data)


def find_app(session: Session, app_record_no: str) -> FiledApp:
    """The approved app with this access-component code."""
    app = session.scalar(select(FiledApp).where(FiledApp.access_code == app_record_no))
    if app is None:
        raise ImportRefused("unknown_app", f"接入组件入网编码“{app_record_no}”不存在")
    if app.status != "approved":
        raise ImportRefused("app_not_approved", f"应用“{app.app_filing_no}”尚未通过备案或已暂停(状态:{app.status_label})")
    return app


def check_header(header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    unknown = [n for n in names if n not in SUPPLIED_FIELDS]
    if unknown:
        raise ImportRefused("bad_header", f"表头含有未知列:{', '.join(unknown[:5])};可用列为记录字段名 {', '.join(SUPPLIED_FIELDS)}")
    if len(set(names)) != len(names):
        raise ImportRefused("bad_header", "表头中有重复的列")
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if missing:
        raise ImportRefused("bad_header", f"表头缺少必填列:{', '.join(missing)}")
    return names


def prepare_row(values: dict) -> tuple[dict | None, list[Violation]]:
    """Normalize and validate one row; sex and birthday come from a GB 11643 number when absent."""
    row = normalize_record({k: v for k, v in values.items()})
    row["authentication_method"] = row.get("authentication_method") or DEFAULT_METHOD
    try:
        parsed = check_idcode(row.get("id_card_type_code") or "", row.get("idcode") or "")
    except IdNumberError:
        parsed = None  # reported by validate_record
    if parsed is not None:
        if not row.get("sex"):
            row["sex"] = parsed.sex
        if not row.get("birthday"):
            row["birthday"] = parsed.birthday.isoformat()
    row = {k: (v if v not in ("",) else None) for k, v in row.items()}
    violations = validate_record(row, fields=SUPPLIED_FIELDS) + unsafe_text(row)
    if uses_resident_id_layout(row.get("id_card_type_code") or "", row.get("idcode") or ""):
        # Sex and birthday come from the number: when it is wrong, that is the one thing to say.
        violations = [v for v in violations if not (v.field in ("sex", "birthday") and v.reason == "required")]
    return (None if violations else row), violations


def _rows(path: str) -> Iterator[tuple[int, list[str] | str | None, list[str]]]:
    """(line, values, header); values is None for the header and an error text for a line the csv
    reader cannot parse (oversize field, stray NUL), which is skipped."""
    previous_limit = csv.field_size_limit(MAX_FIELD_CHARS)  # process-wide: restored on the way out
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader, None)
            except csv.Error:
                raise ImportRefused("bad_header", "表头无法解析,请检查文件格式") from None
            if header is None:
                raise ImportRefused("bad_header", "文件为空,缺少表头")
            yield 1, None, header
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield reader.line_num, _csv_problem(exc), header
                    continue
                if not values or all(not v.strip() for v in values):
                    continue
                yield reader.line_num, values, header
    finally:
        csv.field_size_limit(previous_limit)


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"field_too_large 字段超过{MAX_FIELD_CHARS}个字符"
    return "bad_csv 此行无法按CSV解析"


def import_csv(session: Session, path: str, app_record_no: str, *, chunk_size: int = 1000,
               report: Callable[[str], None] | None = None, result: ImportResult | None = None,
               should_stop: Callable[[], bool] = lambda: False) -> ImportResult:
    """Import the file; commits every ``chunk_size`` valid rows. Refusals of the whole file raise
    ImportRefused before anything is written. ``result`` (when given) holds the committed counts
    even if the import stops half-way; ``should_stop`` is asked after each chunk (ImportInterrupted)."""
    check_utf8(path)
    app = find_app(session, app_record_no)
    session.commit()  # end the read; each chunk opens its own write transaction
    result = result if result is not None else ImportResult()
    say = report or result.lines.append
    names: list[str] = []
    chunk: list[tuple[int, dict]] = []
    try:
        for line, values, header in _rows(path):
            if values is None:
                names = check_header(header)
                continue
            if isinstance(values, str):
                result.rejected += 1
                say(f"line {line}: -: {values}")
                continue
            if len(values) != len(names):
                result.rejected += 1
                say(f"line {line}: -: bad_columns 列数为{len(values)},表头为{len(names)}列")
                continue
            row, violations = prepare_row(dict(zip(names, values)))
            if violations:
                result.rejected += 1
                for v in violations:
                    say(f"line {line}: {v.field}: {v.reason} {v.message}")
                continue
            chunk.append((line, row))
            if len(chunk) >= chunk_size:
                _commit_chunk(session, app, chunk, result, say)
                chunk = []
                if should_stop():
                    raise ImportInterrupted()
        if chunk:
            _commit_chunk(session, app, chunk, result, say)
    except UnicodeDecodeError:  # changed under us after the check
        session.rollback()
        raise ImportRefused("not_utf8", "文件不是UTF-8编码") from None
    return result


def _commit_chunk(session: Session, app: FiledApp, chunk: list[tuple[int, dict]], result: ImportResult,
                  say: Callable[[str], None]) -> None:
    """Write and commit one chunk; its counts join the result only once committed."""
    written, unchanged = _write_chunk(session, app, chunk, result, say)
    session.commit()
    result.imported += written + unchanged
    result.unchanged += unchanged


def _write_chunk(session: Session, app: FiledApp, chunk: list[tuple[int, dict]], result: ImportResult,
                 say: Callable[[str], None]) -> tuple[int, int]:
    """Write one chunk: new people in bulk, people already known one by one (or not at all when
    their card already holds the row); returns (rows written, rows unchanged).

    The CPU work (records, blind indexes) is done before the write lock is taken, so the sync
    worker is not held up on SQLite while a chunk is being prepared.
    """
    empis = [empi_of(row) for _, row in chunk]
    empis_by_line = {line: empi for (line, _), empi in zip(chunk, empis)}
    prepared = _prepare_new(app, chunk, empis, result, say)
    write_transaction(session)
    known = set(session.scalars(select(EHealthCard.empi).where(EHealthCard.empi.in_(set(empis)))).all())
    fresh, later = [], []
    for (line, row), empi in zip(chunk, empis):
        if line not in prepared:
            continue
        if empi in known:
            later.append((line, row))
        else:
            known.add(empi)
            fresh.append(prepared[line])
    written = _insert_new(session, fresh) if fresh else 0
    unchanged = 0
    cards = _cards_by_empi(session, {empis_by_line[line] for line, _ in later})
    for line, row in later:
        card = cards.get(empis_by_line[line])
        if card is not None and _holds_already(card, row, app):
            unchanged += 1
            continue
        try:
            with session.begin_nested():
                issue_or_update_card(session, _identity(row), app, methods=row["authentication_method"], staff=True)
            written += 1
        except RecordInvalid as exc:
            result.rejected += 1
            for v in exc.violations:
                say(f"line {line}: {v.field}: {v.reason} {v.message}")
    return written, unchanged


def _cards_by_empi(session: Session, empis: set[str]) -> dict[str, EHealthCard]:
    """Cards of the chunk's people already in the database (those inserted by this chunk included)."""
    if not empis:
        return {}
    return {card.empi: card for card in session.scalars(select(EHealthCard).where(EHealthCard.empi.in_(empis)))}


def _holds_already(card: EHealthCard, row: dict, app: FiledApp) -> bool:
    """True when passing ``row`` through issue_or_update_card would change nothing a record carries:
    the card is authenticated and active through this app, already holds the row's methods, and
    applying the row's identity (the card module's own rules) leaves every compared column as it is."""
    if not (card.recognize_flag == 1 and card.status == "active" and card.app_id == app.id):
        return False
    if canonical_methods(card.authentication_method, row["authentication_method"]) != card.authentication_method:
        return False
    before = {c: getattr(card, c) for c in _COMPARED_COLUMNS}
    after = SimpleNamespace(**before)
    apply_identity(after, _identity(row), normalized=True)
    return all(getattr(after, c) == before[c] for c in _COMPARED_COLUMNS)


def _identity(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "authentication_method" and v is not None}


def _prepare_new(app: FiledApp, chunk: list[tuple[int, dict]], empis: list[str], result: ImportResult,
                 say) -> dict[int, tuple[dict, dict, str]]:
    """Card columns and version-1 record of each row as if the person were new:
    {line: (card columns, payload, sealed payload)}."""
    now = utcnow()
    cd_time = beijing_now().strftime(CD_TIME_FORMAT)
    cd_source = current_app.config["CD_SOURCE"]
    methods_cache: dict[str, str] = {}
    ring = keyring()
    prepared: dict[int, tuple[dict, dict]] = {}
    chunk_violations: list[Violation] | None = None
    for (line, row), empi in zip(chunk, empis):
        # A plain namespace, not an ORM instance: same attributes, none of the instrumentation cost.
        card = SimpleNamespace(**dict.fromkeys(CARD_COLUMNS))
        methods = row["authentication_method"]
        if methods not in methods_cache:
            methods_cache[methods] = canonical_methods("", methods)
        card.__dict__.update(erhc_card_no=new_card_no(), empi=empi, created_at=now, updated_at=now, app=app)
        passed_card(card, _identity(row), app, methods, normalized=True, now=now,  # prepare_row normalised it
                    canonical=methods_cache[methods])
        payload = build_payload(card, record_id=uuid.uuid4().hex, operation="i", cd_time=cd_time,
                                cd_source=cd_source)
        # Profile fields were validated in prepare_row on these very values; check what we made.
        if chunk_violations is None:
            chunk_violations = validate_record(payload, fields=_CHUNK_FIELDS)
        violations = chunk_violations + validate_record(payload, fields=_ROW_FIELDS)
        if violations:
            result.rejected += 1
            for v in violations:
                say(f"line {line}: {v.field}: {v.reason} {v.message}")
            continue
        # Personal columns are encrypted here, before the write lock, with the bytes the column
        # types would write (pii.seal); the payload keeps its clear form for the outbox row.
        columns = {c: getattr(card, c) for c in CARD_COLUMNS}
        for c in _SEALED_CARD_COLUMNS:
            columns[c] = seal(columns[c], ring)
        prepared[line] = (columns, payload, seal_json(payload, ring))
    return prepared


def _insert_new(session: Session, fresh: list[tuple[dict, dict, str]]) -> int:
    """Cards, version-1 records and pending outbox entries, one multi-row INSERT per table."""
    cards_t, records_t = EHealthCard.__table__, AuthRecord.__table__
    now = utcnow()
    cards = [card for card, _, _ in fresh]
    card_ids = _insert_with_ids(session, cards_t, cards)
    records = [record_columns(p, card_id=cid, version=1, stored_payload=sealed, now=now)
               for cid, (_, p, sealed) in zip(card_ids, fresh)]
    record_ids = _insert_with_ids(session, records_t, records)
    session.execute(OutboxEntry.__table__.insert(), [pending_entry(rid, now) for rid in record_ids])
    return len(fresh)


def _insert_with_ids(session: Session, table, rows: list[dict]) -> list[int]:
    """Insert rows and return their ids in order.

    SQLite would insert one row per statement to keep RETURNING in order; the chunk holds the
    database write lock (``write_transaction``), so the next ids are allocated up front and the rows
    go in one executemany. On PostgreSQL a multi-row INSERT .. RETURNING of 1,000 rows costs psycopg
    a full parse of a huge statement; the ids are drawn from the table's sequence instead and the
    rows go in one executemany of a short, cached statement.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        start = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0)))) + 1
        ids = list(range(start, start + len(rows)))
    elif dialect == "postgresql":
        ids = [int(i) for i in session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": len(rows)})]
    else:
        return list(session.scalars(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows))
    executemany(session, table, rows, ids)
    return ids
