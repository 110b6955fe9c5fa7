"""Configuration scopes through the pages: organization overrides, "Use global", and the global page."""

from __future__ import annotations

from django.urls import reverse

from postroom.organizations import config
from postroom.organizations.models import ConfigValue
from tests.conftest import Cast
from tests.web_support import client_for

INTERVAL = "email.sync_interval_minutes"


def org_post(interval: str | None, **extra: str) -> dict[str, str]:
    """Email Configuration POST: the interval overridden (or "Use global" when None), others global."""
    data = {
        "email__autoresponse_limit_hours__use_global": "on",
        "email__default_language__use_global": "on",
        **extra,
    }
    if interval is None:
        data["email__sync_interval_minutes__use_global"] = "on"
    else:
        data["email__sync_interval_minutes"] = interval
    return data


def email_config(cast: Cast) -> str:
    return reverse("email-configuration", kwargs={"slug": cast.acme.slug})


def test_configuration_redirects_to_email_configuration(cast: Cast) -> None:
    response = client_for(cast.configurer).get(reverse("configuration", kwargs={"slug": "acme"}))
    assert response.status_code == 302 and response["Location"] == email_config(cast)


def test_org_override_is_saved_and_use_global_removes_it(cast: Cast) -> None:
    client = client_for(cast.configurer)
    response = client.post(email_config(cast), org_post("7"))
    assert response.status_code == 302
    assert config.get(INTERVAL, cast.acme) == 7
    assert config.get(INTERVAL, cast.globex) == 1
    assert config.overrides(cast.acme) == {INTERVAL: 7}
    page = client.get(email_config(cast)).content.decode()
    assert 'name="email__sync_interval_minutes" value="7"' in page

    client.post(email_config(cast), org_post(None))
    assert config.overrides(cast.acme) == {}
    assert config.get(INTERVAL, cast.acme) == 1


def test_global_page_changes_what_an_org_without_override_sees(cast: Cast) -> None:
    config.set_value("email.default_language", "fr", cast.acme)
    data = {
        "email__sync_interval_minutes": "15",
        "email__autoresponse_limit_hours": "48",
        "email__default_language": "de",
    }
    response = client_for(cast.platform_admin).post(reverse("global-configuration"), data)
    assert response.status_code == 302
    assert config.get(INTERVAL, cast.globex) == 15
    assert config.get(INTERVAL, cast.acme) == 15
    assert config.get("email.default_language", cast.globex) == "de"
    assert config.get("email.default_language", cast.acme) == "fr"  # its override wins
    page = client_for(cast.org_admin).get(email_config(cast)).content.decode()
    assert "(global: 15)" in page


def test_out_of_range_override_is_an_error_beside_the_field(cast: Cast) -> None:
    response = client_for(cast.org_admin).post(email_config(cast), org_post("0"))
    assert response.status_code == 200
    assert response.context["form"].errors["email__sync_interval_minutes"]
    assert 'id="id_email__sync_interval_minutes_error"' in response.content.decode()
    assert not ConfigValue.objects.exists()


def test_empty_override_without_use_global_is_an_error(cast: Cast) -> None:
    response = client_for(cast.org_admin).post(email_config(cast), org_post(""))
    assert response.status_code == 200
    assert "Use global" in str(response.context["form"].errors["email__sync_interval_minutes"])


def test_use_global_is_ticked_for_settings_without_override(cast: Cast) -> None:
    config.set_value(INTERVAL, 9, cast.acme)
    form = client_for(cast.org_admin).get(email_config(cast)).context["form"]
    assert form["email__sync_interval_minutes__use_global"].value() is False
    assert form["email__sync_interval_minutes"].value() == 9
    assert form["email__default_language__use_global"].value() is True
    assert 'id="id_email__default_language__use_global" checked' in str(
        form["email__default_language__use_global"]
    )


def test_global_page_rejects_a_bad_value_and_saves_nothing(cast: Cast) -> None:
    data = {
        "email__sync_interval_minutes": "5",
        "email__autoresponse_limit_hours": "24",
        "email__default_language": "xx",
    }
    response = client_for(cast.platform_admin).post(reverse("global-configuration"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["email__default_language"]
    assert not ConfigValue.objects.exists()
