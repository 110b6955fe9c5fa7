"""Organization settings with "use global" fallback (configure permission). Each declared setting of
`postroom.organizations.config` is listed with the value in force, the global value and whether the
organization overrides it. An undeclared key is a 404.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Router

from postroom.api.errors import FieldErrors
from postroom.api.schemas import ChoiceOut, SettingOut, SettingValueIn, responses
from postroom.api.tenancy import open_org
from postroom.organizations import config
from postroom.organizations.models import Organization

router = Router(tags=["settings"])


def _declared(key: str) -> config.Setting:
    try:
        return config.setting(key)
    except config.UnknownSetting:
        raise Http404("No such setting.") from None


def setting_out(decl: config.Setting, organization: Organization) -> SettingOut:
    own = config.overrides(organization)
    global_value = config.global_value(decl.key)
    return SettingOut(
        key=decl.key,
        label=decl.label,
        section=decl.section,
        help=decl.help,
        value=own.get(decl.key, global_value),
        global_value=global_value,
        overridden=decl.key in own,
        choices=[ChoiceOut(value=value, label=label) for value, label in decl.choices],
    )


@router.get("/orgs/{slug}/settings", response=responses({200: list[SettingOut]}), summary="List settings")
def list_settings(request: HttpRequest, slug: str) -> list[SettingOut]:
    organization = open_org(request, slug, "configure").organization
    return [setting_out(decl, organization) for decl in config.SETTINGS]


@router.put(
    "/orgs/{slug}/settings/{key}",
    response=responses({200: SettingOut}, validation=True),
    summary="Override a setting for this organization",
)
def set_setting(request: HttpRequest, slug: str, key: str, payload: SettingValueIn) -> SettingOut:
    organization = open_org(request, slug, "configure").organization
    decl = _declared(key)
    try:
        config.set_value(decl.key, payload.value, organization)
    except ValueError as error:
        raise FieldErrors.single("value", str(error)) from None
    return setting_out(decl, organization)


@router.delete(
    "/orgs/{slug}/settings/{key}",
    response=responses({200: SettingOut}),
    summary="Drop the override: the organization uses the global value again",
)
def use_global(request: HttpRequest, slug: str, key: str) -> SettingOut:
    organization = open_org(request, slug, "configure").organization
    decl = _declared(key)
    config.use_global(decl.key, organization)
    return setting_out(decl, organization)
