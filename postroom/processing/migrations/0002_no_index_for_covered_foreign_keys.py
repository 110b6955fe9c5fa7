"""InboundJob's mailbox key loses its own index: inboundjob_once_per_mailbox and inboundjob_mailbox_status
lead with it."""

import django.db.models.deletion
from django.db import migrations, models

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0001_initial"),
        ("processing", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "inboundjob",
            "mailbox",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="inbound_jobs",
                to="mailboxes.mailbox",
            ),
            "processing_inboundjob",
            "processing_inboundjob_mailbox_id_54ca90de",
        ),
    ]
