from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "postroom.audit"
    label = "audit"

    def ready(self) -> None:
        from postroom.audit import recorder

        recorder.connect()
