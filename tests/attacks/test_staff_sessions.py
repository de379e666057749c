"""A staff session cookie copied to another browser stops working once its user signs out, or an
admin resets the password, changes the role or deactivates the account. Run against the real
server: the in-process client shares one app context (and its signed-in user) between clients."""
from __future__ import annotations

import re
import secrets

import pytest
import requests

from erhc_h5.staff.services import create_user


def _new_user(server, role: str) -> tuple[dict, int]:
    creds = {"username": f"sess.{role}.{secrets.token_hex(3)}", "password": "pw-" + secrets.token_hex(8)}
    with server.db() as session:
        user_id = create_user(session, creds["username"], creds["password"], role).id
    return creds, user_id


def _copy(s: requests.Session) -> requests.Session:
    thief = requests.Session()
    thief.cookies.update(s.cookies)
    return thief


def _opens_ops(server, s: requests.Session) -> bool:
    answer = s.get(server.url("/ops"), allow_redirects=False, timeout=30)
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def _signed_in(server, s: requests.Session) -> bool:
    answer = s.get(server.url("/staff/"), allow_redirects=False, timeout=30)
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def test_copied_cookie_no_longer_opens_ops_after_logout(server):
    creds, _ = _new_user(server, "ops")
    owner = server.staff_session(**creds)
    thief = _copy(owner)
    assert _opens_ops(server, thief)
    assert server.post_form(owner, "/staff/logout", {}, page="/ops").status_code == 302
    assert not _opens_ops(server, thief)


@pytest.mark.parametrize("change", ["password", "role", "deactivate"])
def test_admin_change_ends_every_session_of_that_user(server, change):
    creds, user_id = _new_user(server, "ops")
    browsers = [server.staff_session(**creds) for _ in range(2)]
    assert all(_opens_ops(server, b) for b in browsers)
    admin = server.staff_session("admin")
    page = "/staff/admin/users"
    if change == "password":
        answer = server.post_form(admin, f"/staff/admin/users/{user_id}/password", {}, page=page)
        assert answer.status_code == 200
    elif change == "role":
        answer = server.post_form(admin, f"/staff/admin/users/{user_id}/role", {"role": "nurse"}, page=page)
        assert answer.status_code == 302
    else:
        answer = server.post_form(admin, f"/staff/admin/users/{user_id}/deactivate", {}, page=page)
        assert answer.status_code == 302
    assert not any(_signed_in(server, b) for b in browsers)
    if change == "password":
        temporary = re.search(r'<code[^>]*>([^<]+)</code>', answer.text).group(1)
        owner = server.staff_session(username=creds["username"], password=temporary)
        assert not _opens_ops(server, owner)  # only the change page until the temporary password is replaced
        own = "Zr5-" + secrets.token_hex(8)
        changed = server.post_form(owner, "/staff/password", {"new_password": own, "confirm": own})
        assert changed.status_code == 302 and _opens_ops(server, owner)
