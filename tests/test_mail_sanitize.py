"""Untrusted HTML mail: nothing in it runs or loads when a member reads it, and remote images load only
after the member asks. Checked on the rendered thread page (the sandboxed frame's document) and the API."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from django.urls import reverse

from postroom.messages.sanitize import sanitize_html
from tests.api_helpers import as_user
from tests.compose_helpers import received, sending_mailbox
from tests.conftest import Cast
from tests.web_support import client_for

HOSTILE = """
<p onclick="steal()">Dear customer,</p>
<script>alert('script ran')</script>
<img src="x" onerror="alert('onerror ran')">
<a href="javascript:alert('link ran')">Click here</a>
<a href=" JaVaScRiPt:alert('obfuscated')">and here</a>
<img src="https://tracker.example/pixel.gif?id=42" alt="logo">
<div style="background-image: url(https://tracker.example/bg.png)">styled</div>
<form action="https://phish.example/"><input name="password"></form>
<iframe src="https://evil.example/"></iframe>
<svg><script>alert('svg')</script></svg>
<table background="https://tracker.example/table.png"><tr><td>cell</td></tr></table>
<a href="https://example.org/ok">A fine link</a>
"""
_SRCDOC = re.compile(r'srcdoc="([^"]*)"')


def _frame_documents(page: str) -> list[str]:
    return [html_lib.unescape(doc) for doc in _SRCDOC.findall(page)]


@pytest.fixture
def thread_url(cast: Cast) -> str:
    mailbox = sending_mailbox(cast.acme, (cast.support_role,))
    message = received(mailbox, subject="Hostile", html=HOSTILE)
    return reverse("mail-thread", args=[cast.acme.slug, message.thread_id])


def _assert_nothing_runs(document: str) -> None:
    lowered = document.lower()
    assert "<script" not in lowered
    assert "alert(" not in lowered
    assert not re.search(r"\son[a-z]+\s*=", lowered), "an event handler attribute survived"
    assert "javascript:" not in lowered
    assert "<form" not in lowered and "<input" not in lowered and "<iframe" not in lowered
    assert "phish.example" not in lowered and "evil.example" not in lowered


def test_rendered_thread_runs_nothing_and_loads_no_remote_image(cast: Cast, thread_url: str) -> None:
    page = client_for(cast.member).get(thread_url).content.decode()
    [document] = _frame_documents(page)

    _assert_nothing_runs(document)
    assert "tracker.example" not in document, "a remote load survived"
    assert "Dear customer" in document and 'href="https://example.org/ok"' in document
    # The frame itself may never run script or reach our origin.
    frame = re.search(r"<iframe[^>]*>", page)
    assert frame is not None
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame.group(0)
    assert "allow-scripts" not in frame.group(0) and "allow-same-origin" not in frame.group(0)
    assert "default-src 'none'; img-src data:;" in document
    # Outside the frame the page itself carries no trace of the hostile markup either.
    outside = _SRCDOC.sub("", page)
    assert "alert(" not in outside and "tracker.example" not in outside
    assert "Show remote images" in page and "1 remote image blocked" in page


def test_remote_images_load_only_when_the_member_asks(cast: Cast, thread_url: str) -> None:
    blocked = client_for(cast.member).get(thread_url)
    assert "https:" not in blocked["Content-Security-Policy"]
    response = client_for(cast.member).get(thread_url + "?images=remote")
    assert "img-src 'self' data: https: http:" in response["Content-Security-Policy"]
    assert "script-src 'self';" in response["Content-Security-Policy"]
    page = response.content.decode()
    [document] = _frame_documents(page)
    assert 'src="https://tracker.example/pixel.gif?id=42"' in document
    assert "img-src data: https: http:" in document and 'name="referrer" content="no-referrer"' in document
    _assert_nothing_runs(document)
    # CSS and legacy attributes never fetch, even then.
    assert "bg.png" not in document and "table.png" not in document


def test_api_returns_the_sanitized_html(cast: Cast, thread_url: str) -> None:
    thread_id = thread_url.rstrip("/").rsplit("/", 1)[1]
    [message] = as_user(cast.member, "GET", f"/orgs/acme/mail/threads/{thread_id}").json()["messages"]
    _assert_nothing_runs(message["html"])
    assert "tracker.example" not in message["html"]
    assert message["blocked_images"] == 1


@pytest.mark.parametrize(
    "dirty",
    [
        '<img src="//tracker.example/x.gif">',
        '<img src=" https://tracker.example/x.gif">',
        '<img srcset="https://tracker.example/x.gif 1x">',
        '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
        '<p style="background: url(&quot;https://tracker.example/x.gif&quot;)">x</p>',
        '<p style="background: u\\72l(https://tracker.example/x.gif)">x</p>',
        '<link rel="stylesheet" href="https://tracker.example/x.css">',
        "<style>@import 'https://tracker.example/x.css';</style>",
        '<video poster="https://tracker.example/x.gif"></video>',
        '<object data="https://tracker.example/x.swf"></object>',
    ],
)
def test_no_way_to_fetch_survives(dirty: str) -> None:
    assert "tracker.example" not in sanitize_html(dirty).html
    assert "svg" not in sanitize_html(dirty).html


def test_inline_images_of_the_message_itself_are_kept() -> None:
    data_uri = "data:image/png;base64,iVBORw0KGgo="
    safe = sanitize_html('<img src="cid:Logo@Example">', cids={"logo@example": data_uri})
    assert safe.html == f'<img src="{data_uri}">' and safe.blocked_images == 0
    assert sanitize_html('<img src="cid:unknown@example">').html == "<img>"
