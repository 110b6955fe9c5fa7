"""Full-text search over the mail a member may see: subject, sender and plain-text body.

PostgreSQL matches GIN-indexed `tsvector` columns (`HEAD_VECTOR`, `BODY_VECTOR`, created by migration
mail 0004 from these very strings; since mail 0006 the body's is filled after the sync); SQLite matches
FTS5 tables kept current by triggers. Both read a query the same way: whitespace separates terms, every
term must occur (in the subject, the sender or the body), the words inside one term must be adjacent (so
`ann@example.org` finds that address), and words match whole words, in any case (no prefixes: without a
prefix index FTS5 reads a prefix's whole index, which costs a second at a million messages).

Where the engines differ: PostgreSQL's parser keeps an e-mail address, a host name, a URL (and its host
and path) or a file path whole, as one word, where FTS5 splits it at every '@', '.', '/' and '-'. So on
PostgreSQL a term also matches as its own text parsed the same way (`phraseto_tsquery`), which finds such
a thing written out whole in a subject or a body, but a part of it (`example.org` of `ann@example.org`)
is found only on SQLite, and a URL glued to the punctuation after it (a sentence's final period) only by
its host. The sender's address is indexed split, as FTS5 does it (HEAD_VECTOR).

Results are messages placed in one of the mailboxes given (start from `visible_mailboxes`), newest first
by the message's date (its Date header, else when it was stored), paged by keyset on (date, id) and served
by the message_org_when index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.reading import Cursor
from postroom.organizations.models import Organization
from postroom.sync.models import Placement

# 'simple': no stemming, because mail arrives in every language. The sender's address is also indexed
# with '@' and '.' as spaces, so its parts are words the same way FTS5 splits them.
HEAD_VECTOR = (
    "to_tsvector('simple'::regconfig, "
    "subject || ' ' || from_name || ' ' || translate(from_address, '@.', '  '))"
)
# to_tsvector refuses input over 1 MB; a body's first 100,000 characters are what search can find.
BODY_VECTOR = "to_tsvector('simple'::regconfig, left(text, 100000))"
# Both vectors are stored in columns of this name (migration mail 0004), so they are computed once: the
# head's as a generated column, the body's by `postroom.messages.search_index` (mail 0006).
SEARCH_COLUMN = "search_vector"

# The user's words are always query parameters. A term matches the outer message row by its own id, so
# the engines seek that id in the term's index instead of reading all of a common word's matches.
# On PostgreSQL a term is its words adjacent, or its text as typed read by the parser that made the
# vectors (which keeps addresses and URLs whole): `to_tsquery(words) || phraseto_tsquery(text)`, the two
# parameters of `_engine_query`. A body whose vector the indexer has not filled yet (NULL: stored moments
# ago, see `postroom.messages.search_index`) is matched on its text, found by the partial index
# mail_messagebody_unindexed, after a prefilter: running the parser on a body costs about 8 times what
# lowering it and looking for each word does, and a long import can leave many bodies waiting. A lexeme
# of the 'simple' configuration is its token lower-cased, so a body whose vector would match holds every
# word of the term in its lowered text. `_BODY_MATCHES` therefore takes the term's tsquery parameters,
# then the words (a text[]), then the tsquery parameters again.
_TSQUERY = "(to_tsquery('simple', %s) || phraseto_tsquery('simple', %s))"
_HOLDS_WORDS = (
    # An array (one InitPlan), not a subquery, so a body is lowered once whatever the number of words
    "lower(left(text, 100000)) LIKE ALL (ARRAY(SELECT '%%' || lower(w) || '%%' FROM unnest(%s::text[]) w))"
)
_UNINDEXED_MATCHES = f"{SEARCH_COLUMN} IS NULL AND {_HOLDS_WORDS} AND {BODY_VECTOR} @@ {_TSQUERY}"
_BODY_MATCHES = f"({SEARCH_COLUMN} @@ {_TSQUERY} OR {_UNINDEXED_MATCHES})"
# Only module constants are formatted into these statements (hence the noqa), never user input.
_POSTGRES_MATCHES_ROW = (
    f'"mail_message"."search_vector" @@ {_TSQUERY}'  # noqa: S608
    ' OR EXISTS (SELECT 1 FROM mail_messagebody WHERE message_id = "mail_message"."id"'
    f" AND {_BODY_MATCHES})"
)
_POSTGRES_PROBE = (
    f"(SELECT id, false FROM mail_message WHERE search_vector @@ {_TSQUERY} LIMIT %s)"  # noqa: S608
    f" UNION ALL (SELECT message_id, false FROM mail_messagebody WHERE search_vector @@ {_TSQUERY} LIMIT %s)"
    # Bodies not indexed yet (marked true): the prefilter alone. Its false hits (a word inside a longer
    # one) only widen the candidates, which `_newest_among` checks exactly; parsing every body here cost
    # seconds for a common word while a long import waited for the indexer.
    " UNION ALL (SELECT message_id, true FROM mail_messagebody"
    f" WHERE {SEARCH_COLUMN} IS NULL AND {_HOLDS_WORDS} LIMIT %s)"
)
_POSTGRES_MATCHES_AMONG = (
    f"SELECT id FROM mail_message WHERE search_vector @@ {_TSQUERY} AND id = ANY(%s)"  # noqa: S608
    f" UNION SELECT message_id FROM mail_messagebody WHERE {_BODY_MATCHES} AND message_id = ANY(%s)"
)
_SQLITE_MATCHES_ROW = (
    'EXISTS (SELECT 1 FROM mail_search_head WHERE mail_search_head MATCH %s AND rowid = "mail_message"."id")'
    " OR EXISTS (SELECT 1 FROM mail_search_body WHERE mail_search_body MATCH %s"
    ' AND rowid = "mail_message"."id")'
)
_SQLITE_PROBE = (
    "SELECT * FROM (SELECT rowid FROM mail_search_head WHERE mail_search_head MATCH %s LIMIT %s) UNION ALL"
    " SELECT * FROM (SELECT rowid FROM mail_search_body WHERE mail_search_body MATCH %s LIMIT %s)"
)

MAX_TERMS = 8
RARE_MATCHES = 5000
# Checking a candidate whose body is not indexed yet parses it (about a millisecond): past this many, a
# term counts as common, and the newest candidates are checked until a page is full.
RARE_UNINDEXED = 500
# A message's date for ordering: the Date header, else when it was stored (as in the thread view).
WHEN = Coalesce("date", "created_at")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Term:
    text: str  # as typed, for PostgreSQL's parser
    words: tuple[str, ...]  # lower-cased letters and digits


@dataclass(frozen=True)
class SearchPage:
    messages: list[Message]
    older: Cursor | None  # the cursor for the next page (date and id of its last hit), None on the last page


def terms_of(query: str) -> list[Term]:
    """The query's terms that have words. Words are letters and digits only, so nothing the user types
    can reach either engine's query syntax; the text goes only to phraseto_tsquery, which has none."""
    terms = [Term(part, tuple(_WORD.findall(part.lower()))) for part in query.split()]
    return [term for term in terms if term.words][:MAX_TERMS]


def search(
    organization: Organization,
    mailboxes: QuerySet[Mailbox],
    query: str,
    before: Cursor | None = None,
    limit: int = 50,
) -> SearchPage:
    """A page of messages matching `query` in `mailboxes`, newest first by date; `before` is the cursor
    (`SearchPage.older`) of the page before. An empty query finds nothing."""
    terms = terms_of(query)
    if not terms:
        return SearchPage([], None)
    placed = Placement.objects.filter(message=OuterRef("pk"), mailbox__in=mailboxes)
    candidates = Message.objects.filter(organization=organization).filter(Exists(placed)).annotate(when=WHEN)
    found = _newest_matches(candidates, terms, before, limit + 1)
    older = _position(found[limit - 1]) if len(found) > limit else None
    return SearchPage(found[:limit], older)


def _position(message: Message) -> Cursor:
    """The message's place in the results: WHEN, then the id."""
    return Cursor(message.date or message.created_at, message.pk)


def _older_than(cursor: Cursor) -> Q:
    # The redundant `lte` bounds the index range scan; the OR picks the tie-break by id.
    return Q(when__lte=cursor.at) & (Q(when__lt=cursor.at) | Q(when=cursor.at, pk__lt=cursor.id))


def _newest_matches(
    candidates: QuerySet[Message], terms: list[Term], before: Cursor | None, count: int
) -> list[Message]:
    """The newest `count` candidates older than `before` that match every term. Neither engine reads a
    term's matches in date order, and both planners misjudge how many there are, so this decides: when
    some term has at most RARE_MATCHES matches (and at most RARE_UNINDEXED possible ones among bodies not
    indexed yet), only those ids are checked and sorted; otherwise every term is common, and the
    candidates are walked newest first down the message_org_when index, each checked by an index seek
    per term, until `count` match."""
    rare = _rare_term_ids(terms)
    if rare is not None:
        return _newest_among(candidates, terms, rare, before, count)
    if before is not None:
        candidates = candidates.filter(_older_than(before))
    for term in terms:
        candidates = candidates.filter(_term_matches_row(term))
    return list(candidates.select_related("thread").order_by("-when", "-pk")[:count])


def _newest_among(
    candidates: QuerySet[Message], terms: list[Term], ids: list[int], before: Cursor | None, count: int
) -> list[Message]:
    """The newest `count` candidates of `ids` older than `before` that match every term, sorted and cut
    here: given an ORDER BY or a date bound, SQLite walks the message_org_when index for these few ids
    instead of looking each one up."""
    matching = candidates.filter(pk__in=ids)
    for term in terms:
        matching = matching.filter(_term_matches_among(term, ids))
    edge = (before.at, before.id) if before is not None else None
    rows = matching.values_list("date", "created_at", "pk")
    positions = sorted(((date or created, pk) for date, created, pk in rows), reverse=True)
    newest = [pk for when, pk in positions if edge is None or (when, pk) < edge][:count]
    found = Message.objects.select_related("thread").in_bulk(newest)
    return [found[pk] for pk in newest]


def _rare_term_ids(terms: list[Term]) -> list[int] | None:
    """The ids matching the first term that matches at most RARE_MATCHES messages, if one does. On
    PostgreSQL they may include bodies not indexed yet that only hold the term's words (see the probe):
    the caller checks every candidate exactly."""
    postgres = connection.vendor == "postgresql"
    probe = _POSTGRES_PROBE if postgres else _SQLITE_PROBE
    with connection.cursor() as cursor:
        for term in terms:
            cursor.execute(probe, _probe_params(term, RARE_MATCHES + 1))
            rows = cursor.fetchall()
            if postgres and sum(1 for row in rows if row[1]) > RARE_UNINDEXED:  # row[1]: not indexed yet
                continue
            ids = sorted({row[0] for row in rows})
            if len(ids) <= RARE_MATCHES:
                return ids
    return None


def _probe_params(term: Term, limit: int) -> list[str | int | list[str]]:
    """The parameters of the probe: each part takes the term's query and the limit. Three parts on
    PostgreSQL (head, indexed bodies, and bodies not indexed yet, whose part takes the words instead of
    the query), two on SQLite."""
    part: list[str | int | list[str]] = [*_engine_query(term), limit]
    if connection.vendor == "postgresql":
        return [*part, *part, list(term.words), RARE_UNINDEXED + 1]
    return part * 2


def _engine_query(term: Term) -> tuple[str, ...]:
    """The parameters of one term's match: for PostgreSQL the words (letters and digits only) as a
    tsquery of adjacent words and the text as typed for phraseto_tsquery, for SQLite the words as an FTS5
    phrase."""
    if connection.vendor == "postgresql":
        return " <-> ".join(f"'{word}'" for word in term.words), term.text
    return ('"' + " ".join(term.words) + '"',)


def _term_matches_among(term: Term, ids: list[int]) -> Q | RawSQL:
    """Messages of `ids` that match the term. PostgreSQL would otherwise work out every match of a common
    word before intersecting it with the few ids; FTS5 seeks each id."""
    if connection.vendor != "postgresql":
        return _term_matches_row(term)
    query = _engine_query(term)
    params = (*query, ids, *_body_matches(term), ids)
    return Q(pk__in=RawSQL(_POSTGRES_MATCHES_AMONG, params))  # noqa: S611


def _term_matches_row(term: Term) -> RawSQL:
    """The outer message's subject, sender or body matches the term."""
    if connection.vendor == "postgresql":
        params: tuple[object, ...] = (*_engine_query(term), *_body_matches(term))
        return RawSQL(_POSTGRES_MATCHES_ROW, params, output_field=BooleanField())  # noqa: S611
    return RawSQL(_SQLITE_MATCHES_ROW, _engine_query(term) * 2, output_field=BooleanField())  # noqa: S611


def _body_matches(term: Term) -> tuple[object, ...]:
    """The parameters of `_BODY_MATCHES` (PostgreSQL) for the term."""
    query = _engine_query(term)
    return (*query, list(term.words), *query)
