"""Message's organization and thread keys lose their own indexes: message_identity_per_org and
message_thread_date lead with those columns and serve every lookup the single-column ones did."""

from django.db import migrations
from django.db.models import CASCADE, PROTECT

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0006_body_search_vector_filled_after_sync"),
        ("organizations", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "mail_message",
            "mail_message_organization_id_4aec77bc",
            "message",
            "organization",
            to="organizations.organization",
            on_delete=CASCADE,
            related_name="+",
        ),
        drop_covered_index(
            "mail_message",
            "mail_message_thread_id_a84c19ad",
            "message",
            "thread",
            to="mail.thread",
            on_delete=PROTECT,
            related_name="messages",
        ),
    ]
