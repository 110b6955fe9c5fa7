"""Foreign keys that lose their own index, because a composite index of the same table leads with the
column (see postroom.schema.drop_covered_index): Mailbox.organization."""

from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0001_initial"),
        ("organizations", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "mailboxes_mailbox",
            "mailboxes_mailbox_organization_id_ad570054",
            "mailbox",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="mailboxes",
        ),
    ]
