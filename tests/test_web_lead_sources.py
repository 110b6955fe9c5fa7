"""Lead sources: add, rename, reorder, retire and restore, with plain posts and with htmx."""

from __future__ import annotations

from django.urls import reverse

from postroom.crm.models import LeadSource
from postroom.mailboxes.models import ProcessType
from tests.conftest import Cast
from tests.factories import make_lead_source, make_mailbox
from tests.web_support import client_for

HTMX = {"HX-Request": "true"}


def url(name: str, source: LeadSource | None = None) -> str:
    kwargs: dict[str, object] = {"slug": "acme"}
    if source is not None:
        kwargs["source_id"] = source.pk
    return reverse(name, kwargs=kwargs)


def labels(cast: Cast) -> list[str]:
    return list(LeadSource.objects.filter(organization=cast.acme).values_list("label", flat=True))


def test_add_derives_a_unique_key_and_appends(cast: Cast) -> None:
    make_lead_source(cast.acme, "Web", key="trade-show")
    client = client_for(cast.configurer)
    response = client.post(url("lead-source-add"), {"label": "Trade Show"})
    assert response.status_code == 302 and response["Location"] == url("lead-sources")
    client.post(url("lead-source-add"), {"label": "Trade_Show!"})  # slugifies to the same key
    keys = list(LeadSource.objects.filter(organization=cast.acme).values_list("key", flat=True))
    assert keys == ["trade-show", "trade-show-2", "trade-show-3"]
    assert labels(cast) == ["Web", "Trade Show", "Trade_Show!"]


def test_add_refuses_a_duplicate_label_with_the_error_beside_the_field(cast: Cast) -> None:
    make_lead_source(cast.acme, "Email")
    response = client_for(cast.org_admin).post(url("lead-source-add"), {"label": "email"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_new_label_error"' in body and "already exists" in body
    assert labels(cast) == ["Email"]


def test_same_label_in_another_org_is_fine(cast: Cast) -> None:
    make_lead_source(cast.globex, "Email")
    client_for(cast.org_admin).post(url("lead-source-add"), {"label": "Email"})
    assert labels(cast) == ["Email"]


def test_rename_keeps_the_key(cast: Cast) -> None:
    source = make_lead_source(cast.acme, "Web")
    client_for(cast.org_admin).post(url("lead-source-rename", source), {"label": "Website"})
    source.refresh_from_db()
    assert (source.label, source.key) == ("Website", "web")


def test_rename_to_a_taken_label_is_refused(cast: Cast) -> None:
    make_lead_source(cast.acme, "Email")
    web = make_lead_source(cast.acme, "Web")
    response = client_for(cast.org_admin).post(url("lead-source-rename", web), {"label": "EMAIL"})
    assert response.status_code == 200 and "already exists" in response.content.decode()
    web.refresh_from_db()
    assert web.label == "Web"


def test_move_up_and_down_reorders(cast: Cast) -> None:
    a, b, c = (make_lead_source(cast.acme, label) for label in ("A", "B", "C"))  # all at position 0
    client = client_for(cast.org_admin)
    client.post(url("lead-source-move", c), {"direction": "up"})
    assert labels(cast) == ["A", "C", "B"]
    client.post(url("lead-source-move", a), {"direction": "down"})
    assert labels(cast) == ["C", "A", "B"]
    client.post(url("lead-source-move", c), {"direction": "up"})  # already first: no change
    assert labels(cast) == ["C", "A", "B"]
    assert b.pk in LeadSource.objects.values_list("pk", flat=True)


def test_move_needs_a_direction(cast: Cast) -> None:
    source = make_lead_source(cast.acme, "A")
    response = client_for(cast.org_admin).post(url("lead-source-move", source), {"direction": "sideways"})
    assert response.status_code == 400


def test_retired_source_is_hidden_for_new_settings_but_kept_with_a_warning(cast: Cast) -> None:
    email = make_lead_source(cast.acme, "Email")
    fair = make_lead_source(cast.acme, "Fair")
    mailbox = make_mailbox(
        cast.acme, "Sales", process_type=ProcessType.LEAD, owner=cast.org_admin, lead_source=fair
    )
    client = client_for(cast.org_admin)

    client.post(url("lead-source-retire", fair))
    fair.refresh_from_db()
    assert fair.retired
    listing = client.get(url("lead-sources")).content.decode()
    assert "Retired" in listing and "Restore" in listing

    new_form = client.get(reverse("mailbox-new", kwargs={"slug": "acme"}))
    choices = list(new_form.context["form"].fields["lead_source"].queryset)
    assert choices == [email]

    edit = client.get(reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}))
    assert fair in list(edit.context["form"].fields["lead_source"].queryset)
    assert "The source “Fair” is retired." in edit.content.decode()

    client.post(url("lead-source-restore", fair))
    fair.refresh_from_db()
    assert not fair.retired
    edit = client.get(reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}))
    assert "is retired" not in edit.content.decode()


def test_htmx_request_gets_the_list_fragment(cast: Cast) -> None:
    source = make_lead_source(cast.acme, "Web")
    response = client_for(cast.org_admin).post(url("lead-source-retire", source), headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="lead-sources"')
    assert "<html" not in body and "Retired" in body


def test_lead_sources_of_another_org_are_not_listed(cast: Cast) -> None:
    make_lead_source(cast.globex, "Globex only")
    make_lead_source(cast.acme, "Acme only")
    body = client_for(cast.org_admin).get(url("lead-sources")).content.decode()
    assert "Acme only" in body and "Globex only" not in body
