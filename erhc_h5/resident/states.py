"""The verification session's states, as a type: stored and shown as the same strings as before.

Kept apart from ``verification.py`` (the machine) so that the model can derive its column's
allowed values from it without importing the machine.
"""
from __future__ import annotations

from enum import StrEnum


class VerificationState(StrEnum):
    """Where a verification session stands (``verification_sessions.state``)."""

    CREATED = "created"
    IN_PROGRESS = "in_progress"
    PENDING_PROVIDER = "pending_provider"
    PENDING_ONSITE = "pending_onsite"
    PASSED = "passed"
    FAILED = "failed"
    EXPIRED = "expired"
    LOCKED = "locked"


# Ended: nothing more happens to the session; its personal data is gone.
FINISHED = (VerificationState.PASSED, VerificationState.FAILED, VerificationState.EXPIRED, VerificationState.LOCKED)
# Over without a pass: the page says so and offers a new start.
ENDED_WITHOUT_PASS = (VerificationState.FAILED, VerificationState.LOCKED, VerificationState.EXPIRED)
