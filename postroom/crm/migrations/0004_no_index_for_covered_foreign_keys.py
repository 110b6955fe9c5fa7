"""Foreign keys that lose their own index, because a composite index of the same table leads with the
column (see postroom.schema.drop_covered_index): LeadSource.organization, ThreadRecord.organization, RecordCounter.organization, Lead.organization, Case.organization."""

from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0003_lead_language"),
        ("organizations", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "crm_leadsource",
            "crm_leadsource_organization_id_48b365ac",
            "leadsource",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="lead_sources",
        ),
        drop_covered_index(
            "crm_threadrecord",
            "crm_threadrecord_organization_id_2998bba5",
            "threadrecord",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+",
        ),
        drop_covered_index(
            "crm_recordcounter",
            "crm_recordcounter_organization_id_daddace1",
            "recordcounter",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+",
        ),
        drop_covered_index(
            "crm_lead",
            "crm_lead_organization_id_8a7c6337",
            "lead",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+",
        ),
        drop_covered_index(
            "crm_case",
            "crm_case_organization_id_38a92482",
            "case",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+",
        ),
    ]
