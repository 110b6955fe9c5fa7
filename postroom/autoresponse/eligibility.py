"""Whether a message may be answered automatically at all (MISSION M7, RFC 3834), before any rule runs.

`refusal` returns the reason not to answer, or "" when the message is eligible. The checks are ordered
cheapest and most telling first; each reason is written for the admin reading it on the message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from postroom.crm.conversion import own_addresses
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.outbox.models import OutgoingMessage
from postroom.outbox.send import is_our_message_id
from postroom.processing import batchcache

INCOMING_FOLDERS = {"inbox", "other"}
AUTOMATED_PRECEDENCE = {"bulk", "list", "junk"}
SUPPRESSING = {"all", "autoreply", "oof"}
# Local parts of addresses that are not read by people: no-reply@, noreply-123@, mailer-daemon@ ...
_MACHINE_LOCAL_PART = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?)"
    r"([-+_.].*)?$",
    re.IGNORECASE,
)


def reply_address(message: Message) -> str:
    """Where a reply goes: the first Reply-To address, else the From address (lower case)."""
    for _name, address in message.reply_to:
        if str(address).strip():
            return str(address).strip().lower()
    return message.from_address.strip().lower()


def refusal(message: Message, mailbox: Mailbox, folder_kind: str) -> str:
    """Why `message`, found in a folder of `folder_kind` of `mailbox`, must not be answered; "" if it may."""
    if folder_kind not in INCOMING_FOLDERS:
        return f"Not an incoming folder ({folder_kind}): only mail in the Inbox or user folders is answered."
    return automated(message) or _ours(message, mailbox) or _unanswerable_sender(message)


def automated(message: Message) -> str:
    """Why `message` looks machine-sent (RFC 3834 and common practice); "" when it looks human."""
    auto_submitted = message.auto_submitted.strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Automated message (Auto-Submitted: {message.auto_submitted})."
    if message.precedence.strip().lower() in AUTOMATED_PRECEDENCE:
        return f"Automated message (Precedence: {message.precedence})."
    if message.list_id or message.list_unsubscribe:
        return "Mailing-list message (List-Id or List-Unsubscribe)."
    if message.x_autoreply:
        return "Automatic reply (X-Autoreply/X-Autorespond)."
    suppress = {part.strip().lower() for part in message.x_auto_response_suppress.split(",")}
    if suppress & SUPPRESSING:
        header = message.x_auto_response_suppress
        return f"The sender asked for no automatic replies (X-Auto-Response-Suppress: {header})."
    if message.is_delivery_report:
        return "Delivery report (multipart/report)."
    return_path = message.return_path.strip().strip("<>").lower()
    if message.return_path.strip() == "<>" or _is_machine(return_path):
        return f"Bounce or system message (Return-Path: {message.return_path})."
    return ""


_OURS = "autoresponse.ours"  # batchcache key: Message-IDs of the batch's messages that Postroom sent


def prepare(organization_id: int, messages: Sequence[Message]) -> None:
    """Load which of a processing batch's messages Postroom sent itself: one query for the batch."""
    ids = {m.message_id for m in messages if m.message_id}
    sent = OutgoingMessage.objects.filter(organization_id=organization_id, message_id__in=ids)
    batchcache.remember(_OURS, (organization_id, set(sent.values_list("message_id", flat=True))))


def _sent_by_us(organization_id: int, message_id: str) -> bool:
    known: tuple[int, set[str]] | None = batchcache.recall(_OURS)
    if known is not None and known[0] == organization_id and message_id:
        return message_id in known[1]
    return is_our_message_id(organization_id, message_id)


def _ours(message: Message, mailbox: Mailbox) -> str:
    if _sent_by_us(mailbox.organization_id, message.message_id):
        return "Postroom sent this message itself."
    own = own_addresses(mailbox.organization)  # read once per processing batch
    for address in (message.from_address.strip().lower(), reply_address(message)):
        if address in own:
            return f"Sent by a mailbox of this organization ({address})."
    return ""


def _unanswerable_sender(message: Message) -> str:
    target = reply_address(message)
    if not target or "@" not in target:
        return "No sender address to answer."
    for address in {message.from_address.strip().lower(), target}:
        if address and _is_machine(address):
            return f"No-reply or system sender ({address})."
    return ""


def _is_machine(address: str) -> bool:
    local = address.rsplit("@", 1)[0] if address else ""
    return bool(local) and _MACHINE_LOCAL_PART.match(local) is not None
