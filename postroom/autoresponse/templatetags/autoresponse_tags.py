"""Filters for showing per-row errors of the rule and template forms ("conditions.2" -> row 2)."""

from __future__ import annotations

from collections.abc import Mapping

from django import template

register = template.Library()


@register.filter
def get(errors: Mapping[str, list[str]], key: str) -> list[str]:
    return list(errors.get(key, []))


@register.filter
def row_errors(errors: Mapping[str, list[str]], prefix: str) -> dict[int, list[str]]:
    """Messages of the rows under `prefix`, by row number."""
    rows: dict[int, list[str]] = {}
    for key, messages in errors.items():
        head, _, number = key.rpartition(".")
        if head == prefix and number.isdigit():
            rows[int(number)] = list(messages)
    return rows


@register.filter
def index(rows: Mapping[int, list[str]], number: int) -> list[str]:
    return list(rows.get(number, []))
