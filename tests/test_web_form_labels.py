"""What screen readers and sighted admins read on the mailbox and rule forms: no two controls of a form
share a name, no heading is said twice, and the password hint appears only when there is one to keep."""

from __future__ import annotations

from django.urls import reverse

from tests.conftest import Cast, login
from tests.factories import make_mailbox


def test_add_mailbox_names_both_encryption_selects_and_offers_no_password_to_keep(cast: Cast) -> None:
    page = login(cast.org_admin).get(reverse("mailbox-new", kwargs={"slug": "acme"})).content.decode()
    assert 'aria-label="IMAP Encryption"' in page and 'aria-label="SMTP Encryption"' in page
    assert "Leave empty to keep" not in page


def test_editing_a_mailbox_with_a_password_says_it_is_kept(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    url = reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})
    assert "A password is stored. Leave empty to keep it." in login(cast.org_admin).get(url).content.decode()


def test_processing_choice_legend_repeating_the_section_title_is_for_screen_readers_only(cast: Cast) -> None:
    page = login(cast.org_admin).get(reverse("mailbox-new", kwargs={"slug": "acme"})).content.decode()
    assert '<legend class="visually-hidden">Email Processing' in page
    assert "<legend>Email Processing</legend>" in page  # the section title stays visible
    assert '<legend class="visually-hidden">Access roles' not in page  # other groups keep theirs


def test_each_translation_is_a_group_named_by_number_and_language(cast: Cast) -> None:
    url = reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": make_mailbox(cast.acme).pk})
    client = login(cast.org_admin)
    page = client.post(
        url,
        {
            "match_mode": "all",
            "condition-count": "0",
            "template_choice": "inline",
            "template_type": "text",
            "translation-count": "1",
            "translation-0-language": "en",
            "translation-0-subject": "Re",
            "translation-0-content": "Hi",
            "add": "translation",
        },
    ).content.decode()
    assert '<fieldset class="card translation">' in page
    assert "<legend>Translation 1 — en</legend>" in page and "<legend>Translation 2</legend>" in page
