"""Foreign keys that lose their own index, because a composite index of the same table leads with the
column (see postroom.schema.drop_covered_index): Role.organization, Membership.user."""

from django.conf import settings
from django.db import migrations
from django.db.models import CASCADE

from postroom.schema import drop_covered_index


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        drop_covered_index(
            "organizations_role",
            "organizations_role_organization_id_6300e303",
            "role",
            "organization",
            to="organizations.organization", on_delete=CASCADE, related_name="roles",
        ),
        drop_covered_index(
            "organizations_membership",
            "organizations_membership_user_id_a8e72055",
            "membership",
            "user",
            to=settings.AUTH_USER_MODEL, on_delete=CASCADE, related_name="memberships",
        ),
    ]
