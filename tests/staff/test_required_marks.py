"""Every field the console refuses when empty is marked: a visible * in its label (explained by the
legend 带*为必填项), and ``required`` with ``aria-required`` on the control."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.filing.helpers import form_data
from tests.resident.test_face_onsite import photo, upload
from tests.support import Journey

LEGEND = "带*为必填项"


class _Form(HTMLParser):
    """Controls by id with their attributes; the ids whose label a * follows (or holds)."""

    def __init__(self):
        super().__init__()
        self.controls, self.starred, self.text = {}, set(), []
        self._label = self._last_label = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "span" and "req" in (attrs.get("class") or "").split():
            if self._label or self._last_label:
                self.starred.add(self._label or self._last_label)
            return
        self._last_label = None
        if tag in ("input", "textarea", "select") and attrs.get("id"):
            self.controls[attrs["id"]] = attrs
        if tag == "label":
            self._label = attrs.get("for")

    def handle_endtag(self, tag):
        if tag == "label":
            self._label, self._last_label = None, self._label

    def handle_data(self, data):
        self.text.append(data)


def marks(html: str) -> tuple[dict, set, str]:
    parser = _Form()
    parser.feed(html)
    return parser.controls, parser.starred, "".join(parser.text)


def assert_marked(html: str, required: list[str], optional: list[str] = ()) -> None:
    controls, starred, text = marks(html)
    assert LEGEND in text.replace(" ", "")
    unmarked = [f for f in required if not (f in starred and "required" in controls[f]
                                            and controls[f].get("aria-required") == "true")]
    assert not unmarked, unmarked
    marked = [f for f in optional if f in starred or "required" in controls[f]]
    assert not marked, marked


def test_onsite_review_marks_the_note_and_the_document_number(client, db_session, seeded, auth):
    journey = Journey(client, db_session)
    journey.ready()
    client.get("/h5/verify/face")
    upload(client, photo())
    code = journey.vs().onsite_code
    auth.login("operator")
    review = client.get(f"/staff/onsite/{code}").get_data(as_text=True)
    assert_marked(review, ["document_number", "document_checked", "note"])
    # A note left empty is refused with a message beside it, and the mark says so before the first try.
    refused = client.post(f"/staff/onsite/{code}", data={"document_checked": "y", "action": "confirm",
                                                          "document_number": "x"}).get_data(as_text=True)
    assert "请填写核验备注" in refused


@pytest.mark.parametrize(("role", "path", "required", "optional"), [
    ("operator", "/staff/onsite/", ["code"], []),
    ("operator", "/staff/onsite/register", ["app", "name", "id_card_type_code", "idcode", "nation", "linkman",
                                            "telephone", "note"], ["current_address", "address", "birthplace"]),
    ("operator", "/staff/onsite/unlock/", ["id_card_type_code", "idcode", "document_checked", "note"], []),
    ("operator", "/staff/cards/", ["id_card_type_code", "idcode"], []),
    ("reviewer", "/staff/filing/new", ["app_name", "app_filing_no", "org_name", "builder_contact"],
     ["allowed_origins"]),
    ("admin", "/staff/admin/users", ["username", "role", "password"], ["display_name", "site_name"]),
    ("admin", "/staff/admin/devices", ["name"], ["site_name"]),
    ("nurse", "/scan", ["code"], []),
])
def test_console_forms_mark_their_required_fields(client, seeded, auth, role, path, required, optional):
    auth.login(role)
    page = client.get(path)
    assert page.status_code == 200, path
    assert_marked(page.get_data(as_text=True), required, optional)


def test_sign_in_and_device_pages_mark_their_fields(client, seeded):
    assert_marked(client.get("/staff/login").get_data(as_text=True), ["username", "password"])
    assert_marked(client.get("/scan/device").get_data(as_text=True), ["token"])


def test_filing_screenshot_upload_marks_its_file(client, seeded, auth):
    auth.login("reviewer")
    created = client.post("/staff/filing/new", data=form_data())
    assert created.status_code == 302
    assert_marked(client.get(created.headers["Location"]).get_data(as_text=True), ["screen"])
