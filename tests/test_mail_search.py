"""Search across the mailboxes a member may see: subject, sender and body, on whichever database runs the
suite (FTS5 on SQLite, tsvector + GIN on PostgreSQL), never reaching mail outside the member's grant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from postroom.mailboxes.access import visible_mailboxes
from postroom.mailboxes.models import Mailbox
from postroom.messages import search as search_module
from postroom.messages.models import Message, MessageBody
from postroom.messages.search import SEARCH_COLUMN, search, terms_of
from postroom.organizations.access import org_access
from tests.api_helpers import as_user
from tests.compose_helpers import sending_mailbox
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.processing_helpers import arrive
from tests.web_support import client_for


def _subjects(cast: Cast, query: str, user: str = "member") -> list[str]:
    access = org_access(getattr(cast, user), "acme")
    page = search(cast.acme, visible_mailboxes(access), query)
    return sorted(m.subject for m in page.messages)


@pytest.fixture
def support(cast: Cast) -> Mailbox:
    mailbox = sending_mailbox(cast.acme, (cast.support_role,))
    arrive(
        mailbox,
        [
            build(subject="Invoice for March", body="Amount due: 120 EUR.\n"),
            build(subject="Printer broken", sender="Zoë Müller <zoe@customer.example>", body="It jams.\n"),
            build(subject="Hello", body="The quarterly report is attached.\n"),
        ],
    )
    return mailbox


def test_finds_by_subject_sender_and_body(cast: Cast, support: Mailbox) -> None:
    assert _subjects(cast, "invoice") == ["Invoice for March"]
    assert _subjects(cast, "zoe@customer.example") == ["Printer broken"]
    assert _subjects(cast, "müller") == ["Printer broken"]
    assert _subjects(cast, "quarterly") == ["Hello"]
    assert _subjects(cast, "QUARTERLY") == ["Hello"], "any case"
    assert _subjects(cast, "quarter") == [], "whole words only"
    assert _subjects(cast, "invoice jams") == [], "every term must match"
    assert _subjects(cast, "printer jams") == ["Printer broken"], "terms may match different fields"
    assert _subjects(cast, "nothing-like-this") == []


def test_hostile_queries_are_plain_words(cast: Cast, support: Mailbox) -> None:
    for query in ('"', "' OR 1=1 --", "invoice)*", "NEAR(a b)", "!:&|<->", "%", "*", "a:*&!b|'c'<->d"):
        _subjects(cast, query)  # never a syntax error from either engine
    assert [term.words for term in terms_of("  ' OR 1=1 --  ")] == [("or",), ("1", "1")]
    assert _subjects(cast, "invoice)*") == ["Invoice for March"]
    assert _subjects(cast, '"invoice" OR "hello"') == [], "quotes and OR are words, not syntax"


def test_search_never_reaches_mailboxes_without_access(cast: Cast, support: Mailbox) -> None:
    board = sending_mailbox(cast.acme, (), label="Board")
    arrive(board, [build(subject="Invoice from the lawyers", body="Confidential settlement.\n")])
    assert _subjects(cast, "invoice") == ["Invoice for March"]
    assert _subjects(cast, "confidential") == []
    assert _subjects(cast, "invoice", user="org_admin") == ["Invoice for March", "Invoice from the lawyers"]
    assert _subjects(cast, "invoice", user="loner") == []
    other_org = sending_mailbox(cast.globex, label="Globex")
    arrive(other_org, [build(subject="Invoice of globex")])
    assert "Invoice of globex" not in _subjects(cast, "invoice", user="org_admin")

    page = client_for(cast.member).get(reverse("mail-search", args=["acme"]) + "?q=invoice").content.decode()
    assert "Invoice for March" in page and "lawyers" not in page
    hits = as_user(cast.member, "GET", "/orgs/acme/mail/search?q=invoice").json()["results"]
    assert [hit["subject"] for hit in hits] == ["Invoice for March"]


def test_results_are_paged_newest_first(cast: Cast, support: Mailbox) -> None:
    arrive(support, [build(subject=f"Shipment {n}") for n in range(5)])
    access = org_access(cast.member, "acme")
    first = search(cast.acme, visible_mailboxes(access), "shipment", limit=2)
    assert [m.subject for m in first.messages] == ["Shipment 4", "Shipment 3"]
    second = search(cast.acme, visible_mailboxes(access), "shipment", before=first.older, limit=2)
    third = search(cast.acme, visible_mailboxes(access), "shipment", before=second.older, limit=2)
    assert [m.subject for m in second.messages + third.messages] == ["Shipment 2", "Shipment 1", "Shipment 0"]
    assert third.older is None


def _dated(day: int) -> datetime:
    return datetime(2026, 3, day, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("rare_matches", [5000, 0], ids=["rare", "common"])
def test_results_are_newest_first_by_message_date_not_by_storing(
    cast: Cast, support: Mailbox, monkeypatch: Any, rare_matches: int
) -> None:
    """Old mail synced late sorts by its date; both strategies (few matches, every term common) page alike,
    across a tie in date broken by id, and a message without a Date header sorts by when it was stored."""
    monkeypatch.setattr(search_module, "RARE_MATCHES", rare_matches)
    arrive(support, [build(subject="Shipment new", body="common words\n", date=_dated(20))])
    arrive(support, [build(subject="Shipment undated", body="common words\n")])
    arrive(support, [build(subject="Shipment old", body="common words\n", date=_dated(1))])
    arrive(
        support, [build(subject=f"Shipment tie {n}", body="common words\n", date=_dated(10)) for n in (1, 2)]
    )
    undated = Message.objects.get(subject="Shipment undated")
    Message.objects.filter(pk=undated.pk).update(date=None, created_at=_dated(15))
    access = org_access(cast.member, "acme")

    first = search(cast.acme, visible_mailboxes(access), "shipment common", limit=3)
    assert first.older is not None
    second = search(cast.acme, visible_mailboxes(access), "shipment common", before=first.older, limit=3)
    assert [m.subject for m in first.messages + second.messages] == [
        "Shipment new",
        "Shipment undated",
        "Shipment tie 2",
        "Shipment tie 1",
        "Shipment old",
    ]
    assert second.older is None
    assert search(cast.acme, visible_mailboxes(access), "shipment nowhere").messages == []


def test_api_search_pages_by_an_opaque_cursor(cast: Cast, support: Mailbox) -> None:
    arrive(
        support, [build(subject="Refund late", date=_dated(2)), build(subject="Refund early", date=_dated(1))]
    )
    arrive(support, [build(subject="Refund newest", date=_dated(3))])
    first = as_user(cast.member, "GET", "/orgs/acme/mail/search?q=refund&limit=2").json()
    assert [hit["subject"] for hit in first["results"]] == ["Refund newest", "Refund late"]
    second = as_user(cast.member, "GET", f"/orgs/acme/mail/search?q=refund&limit=2&before={first['older']}")
    assert [hit["subject"] for hit in second.json()["results"]] == ["Refund early"]
    assert second.json()["older"] is None
    page = client_for(cast.member).get(reverse("mail-search", args=["acme"]) + "?q=refund&before=junk")
    assert page.status_code == 200 and "Refund newest" in page.content.decode(), "a bad cursor starts over"


def test_index_follows_edits_and_deletions(cast: Cast, support: Mailbox) -> None:
    message = Message.objects.get(subject="Hello")
    MessageBody.objects.filter(message=message).update(text="Now about penguins.")
    Message.objects.filter(pk=message.pk).update(subject="Renamed")
    assert _subjects(cast, "penguins") == ["Renamed"]
    assert _subjects(cast, "quarterly") == []
    assert _subjects(cast, "renamed") == ["Renamed"]


@pytest.mark.postgres
def test_postgres_search_columns_are_indexed(cast: Cast, support: Mailbox) -> None:
    """The stored vectors of migration mail 0004 are GIN-indexed (the bodies not indexed yet, mail 0006, are
    found by a partial index), and a term's query (its words, or its
    text as PostgreSQL parses it) can use those indexes, or every search reads every row."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    params = search_module._probe_params(terms_of("ann.lee@example.org")[0], 10)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a handful of rows: make the planner show its index
        cursor.execute(f"EXPLAIN {search_module._POSTGRES_PROBE}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan on mail_message_search" in plan and "Index Scan on mail_messagebody_search" in plan
    assert "mail_messagebody_unindexed" in plan  # bodies not indexed yet are found without a full scan
    # ...and are parsed only once their lowered text holds every word of the term
    assert 'lower("left"(text, 100000)) ~~ ALL' in plan
    assert f"{SEARCH_COLUMN} @@" in plan and "'ann.lee@example.org'" in plan


_LINKS_BODY = (
    "Write to ann.lee@example.org or see https://www.example.com/path for details;\n"
    "support-team.example.net is down.\n"
)


@pytest.fixture
def links(cast: Cast) -> Mailbox:
    """Mail whose body and subject hold what PostgreSQL's parser keeps whole (an address, a URL, a host
    name), from a sender whose address shares none of their words."""
    mailbox = sending_mailbox(cast.acme, (cast.support_role,))
    sender = "Ops Desk <ops@desk.test>"
    arrive(
        mailbox,
        [
            build(subject="Links", sender=sender, body=_LINKS_BODY),
            build(subject="Outage at status.example.com/incidents", sender=sender, body="Sorry.\n"),
            build(subject="Sentence end", sender=sender, body="Docs: https://docs.example.com/guide.\n"),
        ],
    )
    return mailbox


@pytest.mark.parametrize("rare_matches", [5000, 0], ids=["rare", "common"])
@pytest.mark.parametrize(
    "term",
    [
        "ann.lee@example.org",
        "ANN.LEE@EXAMPLE.ORG",
        "<ann.lee@example.org>",
        "https://www.example.com/path",
        "www.example.com/path",
        "www.example.com",
        "/path",
        "support-team.example.net",
    ],
)
def test_finds_addresses_urls_and_host_names_in_a_body(
    cast: Cast, links: Mailbox, monkeypatch: Any, rare_matches: int, term: str
) -> None:
    """PostgreSQL's parser keeps these whole in the body's vector, where the term's words alone (as FTS5
    splits them) are not; both strategies (few matches, every term common) must find them."""
    monkeypatch.setattr(search_module, "RARE_MATCHES", rare_matches)
    assert _subjects(cast, term) == ["Links"]
    assert _subjects(cast, f"{term} details") == ["Links"], "with another term"
    assert _subjects(cast, f"{term} nowhere") == [], "every term still required"


def test_whole_addresses_and_urls_only(cast: Cast, links: Mailbox) -> None:
    """In a subject too; a term is never a prefix of one and its words stay in order."""
    assert _subjects(cast, "status.example.com/incidents") == ["Outage at status.example.com/incidents"]
    assert _subjects(cast, "ann.lee@example.com") == []
    assert _subjects(cast, "https://www.example.com/pa") == []
    assert _subjects(cast, "www.example.co") == []
    assert _subjects(cast, "path/https://www.example.com") == [], "adjacent in order"


@pytest.mark.parametrize("part", ["ann.lee", "example.org", "lee", "support-team", "example.net", "path"])
def test_parts_of_addresses_and_host_names_in_a_body_only_on_sqlite(
    cast: Cast, links: Mailbox, part: str
) -> None:
    """FTS5 splits an address or a host name into words; PostgreSQL's body vector holds it as one lexeme
    (and a URL only as itself, its host and its path), which no query can take apart. Changing that
    means recomputing every body's vector."""
    found = _subjects(cast, part)
    assert found == ([] if connection.vendor == "postgresql" else ["Links"])


def test_url_ending_a_sentence(cast: Cast, links: Mailbox) -> None:
    """PostgreSQL's parser takes a sentence's final period into a URL's path, so there only its host
    finds that URL."""
    assert _subjects(cast, "docs.example.com") == ["Sentence end"]
    found = _subjects(cast, "https://docs.example.com/guide")
    assert found == ([] if connection.vendor == "postgresql" else ["Sentence end"])
