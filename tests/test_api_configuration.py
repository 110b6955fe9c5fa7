"""Lead sources and organization settings over the API."""

from __future__ import annotations

from postroom.crm.models import LeadSource
from postroom.organizations import config
from tests.api_helpers import as_user
from tests.conftest import Cast
from tests.factories import make_lead_source

SOURCES = "/orgs/acme/lead-sources"
INTERVAL = "email.sync_interval_minutes"


def _order(cast: Cast) -> list[str]:
    return list(
        LeadSource.objects.filter(organization=cast.acme).order_by("position").values_list("key", flat=True)
    )


def test_lead_source_key_is_derived_from_label_and_unique(cast: Cast) -> None:
    make_lead_source(cast.acme, "Web Form Old", key="web-form")
    response = as_user(cast.configurer, "POST", SOURCES, {"label": "Web form!"})
    assert response.status_code == 201
    assert (response.json()["key"], response.json()["position"]) == ("web-form-2", 1)


def test_renaming_a_lead_source_keeps_its_key(cast: Cast) -> None:
    source = make_lead_source(cast.acme, "Email", key="email")
    response = as_user(cast.configurer, "PATCH", f"{SOURCES}/{source.pk}", {"label": "Inbound mail"})
    assert response.json()["key"] == "email"
    source.refresh_from_db()
    assert (source.key, source.label) == ("email", "Inbound mail")


def test_lead_source_label_clash_is_422_ignoring_case(cast: Cast) -> None:
    make_lead_source(cast.acme, "Email")
    other = make_lead_source(cast.acme, "Phone")
    assert as_user(cast.configurer, "POST", SOURCES, {"label": "EMAIL"}).status_code == 422
    rename = as_user(cast.configurer, "PATCH", f"{SOURCES}/{other.pk}", {"label": "email"})
    assert rename.status_code == 422
    assert "label" in rename.json()["errors"]
    other.refresh_from_db()
    assert other.label == "Phone"


def test_moving_a_lead_source_renumbers_the_list(cast: Cast) -> None:
    for position, label in enumerate(["A", "B", "C"]):
        make_lead_source(cast.acme, label, position=position)
    c = LeadSource.objects.get(organization=cast.acme, key="c")
    response = as_user(cast.configurer, "PATCH", f"{SOURCES}/{c.pk}", {"position": 0})
    assert response.json()["position"] == 0
    assert _order(cast) == ["c", "a", "b"]
    assert as_user(cast.configurer, "PATCH", f"{SOURCES}/{c.pk}", {"position": 99}).json()["position"] == 2
    assert _order(cast) == ["a", "b", "c"]


def test_retired_lead_source_is_listed_as_retired(cast: Cast) -> None:
    source = make_lead_source(cast.acme, "Fax")
    as_user(cast.configurer, "PATCH", f"{SOURCES}/{source.pk}", {"retired": True})
    assert [(s["label"], s["retired"]) for s in as_user(cast.configurer, "GET", SOURCES).json()] == [
        ("Fax", True)
    ]


def test_settings_show_value_in_force_global_value_and_override(cast: Cast) -> None:
    config.set_value(INTERVAL, 10)
    config.set_value("email.default_language", "de", cast.acme)
    rows = {row["key"]: row for row in as_user(cast.configurer, "GET", "/orgs/acme/settings").json()}
    assert set(rows) == {decl.key for decl in config.SETTINGS}
    assert (rows[INTERVAL]["value"], rows[INTERVAL]["global_value"], rows[INTERVAL]["overridden"]) == (
        10,
        10,
        False,
    )
    language = rows["email.default_language"]
    assert (language["value"], language["global_value"], language["overridden"]) == ("de", "en", True)


def test_setting_override_and_use_global(cast: Cast) -> None:
    path = f"/orgs/acme/settings/{INTERVAL}"
    data = as_user(cast.configurer, "PUT", path, {"value": 7}).json()
    assert (data["value"], data["overridden"]) == (7, True)
    assert config.get(INTERVAL, cast.acme) == 7
    assert config.get(INTERVAL, cast.globex) == 1
    data = as_user(cast.configurer, "DELETE", path).json()
    assert (data["value"], data["overridden"]) == (1, False)
    assert config.overrides(cast.acme) == {}


def test_bad_setting_value_is_422_and_keeps_the_old_value(cast: Cast) -> None:
    config.set_value(INTERVAL, 3, cast.acme)
    for bad in (0, "soon", 100000):
        response = as_user(cast.configurer, "PUT", f"/orgs/acme/settings/{INTERVAL}", {"value": bad})
        assert response.status_code == 422
        assert "value" in response.json()["errors"]
    language = as_user(cast.configurer, "PUT", "/orgs/acme/settings/email.default_language", {"value": "xx"})
    assert language.status_code == 422
    assert config.overrides(cast.acme) == {INTERVAL: 3}


def test_unknown_setting_is_404(cast: Cast) -> None:
    assert as_user(cast.configurer, "PUT", "/orgs/acme/settings/no.such", {"value": 1}).status_code == 404
    assert as_user(cast.configurer, "DELETE", "/orgs/acme/settings/no.such").status_code == 404
