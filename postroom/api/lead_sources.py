"""Lead source options, managed in advance: add, rename, reorder, retire (configure permission).

The key is derived from the label when the option is created and never changes afterwards, so renaming
an option keeps config imports and existing leads pointing at it.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from postroom.api.errors import FieldErrors
from postroom.api.schemas import LeadSourceIn, LeadSourceOut, LeadSourcePatch, responses
from postroom.api.tenancy import open_org
from postroom.crm.models import LeadSource
from postroom.crm.sources import sources_of, unique_key
from postroom.organizations.models import Organization

router = Router(tags=["lead sources"])

LABEL_TAKEN = "A lead source with this label already exists."


def source_out(source: LeadSource) -> LeadSourceOut:
    return LeadSourceOut(
        id=source.pk, key=source.key, label=source.label, position=source.position, retired=source.retired
    )


def _checked_label(organization: Organization, raw: str, exclude: int | None = None) -> str:
    label = raw.strip()
    if not label:
        raise FieldErrors.single("label", "Enter a label for the lead source.")
    if len(label) > 100:
        raise FieldErrors.single("label", "Use at most 100 characters.")
    clash = LeadSource.objects.filter(organization=organization, label__iexact=label)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise FieldErrors.single("label", LABEL_TAKEN)
    return label


def _move(organization: Organization, source: LeadSource, position: int) -> None:
    """Put `source` at `position` (clamped to the list) and renumber the others 0..n-1 around it."""
    ordered = [s for s in sources_of(organization).select_for_update() if s.pk != source.pk]
    ordered.insert(min(position, len(ordered)), source)
    for index, item in enumerate(ordered):
        if item.position != index or item.pk == source.pk:
            item.position = index
            LeadSource.objects.filter(pk=item.pk).update(position=index)


@router.get(
    "/orgs/{slug}/lead-sources", response=responses({200: list[LeadSourceOut]}), summary="List lead sources"
)
def list_sources(request: HttpRequest, slug: str) -> list[LeadSourceOut]:
    access = open_org(request, slug, "configure")
    return [source_out(source) for source in sources_of(access.organization)]


@router.post(
    "/orgs/{slug}/lead-sources",
    response=responses({201: LeadSourceOut}, validation=True),
    summary="Add a lead source at the end of the list",
)
def create_source(request: HttpRequest, slug: str, payload: LeadSourceIn) -> Status[LeadSourceOut]:
    organization = open_org(request, slug, "configure").organization
    label = _checked_label(organization, payload.label)
    last = sources_of(organization).last()
    try:
        with transaction.atomic():
            source = LeadSource.objects.create(
                organization=organization,
                key=unique_key(organization, label),
                label=label,
                position=last.position + 1 if last is not None else 0,
            )
    except IntegrityError:  # a concurrent add took the label or the key
        raise FieldErrors.single("label", LABEL_TAKEN) from None
    return Status(201, source_out(source))


@router.patch(
    "/orgs/{slug}/lead-sources/{source_id}",
    response=responses({200: LeadSourceOut}, validation=True),
    summary="Rename, move or retire a lead source (its key never changes)",
)
def update_source(request: HttpRequest, slug: str, source_id: int, payload: LeadSourcePatch) -> LeadSourceOut:
    organization = open_org(request, slug, "configure").organization
    source = get_object_or_404(LeadSource, pk=source_id, organization=organization)
    try:
        with transaction.atomic():
            if payload.label is not None:
                source.label = _checked_label(organization, payload.label, exclude=source.pk)
            if payload.retired is not None:
                source.retired = payload.retired
            source.save(update_fields=["label", "retired"])
            if payload.position is not None:
                _move(organization, source, payload.position)
    except IntegrityError:
        raise FieldErrors.single("label", LABEL_TAKEN) from None
    return source_out(source)
