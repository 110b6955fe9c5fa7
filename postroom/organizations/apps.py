from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "postroom.organizations"
    label = "organizations"
