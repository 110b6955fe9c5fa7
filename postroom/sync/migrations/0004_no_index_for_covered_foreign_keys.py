"""Placement's mailbox and folder keys lose their own indexes (placement_mailbox_message and
placement_unique_uid lead with them), and placement_message goes: it repeated the message key's index."""

import django.db.models.deletion
from django.db import migrations, models

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0001_initial"),
        ("sync", "0003_idle_watch"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="placement", name="placement_message"),
        drop_covered_index(
            "placement",
            "mailbox",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="placements",
                to="mailboxes.mailbox",
            ),
            "sync_placement",
            "sync_placement_mailbox_id_e44b58cc",
        ),
        drop_covered_index(
            "placement",
            "folder",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="placements",
                to="sync.folder",
            ),
            "sync_placement",
            "sync_placement_folder_id_fd1a6500",
        ),
    ]
