"""Template access to the writing side of a thread: may the user answer this message, and what became of
the ones Postroom sent (one include per message in the thread view, `postroom/compose/_actions.html`).
The thread view computes both for the whole thread at once (`answerable_messages`, `deliveries_of`);
these tags only look a message up in them."""

from __future__ import annotations

from django import template

from postroom.messages.models import Message
from postroom.outbox.delivery import Delivery

register = template.Library()


@register.simple_tag
def can_answer(answerable: set[int], message: Message) -> bool:
    """Whether the user may reply to or forward `message`: it is in a mailbox they may read and send from."""
    return message.pk in answerable


@register.simple_tag
def message_delivery(deliveries: dict[int, Delivery], message: Message) -> Delivery | None:
    """The delivery state of a message Postroom sent; None for mail it received."""
    return deliveries.get(message.pk)
