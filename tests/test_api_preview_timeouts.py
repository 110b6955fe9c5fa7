"""The rule preview over the API says which regular expressions ran out of time, as the web preview does:
otherwise "no match" there cannot be told from a pattern that really does not match."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests.api_helpers import as_user, call
from tests.autoresponse_helpers import make_rule
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.web_support import client_for

pytestmark = pytest.mark.django_db

# Catastrophic backtracking: the search runs out of its time. Saved before patterns were checked on save
# (the API and the web form refuse it now), so it is made directly.
SLOW = r"(a|aa)+$"
RAW = "From: Ann <ann@example.org>\r\nSubject: " + "a" * 40 + "b\r\n\r\nHi\r\n"


def test_api_preview_lists_the_pattern_that_timed_out_like_the_web_preview(cast: Cast) -> None:
    rule = make_rule(make_mailbox(cast.acme), [("subject", "matches", SLOW)])
    path = f"/orgs/acme/mailboxes/{rule.mailbox_id}/rules/{rule.pk}/preview"

    response = as_user(cast.org_admin, "POST", path, {"raw": RAW})

    assert response.status_code == 200
    result = json.loads(response.content)
    assert result["matched"] is False
    [note] = result["regex_timeouts"]
    assert SLOW in note and "timed out" in note and "counts as no match" in note
    url = reverse("rule-preview", kwargs={"slug": "acme", "mailbox_id": rule.mailbox_id, "rule_id": rule.pk})
    page = client_for(cast.org_admin).get(url, {"preview": "1", "raw": RAW})
    assert page.status_code == 200 and page.context["result"].regex_timeouts == (note,)


def test_api_preview_without_a_timeout_has_no_notes(cast: Cast) -> None:
    rule = make_rule(make_mailbox(cast.acme), [("subject", "matches", SLOW)])
    path = f"/orgs/acme/mailboxes/{rule.mailbox_id}/rules/{rule.pk}/preview"
    quick = RAW.replace("a" * 40 + "b", "aaaa")

    result = json.loads(as_user(cast.org_admin, "POST", path, {"raw": quick}).content)

    assert result["matched"] is True and result["regex_timeouts"] == []


def test_openapi_schema_documents_the_timeout_notes(db: None) -> None:
    schema = json.loads(call("GET", "/openapi.json").content)

    field = schema["components"]["schemas"]["PreviewOut"]["properties"]["regex_timeouts"]

    assert field["type"] == "array" and field["items"] == {"type": "string"}
    assert "no match" in field["description"]
    assert "regex_timeouts" in schema["components"]["schemas"]["PreviewOut"]["required"]
