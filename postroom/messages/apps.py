from django.apps import AppConfig


class MessagesConfig(AppConfig):
    name = "postroom.messages"
    label = "mail"  # "messages" is taken by django.contrib.messages
