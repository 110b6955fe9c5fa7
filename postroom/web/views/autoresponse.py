"""Autoresponse rules of a mailbox and the organization's email templates (configure permission).

Condition and translation rows work without JavaScript: "+ Add" and "x" post the form back with a row
more or less and nothing is saved; "Save" validates everything and shows each error beside its row.
With htmx the same post answers with only the rows' fieldset, which replaces the old one in place.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from postroom.autoresponse import editing
from postroom.autoresponse.models import EmailTemplate, Field, MatchMode, Operator, Rule, TemplateType
from postroom.autoresponse.preview import Preview, preview_message, preview_raw
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.organizations.access import OrgAccess
from postroom.web.guards import is_htmx, org_view

MAX_ROWS = 50


# --- reading the posted rows -------------------------------------------------------------------------


def _rows(post: QueryDict, prefix: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows posted as <prefix>-<n>-<name>; "x" (remove=<prefix>-<n>) drops one, "+ Add" adds an empty one."""
    count = min(int(post.get(f"{prefix}-count", "0") or 0), MAX_ROWS)
    removed = post.get("remove", "")
    rows = [
        {name: post.get(f"{prefix}-{n}-{name}", "") for name in names}
        for n in range(count)
        if removed != f"{prefix}-{n}"
    ]
    if post.get("add") == prefix:
        rows.append(dict.fromkeys(names, ""))
    return rows


def _editing_rows(post: QueryDict) -> bool:
    return bool(post.get("add") or post.get("remove"))


RULE_PAGE = "postroom/autoresponse/rule_form.html"
TEMPLATE_PAGE = "postroom/autoresponse/template_form.html"
ROW_PARTIALS = {
    "condition": "postroom/autoresponse/_conditions.html",
    "translation": "postroom/autoresponse/_translations.html",
}


def _rows_page(request: HttpRequest, page: str) -> str:
    """What answers "+ Add"/"x": with htmx only the edited rows' fieldset, without it the whole `page`."""
    edited = request.POST.get("add") or request.POST.get("remove", "")
    return ROW_PARTIALS.get(edited.split("-", 1)[0], page) if is_htmx(request) else page


def _translations(rows: list[dict[str, str]]) -> list[editing.TranslationData]:
    return [editing.TranslationData(r["language"], r["subject"], r["content"]) for r in rows]


TRANSLATION_NAMES = ("language", "subject", "content")
CONDITION_NAMES = ("field", "operator", "value")


# --- rules -------------------------------------------------------------------------------------------


def _mailbox(access: OrgAccess, mailbox_id: int) -> Mailbox:
    return get_object_or_404(Mailbox, pk=mailbox_id, organization=access.organization)


def _rule(access: OrgAccess, mailbox_id: int, rule_id: int) -> Rule:
    mailbox = _mailbox(access, mailbox_id)
    return get_object_or_404(Rule.objects.select_related("template", "mailbox"), pk=rule_id, mailbox=mailbox)


def _rule_state(rule: Rule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "name": "",
            "active": True,
            "match_mode": MatchMode.ALL,
            "lets_later_rules_answer": False,
            "conditions": [{"field": "subject", "operator": "contains", "value": ""}],
            "template_choice": "inline",
            "template_type": TemplateType.TEXT,
            "translations": [{"language": "en", "subject": "Re: {{ message.subject }}", "content": ""}],
        }
    template = rule.template
    return {
        **editing.rule_settings(rule),
        "template_choice": "inline" if template.rule_owned else str(template.pk),
        "template_type": template.type,
        "translations": [
            {"language": t.language, "subject": t.subject, "content": t.content}
            for t in template.translations.all()
        ],
    }


def _posted_rule_state(post: QueryDict) -> dict[str, Any]:
    return {
        "name": post.get("name", ""),
        "active": post.get("active") == "on",
        "match_mode": post.get("match_mode", MatchMode.ALL),
        "lets_later_rules_answer": post.get("lets_later_rules_answer") == "on",
        "conditions": _rows(post, "condition", CONDITION_NAMES),
        "template_choice": post.get("template_choice", "inline"),
        "template_type": post.get("template_type", TemplateType.TEXT),
        "translations": _rows(post, "translation", TRANSLATION_NAMES),
    }


def _rule_data(state: dict[str, Any]) -> editing.RuleData:
    choice = state["template_choice"]
    inline = choice == "inline"
    return editing.RuleData(
        name=state["name"],
        active=state["active"],
        match_mode=state["match_mode"],
        lets_later_rules_answer=state["lets_later_rules_answer"],
        conditions=[
            editing.ConditionData(c["field"], c["operator"], c["value"]) for c in state["conditions"]
        ],
        template_id=None if inline else int(choice) if choice.isdigit() else -1,
        inline=editing.TemplateData(state["template_type"], _translations(state["translations"]))
        if inline
        else None,
    )


def _rule_page(
    request: HttpRequest,
    access: OrgAccess,
    mailbox: Mailbox,
    rule: Rule | None,
    state: dict[str, Any],
    errors: dict[str, list[str]],
    template: str = RULE_PAGE,
) -> HttpResponse:
    ctx = {
        "access": access,
        "mailbox": mailbox,
        "rule": rule,
        "state": state,
        "errors": errors,
        "fields": Field.choices,
        "operators": Operator.choices,
        "types": TemplateType.choices,
        "match_modes": MatchMode.choices,
        "templates": EmailTemplate.objects.filter(organization=access.organization, rule_owned=False),
        "prefix_translations": "template.translations",
        "menu": "configuration",
    }
    return render(request, template, ctx, status=422 if errors else 200)


def _edit_rule(request: HttpRequest, access: OrgAccess, mailbox: Mailbox, rule: Rule | None) -> HttpResponse:
    if request.method != "POST":
        return _rule_page(request, access, mailbox, rule, _rule_state(rule), {})
    state = _posted_rule_state(request.POST)
    if _editing_rows(request.POST):
        return _rule_page(request, access, mailbox, rule, state, {}, _rows_page(request, RULE_PAGE))
    try:
        saved = editing.save_rule(mailbox, _rule_data(state), rule)
    except editing.RuleInvalid as exc:
        return _rule_page(request, access, mailbox, rule, state, exc.errors)
    messages.success(request, f"Rule “{saved.name}” saved.")
    return redirect("mailbox-edit", slug=access.organization.slug, mailbox_id=mailbox.pk)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def rule_new(request: HttpRequest, access: OrgAccess, mailbox_id: int) -> HttpResponse:
    return _edit_rule(request, access, _mailbox(access, mailbox_id), None)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def rule_edit(request: HttpRequest, access: OrgAccess, mailbox_id: int, rule_id: int) -> HttpResponse:
    rule = _rule(access, mailbox_id, rule_id)
    return _edit_rule(request, access, rule.mailbox, rule)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def rule_delete(request: HttpRequest, access: OrgAccess, mailbox_id: int, rule_id: int) -> HttpResponse:
    rule = _rule(access, mailbox_id, rule_id)
    if request.method == "POST":
        editing.delete_rule(rule)
        messages.success(request, f"Rule “{rule.name}” deleted.")
        return redirect("mailbox-edit", slug=access.organization.slug, mailbox_id=mailbox_id)
    ctx = {"access": access, "mailbox": rule.mailbox, "rule": rule, "menu": "configuration"}
    return render(request, "postroom/autoresponse/rule_delete.html", ctx)


@require_POST
@org_view("configure")
def rule_move(request: HttpRequest, access: OrgAccess, mailbox_id: int, rule_id: int) -> HttpResponse:
    rule = _rule(access, mailbox_id, rule_id)
    step = -1 if request.POST.get("direction") == "up" else 1
    ordered = list(Rule.objects.filter(mailbox=rule.mailbox).values_list("pk", flat=True))
    editing.move_rule(rule, max(0, ordered.index(rule.pk) + step))
    return redirect("mailbox-edit", slug=access.organization.slug, mailbox_id=mailbox_id)


@require_POST
@org_view("configure")
def rule_activate(request: HttpRequest, access: OrgAccess, mailbox_id: int, rule_id: int) -> HttpResponse:
    rule = _rule(access, mailbox_id, rule_id)
    editing.set_active(rule, request.POST.get("active") == "on")
    messages.success(request, f"Rule “{rule.name}” is now {'active' if rule.active else 'inactive'}.")
    return redirect("mailbox-edit", slug=access.organization.slug, mailbox_id=mailbox_id)


@require_GET
@org_view("configure")
def rule_preview(request: HttpRequest, access: OrgAccess, mailbox_id: int, rule_id: int) -> HttpResponse:
    rule = _rule(access, mailbox_id, rule_id)
    result: Preview | None = None
    error = ""
    raw, message_ref, language = "", "", ""
    # A GET form: previewing changes nothing, and the result page can be reloaded or linked.
    if "preview" in request.GET:
        raw = request.GET.get("raw", "")
        message_ref = request.GET.get("message_id", "").strip()
        language = request.GET.get("language", "").strip()
        if message_ref.isdigit():
            message = Message.objects.filter(pk=int(message_ref), organization=access.organization).first()
            if message is None:
                error = "No stored message of this organization has that id."
            else:
                result = preview_message(rule, message, language)
        elif raw.strip():
            result = preview_raw(rule, raw.encode("utf-8", "surrogateescape"), language)
        else:
            error = "Paste a message or give a stored message's id."
    ctx = {
        "access": access,
        "mailbox": rule.mailbox,
        "rule": rule,
        "result": result,
        "error": error,
        "raw": raw,
        "message_ref": message_ref,
        "language": language,
        "menu": "configuration",
    }
    return render(request, "postroom/autoresponse/rule_preview.html", ctx, status=422 if error else 200)


@require_POST
@org_view("configure")
def rule_save_as_template(
    request: HttpRequest, access: OrgAccess, mailbox_id: int, rule_id: int
) -> HttpResponse:
    rule = _rule(access, mailbox_id, rule_id)
    try:
        template = editing.save_as_template(rule, request.POST.get("template_name", ""))
    except editing.RuleInvalid as exc:
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
        return redirect("rule-edit", slug=access.organization.slug, mailbox_id=mailbox_id, rule_id=rule_id)
    messages.success(request, f"Saved as the email template “{template.name}”.")
    return redirect("rule-edit", slug=access.organization.slug, mailbox_id=mailbox_id, rule_id=rule_id)


# --- email templates ---------------------------------------------------------------------------------


@require_GET
@org_view("configure")
def template_list(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    templates = EmailTemplate.objects.filter(
        organization=access.organization, rule_owned=False
    ).prefetch_related("translations")
    ctx = {"access": access, "templates": templates, "menu": "configuration"}
    return render(request, "postroom/autoresponse/template_list.html", ctx)


def _template_page(
    request: HttpRequest,
    access: OrgAccess,
    template: EmailTemplate | None,
    state: dict[str, Any],
    errors: dict[str, list[str]],
    page: str = TEMPLATE_PAGE,
) -> HttpResponse:
    ctx = {
        "access": access,
        "template": template,
        "state": state,
        "errors": errors,
        "types": TemplateType.choices,
        "prefix_translations": "translations",
        "menu": "configuration",
    }
    return render(request, page, ctx, status=422 if errors else 200)


def _edit_template(request: HttpRequest, access: OrgAccess, template: EmailTemplate | None) -> HttpResponse:
    if request.method != "POST":
        state: dict[str, Any] = {
            "name": template.name if template else "",
            "template_type": template.type if template else TemplateType.TEXT,
            "translations": [
                {"language": t.language, "subject": t.subject, "content": t.content}
                for t in template.translations.all()
            ]
            if template
            else [{"language": "en", "subject": "", "content": ""}],
        }
        return _template_page(request, access, template, state, {})
    state = {
        "name": request.POST.get("name", ""),
        "template_type": request.POST.get("template_type", TemplateType.TEXT),
        "translations": _rows(request.POST, "translation", TRANSLATION_NAMES),
    }
    if _editing_rows(request.POST):
        return _template_page(request, access, template, state, {}, _rows_page(request, TEMPLATE_PAGE))
    data = editing.TemplateData(state["template_type"], _translations(state["translations"]), state["name"])
    try:
        saved = editing.save_template(access.organization, data, template)
    except editing.RuleInvalid as exc:
        return _template_page(request, access, template, state, exc.errors)
    messages.success(request, f"Email template “{saved.name}” saved.")
    return redirect("email-templates", slug=access.organization.slug)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def template_new(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _edit_template(request, access, None)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def template_edit(request: HttpRequest, access: OrgAccess, template_id: int) -> HttpResponse:
    template = get_object_or_404(
        EmailTemplate, pk=template_id, organization=access.organization, rule_owned=False
    )
    return _edit_template(request, access, template)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def template_delete(request: HttpRequest, access: OrgAccess, template_id: int) -> HttpResponse:
    template = get_object_or_404(
        EmailTemplate, pk=template_id, organization=access.organization, rule_owned=False
    )
    users = list(template.rules.select_related("mailbox"))
    if request.method == "POST" and not users:
        template.delete()
        messages.success(request, f"Email template “{template.name}” deleted.")
        return redirect("email-templates", slug=access.organization.slug)
    ctx = {"access": access, "template": template, "users": users, "menu": "configuration"}
    return render(
        request,
        "postroom/autoresponse/template_delete.html",
        ctx,
        status=409 if users and request.method == "POST" else 200,
    )
