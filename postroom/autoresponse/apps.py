from django.apps import AppConfig


class AutoresponseConfig(AppConfig):
    name = "postroom.autoresponse"
    label = "autoresponse"
