"""The filing console's actions, each one transaction: committed when it succeeds, rolled back when
it is refused (FilingError, raised again for the page). The services they call (services.py,
uploads.py) work in the caller's transaction, so that the command line can compose them in one."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.orm import Session

from erhc_h5.filing import services, uploads
from erhc_h5.filing.models import FiledApp
from erhc_h5.uow import unit_of_work


def create(session: Session, data: dict, *, actor_id: int) -> FiledApp:
    """A new draft application, committed."""
    with unit_of_work(session):
        return services.create_application(session, data, actor_id=actor_id)


def update(session: Session, app: FiledApp, data: dict, *, actor_id: int) -> FiledApp:
    """The application's fields edited, committed."""
    with unit_of_work(session):
        return services.update_application(session, app, data, actor_id=actor_id)


def add_screen(session: Session, app: FiledApp, data: bytes, *, actor_id: int) -> dict:
    """A screenshot stored and listed on the application, committed."""
    with unit_of_work(session):
        return uploads.add_screen(session, app, data, actor_id=actor_id)


def remove_screen(session: Session, app: FiledApp, name: str, *, actor_id: int) -> None:
    """A screenshot taken off the application, committed."""
    with unit_of_work(session):
        uploads.remove_screen(session, app, name, actor_id=actor_id)


def transition(session: Session, app: FiledApp, action: str, *, actor_id: int, opinion: str = "") -> None:
    """A review action (submit, approve, reject, suspend, reinstate), committed; of reviewers acting
    at once one wins (the row lock) and the others are refused with the new state."""
    with _refusal_on_record(session, app.id, action, actor_id):
        return services.transition(session, app, action, actor_id=actor_id, opinion=opinion)


def rotate_secret(session: Session, app: FiledApp, *, actor_id: int) -> str:
    """A new launch secret, committed before it is shown once."""
    with _refusal_on_record(session, app.id, "rotate", actor_id):
        return services.rotate_secret(session, app, actor_id=actor_id)


@contextmanager
def _refusal_on_record(session: Session, app_id: int, action: str, actor_id: int) -> Iterator[None]:
    """The action's unit of work. A refused action is rolled back, and then a four-eyes refusal is
    audited in a transaction of its own, committed on purpose before the page shows the refusal:
    the attempt stays on record although nothing else changed."""
    try:
        with unit_of_work(session):
            yield
    except services.FilingError as exc:
        with unit_of_work(session):
            services.record_refusal(session, app_id, action, actor_id, exc)
        raise
