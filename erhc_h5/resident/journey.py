"""View helpers of the resident journey: who is here, which session, where each state leads."""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, redirect, render_template, request, url_for

from erhc_h5.db import get_session
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.logs import log_event
from erhc_h5.resident import session as resident_session
from erhc_h5.resident.states import ENDED_WITHOUT_PASS, VerificationState
from erhc_h5.resident.verification import load

CODE_FACE = "/h5/code"  # the code package's page; a plain path keeps resident/ free of its blueprint
# Which page a provider's unavailability shows: "busy" (the vendor's quota, throttling, its own failure
# or a refusal of our account: try later or go on-site), "onsite" (this document cannot be checked
# online), else "retry" (a passing fault: retry for free).
UNAVAILABLE_PAGES = {"quota": "busy", "throttled": "busy", "sms_throttled": "busy", "upstream_error": "busy",
                     "provider_refused": "busy", "unsupported_device": "busy", "unsupported_phone": "busy",
                     "unsupported_document": "onsite"}


def no_session_page():
    """No launched resident here: sandbox starts a demo launch, production asks to enter from the app."""
    if current_app.config["SANDBOX"]:
        return redirect(url_for("resident.index"))
    return render_template("resident/enter_from_app.html", reason="no_session"), 401


def resident_required(view=None, *, with_verification: bool = False):
    """Require a launched resident (``g.app_user``); ``with_verification``: read the browser's
    verification session in the same statement (``journey_required``)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            g.app_user = resident_session.current_app_user(with_verification=with_verification)
            if g.app_user is None:
                return no_session_page()
            return view(*args, **kwargs)

        return wrapped

    return decorator(view) if view is not None else decorator


def state_page(vs):
    """Where a session in this state belongs, or None when the journey continues."""
    if vs.state == VerificationState.PASSED:
        return redirect(CODE_FACE)
    if vs.state == VerificationState.PENDING_ONSITE:
        return redirect(url_for("resident.verify.onsite"))
    if vs.state in ENDED_WITHOUT_PASS:
        return redirect(url_for("resident.status"))
    if vs.state == VerificationState.PENDING_PROVIDER:
        return redirect(url_for("resident.verify.face_return"))
    return None


def journey_required(*states: str):
    """Require the resident's current session, with consent to the current notice, in one of ``states``."""

    def decorator(view):
        @wraps(view)
        @resident_required(with_verification=True)
        def wrapped(*args, **kwargs):
            vs = load(get_session(), resident_session.verification_id(), g.app_user)
            if vs is None or vs.consent_version != current_app.config["CONSENT_VERSION"]:
                return redirect(url_for("resident.consent"))
            if vs.state not in states:
                return state_page(vs) or redirect(url_for("resident.methods"))
            g.vs = vs
            return view(*args, **kwargs)

        return wrapped

    return decorator


def provider_unavailable(exc: ProviderUnavailable, retry_action: str | None = None, retry_link: str | None = None):
    """Not the resident's fault: say so, keep the attempt, offer a retry. Commits nothing: the
    service that met the provider committed what the retry needs (``verification.run_check`` the
    guess given back, ``checks.send_code`` the code it generated); a face check that could not
    start wrote nothing."""
    log_event("verification.provider_unavailable", reason=exc.reason, path=request.path)
    page = UNAVAILABLE_PAGES.get(exc.reason, "retry")
    return render_template("resident/unavailable.html", reason=exc.reason, page=page, retry_action=retry_action,
                           retry_link=retry_link), 503
