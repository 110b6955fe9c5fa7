from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "postroom.processing"
    label = "processing"
    verbose_name = "Inbound processing"
