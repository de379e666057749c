"""Who may take over a browser at launch: not another site, and not another account unasked.

A launch link is a bearer credential: whoever's browser opens it becomes that app user. So

- a navigation the browser marks as coming from another site (``Sec-Fetch-Site: cross-site``, or an
  ``Origin`` that is not this host, or the opaque ``null``) is refused before the ticket is read, and
  the browser's session is left as it was (the city app opens the link itself: ``none``; our own
  pages: ``same-origin``/``same-site``; old webviews send neither header and go through);
- a launch that would replace the session of *another* app user of this browser is held: the
  verified launch waits in the cookie (``PENDING``) until the person confirms with a POST (CSRF
  token) on a page naming the account (the ticket's masked ``hint``); it lapses after
  ``LAUNCH_MAX_SKEW_SECONDS``.
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Request, current_app
from flask import session as cookie

from erhc_h5.resident import session as resident_session

PENDING = "pending_launch"


def cross_site(request: Request) -> bool:
    """The browser says this navigation comes from another site."""
    fetch_site = (request.headers.get("Sec-Fetch-Site") or "").strip().lower()
    if fetch_site == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    origin = origin.strip()
    if origin == "null" or not origin:
        return True
    try:
        host = urlsplit(origin).netloc.lower()
    except ValueError:
        return True
    return host != request.host.lower()


def replaces_other_account(app_user_id: int) -> bool:
    """This browser holds a live session of a different app user."""
    if resident_session.bound_id() in (None, app_user_id):
        return False
    return resident_session.current_app_user() is not None


def hold(app_user_id: int, app_id: int, hint: str) -> None:
    """Keep a verified launch until the person confirms it (replacing any earlier held one)."""
    cookie[PENDING] = {"app_user": app_user_id, "app": app_id, "hint": hint, "at": int(time.time())}


def held() -> dict | None:
    """The held launch, if any and not lapsed."""
    data = cookie.get(PENDING)
    if not isinstance(data, dict) or not isinstance(data.get("app_user"), int) or not isinstance(data.get("at"), int):
        return None
    if abs(time.time() - data["at"]) > int(current_app.config["LAUNCH_MAX_SKEW_SECONDS"]):
        return None
    return data


def drop() -> None:
    cookie.pop(PENDING, None)
