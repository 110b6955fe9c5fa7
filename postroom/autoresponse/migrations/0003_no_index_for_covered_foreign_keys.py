"""Foreign keys that lose their own index, because a composite index of the same table leads with the
column (see postroom.schema.drop_covered_index): Translation.template, AutoReply.rule, SenderThrottle.mailbox."""

from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("autoresponse", "0002_initial"),
        ("organizations", "0001_initial"),
        ("mailboxes", "0001_initial"),
    ]

    operations = [
        drop_covered_index(
            "autoresponse_translation",
            "autoresponse_translation_template_id_55cf773e",
            "translation",
            "template",
            to="autoresponse.emailtemplate", on_delete=CASCADE, related_name="translations",
        ),
        drop_covered_index(
            "autoresponse_autoreply",
            "autoresponse_autoreply_rule_id_7170ff95",
            "autoreply",
            "rule",
            to="autoresponse.rule", on_delete=CASCADE, related_name="replies",
        ),
        drop_covered_index(
            "autoresponse_senderthrottle",
            "autoresponse_senderthrottle_mailbox_id_479b99fd",
            "senderthrottle",
            "mailbox",
            to="mailboxes.mailbox", on_delete=CASCADE, related_name="+",
        ),
    ]
