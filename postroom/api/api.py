"""The Postroom JSON API, version 1, served under /api/v1/ with its OpenAPI schema at
/api/v1/openapi.json. Every operation needs `Authorization: Bearer <token>`.

The interactive docs page is disabled (docs_url=None): ninja's pages load their assets from a CDN, and
Postroom loads nothing from outside the install. The schema itself is the documentation.
"""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

from postroom.api import (
    audit,
    autoresponse,
    compose,
    configuration,
    crm,
    folders,
    lead_sources,
    mail,
    mailboxes,
    members,
    orgs,
    roles,
)
from postroom.api.auth import TokenAuth
from postroom.api.errors import document_common_errors, install_handlers


class PostroomAPI(NinjaAPI):
    """The API whose schema also lists the errors every operation can answer (`document_common_errors`)."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_common_errors(schema)
        return schema


api = PostroomAPI(
    title="Postroom API",
    version="1",
    description="Organizations, roles, members, system mailboxes, lead sources and settings of Postroom.",
    urls_namespace="api",
    docs_url=None,
    auth=TokenAuth(),
)
install_handlers(api)
for module in (orgs, roles, members, mailboxes, folders, lead_sources, configuration):
    api.add_router("/", module.router)
api.add_router("/", crm.router)
api.add_router("/", autoresponse.router)
api.add_router("/", mail.router)
api.add_router("/", compose.router)
api.add_router("/", audit.router)
