"""Quick Search in the configuration menu: the markup it works on (labelled input, live status, data
attributes, no inline script). The filtering itself, in Chromium, is tests/browser/test_quick_search.py."""

from __future__ import annotations

import re

from django.urls import reverse

from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.web_support import client_for


def email_configuration(cast: Cast) -> str:
    return reverse("email-configuration", kwargs={"slug": cast.acme.slug})


def test_configuration_menu_has_a_labelled_quick_search_with_a_live_status(cast: Cast) -> None:
    page = client_for(cast.configurer).get(email_configuration(cast)).content.decode()

    assert '<label for="quicksearch">Quick Search</label>' in page
    assert re.search(r'<input type="search" id="quicksearch" data-quicksearch[^>]*aria-describedby="', page)
    assert 'data-quicksearch-status aria-live="polite"' in page
    assert '<script src="/static/postroom/quicksearch.js" defer></script>' in page


def test_quick_search_covers_sections_fields_and_mailbox_labels(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Sales Desk")

    page = client_for(cast.configurer).get(email_configuration(cast)).content.decode()

    assert 'data-qs-item data-qs-text="Lead Sources' in page  # a menu section
    assert 'data-qs-item data-qs-text="Synchronization interval' in page  # a field of this page
    assert f'data-qs-item data-qs-text="Sales Desk {mailbox.email}"' in page  # the mailbox's table row
    edit = reverse("mailbox-edit", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk})
    assert f'hidden><a href="{edit}">Mailbox: Sales Desk</a>' in page  # in the menu, shown when searched


def test_mailbox_form_fields_and_sections_are_searchable(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    url = reverse("mailbox-edit", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk})

    page = client_for(cast.configurer).get(url).content.decode()

    assert 'data-qs-group data-qs-text="Synchronization Settings"' in page
    assert 'data-qs-item data-qs-text="IMAP Host' in page


def test_members_who_cannot_configure_get_no_quick_search(cast: Cast) -> None:
    page = client_for(cast.member).get(reverse("leads", kwargs={"slug": cast.acme.slug})).content.decode()

    assert "data-quicksearch" not in page and "Mailbox:" not in page


def test_configuration_pages_have_no_inline_script(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    urls = [
        email_configuration(cast),
        reverse("mailbox-edit", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk}),
    ]
    for url in urls:
        page = client_for(cast.configurer).get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
        assert not re.search(r"\son[a-z]+=", page)
