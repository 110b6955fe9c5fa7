"""What the configuration menu's Quick Search needs beyond the page: the organization's mailboxes, so
typing a mailbox's label finds it from any configuration page (see static postroom/quicksearch.js)."""

from __future__ import annotations

from django import template

from postroom.mailboxes.models import Mailbox
from postroom.organizations.access import OrgAccess

register = template.Library()


@register.simple_tag
def configuration_mailboxes(access: OrgAccess) -> list[Mailbox]:
    """The organization's mailboxes by label (for configurers, who may open every one of them)."""
    if not access.can_configure:
        return []
    mailboxes = Mailbox.objects.filter(organization=access.organization).order_by("label")
    return list(mailboxes.only("pk", "label", "email"))
