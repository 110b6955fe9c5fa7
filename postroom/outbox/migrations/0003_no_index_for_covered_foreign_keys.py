"""Foreign keys that lose their own index, because a composite index of the same table leads with the
column (see postroom.schema.drop_covered_index): OutgoingMessage.organization."""

from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0002_compose_idempotency_and_failing_index"),
        ("organizations", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "outbox_outgoingmessage",
            "outbox_outgoingmessage_organization_id_348541fb",
            "outgoingmessage",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+",
        ),
    ]
