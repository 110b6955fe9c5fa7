"""The Postroom JSON API, version 1, served under /api/v1/ with its OpenAPI schema at
/api/v1/openapi.json. Every operation needs `Authorization: Bearer <token>`.

The interactive docs page is disabled (docs_url=None): ninja's pages load their assets from a CDN, and
Postroom loads nothing from outside the install. The schema itself is the documentation.
"""

from __future__ import annotations

from ninja import NinjaAPI

from postroom.api import (
    autoresponse,
    configuration,
    crm,
    folders,
    lead_sources,
    mailboxes,
    members,
    orgs,
    roles,
)
from postroom.api.auth import TokenAuth
from postroom.api.errors import install_handlers

api = NinjaAPI(
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
