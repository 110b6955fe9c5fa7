"""Message's organization and thread keys lose their own indexes: message_identity_per_org and
message_thread_date lead with those columns and serve every lookup the single-column ones did."""

import django.db.models.deletion
from django.db import migrations, models

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0006_body_search_vector_filled_after_sync"),
        ("organizations", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "message",
            "organization",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="organizations.organization",
            ),
            "mail_message",
            "mail_message_organization_id_4aec77bc",
        ),
        drop_covered_index(
            "message",
            "thread",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="messages",
                to="mail.thread",
            ),
            "mail_message",
            "mail_message_thread_id_a84c19ad",
        ),
    ]
