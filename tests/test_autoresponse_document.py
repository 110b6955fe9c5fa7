"""Templates and rules in the config document: exported, imported idempotently, matched by name."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from postroom.autoresponse.models import EmailTemplate, Rule
from postroom.organizations.document import DocumentInvalid, export_organization, import_document
from tests.autoresponse_helpers import make_rule, make_template
from tests.conftest import Cast
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def test_export_then_import_into_another_organization_recreates_templates_and_rules(cast: Cast) -> None:
    acme_box = make_mailbox(cast.acme, email="support@shared.example")
    shared = make_template(cast.acme, [("en", "Hi", "Hello"), ("de", "Hallo", "Hallo!")], name="Greeting")
    make_rule(acme_box, [("subject", "contains", "order")], name="Orders", template=shared)
    make_rule(acme_box, [("from", "ends_with", "@vip.example")], name="VIP", lets_later_rules_answer=True)
    document = export_organization(cast.acme)
    make_mailbox(cast.globex, email="support@shared.example")

    report = import_document(cast.globex, copy.deepcopy(document))

    assert "email template Greeting" in report.created
    assert "rule Orders of mailbox support@shared.example" in report.created
    exported: dict[str, Any] = export_organization(cast.globex)
    assert exported["templates"] == document["templates"] and exported["rules"] == document["rules"]
    assert [r.name for r in Rule.objects.filter(organization=cast.globex).order_by("position")] == [
        "Orders",
        "VIP",
    ]


def test_importing_the_same_document_twice_changes_nothing(cast: Cast) -> None:
    box = make_mailbox(cast.acme)
    make_rule(box, [("cc", "empty", "")], name="No Cc")
    make_template(cast.acme, name="Spare")
    document = export_organization(cast.acme)
    activated = Rule.objects.get().activated_at

    report = import_document(cast.acme, document)

    assert not report.changed, report.as_dict()
    assert (
        Rule.objects.get().activated_at == activated
        and EmailTemplate.objects.filter(rule_owned=False).count() == 1
    )


def test_a_changed_condition_updates_the_rule_in_place(cast: Cast) -> None:
    box = make_mailbox(cast.acme)
    rule = make_rule(box, [("subject", "contains", "order")], name="Orders")
    document = export_organization(cast.acme)
    document["rules"][0]["conditions"][0]["value"] = "invoice"

    report = import_document(cast.acme, document)

    assert report.updated == [f"rule Orders of mailbox {box.email}"]
    assert Rule.objects.get().pk == rule.pk and rule.conditions.get().value == "invoice"


def test_bad_rules_name_their_json_path_and_change_nothing(cast: Cast) -> None:
    box = make_mailbox(cast.acme)
    document = export_organization(cast.acme)
    document["rules"] = [
        {"mailbox": box.email, "name": "Bad", "template": "Nowhere"},
        {
            "mailbox": box.email,
            "name": "Worse",
            "conditions": [{"field": "body", "operator": "matches", "value": "(a+)+"}],
            "response": {"type": "text", "translations": []},
        },
    ]

    with pytest.raises(DocumentInvalid) as caught:
        import_document(cast.acme, document)

    paths = [path for path, _ in caught.value.errors]
    assert (
        "rules[0].template" in paths
        and "rules[1].conditions.0" in paths
        and "rules[1].response.translations" in paths
    )
    assert not Rule.objects.exists()
