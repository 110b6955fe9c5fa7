from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "postroom.operations"
    label = "operations"
