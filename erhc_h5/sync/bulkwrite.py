"""Bulk inserts through one DBAPI executemany: the import's chunks and the sandbox receiver's batches."""
from __future__ import annotations

from sqlalchemy import exc
from sqlalchemy.orm import Session

from erhc_h5.security.pii import EncryptedJSON, EncryptedText, Sealed


def executemany(session: Session, table, rows: list[dict], ids: list[int] | None = None) -> None:
    """One DBAPI executemany of ``rows`` (all with the same keys) and, when given, their ids.

    The values go to the driver as SQLAlchemy's own bind processors would hand them over, but each
    distinct plain value is processed once (the chunk's timestamps are one value) instead of once
    per row and column; personal columns must arrive sealed already (``pii.seal``)."""
    conn = session.connection()
    dialect = conn.dialect
    names = list(rows[0])
    processors = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, (EncryptedText, EncryptedJSON)):
            processors.append(_sealed_only)
            continue
        process = column_type._cached_bind_processor(dialect)
        processors.append(None if process is None else _memoised(process))
    processed = [(i, p) for i, p in enumerate(processors) if p is not None]
    params = []
    for row in rows:
        values = [row[name] for name in names]
        for i, process in processed:
            values[i] = process(values[i])
        if ids is not None:
            values.append(ids[len(params)])
        params.append(tuple(values))
    if ids is not None:
        names = [*names, "id"]
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(n) for n in names)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        # COPY: one stream in the same transaction instead of a thousand INSERTs for the server
        # to parse and plan; psycopg dumps each Python value as it would for an INSERT parameter.
        statement = f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN"
        dbapi_error = dialect.loaded_dbapi.Error
        try:
            with conn.connection.driver_connection.cursor() as cursor:
                with cursor.copy(statement) as copy:
                    for values in params:
                        copy.write_row(values)
        except dbapi_error as error:  # as SQLAlchemy would raise it (IntegrityError, OperationalError, …)
            raise exc.DBAPIError.instance(statement, None, error, dbapi_error) from error
        return
    marks = ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * len(names))
    sql = f"INSERT INTO {preparer.format_table(table)} ({columns}) VALUES ({marks})"
    conn.exec_driver_sql(sql, params)


def _sealed_only(value):
    if value is None:
        return None
    if type(value) is not Sealed:  # never a clear personal value into the database
        raise TypeError("personal columns must be sealed before a bulk insert")
    return str(value)


def _memoised(process):
    seen: dict = {}

    def run(value):
        try:
            return seen[value]
        except KeyError:
            out = seen[value] = process(value)
            return out
        except TypeError:  # unhashable
            return process(value)
    return run
