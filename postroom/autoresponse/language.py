"""What we know of the language a sender reads, for choosing a reply's translation (MISSION M7): the
language on their lead, and the Accept-Language header of their message.

Accept-Language is not among the headers the message model keeps, so it is read from the message's
stored raw header block (parsing only the headers, never the body).
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import default as default_policy

from django.db.models.functions import Lower

from postroom.crm.models import Lead
from postroom.messages.models import Message, MessageRaw

HEADER_BLOCK_LIMIT = 256 * 1024  # bytes of a raw message searched for the end of its headers


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
    """The Accept-Language header of a stored message; "" when it has none."""
    raw = MessageRaw.objects.filter(message=message).values_list("data", flat=True).first()
    return header_value(bytes(raw), "Accept-Language") if raw is not None else ""


def header_value(raw: bytes, name: str) -> str:
    """Header `name` of raw RFC 5322 bytes, white space collapsed; "" when missing."""
    head = raw[:HEADER_BLOCK_LIMIT]
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = head.find(separator)
        if end >= 0:
            head = head[: end + len(separator)]
            break
    value = BytesHeaderParser(policy=default_policy).parsebytes(head).get(name)
    return " ".join(str(value).split()) if value is not None else ""
