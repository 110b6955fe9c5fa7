"""Errors of the JSON API and the one JSON shape each takes.

Every failure answers `{"detail": "..."}`; a validation failure (422) adds `errors`, a map from field name
to messages, the same messages the web forms show beside their fields. Nothing here echoes submitted
values back, so a mistyped password can never come back in an error body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError as RequestValidationError

INVALID = "Some fields are not valid."
NON_FIELD = "__all__"


class FieldErrors(Exception):
    """Input that breaks a rule of the product: answered with 422 and the messages per field."""

    def __init__(self, errors: Mapping[str, list[str]], detail: str = INVALID) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = {field: list(messages) for field, messages in errors.items()}

    @classmethod
    def single(cls, field: str, message: str) -> FieldErrors:
        return cls({field: [message]})

    @classmethod
    def from_form(cls, form: BaseForm) -> FieldErrors:
        return cls({field: [str(message) for message in messages] for field, messages in form.errors.items()})


class Conflict(Exception):
    """The request is valid but would break the organization's state (e.g. remove its last admin): 409."""


def _field_of(loc: Iterable[Any]) -> str:
    """The field a pydantic error location points at: ("body", "payload", "label", 0) -> "label"."""
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        parts = parts[2:]  # drop "body" and the payload parameter's name
    elif parts:
        parts = parts[1:]  # "path" / "query"
    return parts[0] if parts else NON_FIELD


def _request_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(_field_of(error.get("loc", ())), []).append(str(error.get("msg", "Invalid value.")))
    return errors


# Answers any operation can give beyond those it documents itself: ninja refuses a body that is not JSON
# (400) and a parameter of the wrong type (422) before the operation runs, and the token check throttles
# an address that keeps sending wrong tokens (429).
COMMON_ERRORS: dict[int, tuple[str, str]] = {
    400: ("ErrorOut", "The body is not valid JSON."),
    422: ("ValidationErrorOut", "A parameter or field is not valid."),
    429: ("ErrorOut", "Too many refused tokens from this address; try again later."),
}


def document_common_errors(schema: dict[str, Any]) -> None:
    """Add COMMON_ERRORS to every operation of an OpenAPI `schema`, so it lists every status it can get."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            for status, (component, description) in COMMON_ERRORS.items():
                content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}
                operation["responses"].setdefault(status, {"description": description, "content": content})


def install_handlers(api: NinjaAPI) -> None:
    """Give every error the shapes above (ninja's defaults differ, and would echo rejected input)."""

    def field_errors(request: HttpRequest, exc: FieldErrors) -> HttpResponse:
        return api.create_response(request, {"detail": exc.detail, "errors": exc.errors}, status=422)

    def request_errors(request: HttpRequest, exc: RequestValidationError) -> HttpResponse:
        body = {"detail": INVALID, "errors": _request_errors(exc)}
        return api.create_response(request, body, status=422)

    def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return api.create_response(request, {"detail": str(exc) or "Forbidden."}, status=403)

    def conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
        return api.create_response(request, {"detail": str(exc)}, status=409)

    # ninja's stub types a handler's exception as `E | type[E]`; it is always called with an instance.
    api.add_exception_handler(FieldErrors, field_errors)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, request_errors)  # type: ignore[arg-type]
    api.add_exception_handler(PermissionDenied, forbidden)  # type: ignore[arg-type]
    api.add_exception_handler(Conflict, conflict)  # type: ignore[arg-type]
