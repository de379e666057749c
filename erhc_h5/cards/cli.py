"""The `residents` command group: bulk on-site registration from CSV.

Whatever happens once the file is accepted (bad lines, a database error, SIGTERM), the command
prints its JSON summary of what was committed and writes its audit row; re-running the same file
afterwards finishes the job without duplicating anyone.
"""
from __future__ import annotations

import json
import logging
import signal

import click
from flask.cli import AppGroup

from erhc_h5.db import get_db
from erhc_h5.logs import log_event

residents_cli = AppGroup("residents", help="居民批量登记。")
EXIT_REJECTED, EXIT_REFUSED, EXIT_STOPPED = 1, 2, 3


@residents_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--app-record-no", required=True, help="办理登记的应用的接入组件入网编码")
@click.option("--chunk-size", type=int, default=1000, show_default=True, help="每次提交的行数")
def residents_import(path: str, app_record_no: str, chunk_size: int) -> None:
    """Register residents from a CSV whose header names record fields; prints JSON last, exit 1 on bad
    rows. Re-running a file (or the rest of one) writes nothing for people already registered as it
    says; the summary then also counts them as "unchanged"."""
    from erhc_h5.cards.importer import ImportInterrupted, ImportRefused, ImportResult, import_csv

    result = ImportResult()
    error: tuple[str, str] | None = None
    refused = False
    session = get_db().factory()
    stop_requested: list[int] = []
    previous = _on_sigterm(stop_requested.append)
    try:
        import_csv(session, path, app_record_no, chunk_size=max(1, chunk_size), report=click.echo, result=result,
                   should_stop=lambda: bool(stop_requested))
    except ImportRefused as exc:
        error, refused = (exc.reason, exc.message), True
    except ImportInterrupted:
        error = ("interrupted", "导入被中止,已提交的部分保留;重新执行同一文件即可继续")
    except Exception as exc:  # the summary and the audit row are still due; the trace is not for operators
        log_event("residents_import_failed", level=logging.ERROR, exc_info=True, exc_type=type(exc).__name__)
        error = ("import_failed", "导入中途出错,已提交的部分保留;排除故障后重新执行同一文件即可继续")
    finally:
        _restore_sigterm(previous)
        _close(session)
        summary = result.summary() if not refused else {"imported": 0, "rejected": 0}
        if error:
            summary["error"] = error[0]
            click.echo(f"error: {error[0]}: {error[1]}", err=True)
        _audit(summary, app_record_no)
        click.echo(json.dumps(summary, ensure_ascii=False))
    if refused:
        raise SystemExit(EXIT_REFUSED)
    if error:
        raise SystemExit(EXIT_STOPPED)
    if result.rejected:
        raise SystemExit(EXIT_REJECTED)


def _on_sigterm(note):
    """SIGTERM asks the import to stop after the chunk it is writing (a chunk takes well under a second)."""
    try:
        return signal.signal(signal.SIGTERM, lambda signum, _frame: note(signum))
    except ValueError:  # not the main thread (an embedding test runner): no handler to install
        return signal.getsignal(signal.SIGTERM)


def _restore_sigterm(previous) -> None:
    try:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    except ValueError:
        pass


def _close(session) -> None:
    try:
        session.rollback()  # an unfinished chunk is not kept
        session.close()
    except Exception:  # the database may be what failed
        pass


def _audit(summary: dict, app_record_no: str) -> None:
    """The import's audit row in its own transaction; logged instead when the database is down."""
    from erhc_h5.audit import audit

    log_event("residents.import", **summary)
    session = get_db().factory()
    try:
        audit(session, "residents.import", detail={**summary, "app_record_no": app_record_no})
        session.commit()
    except Exception as exc:
        log_event("residents_import_audit_failed", level=logging.ERROR, exc_type=type(exc).__name__)
    finally:
        _close(session)


notices_cli = AppGroup("notices", help="账号关联提醒短信。")


@notices_cli.command("send")
def notices_send() -> None:
    """Send the link notices still pending (a gateway failure left them); prints JSON {"sent", "failed"}."""
    from erhc_h5.db import session_scope
    from erhc_h5.cards.notices import send_pending

    with session_scope() as session:
        result = send_pending(session)
    click.echo(json.dumps(result))
