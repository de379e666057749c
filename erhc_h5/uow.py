"""The unit of work: services own their transactions, views commit nothing.

A service wraps what must be written together in ``with unit_of_work(session):``; the block is one
transaction, committed when it ends and rolled back when it raises. Services called inside it
compose: a unit begun inside another joins it, and only the outermost one commits or rolls back.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.orm import Session

from erhc_h5.db import get_session

_DEPTH = "erhc_unit_of_work_depth"


@contextmanager
def unit_of_work(session: Session | None = None) -> Iterator[Session]:
    """One transaction of ``session`` (default: the request's session) around the block.

    Parallel callers see nothing the block wrote until it ends, then all of it at once (the commit);
    if the block raises they never see any of it (rolled back, and the exception goes on). The unit
    commits the session's transaction as it stands, so what the request read or wrote before the
    block is committed with it. Nested in another unit of the same session, it joins that one: its
    writes become visible (or vanish) with the outer unit's, and an exception it lets out rolls back
    only when it leaves the outermost unit."""
    session = get_session() if session is None else session
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        yield session
        if depth == 0:
            session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info[_DEPTH] = depth
