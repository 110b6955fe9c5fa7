from django.apps import AppConfig


class MailboxesConfig(AppConfig):
    name = "postroom.mailboxes"
    label = "mailboxes"
