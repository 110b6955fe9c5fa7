"""Full-text search over the mail a member may see: subject, sender and plain-text body.

PostgreSQL matches GIN-indexed `tsvector` expressions (`HEAD_VECTOR`, `BODY_VECTOR`, created by migration
mail 0004 from these very strings); SQLite matches FTS5 tables kept current by triggers. Both read a query
the same way: whitespace separates terms, every term must occur (in the subject, the sender or the body),
the words inside one term must be adjacent (so `ann@example.org` finds that address), and words match
whole words, in any case (no prefixes: without a prefix index FTS5 reads a prefix's whole index, which
costs a second at a million messages).

Results are messages placed in one of the mailboxes given (start from `visible_mailboxes`), newest stored
first, paged by keyset on the message id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
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
# Both vectors are stored generated columns of this name (migration mail 0004), so they are computed once.
SEARCH_COLUMN = "search_vector"

# The user's words are always query parameters. Each term is one `id IN (head matches UNION body
# matches)`, limited to an id window (see `_newest_matches`).
_POSTGRES_MATCHES = (
    "SELECT id FROM mail_message WHERE search_vector @@ to_tsquery('simple', %s) AND id >= %s AND id < %s"
    " UNION SELECT message_id FROM mail_messagebody WHERE search_vector @@ to_tsquery('simple', %s)"
    " AND message_id >= %s AND message_id < %s"
)
_POSTGRES_PROBE = (
    "(SELECT id FROM mail_message WHERE search_vector @@ to_tsquery('simple', %s) LIMIT %s) UNION ALL"
    " (SELECT message_id FROM mail_messagebody WHERE search_vector @@ to_tsquery('simple', %s) LIMIT %s)"
)
_POSTGRES_MATCHES_AMONG = (
    "SELECT id FROM mail_message WHERE search_vector @@ to_tsquery('simple', %s) AND id = ANY(%s)"
    " UNION SELECT message_id FROM mail_messagebody WHERE search_vector @@ to_tsquery('simple', %s)"
    " AND message_id = ANY(%s)"
)
_SQLITE_MATCHES = (
    "SELECT rowid FROM mail_search_head WHERE mail_search_head MATCH %s AND rowid >= %s AND rowid < %s"
    " UNION SELECT rowid FROM mail_search_body WHERE mail_search_body MATCH %s AND rowid >= %s AND rowid < %s"
)
_SQLITE_PROBE = (
    "SELECT * FROM (SELECT rowid FROM mail_search_head WHERE mail_search_head MATCH %s LIMIT %s) UNION ALL"
    " SELECT * FROM (SELECT rowid FROM mail_search_body WHERE mail_search_body MATCH %s LIMIT %s)"
)

MAX_TERMS = 8
RARE_MATCHES = 5000
FIRST_WINDOW = 1_000  # message ids
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class SearchPage:
    messages: list[Message]
    older: int | None  # the cursor for the next page (a message id), None on the last page


def terms_of(query: str) -> list[list[str]]:
    """The query's terms, each as its lower-cased words; words are letters and digits only, so nothing
    the user types can reach either engine's query syntax."""
    terms = [_WORD.findall(part.lower()) for part in query.split()]
    return [words for words in terms if words][:MAX_TERMS]


def search(
    organization: Organization,
    mailboxes: QuerySet[Mailbox],
    query: str,
    before: int | None = None,
    limit: int = 50,
) -> SearchPage:
    """A page of messages matching `query` in `mailboxes`, newest stored first; `before` is the cursor
    (`SearchPage.older`) of the page before. An empty query finds nothing."""
    terms = terms_of(query)
    if not terms:
        return SearchPage([], None)
    placed = Placement.objects.filter(message=OuterRef("pk"), mailbox__in=mailboxes)
    candidates = Message.objects.filter(organization=organization).filter(Exists(placed))
    found = _newest_matches(candidates, terms, before, limit + 1)
    older = found[limit - 1].pk if len(found) > limit else None
    return SearchPage(found[:limit], older)


def _newest(messages: QuerySet[Message], count: int) -> list[Message]:
    return list(messages.select_related("thread").order_by("-pk")[:count])


def _newest_matches(
    candidates: QuerySet[Message], terms: list[list[str]], before: int | None, count: int
) -> list[Message]:
    """The newest `count` matches below `before`. Neither engine can read a term's matches newest first,
    and both planners misjudge how many there are, so this decides: when some term has at most
    RARE_MATCHES matches, those ids are looked up directly; otherwise matches are read in id windows
    from the top down, each twice as wide as the last, so a word in every message costs one small window
    and a sparse word a handful, never the whole index at once."""
    top = before if before is not None else (Message.objects.aggregate(top=Max("pk"))["top"] or 0) + 1
    rare = _rare_term_ids(terms)
    if rare is not None:
        rare = [pk for pk in rare if pk < top]
        candidates = candidates.filter(pk__in=rare)
        for words in terms:
            candidates = candidates.filter(_term_matches_among(words, rare, top))
        return _newest(candidates, count)
    found: list[Message] = []
    width = FIRST_WINDOW
    while top > 0 and len(found) < count:
        low = max(top - width, 0)
        window = candidates.filter(pk__gte=low, pk__lt=top)
        for words in terms:
            window = window.filter(_term_matches(words, low, top))
        found += _newest(window, count - len(found))
        top, width = low, width * 2
    return found


def _rare_term_ids(terms: list[list[str]]) -> list[int] | None:
    """The ids matching the first term that matches at most RARE_MATCHES messages, if one does."""
    with connection.cursor() as cursor:
        for words in terms:
            query = _engine_query(words)
            probe = _POSTGRES_PROBE if connection.vendor == "postgresql" else _SQLITE_PROBE
            cursor.execute(probe, (query, RARE_MATCHES + 1, query, RARE_MATCHES + 1))
            ids = sorted({row[0] for row in cursor.fetchall()})
            if len(ids) <= RARE_MATCHES:
                return ids
    return None


def _engine_query(words: list[str]) -> str:
    """The words (letters and digits only) as adjacent words: a tsquery or an FTS5 phrase."""
    if connection.vendor == "postgresql":
        return " <-> ".join(f"'{word}'" for word in words)
    return '"' + " ".join(words) + '"'


def _term_matches_among(words: list[str], ids: list[int], top: int) -> Q:
    """Messages of `ids` (below `top`) that have the words. PostgreSQL would otherwise work out every
    match of a common word before intersecting it with the few ids."""
    if connection.vendor != "postgresql":
        return _term_matches(words, 0, top)
    query = _engine_query(words)
    return Q(pk__in=RawSQL(_POSTGRES_MATCHES_AMONG, (query, ids, query, ids)))  # noqa: S611


def _term_matches(words: list[str], low: int, high: int) -> Q:
    """Messages with ids in [low, high) whose subject, sender or body has the words."""
    query = _engine_query(words)
    sql = _POSTGRES_MATCHES if connection.vendor == "postgresql" else _SQLITE_MATCHES
    return Q(pk__in=RawSQL(sql, (query, low, high, query, low, high)))  # noqa: S611
