"""Template access to the inbound pipeline's problems, so the mailbox page can list them with one include."""

from __future__ import annotations

from django import template

from postroom.mailboxes.models import Mailbox
from postroom.processing.models import InboundJob
from postroom.processing.runner import failing_jobs

register = template.Library()


@register.simple_tag
def mailbox_failing_jobs(mailbox: Mailbox | None) -> list[InboundJob]:
    """Jobs of `mailbox` that failed for good or wait to retry after a failure (none for a new mailbox)."""
    return failing_jobs(mailbox.pk) if mailbox is not None and mailbox.pk else []
