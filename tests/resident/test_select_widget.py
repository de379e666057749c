"""The cached select renders exactly what WTForms' own Select renders (it only remembers the result)."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from erhc_h5.resident.forms import IdentityForm, ProfileForm
from wtforms.widgets import Select


@pytest.mark.parametrize("data", [{}, {"nationality": "USA"}, {"nationality": "CHN"}, {"nationality": "<x>"}])
def test_nationality_select_matches_wtforms(app, data):
    with app.test_request_context(method="POST", data=data):
        form = IdentityForm(formdata=MultiDict(data), meta={"csrf": False})
        assert str(form.nationality(id="n")) == str(Select()(form.nationality, id="n"))
        assert ('selected value="USA"' in str(form.nationality())) == (data.get("nationality") == "USA")


def test_nation_select_matches_wtforms_twice(app):
    with app.test_request_context(method="POST", data={"nation": "05"}):
        form = ProfileForm(formdata=MultiDict({"nation": "05"}), meta={"csrf": False})
        first, second = str(form.nation()), str(form.nation())
        assert first == second == str(Select()(form.nation))
