"""`postroom leads export` and `postroom cases export`: one JSON object per line, scoped to one
organization, with the fields MISSION M10 lists."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import Cast
from tests.processing_helpers import converted_case, converted_lead


def test_leads_export_prints_one_line_per_lead_of_the_organization(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = converted_lead(cast.acme, cast.member, subject="Chairs", sender="Ann Lee <ann@example.org>")
    converted_lead(cast.acme, cast.member, subject="Tables")
    converted_lead(cast.globex, cast.outsider, subject="Not ours")

    result = run_cli(capsys, monkeypatch, "leads", "export", "--org", "acme", "--format", "jsonl")

    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["name"] for line in lines] == ["Chairs", "Tables"]
    assert lines[0] == {
        "id": first.pk,
        "number": "LEAD-1",
        "name": "Chairs",
        "email": "ann@example.org",
        "source": first.source.key,
        "owner": cast.member.email,
        "status": "new",
        "thread_id": first.message.thread_id,
        "message_id": first.message.message_id,
        "mailbox": first.mailbox_id,
    }


def test_cases_export_has_subject_assignee_and_priority(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = converted_case(cast.acme, cast.member, subject="Broken")
    result = run_cli(capsys, monkeypatch, "cases", "export", "--org", "acme", "--format", "jsonl")
    assert result.code == 0, result.err
    [line] = [json.loads(text) for text in result.out.splitlines()]
    assert set(line) == {
        "id", "number", "subject", "email", "owner", "assignee", "status", "priority", "thread_id",
        "message_id", "mailbox",
    }  # fmt: skip
    assert (line["number"], line["subject"], line["priority"], line["assignee"]) == (
        "CASE-1",
        "Broken",
        "high",
        None,
    )
    assert line["id"] == case.pk


def test_export_for_an_unknown_organization_fails_on_stderr(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli(capsys, monkeypatch, "leads", "export", "--org", "nope")
    assert result.code == 2 and result.out == ""
    assert "no organization" in result.err
