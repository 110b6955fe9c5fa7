"""Foreign keys that lose their own index, because a composite index of the same table leads with the
column (see postroom.schema.drop_covered_index): Folder.organization, Folder.mailbox."""

from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0004_no_index_for_covered_foreign_keys"),
        ("organizations", "0001_initial"),
        ("mailboxes", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "sync_folder",
            "sync_folder_organization_id_1228c7a0",
            "folder",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+",
        ),
        drop_covered_index(
            "sync_folder",
            "sync_folder_mailbox_id_cb5e8828",
            "folder",
            "mailbox",
            to="mailboxes.mailbox", on_delete=CASCADE, related_name="folders",
        ),
    ]
