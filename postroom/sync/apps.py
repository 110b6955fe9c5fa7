from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "postroom.sync"
    label = "sync"
