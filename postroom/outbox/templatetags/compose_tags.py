"""Template access to the writing side of a thread: may the user answer this message, and what became of
the ones Postroom sent (one include per message in the thread view, `postroom/compose/_actions.html`)."""

from __future__ import annotations

from django import template

from postroom.messages.models import Message
from postroom.organizations.access import OrgAccess
from postroom.outbox.compose import reply_mailboxes
from postroom.outbox.delivery import Delivery, delivery, outgoing_of_message

register = template.Library()


@register.simple_tag
def can_answer(access: OrgAccess | None, message: Message) -> bool:
    """Whether the user may reply to or forward `message`: it is in a mailbox they may read and send from."""
    return access is not None and reply_mailboxes(access, message).exists()


@register.simple_tag
def message_delivery(message: Message) -> Delivery | None:
    """The delivery state of a message Postroom sent; None for mail it received."""
    row = outgoing_of_message(message.pk)
    return delivery(row) if row is not None else None
