"""Foreign keys that lose their own index, because a composite index of the same table leads with the
column (see postroom.schema.drop_covered_index): Thread.organization, ThreadKey.organization, ThreadRead.user."""

from django.conf import settings
from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0007_no_index_for_covered_foreign_keys"),
        ("organizations", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        drop_covered_index(
            "mail_thread",
            "mail_thread_organization_id_71059a37",
            "thread",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+",
        ),
        drop_covered_index(
            "mail_threadkey",
            "mail_threadkey_organization_id_87c3ae4a",
            "threadkey",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="+",
        ),
        drop_covered_index(
            "mail_threadread",
            "mail_threadread_user_id_b0aaca4e",
            "threadread",
            "user",
            to=settings.AUTH_USER_MODEL, on_delete=CASCADE, related_name="+",
        ),
    ]
