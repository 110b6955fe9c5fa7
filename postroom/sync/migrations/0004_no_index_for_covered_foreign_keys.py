"""Placement's mailbox and folder keys lose their own indexes (placement_mailbox_message and
placement_unique_uid lead with them), and placement_message goes: it repeated the message key's index."""

from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0001_initial"),
        ("sync", "0003_idle_watch"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="placement", name="placement_message"),
        drop_covered_index(
            "sync_placement",
            "sync_placement_mailbox_id_e44b58cc",
            "placement",
            "mailbox",
            to="mailboxes.mailbox",
            on_delete=CASCADE,
            related_name="placements",
        ),
        drop_covered_index(
            "sync_placement",
            "sync_placement_folder_id_fd1a6500",
            "placement",
            "folder",
            to="sync.folder",
            on_delete=CASCADE,
            related_name="placements",
        ),
    ]
