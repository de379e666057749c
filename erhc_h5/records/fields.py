"""The code tables as form choices, and a rule's violations shown on a form: the resident's pages and
the staff console's card and unlock pages ask for a document the same way."""
from __future__ import annotations

from functools import lru_cache

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import Select, html_params

from erhc_h5.records.codes import ID_CARD_TYPES, NATIONS, SEX, counties_of


class CachedOptionsSelect(Select):
    """A select whose options are rendered once per distinct list: the nationality list has ~250
    options, and rendering them was the largest single cost of a resident's journey (bench/README.md)."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        options = tuple((value, label, selected) for value, label, selected, _ in field.iter_choices())
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{_options_html(options)}</select>")


@lru_cache(maxsize=1024)
def _options_html(options: tuple) -> str:
    return "".join(f"<option {html_params(value=value, selected=selected)}>{escape(label or value)}</option>"
                   for value, label, selected in options)


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


# Residence permits of HK/MO/TW residents have no code of their own: they go under 06 and 07.
ID_TYPE_LABELS = {**ID_CARD_TYPES, "06": "港澳居民来往内地通行证 / 港澳居民居住证",
                  "07": "台湾居民来往内地通行证 / 台湾居民居住证"}
ID_TYPE_CHOICES = choices(ID_TYPE_LABELS.items())
NATION_CHOICES = choices([("", "请选择民族")] + list(NATIONS.items()))
SEX_CHOICES = choices([("", "请选择性别")] + [(k, v) for k, v in SEX.items() if k in ("1", "2", "9", "0")])


def county_choices(prefix: str) -> list[SelectChoice]:
    """Current counties under a 4-digit city prefix (6-digit values, stored in the 9-digit form), blank first."""
    return choices(_counties(prefix))


@lru_cache(maxsize=8)
def _counties(prefix: str) -> tuple[tuple[str, str], ...]:
    return (("", "请选择居住的区县(可不填)"),) + tuple(counties_of(prefix))


def shown(values: dict) -> dict:
    """Stored values as the form's choices show them: a county stored as 330106000 is the option 330106."""
    county = values.get("county_code") or ""
    if len(county) == 9 and county.endswith("000"):
        return {**values, "county_code": county[:6]}
    return values


@lru_cache(maxsize=1)
def nationality_choices() -> list[SelectChoice]:
    """GB/T 2659 countries by alpha-3, China first (Chinese names where known, else the English one)."""
    import pycountry

    pairs = [("CHN", "中国")]
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_3):
        if country.alpha_3 != "CHN":
            pairs.append((country.alpha_3, f"{country.alpha_3} {getattr(country, 'common_name', None) or country.name}"))
    return choices([("", "请选择国籍")] + pairs)


def apply_violations(form: FlaskForm, violations) -> None:
    """Put each violation's Chinese message beside its field (form-level when the field is not shown)."""
    for violation in violations:
        field = getattr(form, violation.field, None)
        if field is None:
            form.form_errors.append(violation.message)
            continue
        if not isinstance(field.errors, list):
            field.errors = list(field.errors)
        if violation.message not in field.errors:
            field.errors.append(violation.message)
