"""Rendering response templates in Jinja2's sandbox, and choosing the reply's language.

Variables a template may use (documented for admins; every value is a plain string or None):

    message.subject, message.sender_name, message.sender_email, message.date
    mailbox.label, mailbox.email
    organization.name
    record.number, record.link      -- the lead or case created from the message; `record` is None when
                                       there is none, so write {% if record %}...{% endif %}. The link
                                       is absolute when POSTROOM_BASE_URL is set, else a path.

The sandbox refuses access to Python internals (`__class__`, `__globals__`, ...): such a template fails to
render with a "refused" error. Undefined names are errors too, so a typo is reported instead of leaving a
hole in a customer's mail. Work is bounded: the source length, the nesting of loops, `range()` (at most
`MAX_RANGE` items) and the output size; a template over a bound is reported, not sent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from postroom.autoresponse.models import TemplateType, Translation

MAX_SOURCE = 50_000
MAX_OUTPUT = 200_000
MAX_LOOP_DEPTH = 2
MAX_RANGE = 1_000
MAX_SECONDS = 1.0
COMPILED_CACHE_SIZE = 256  # distinct template sources kept compiled; a few per active rule


class RenderFailed(Exception):
    """The template cannot be rendered; the message says why, for the admin."""


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise RenderFailed(f"range() is limited to {MAX_RANGE} items.")
    return result


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined)
    env.globals = {"range": _bounded_range}
    return env


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)


def check_source(source: str, kind: str = TemplateType.TEXT) -> None:
    """Validate a template when it is saved; raises RenderFailed with the problem."""
    if len(source) > MAX_SOURCE:
        raise RenderFailed(f"The template is longer than {MAX_SOURCE} characters.")
    env = _HTML_ENV if kind == TemplateType.HTML else _TEXT_ENV
    try:
        tree = env.parse(source)
    except TemplateError as exc:
        raise RenderFailed(f"Template syntax error: {exc}") from None
    if _loop_depth(tree) > MAX_LOOP_DEPTH:
        raise RenderFailed(f"Loops may be nested at most {MAX_LOOP_DEPTH} deep.")


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _compiled(source: str, kind: str) -> Template:
    """`source` checked and compiled, kept by source text: compiling costs milliseconds and every reply
    of a rule renders the same two sources. An edited template is a new source, so nothing goes stale;
    a failing check raises and is not cached."""
    check_source(source, kind)
    env = _HTML_ENV if kind == TemplateType.HTML else _TEXT_ENV
    return env.from_string(source)


def render(source: str, context: Mapping[str, Any], kind: str = TemplateType.TEXT) -> str:
    """Render `source` with `context`; raises RenderFailed (never anything else) when it cannot."""
    started = time.monotonic()
    parts: list[str] = []
    size = 0
    try:
        for chunk in _compiled(source, str(kind)).generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise RenderFailed(f"The rendered text is longer than {MAX_OUTPUT} characters.")
            if time.monotonic() - started > MAX_SECONDS:
                raise RenderFailed(f"Rendering took longer than {MAX_SECONDS:g} s.")
            parts.append(chunk)
    except SecurityError as exc:
        raise RenderFailed(f"Refused by the template sandbox: {exc}") from None
    except TemplateError as exc:
        refused = "unsafe" in str(exc) or "__" in str(exc)
        what = "Refused by the template sandbox" if refused else "The template failed to render"
        raise RenderFailed(f"{what}: {exc}") from None
    except RenderFailed:
        raise
    except Exception as exc:  # anything a template can provoke (ZeroDivisionError, TypeError...)
        raise RenderFailed(f"The template failed to render: {type(exc).__name__}: {exc}") from None
    return "".join(parts)


def _loop_depth(node: nodes.Node) -> int:
    deepest = 0
    for child in node.iter_child_nodes():
        deepest = max(deepest, _loop_depth(child))
    return deepest + 1 if isinstance(node, nodes.For) else deepest


# --- language -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageChoice:
    translation: Translation
    why: str  # which rule of the fallback chain chose it, for the preview


def choose_translation(
    translations: Sequence[Translation],
    *,
    contact_language: str = "",
    accept_language: str = "",
    content_language: str = "",
    default_language: str = "",
) -> LanguageChoice | None:
    """The translation to answer with: the sender's known contact language (their lead's), then the
    languages their message asks for (Accept-Language, best q-value first), then the language it is
    written in (Content-Language) — each tag tried exactly, then as its primary subtag (en-GB -> en) —
    then the organization's default language, then the template's first translation."""
    if not translations:
        return None
    by_tag = {t.language.strip().lower(): t for t in translations}
    candidates = [
        (contact_language, "the sender's language"),
        *((tag, "the message's Accept-Language") for tag in _tags(accept_language)),
        *((tag, "the message's Content-Language") for tag in _tags(content_language)),
        (default_language, "the organization's default language"),
    ]
    for tag, why in candidates:
        found = _lookup(by_tag, tag)
        if found is not None:
            return LanguageChoice(found, why)
    return LanguageChoice(translations[0], "the template's first translation")


def _tags(header: str) -> list[str]:
    """Language tags of a Content-Language or Accept-Language value, best first (q-values honoured)."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _q, _i, tag in sorted(weighted)]


def _lookup(by_tag: Mapping[str, Translation], tag: str) -> Translation | None:
    tag = tag.strip().lower().replace("_", "-")
    if not tag:
        return None
    return by_tag.get(tag) or by_tag.get(tag.split("-", 1)[0])
