"""The rule and template pages: rows added and removed without JavaScript, errors beside their row with
what the admin typed kept, the rule list on the mailbox page, and the preview."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from postroom.autoresponse.models import EmailTemplate, Rule
from tests.autoresponse_helpers import make_rule, rule_form_data
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.web_support import client_for

pytestmark = pytest.mark.django_db


def form(**extra: str) -> dict[str, Any]:
    return rule_form_data(**extra)


def test_plus_add_posts_back_with_an_empty_condition_row_and_saves_nothing(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    url = reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})

    response = client_for(cast.org_admin).post(url, form(add="condition"))

    assert response.status_code == 200 and not Rule.objects.exists()
    assert b'name="condition-1-value"' in response.content and b'value="order"' in response.content


def test_x_removes_a_condition_row(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    url = reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})

    response = client_for(cast.org_admin).post(url, form(remove="condition-0"))

    assert b'name="condition-0-value"' not in response.content and not Rule.objects.exists()


def test_an_unsafe_regex_is_shown_beside_its_row_and_the_input_kept(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    url = reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})

    response = client_for(cast.org_admin).post(
        url, form(**{"condition-0-operator": "matches", "condition-0-value": "(a+)+$"})
    )

    assert response.status_code == 422 and not Rule.objects.exists()
    assert b"could take too long" in response.content and b'value="(a+)+$"' in response.content


def test_saved_rule_is_listed_on_the_mailbox_page_with_its_actions(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    client = client_for(cast.org_admin)
    client.post(reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}), form())
    rule = Rule.objects.get()

    page = client.get(reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}))

    assert rule.conditions.get().value == "order" and rule.template.rule_owned
    assert b"Orders" in page.content
    assert (
        reverse(
            "rule-preview", kwargs={"slug": "acme", "mailbox_id": mailbox.pk, "rule_id": rule.pk}
        ).encode()
        in page.content
    )


def test_deactivate_then_activate_moves_the_activation_time(cast: Cast) -> None:
    rule = make_rule(make_mailbox(cast.acme))
    before = rule.activated_at
    url = reverse("rule-activate", kwargs={"slug": "acme", "mailbox_id": rule.mailbox_id, "rule_id": rule.pk})
    client = client_for(cast.org_admin)

    client.post(url, {"active": "off"})
    client.post(url, {"active": "on"})

    rule.refresh_from_db()
    assert rule.active and rule.activated_at is not None and before is not None and rule.activated_at > before


def test_preview_page_shows_the_rendered_reply(cast: Cast) -> None:
    rule = make_rule(make_mailbox(cast.acme), [("subject", "contains", "hello")])
    url = reverse("rule-preview", kwargs={"slug": "acme", "mailbox_id": rule.mailbox_id, "rule_id": rule.pk})
    raw = "From: Ann <ann@example.org>\r\nSubject: Hello there\r\n\r\nHi\r\n"

    response = client_for(cast.org_admin).get(url, {"preview": "1", "raw": raw})

    assert response.status_code == 200
    assert b"The rule matches" in response.content and b"Re: Hello there" in response.content


def test_template_with_two_languages_is_saved(cast: Cast) -> None:
    data = {
        "name": "Welcome",
        "template_type": "html",
        "translation-count": "2",
        "translation-0-language": "en",
        "translation-0-subject": "Hello",
        "translation-0-content": "<p>Hi</p>",
        "translation-1-language": "DE",
        "translation-1-subject": "Hallo",
        "translation-1-content": "<p>Hallo</p>",
    }

    response = client_for(cast.org_admin).post(reverse("email-template-new", kwargs={"slug": "acme"}), data)

    assert response.status_code == 302
    template = EmailTemplate.objects.get()
    assert [t.language for t in template.translations.all()] == ["en", "de"]
