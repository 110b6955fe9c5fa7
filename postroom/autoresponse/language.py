"""What we know of the language a sender reads, for choosing a reply's translation (MISSION M7): the
language on their lead, and the Accept-Language header of their message.

Accept-Language is not among the headers the message model keeps, so it is read from the message's
stored raw header block (parsing only the headers, never the body).
"""

from __future__ import annotations

import re

from django.db.models.functions import Lower, Substr

from postroom.crm.models import Lead
from postroom.messages.models import Message, MessageRaw

HEADER_BLOCK_LIMIT = 256 * 1024  # bytes of a raw message searched for the end of its headers
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def contact_language(organization_id: int, address: str) -> str:
    """The language on the newest lead of `address` in the organization that has one; "" if none."""
    if not address.strip():
        return ""
    language = (
        Lead.objects.annotate(email_lower=Lower("email"))
        .filter(organization_id=organization_id, email_lower=address.strip().lower())
        .exclude(language="")
        .order_by("-created_at", "-pk")
        .values_list("language", flat=True)
        .first()
    )
    return language or ""


def accept_language(message: Message) -> str:
    """The Accept-Language header of a stored message; "" when it has none. Only the start of the raw
    message is read from the database: the header block, not the attachments."""
    head = (
        MessageRaw.objects.filter(message=message)
        .values_list(Substr("data", 1, HEADER_BLOCK_LIMIT), flat=True)
        .first()
    )
    return header_value(bytes(head), "Accept-Language") if head is not None else ""


def header_value(raw: bytes, name: str) -> str:
    """Header `name` of raw RFC 5322 bytes (its first occurrence, unfolded), white space collapsed; ""
    when missing. A plain scan of the header block: the value is read as Latin-1, which keeps ASCII
    values (all that Accept-Language may hold) exactly."""
    head = raw[:HEADER_BLOCK_LIMIT]
    end = _HEADER_END.search(head)
    lines = (head[: end.start()] if end else head).decode("latin-1").splitlines()
    wanted = name.lower() + ":"
    for index, line in enumerate(lines):
        if line[: len(wanted)].lower() == wanted:
            value = [line[len(wanted) :]]
            for more in lines[index + 1 :]:  # folded continuation lines
                if more[:1] not in (" ", "\t"):
                    break
                value.append(more)
            return " ".join(" ".join(value).split())
    return ""
