"""Making a sender's HTML safe to show: nothing runs, nothing loads from elsewhere until the reader asks.

`sanitize_html` keeps formatting markup and drops scripts, event handlers, forms, frames, `javascript:`
and `data:` links, CSS that could fetch (`url()`, `image-set()`, escapes), and — unless remote images are
allowed — every image source outside the message itself, counting what it blocked so the page can offer
"Show remote images". `email_document` wraps the result in a document for a sandboxed
`<iframe srcdoc>` whose own Content-Security-Policy repeats those limits, so even a sanitizer bug cannot
run script or fetch anything the reader did not allow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import nh3

TAGS = (nh3.ALLOWED_TAGS | {"font", "tfoot"}) - {"area", "map"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "title", "lang", "dir"},
    "td": nh3.ALLOWED_ATTRIBUTES["td"] | {"width", "height", "valign", "bgcolor"},
    "th": nh3.ALLOWED_ATTRIBUTES["th"] | {"width", "height", "valign", "bgcolor"},
    "table": nh3.ALLOWED_ATTRIBUTES["table"] | {"width", "border", "cellpadding", "cellspacing", "bgcolor"},
    "font": {"color", "face", "size"},
}
# Properties that cannot fetch anything (no background shorthand, border-image, list-style, content...).
STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
    "line-height", "text-align", "text-decoration", "text-indent", "text-transform", "letter-spacing",
    "vertical-align", "white-space", "word-break", "width", "max-width", "min-width", "height",
    "max-height", "margin", "margin-top", "margin-right", "margin-bottom", "margin-left", "padding",
    "padding-top", "padding-right", "padding-bottom", "padding-left", "border", "border-top",
    "border-right", "border-bottom", "border-left", "border-color", "border-style", "border-width",
    "border-collapse", "border-spacing", "border-radius", "display",
}  # fmt: skip
LINK_SCHEMES = ("http:", "https:", "mailto:")
REMOTE_SCHEMES = ("http:", "https:", "//")
INLINE_IMAGE = re.compile(r"^data:image/(png|gif|jpeg|webp);base64,[a-z0-9+/=\s]*$", re.IGNORECASE)
_FETCHING_CSS = re.compile(r"url\s*\(|image-set|expression|@import|\\", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x20]+")


@dataclass(frozen=True)
class SafeHtml:
    html: str
    blocked_images: int  # remote images left out; 0 when they were allowed


def sanitize_html(
    html: str, allow_remote_images: bool = False, cids: Mapping[str, str] | None = None
) -> SafeHtml:
    """`html` without anything that runs or fetches. `cids` maps a Content-ID (no brackets, lower case)
    to an inline `data:` URI for images the message carries itself."""
    keep = _AttributeFilter(allow_remote_images, {key.lower(): value for key, value in (cids or {}).items()})
    cleaned = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style", "title", "head", "template", "noscript", "iframe", "object"},
        attributes=ATTRIBUTES,
        attribute_filter=keep,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        filter_style_properties=STYLE_PROPERTIES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        link_rel="noopener noreferrer nofollow",
    )
    return SafeHtml(cleaned, keep.blocked)


class _AttributeFilter:
    """nh3's per-attribute callback: the value to keep, or None to drop the attribute."""

    def __init__(self, allow_remote_images: bool, inline_images: Mapping[str, str]) -> None:
        self.allow_remote_images = allow_remote_images
        self.inline_images = inline_images
        self.blocked = 0

    def __call__(self, tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return None if _FETCHING_CSS.search(value) else value
        if tag == "a" and attribute == "href":
            return value if _scheme_in(value, LINK_SCHEMES) or value.startswith("#") else None
        if tag == "img" and attribute == "src":
            return self._image_source(value)
        return value

    def _image_source(self, value: str) -> str | None:
        if _scheme_in(value, ("cid:",)):
            return self.inline_images.get(value.strip()[4:].strip("<>").lower())
        if INLINE_IMAGE.match(value.strip()):
            return value
        if _scheme_in(value, REMOTE_SCHEMES):
            if self.allow_remote_images:
                return value
            self.blocked += 1
        return None


def _scheme_in(value: str, schemes: tuple[str, ...]) -> bool:
    return _CONTROL.sub("", value).lower().startswith(schemes)


def email_document(safe_html: str, allow_remote_images: bool = False) -> str:
    """A whole document for `<iframe sandbox srcdoc>`: its CSP allows no script, no fetch but images
    (remote ones only when allowed), and sends no Referer when remote images load."""
    images = "data: https: http:" if allow_remote_images else "data:"
    policy = f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; form-action 'none'"
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="referrer" content="no-referrer"><base target="_blank">'
        "<style>body{font-family:system-ui,sans-serif;font-size:15px;line-height:1.45;margin:0.75rem;"
        "overflow-wrap:anywhere}img{max-width:100%;height:auto}</style>"
        f"</head><body>{safe_html}</body></html>"
    )
