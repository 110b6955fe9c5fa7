"""Personas shared by every test: the tenant checklist of STYLE.md needs the same cast each time.

`acme` is the organization under test; `globex` is the other organization whose admin must never see
anything of acme's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from postroom.accounts.models import User
from postroom.organizations.models import Organization, Role
from tests.factories import make_org, make_role, make_user


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Real hashing costs ~0.3 s a user; the personas alone would make every test slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Cast:
    acme: Organization
    globex: Organization
    support_role: Role
    configurer_role: Role
    platform_admin: User
    org_admin: User  # admin of acme
    configurer: User  # acme member whose role may configure
    member: User  # acme member with the Support role, no configure permission
    loner: User  # acme member with no role at all
    outsider: User  # admin of globex


@pytest.fixture
def cast(db: None) -> Cast:
    acme = make_org("acme", "Acme Inc.")
    globex = make_org("globex", "Globex Corp.")
    support_role = make_role(acme, "Support")
    configurer_role = make_role(acme, "Mail Admin", can_configure=True)
    return Cast(
        acme=acme,
        globex=globex,
        support_role=support_role,
        configurer_role=configurer_role,
        platform_admin=make_user("root@platform.example", platform_admin=True),
        org_admin=make_user("admin@acme.example", acme, admin=True),
        configurer=make_user("mailadmin@acme.example", acme, roles=(configurer_role,)),
        member=make_user("agent@acme.example", acme, roles=(support_role,)),
        loner=make_user("loner@acme.example", acme),
        outsider=make_user("admin@globex.example", globex, admin=True),
    )


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def inline_queue() -> Iterator[Any]:
    """Huey in immediate mode: enqueued tasks run at once, in this thread, and scheduled ones wait in
    memory (no consumer)."""
    from postroom.queue import HUEY  # imported here: most tests never touch the queue

    was = HUEY.immediate
    HUEY.immediate = True
    yield HUEY
    HUEY.immediate = was
