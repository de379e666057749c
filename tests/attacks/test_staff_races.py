"""Races on the staff side's one-time steps, against gunicorn (4 workers × 4 threads).

Eight reviewers approving one filing, eight reviewers recording the province's decision on one filing
with different numbers, one on-site code confirmed by eight operators, two admins demoting each other,
and bursts of writes on SQLite. Each scenario signs its staff in first, so that only the contested
request races; results are read back from the server's database.
"""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
import requests
from sqlalchemy import func, select, update

from erhc_h5.audit import AuditEntry
from erhc_h5.filing import services as filing
from erhc_h5.filing.models import FiledApp, FilingDecision
from erhc_h5.records.models import AuthRecord
from erhc_h5.resident.models import VerificationSession
from erhc_h5.staff.models import StaffUser
from erhc_h5.staff.services import create_user
from tests.attacks.harness import race
from tests.factories import person

N = 8
SECRET_MARK = 'id="launch-secret"'


def _staff(server, role: str, n: int) -> list[tuple[int, requests.Session]]:
    """n new accounts of ``role``, each signed in in its own browser: (user id, session)."""
    made = []
    with server.db() as session:
        for _ in range(n):
            creds = {"username": f"race.{role}.{secrets.token_hex(4)}", "password": "pw-" + secrets.token_hex(8)}
            made.append((create_user(session, creds["username"], creds["password"], role).id, creds))
    return [(user_id, server.staff_session(**creds)) for user_id, creds in made]


def _submitted_filings(server, n: int) -> list[int]:
    """n filings drafted and submitted by an author who takes no part in the race."""
    (author_id, _), = _staff(server, "reviewer", 1)
    ids = []
    with server.db() as session:
        for _ in range(n):
            app = filing.create_application(session, {
                "app_name": "并发审核App", "app_filing_no": "RACE-" + secrets.token_hex(5).upper(),
                "org_name": "某卫健委", "org_filing_no": "ORG-R", "builder_unit": "某建设单位",
                "builder_contact": "张三 0571-1", "developer_unit": "某开发单位", "developer_contact": "李四 0571-2",
                "auth_methods": "1^2^4"}, actor_id=author_id)
            app.ui_design_files = ["screen.png"]
            filing.transition(session, app, "submit", actor_id=author_id)
            session.flush()
            ids.append(app.id)
    return ids


def _form_posts(server, sessions, path: str, page: str, data: dict):
    tokens = [server.csrf(s, page) for s in sessions]
    return race(len(sessions), lambda i, s: s.post(server.url(path), data={**data, "csrf_token": tokens[i]},
                                                   timeout=60), sessions=list(sessions))


@pytest.fixture(scope="module")
def reviewers(server):
    return [s for _, s in _staff(server, "reviewer", N)]


def test_eight_reviewers_approving_one_filing_make_one_approval(server, reviewers):
    app_id, = _submitted_filings(server, 1)
    path = f"/staff/filing/{app_id}/approve"
    answers = _form_posts(server, reviewers, path, f"/staff/filing/{app_id}", {"review_opinion": "同意备案"})
    assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
    passed = [a for a in answers if "已审核通过并提交省级:" in a.text]
    assert len(passed) == 1 and all(SECRET_MARK not in a.text for a in answers)
    losers = [a for a in answers if a not in passed]
    assert all("不能审核通过" in a.text for a in losers), [a.text[:200] for a in losers]
    with server.db() as session:
        approvals = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "filing.approve", AuditEntry.target_id == str(app_id)))
        app = session.get(FiledApp, app_id)
        assert approvals == 1 and app.status == "province_pending" and app.launch_secret is None


def test_eight_reviewers_recording_different_province_numbers_make_one_decision(server, reviewers):
    """Each reviewer copies different numbers at the same moment: the first recorded wins, the
    others are told the filing no longer awaits the province; one secret is shown."""
    app_id, = _submitted_filings(server, 1)
    with server.db() as session:
        admin_name = server.seed["users"]["admin"]["username"]
        checker = session.scalar(select(StaffUser).where(StaffUser.username == admin_name))
        filing.transition(session, session.get(FiledApp, app_id), "approve", actor_id=checker.id)
    page = f"/staff/filing/{app_id}"
    tokens = [server.csrf(s, page) for s in reviewers]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()

    def record(i, s):
        data = {"outcome": "approved", "app_filing_no": f"ZJ-RACE-{app_id}-{i}", "opinion": "同意备案",
                "access_code": f"3301009{app_id:04d}{i}", "decided_on": today, "csrf_token": tokens[i]}
        return s.post(server.url(f"/staff/filing/{app_id}/decision"), data=data, timeout=60,
                      files={"stamped_form": ("stamped.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})

    answers = race(N, record, sessions=list(reviewers))
    shown = [a for a in answers if SECRET_MARK in a.text]
    assert len(shown) == 1 and shown[0].status_code == 200
    losers = [a for a in answers if a not in shown]
    assert all(a.status_code == 422 and "不能登记省级审批结果" in a.text for a in losers), \
        [(a.status_code, a.text[:200]) for a in losers]
    with server.db() as session:
        decided = session.scalar(select(func.count()).select_from(FilingDecision)
                                 .where(FilingDecision.app_id == app_id))
        app = session.get(FiledApp, app_id)
        assert decided == 1 and app.status == "approved" and app.secret_version == 1
        assert app.access_code in shown[0].text and app.launch_secret in shown[0].text


def _pending_onsite_code(server, uid: str, who: dict) -> str:
    s = server.resident_session(uid)
    identity = {k: who[k] for k in ("name", "id_card_type_code", "idcode")}
    assert server.post_form(s, "/h5/identity", identity).headers["Location"].endswith("/h5/profile")
    profile = {"nation": "01", "phone": who["phone"], "county_code": "330106"}
    assert server.post_form(s, "/h5/profile", profile).headers["Location"].endswith("/h5/methods")
    answer = server.post_form(s, "/h5/verify/onsite", {}, page="/h5/methods")
    assert answer.status_code == 302, answer.status_code
    with server.app.test_request_context():
        cookie = server.app.session_interface.get_signing_serializer(server.app).loads(s.cookies["session"])
    with server.db() as session:
        vs = session.get(VerificationSession, cookie["resident"]["vs"])
        assert vs.state == "pending_onsite" and vs.onsite_code
        return vs.onsite_code


def test_one_onsite_code_confirmed_by_eight_operators_passes_once(server):
    who = person(97001)
    code = _pending_onsite_code(server, "onsite-race", who)
    operators = [s for _, s in _staff(server, "operator", N)]
    path = f"/staff/onsite/{code}"
    answers = _form_posts(server, operators, path, path,
                          {"note": "核对居民身份证原件", "document_checked": "y", "action": "confirm",
                           "document_number": who["idcode"]})
    assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
    confirmed = [a for a in answers if "现场认证已确认" in a.text]
    assert len(confirmed) == 1
    assert all("已由其他核验员处理" in a.text or "已失效或已处理" in a.text
               for a in answers if a not in confirmed), [a.text[:300] for a in answers if a not in confirmed]
    with server.db() as session:
        vs_id = session.scalar(select(VerificationSession.id).where(VerificationSession.onsite_code == code))
        passes = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "verification.passed", AuditEntry.target_id == vs_id))
        card_id = session.get(VerificationSession, vs_id).card_id
        versions = session.scalar(select(func.count()).select_from(AuthRecord).where(
            AuthRecord.card_id == card_id, AuthRecord.recognize_flag == 1))
    assert passes == 1 and versions == 1


def test_two_admins_demoting_each_other_leave_an_admin(server):
    for _ in range(6):
        (a_id, a), (b_id, b) = _staff(server, "admin", 2)
        with server.db() as session:  # these two are the only active admins during the round
            others = list(session.scalars(select(StaffUser.id).where(
                StaffUser.role == "admin", StaffUser.active.is_(True), StaffUser.id.not_in([a_id, b_id]))))
            session.execute(update(StaffUser).where(StaffUser.id.in_(others)).values(active=False))
        try:
            page = "/staff/admin/users"
            tokens = [server.csrf(a, page), server.csrf(b, page)]
            targets = [b_id, a_id]
            answers = race(2, lambda i, s: s.post(server.url(f"/staff/admin/users/{targets[i]}/role"),
                                                  data={"role": "nurse", "csrf_token": tokens[i]}, timeout=60),
                           sessions=[a, b])
            with server.db() as session:
                admins = session.scalar(select(func.count()).select_from(StaffUser).where(
                    StaffUser.role == "admin", StaffUser.active.is_(True)))
        finally:
            with server.db() as session:
                session.execute(update(StaffUser).where(StaffUser.id.in_(others)).values(active=True))
        assert all(x.status_code < 500 for x in answers), [x.status_code for x in answers]
        assert admins == 1
        # The loser is refused, or, when the winner committed first, finds its own session ended
        # (a role change ends every session of that user) and is back on the sign-in page.
        assert sum("角色已修改" in x.text for x in answers) == 1
        assert sum(("不能撤销最后一名管理员" in x.text or "您已不是管理员" in x.text or "请先登录" in x.text)
                   for x in answers) == 1


def _new_accounts(server, tag: str, n: int) -> list[dict]:
    made = [{"username": f"race.{tag}.{secrets.token_hex(4)}", "password": "pw-" + secrets.token_hex(8)} for _ in range(n)]
    with server.db() as session:
        for creds in made:
            create_user(session, creds["username"], creds["password"], "reviewer")
    return made


def test_bursts_of_parallel_writes_never_fail(server):
    """30 sign-ins and 30 new filings at once: on SQLite, writers wait for the lock instead of failing.
    (30 accounts: parallel sign-ins of one account past STAFF_LOGIN_MAX_FAILURES wait their turn.)"""
    accounts = _new_accounts(server, "burst", 30)
    browsers = [requests.Session() for _ in range(30)]
    tokens = [server.csrf(s, "/staff/login") for s in browsers]
    answers = race(30, lambda i, s: s.post(server.url("/staff/login"), data={**accounts[i], "csrf_token": tokens[i]},
                                           allow_redirects=False, timeout=60), sessions=browsers)
    assert [a.status_code for a in answers] == [302] * 30
    tokens = [server.csrf(s, "/staff/filing/new") for s in browsers]
    fields = {"app_name": "并发草稿", "org_name": "某卫健委", "org_filing_no": "ORG-B", "builder_unit": "建设单位",
              "builder_contact": "张三", "developer_unit": "开发单位", "developer_contact": "李四",
              "auth_methods": "4"}
    prefix = "BURST-" + secrets.token_hex(3).upper()
    answers = race(30, lambda i, s: s.post(server.url("/staff/filing/new"), timeout=60, allow_redirects=False,
                                           data={**fields, "app_filing_no": f"{prefix}-{i}", "csrf_token": tokens[i]}),
                   sessions=browsers)
    assert [a.status_code for a in answers] == [302] * 30


def test_parallel_launches_while_staff_write_never_fail(server):
    """Launches are GET requests that write (the ticket's nonce, the app user): on SQLite one whose
    snapshot went stale meanwhile runs again with the write lock instead of failing."""
    urls = [server.launch_url(f"burst-launch-{secrets.token_hex(4)}") for _ in range(24)]
    accounts = _new_accounts(server, "launch", 8)
    logins = [requests.Session() for _ in range(8)]
    tokens = [server.csrf(s, "/staff/login") for s in logins]

    def go(i, s):
        if i < len(urls):
            return s.get(urls[i], allow_redirects=False, timeout=60)
        j = i - len(urls)
        return logins[j].post(server.url("/staff/login"), data={**accounts[j], "csrf_token": tokens[j]},
                              allow_redirects=False, timeout=60)

    answers = race(len(urls) + len(logins), go)
    assert [a.status_code for a in answers] == [302] * (len(urls) + len(logins))
