"""Foreign keys that lose their own index, because a composite index of the same table leads with the
column (see postroom.schema.drop_covered_index): AuditEntry.organization."""

from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_lead_language_entries"),
        ("organizations", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "audit_auditentry",
            "audit_auditentry_organization_id_ccde4cfe",
            "auditentry",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+", null=True, blank=True,
        ),
    ]
