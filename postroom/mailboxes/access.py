"""Who may read which mailbox's mail. Every view, API call, search and count over stored mail starts from
`visible_mailboxes` or `readable_mailbox`, so a member never reaches mail of a mailbox not granted to them.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from postroom.mailboxes.models import Mailbox
from postroom.organizations.access import OrgAccess


def visible_mailboxes(access: OrgAccess) -> QuerySet[Mailbox]:
    """Mailboxes this user may read: all for configurers, else those granted to their roles or to them."""
    mailboxes = Mailbox.objects.filter(organization=access.organization)
    if access.can_configure:
        return mailboxes
    assert access.membership is not None
    granted = Q(access_roles__in=access.membership.roles.all()) | Q(access_users=access.user)
    # A subquery, not .distinct(): callers add their own ordering, annotations and counts.
    return mailboxes.filter(pk__in=Mailbox.objects.filter(granted).values("pk"))


def readable_mailbox(access: OrgAccess, mailbox_id: int) -> Mailbox:
    """The mailbox `mailbox_id` if the user may read it; Http404 otherwise (never revealing it exists)."""
    mailbox = visible_mailboxes(access).filter(pk=mailbox_id).first()
    if mailbox is None:
        raise Http404("No such mailbox.")
    return mailbox
