"""The auto-response step: decide whether and how a new incoming message is answered, and queue the
reply in the outbox. `respond_to` is the entry point the inbound pipeline calls once per message and
mailbox; it never sends anything itself and is safe to call again for the same message (a retry).

Every outcome carries a reason written for the admin, shown on the message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from postroom.autoresponse import eligibility, language
from postroom.autoresponse.conditions import CompiledRule, Facts, InvalidCondition, RuleSet, compile_rule
from postroom.autoresponse.models import AutoReply, Rule, SenderThrottle
from postroom.autoresponse.rendering import RenderFailed, choose_translation, render
from postroom.autoresponse.reply import build_reply
from postroom.crm.models import Case, Lead
from postroom.mailboxes.models import Mailbox
from postroom.messages import bulk
from postroom.messages.models import Message, MessageBody
from postroom.organizations import config
from postroom.outbox import send
from postroom.outbox.models import Kind
from postroom.processing import batchcache
from postroom.processing.batchcache import per_batch

logger = logging.getLogger(__name__)
setting = per_batch(config.get)  # an organization's settings, read once per processing batch

REPLIED, SKIPPED, FAILED = "replied", "skipped", "failed"


@dataclass(frozen=True)
class ResponseOutcome:
    """What the step did: `status` is replied, skipped or failed; `reason` says why, for the admin."""

    status: str
    reason: str
    outgoing_ids: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=())  # per-rule remarks (rules not matching, not yet active)


@dataclass(frozen=True)
class RenderedReply:
    subject: str
    content: str
    kind: str
    language: str


def respond_to(
    message: Message,
    mailbox: Mailbox,
    folder_kind: str,
    internal_date: datetime | None,
    record: Lead | Case | None = None,
) -> ResponseOutcome:
    """Answer `message` (found in a folder of `folder_kind`, received at `internal_date`) with the
    mailbox's first matching active rule — and later ones when a rule lets them."""
    refusal = eligibility.refusal(message, mailbox, folder_kind)
    if refusal:
        return ResponseOutcome(SKIPPED, refusal)
    rules = active_rules(mailbox)
    if not rules.rules:
        return ResponseOutcome(SKIPPED, "No active autoresponse rule.")
    facts = facts_of(message)
    notes: list[str] = []
    answered: list[ResponseOutcome] = []
    for compiled, matched in zip(rules.rules, rules.evaluate(facts), strict=True):
        rule = compiled.rule
        if rule.activated_at is None or internal_date is None or internal_date < rule.activated_at:
            notes.append(f"Rule “{rule.name}”: the message arrived before the rule became active.")
            continue
        failed = None if matched else compiled.first_failure(facts)
        if failed is not None:
            notes.append(f"Rule “{rule.name}”: condition not met: {failed.label}.")
            continue
        outcome = answer(rule, message, mailbox, record)
        answered.append(outcome)
        if outcome.status == SKIPPED or not rule.lets_later_rules_answer:
            break
    return _summarise(answered, notes, facts.timeouts)


@per_batch  # compiled once per processing batch
def active_rules(mailbox: Mailbox) -> RuleSet:
    """The mailbox's active rules in order, compiled together. A rule whose conditions no longer compile
    (saved before a validation existed) is left out and logged rather than failing every message."""
    rules = (
        Rule.objects.filter(mailbox=mailbox, active=True)
        .select_related("template")
        .prefetch_related("conditions", "template__translations")
    )
    compiled: list[CompiledRule] = []
    for rule in rules:
        try:
            compiled.append(compile_rule(rule, list(rule.conditions.all())))
        except InvalidCondition as exc:
            logger.warning("autoresponse: rule %s is invalid and skipped: %s", rule.pk, exc)
    return RuleSet(compiled)


def facts_of(message: Message) -> Facts:
    try:
        body: MessageBody | None = message.body  # loaded with the job in a processing batch
    except MessageBody.DoesNotExist:
        body = None
    return Facts(
        subject=message.subject,
        text=body.text if body else "",
        html=body.html if body else "",
        sender=[(message.from_name, message.from_address)] if message.from_address else [],
        to=[(n, a) for n, a in message.to],
        cc=[(n, a) for n, a in message.cc],
        bcc=[(n, a) for n, a in message.bcc],
    )


def answer(rule: Rule, message: Message, mailbox: Mailbox, record: Lead | Case | None) -> ResponseOutcome:
    """Render `rule`'s template for `message` and queue the reply — once per (rule, message) and at
    most once per sender and mailbox within the organization's limit."""
    if _rule_answered(rule, message):
        return ResponseOutcome(SKIPPED, f"Rule “{rule.name}” already answered this message.")
    try:
        rendered = render_reply(rule, message, mailbox, record)
    except RenderFailed as exc:
        return ResponseOutcome(FAILED, f"Rule “{rule.name}”: the reply was not sent. {exc}")
    sender = eligibility.reply_address(message)
    now = timezone.now()
    hours = int(setting("email.autoresponse_limit_hours", mailbox.organization))
    reply = build_reply(
        message,
        mailbox,
        sender,
        subject=rendered.subject,
        content=rendered.content,
        kind=rendered.kind,
        language=rendered.language,
        now=now,
    )
    # The sender's slot, the outgoing message and the answer stand or fall together: a savepoint, except in a
    # processing batch's first try, which is rolled back whole on an error (and the savepoint is two
    # statements an answer).
    undivided = batchcache.is_undivided()
    try:
        with nullcontext() if undivided else transaction.atomic():
            if not claim_sender(mailbox, sender, now, hours):
                return ResponseOutcome(
                    SKIPPED, f"{sender} was already answered automatically in the last {hours} hours."
                )
            outgoing = send.enqueue(
                mailbox,
                Kind.AUTO_REPLY,
                reply.raw,
                [sender],
                in_reply_to=message,
                thread=message.thread,
                known=(reply.message_id, reply.subject),
            )
            reply_row = bulk.create(  # unique per (rule, message): a second answer rolls back the first
                AutoReply,
                organization_id=mailbox.organization_id,
                mailbox=mailbox,
                rule=rule,
                message=message,
                sender=sender,
                outgoing=outgoing,
            )
    except IntegrityError:  # another worker answered this (rule, message) first
        if undivided:
            raise  # the batch runs again job by job, and the savepoint above meets this
        return ResponseOutcome(SKIPPED, f"Rule “{rule.name}” already answered this message.")
    _answered_now(reply_row)
    reason = f"Rule “{rule.name}” answered {sender} in {rendered.language or 'the default language'}."
    return ResponseOutcome(REPLIED, reason, (outgoing.pk,))


# What a processing batch knows of earlier answers (batchcache): the (mailbox id, message id) pairs some
# rule had answered when the batch began (loaded by `step.prepare`), and the (rule id, message id) pairs
# answered since. A rolled-back job makes the batch forget both, and then the database is asked again.
_ANSWERED = "autoresponse.answered"
_ANSWERED_IN_BATCH = "autoresponse.answered_in_batch"


def remember_answered(pairs: set[tuple[int, int]]) -> None:
    """Record, for this processing batch, which (mailbox id, message id) pairs were answered already."""
    batchcache.remember(_ANSWERED, pairs)
    batchcache.remember(_ANSWERED_IN_BATCH, set())


def answered_in_mailbox(mailbox_id: int, message_id: int) -> bool:
    """Whether some rule of the mailbox answered the message (as the batch began, inside a batch)."""
    known: set[tuple[int, int]] | None = batchcache.recall(_ANSWERED)
    if known is not None:
        return (mailbox_id, message_id) in known
    return AutoReply.objects.filter(mailbox_id=mailbox_id, message_id=message_id).exists()


def _rule_answered(rule: Rule, message: Message) -> bool:
    """Whether `rule` answered `message` already; inside a batch, asked of the database only when some
    rule of the mailbox had answered it when the batch began (a retried job): one query fewer a reply."""
    known: set[tuple[int, int]] | None = batchcache.recall(_ANSWERED)
    since: set[tuple[int, int]] | None = batchcache.recall(_ANSWERED_IN_BATCH)
    if known is not None and since is not None:
        if (rule.pk, message.pk) in since:
            return True
        if (rule.mailbox_id, message.pk) not in known:
            return False
    return AutoReply.objects.filter(rule=rule, message=message).exists()


def _answered_now(reply: AutoReply) -> None:
    since: set[tuple[int, int]] | None = batchcache.recall(_ANSWERED_IN_BATCH)
    if since is not None:
        since.add((reply.rule_id, reply.message_id))


def claim_sender(mailbox: Mailbox, sender: str, now: datetime, hours: int) -> bool:
    """Take the sender's reply slot for this mailbox: one upsert, which inserts the sender's first slot or
    moves a slot older than `hours` (0: no limit) to `now`, and does nothing to a newer one. The unique
    constraint makes a concurrent claim wait for ours and then find the slot taken, so two workers
    cannot both answer within `hours`."""
    cutoff = now - timedelta(hours=hours) if hours > 0 else now
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SENDER, [mailbox.pk, sender, adapt(now), adapt(cutoff)])
        return cursor.fetchone() is not None


_THROTTLES = SenderThrottle._meta.db_table
_CLAIM_SENDER = (  # only our table's name is formatted in (hence the noqa)
    f"INSERT INTO {_THROTTLES} (mailbox_id, sender, last_reply_at) VALUES (%s, %s, %s)"  # noqa: S608
    " ON CONFLICT (mailbox_id, sender) DO UPDATE SET last_reply_at = excluded.last_reply_at"
    f" WHERE {_THROTTLES}.last_reply_at <= %s RETURNING id"
)


def render_reply(
    rule: Rule,
    message: Message,
    mailbox: Mailbox,
    record: Lead | Case | None,
) -> RenderedReply:
    """The subject and content of `rule`'s reply to `message`, in the chosen language: the sender's
    (their lead's), else one their message asks for or is written in, else the organization's default."""
    template = rule.template
    translations = list(template.translations.all())
    if len(translations) == 1:  # nothing to choose: spare the lookups of the sender's languages
        translation = translations[0]
    else:
        choice = choose_translation(
            translations,
            contact_language=language.contact_language(mailbox.organization_id, message.from_address),
            accept_language=language.accept_language(message),
            content_language=message.content_language,
            default_language=str(setting("email.default_language", mailbox.organization)),
        )
        if choice is None:
            raise RenderFailed("The response template has no translation.")
        translation = choice.translation
    context = template_context(message, mailbox, record)
    subject = render(translation.subject, context)
    content = render(translation.content, context, template.type)
    return RenderedReply(subject, content, template.type, translation.language)


def template_context(message: Message, mailbox: Mailbox, record: Lead | Case | None) -> dict[str, Any]:
    """The documented template variables (see `postroom.autoresponse.rendering`): plain values only, so
    the sandbox has no model object to climb out of."""
    date = message.date.strftime("%Y-%m-%d %H:%M %Z") if message.date else ""
    return {
        "message": {
            "subject": message.subject,
            "sender_name": message.from_name,
            "sender_email": message.from_address,
            "date": date,
        },
        "mailbox": {"label": mailbox.label, "email": mailbox.email},
        "organization": {"name": mailbox.organization.name},
        "record": None if record is None else {"number": record.reference, "link": record_link(record)},
    }


def record_link(record: Lead | Case) -> str:
    """The record's page: an absolute URL when POSTROOM_BASE_URL is set, else a path from the site's root
    (the mail's reader then has to know where Postroom is)."""
    name = "lead-detail" if isinstance(record, Lead) else "case-detail"
    return settings.POSTROOM_BASE_URL + _link_path(name, record.organization.slug).format(pk=record.pk)


_PK_MARK = 2_147_483_647  # a number no record has yet, replaced by the record's key


@per_batch  # reverse() costs a tenth of a reply's CPU: once per batch and organization
def _link_path(name: str, slug: str) -> str:
    """The path of record pages of `name` in the organization, with `{pk}` for the record's key."""
    path = reverse(name, args=[slug, _PK_MARK]).replace("{", "{{").replace("}", "}}")
    head, mark, tail = path.rpartition(str(_PK_MARK))
    assert mark, f"{name} paths end with the record's key"
    return f"{head}{{pk}}{tail}"


def _summarise(
    answered: Sequence[ResponseOutcome], notes: list[str], timeouts: Sequence[str]
) -> ResponseOutcome:
    """One outcome for the message. A regular expression that timed out is named in the reason when no
    rule answered, since it may be why."""
    if not answered:
        reason = " ".join([notes[-1] if len(notes) == 1 else "No rule matched.", *timeouts])
        return ResponseOutcome(SKIPPED, reason, notes=(*notes, *timeouts))
    ids = tuple(i for outcome in answered for i in outcome.outgoing_ids)
    status = REPLIED if ids else answered[0].status
    reason = " ".join(outcome.reason for outcome in answered)
    return ResponseOutcome(status, reason, ids, (*notes, *timeouts))
