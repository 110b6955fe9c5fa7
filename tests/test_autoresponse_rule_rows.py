"""Condition and translation rows with htmx: "+ Add" and "x" answer with only the rows' fieldset, which
replaces the old one in place (no page reload); the same buttons without htmx post the whole form back,
and the page loads its behaviour from a static file (no inline script)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from postroom.autoresponse.models import EmailTemplate, Rule
from tests.autoresponse_helpers import rule_form_data
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.web_support import client_for

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def rule_form(**extra: str) -> dict[str, str]:
    two_conditions = {
        "match_mode": "any",
        "condition-count": "2",
        "condition-1-field": "from",
        "condition-1-operator": "ends_with",
        "condition-1-value": "@example.org",
    }
    return rule_form_data(**(two_conditions | extra))


def rows(html: str, prefix: str, name: str) -> list[str]:
    """The values of the <prefix>-<n>-<name> inputs, in order."""
    return re.findall(rf'name="{prefix}-\d+-{name}" value="([^"]*)"', html)


def test_plus_add_with_htmx_answers_with_the_conditions_fieldset_only(cast: Cast) -> None:
    url = reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": make_mailbox(cast.acme).pk})

    response = client_for(cast.org_admin).post(url, rule_form(add="condition"), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and not Rule.objects.exists()
    assert html.lstrip().startswith("<fieldset") and 'id="conditions"' in html and "<html" not in html
    assert rows(html, "condition", "value") == ["order", "@example.org", ""]
    assert 'name="condition-count" value="3"' in html
    assert '<option value="any" selected>' in html  # the match mode lives in the swapped fieldset: kept
    assert "translation-0-subject" not in html


def test_x_with_htmx_renumbers_the_remaining_rows(cast: Cast) -> None:
    url = reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": make_mailbox(cast.acme).pk})

    response = client_for(cast.org_admin).post(url, rule_form(remove="condition-0"), headers=HTMX)

    html = response.content.decode()
    assert rows(html, "condition", "value") == ["@example.org"]
    assert (
        'name="condition-0-value" value="@example.org"' in html and 'name="condition-count" value="1"' in html
    )


def test_translation_rows_with_htmx_on_the_rule_and_the_template_forms(cast: Cast) -> None:
    admin = client_for(cast.org_admin)
    rule_url = reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": make_mailbox(cast.acme).pk})
    template_url = reverse("email-template-new", kwargs={"slug": "acme"})
    template_form = {
        "name": "Welcome",
        "template_type": "text",
        "translation-count": "1",
        "translation-0-language": "de",
        "translation-0-subject": "Hallo",
        "translation-0-content": "Hallo!",
        "add": "translation",
    }

    on_rule = admin.post(rule_url, rule_form(add="translation"), headers=HTMX).content.decode()
    on_template = admin.post(template_url, template_form, headers=HTMX).content.decode()

    for html, first in ((on_rule, "en"), (on_template, "de")):
        assert html.lstrip().startswith("<fieldset") and 'id="translations"' in html and "<html" not in html
        assert rows(html, "translation", "language") == [first, ""]
    assert not EmailTemplate.objects.exists()


def test_without_htmx_the_buttons_post_the_whole_form_and_the_page_has_no_inline_script(cast: Cast) -> None:
    url = reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": make_mailbox(cast.acme).pk})
    admin = client_for(cast.org_admin)

    page = admin.get(url).content.decode()
    added = admin.post(url, rule_form(add="condition")).content.decode()

    assert "<html" in added and rows(added, "condition", "value") == ["order", "@example.org", ""]
    assert 'src="/static/postroom/rules.js"' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) and not re.search(r"\son[a-z]+=", page)
    buttons = re.findall(r'<button type="submit" name="(?:add|remove)"[^>]*>', page)
    assert buttons and all('hx-post="' in b and 'hx-swap="outerHTML"' in b for b in buttons)
