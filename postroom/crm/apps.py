from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "postroom.crm"
    label = "crm"
    verbose_name = "CRM"
