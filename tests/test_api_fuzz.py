"""Fuzzing the JSON API from its own OpenAPI schema (Schemathesis): whatever an authenticated organization
admin sends, the API never answers 500, and every answer matches the schema (status code documented,
body of the documented shape, JSON content type).

Bounded: a few examples per operation, so the whole run stays well under a minute. Connection checks are
left out: they reach for whatever host the fuzzer invents.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_helpers import token_for
from tests.conftest import Cast
from tests.factories import make_lead_source, make_mailbox

APP = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP).exclude(path_regex=r"/check$")

# What the API promises: no 500, only documented status codes, and bodies and content types as documented.
# (Schemathesis's acceptance checks are left out: the schema cannot express the product's rules, such as a
# mailbox needing an owner when it converts mail, so valid-looking input is rightly refused with 422.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,  # the same inputs every run: a failure here is reproducible, not flaky
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.fixture
def admin_headers(cast: Cast) -> Iterator[dict[str, str]]:
    # Something of each kind to find, so ids guessed by the fuzzer sometimes hit a real object.
    make_mailbox(cast.acme)
    make_lead_source(cast.acme, "Email")
    # The WSGI handler closes the connection around each request; that would close the test's transaction
    # (Django's test client disconnects these signals for the same reason).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield {"Authorization": f"Bearer {token_for(cast.platform_admin)}"}
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ
def test_api_answers_every_generated_request_within_its_schema(
    case: Any, admin_headers: dict[str, str]
) -> None:
    if "slug" in (case.path_parameters or {}):
        case.path_parameters["slug"] = "acme"  # mostly inside the organization, not only 404s
    case.call_and_validate(headers=admin_headers, checks=CHECKS)
