"""InboundJob's mailbox key loses its own index: inboundjob_once_per_mailbox and inboundjob_mailbox_status
lead with it."""

from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0001_initial"),
        ("processing", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "processing_inboundjob",
            "processing_inboundjob_mailbox_id_54ca90de",
            "inboundjob",
            "mailbox",
            to="mailboxes.mailbox",
            on_delete=CASCADE,
            related_name="inbound_jobs",
        ),
    ]
