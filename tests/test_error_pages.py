"""Postroom's own 404 and 500 pages: a 404 reads the same whether the page is missing or hidden from the
user, and the 500 page renders with no request context at all."""

from __future__ import annotations

from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from tests.conftest import Cast, login
from tests.factories import make_mailbox

NOT_FOUND = "This page does not exist, or you do not have access to it."


def test_404_does_not_tell_a_hidden_mailbox_from_a_missing_one(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, label="Secret Desk")
    client = login(cast.outsider)
    hidden = client.get(reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}))
    missing = client.get(reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk + 999}))
    for response in (hidden, missing):
        assert response.status_code == 404
        assert [t.name for t in response.templates][0] == "404.html"
        body = response.content.decode()
        assert NOT_FOUND in body and "Page not found" in body
        assert "Secret Desk" not in body and "Mailbox" not in body  # nothing from the lookup leaks


def test_404_for_an_anonymous_visitor_is_the_branded_page(db: None) -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert NOT_FOUND in response.content.decode()


def test_500_page_renders_without_a_request_context() -> None:
    response = server_error(RequestFactory().get("/"))
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in body and "postroom.css" in body
