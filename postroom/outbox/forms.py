"""The compose form: one validation for the web page and the API (see `postroom.outbox.compose`)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.parse import sanitize_filename
from postroom.outbox.compose import (
    MAX_SUBJECT_LENGTH,
    MAX_UPLOAD_BYTES,
    Draft,
    DraftRejected,
    Mode,
    Upload,
    parse_addresses,
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files from one input (Django's documented pattern for `multiple`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files if f]


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class ComposeForm(forms.Form):
    mailbox = forms.ModelChoiceField(queryset=Mailbox.objects.none(), label="From", empty_label=None)
    to = forms.CharField(label="To", max_length=10000, required=False)
    cc = forms.CharField(label="Cc", max_length=10000, required=False)
    bcc = forms.CharField(label="Bcc", max_length=10000, required=False)
    subject = forms.CharField(label="Subject", max_length=MAX_SUBJECT_LENGTH, required=False)
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 16}), required=False)
    attachments = MultipleFileField(
        label="Attachments",
        required=False,
        help_text=f"Up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB in all. "
        "Files must be chosen again if the form comes back with an error.",
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64, min_length=16)

    def __init__(self, *args: Any, mailboxes: QuerySet[Mailbox], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].queryset = mailboxes  # type: ignore[attr-defined]
        self.fields["to"].widget.attrs["autocomplete"] = "email"
        if not self.is_bound and "idempotency_key" not in self.initial:
            self.initial["idempotency_key"] = new_idempotency_key()

    def clean_to(self) -> list[tuple[str, str]]:
        return parse_addresses(self.cleaned_data["to"])

    def clean_cc(self) -> list[tuple[str, str]]:
        return parse_addresses(self.cleaned_data["cc"])

    def clean_bcc(self) -> list[tuple[str, str]]:
        return parse_addresses(self.cleaned_data["bcc"])

    def clean_attachments(self) -> list[UploadedFile]:
        files: list[UploadedFile] = self.cleaned_data["attachments"]
        if sum(f.size or 0 for f in files) > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"Attachments may be {MAX_UPLOAD_BYTES // (1024 * 1024)} MB in all.")
        return files

    def draft(self, mode: Mode, parent: Message | None) -> Draft:
        """The validated draft; call after is_valid()."""
        data = self.cleaned_data
        return Draft(
            mailbox=data["mailbox"],
            to=data["to"],
            cc=data["cc"],
            bcc=data["bcc"],
            subject=data["subject"],
            body=data["body"],
            attachments=[_upload(f) for f in data["attachments"]],
            mode=mode,
            parent=parent,
        )

    def add_rejection(self, rejected: DraftRejected) -> None:
        """Show the domain's objections beside their fields (a hidden field's above the form)."""
        for name, texts in rejected.errors.items():
            field = self.fields.get(name)
            for text in texts:
                self.add_error(name if field is not None and not field.widget.is_hidden else None, text)


def _upload(file: UploadedFile) -> Upload:
    content_type = file.content_type or "application/octet-stream"
    return Upload(sanitize_filename(file.name or "attachment"), content_type, file.read())
