"""Condition semantics of MISSION M7: every operator on every field, empty fields, address lists with
display names, non-ASCII text, and regular expressions validated on save and bounded in time."""

from __future__ import annotations

import time

import pytest

from postroom.autoresponse.conditions import (
    Facts,
    InvalidCondition,
    compile_condition,
    compile_rule,
    validate,
)
from postroom.autoresponse.models import Condition, MatchMode, Operator, Rule
from postroom.autoresponse.patterns import REGEX_INPUT_LIMIT, check_pattern

FACTS = Facts(
    subject="Order #1234: Größe falsch",
    text="Hello,\nmy parcel never arrived.\nThanks, Ann",
    sender=[("Ann Sender", "Ann@Example.org")],
    to=[("Support", "support@acme.example"), ("Sales Team", "sales@acme.example")],
    cc=[],
    bcc=[("", "audit@acme.example")],
)


def holds(field: str, operator: str, value: str = "", facts: Facts = FACTS) -> bool:
    return compile_condition(Condition(field=field, operator=operator, value=value)).holds(facts)


# (field, operator, value, expected) against FACTS
CASES = [
    # Subject: case-insensitive, Unicode-normalised (ß casefolds to ss; full-width digits fold by NFKC)
    ("subject", "contains", "GRÖSSE", True),
    ("subject", "contains", "order #１２３４", True),
    ("subject", "contains", "refund", False),
    ("subject", "not_contains", "refund", True),
    ("subject", "not_contains", "order", False),
    ("subject", "equals", "order #1234: grösse falsch", True),
    ("subject", "equals", "order", False),
    ("subject", "not_equals", "order", True),
    ("subject", "not_equals", "ORDER #1234: GRÖSSE FALSCH", False),
    ("subject", "starts_with", "order #", True),
    ("subject", "starts_with", "falsch", False),
    ("subject", "ends_with", "FALSCH", True),
    ("subject", "ends_with", "order", False),
    ("subject", "any_of", "hello, Order #1234: Größe falsch ,x", True),
    ("subject", "any_of", "order, größe", False),
    ("subject", "not_any_of", "order, größe", True),
    ("subject", "not_any_of", "x, order #1234: größe falsch", False),
    ("subject", "empty", "", False),
    ("subject", "not_empty", "", True),
    ("subject", "matches", r"order #\d{4}", True),
    ("subject", "matches", r"^invoice", False),
    # Body
    ("body", "contains", "NEVER ARRIVED", True),
    ("body", "not_contains", "refund", True),
    ("body", "starts_with", "hello", True),
    ("body", "ends_with", "ann", True),
    ("body", "equals", "hello", False),
    ("body", "not_empty", "", True),
    ("body", "matches", r"parcel\s+never", True),
    ("body", "not_equals", "hello", True),
    ("body", "any_of", "hello, bye", False),
    ("body", "not_any_of", "hello, bye", True),
    ("body", "empty", "", False),
    # From: the address and the display name are both tested
    ("from", "contains", "example.org", True),
    ("from", "contains", "ann sender", True),
    ("from", "equals", "ann@example.org", True),
    ("from", "equals", "ann sender", True),
    ("from", "not_equals", "ann@example.org", False),
    ("from", "starts_with", "ANN@", True),
    ("from", "ends_with", "@example.org", True),
    ("from", "any_of", "bob@example.org, ann@example.org", True),
    ("from", "not_any_of", "bob@example.org, eve@example.org", True),
    ("from", "matches", r"^ann@", True),
    ("from", "empty", "", False),
    ("from", "not_empty", "", True),
    ("from", "not_contains", "example.org", False),
    # To with two addresses: positive holds if ANY matches, negative only if NONE matches
    ("to", "contains", "sales@", True),
    ("to", "equals", "support@acme.example", True),
    ("to", "not_equals", "support@acme.example", False),
    ("to", "not_equals", "nobody@acme.example", True),
    ("to", "not_contains", "acme.example", False),
    ("to", "not_contains", "globex", True),
    ("to", "contains", "sales team", True),
    ("to", "starts_with", "sales", True),
    ("to", "ends_with", ".example", True),
    ("to", "any_of", "x@y.z, sales@acme.example", True),
    ("to", "not_any_of", "x@y.z, sales@acme.example", False),
    ("to", "not_empty", "", True),
    ("to", "empty", "", False),
    ("to", "matches", r"^sup+ort@", True),
    # Empty Cc: never an error; positives false, negatives true, "is empty" true
    ("cc", "contains", "x", False),
    ("cc", "not_contains", "x", True),
    ("cc", "equals", "x", False),
    ("cc", "not_equals", "x", True),
    ("cc", "starts_with", "x", False),
    ("cc", "ends_with", "x", False),
    ("cc", "any_of", "x, y", False),
    ("cc", "not_any_of", "x, y", True),
    ("cc", "empty", "", True),
    ("cc", "not_empty", "", False),
    ("cc", "matches", "x", False),
    # Bcc with one address and no display name
    ("bcc", "equals", "audit@acme.example", True),
    ("bcc", "not_contains", "audit", False),
    ("bcc", "empty", "", False),
    ("bcc", "not_empty", "", True),
    ("bcc", "contains", "AUDIT@", True),
    ("bcc", "not_equals", "audit@acme.example", False),
    ("bcc", "starts_with", "audit", True),
    ("bcc", "ends_with", "acme.example", True),
    ("bcc", "any_of", "audit@acme.example", True),
    ("bcc", "not_any_of", "audit@acme.example", False),
    ("bcc", "matches", r"^audit@", True),
]


@pytest.mark.parametrize(("field", "operator", "value", "expected"), CASES)
def test_operator_on_field(field: str, operator: str, value: str, expected: bool) -> None:
    assert holds(field, operator, value) is expected


def test_every_operator_is_covered_on_every_field_by_the_table() -> None:
    covered = {(f, o) for f, o, _v, _e in CASES}
    for field in ("subject", "body", "from", "to", "cc", "bcc"):
        assert {o for f, o in covered if f == field} == set(Operator.values), field


@pytest.mark.parametrize("field", ["subject", "body", "from", "to", "cc", "bcc"])
def test_an_empty_message_never_raises_and_is_empty(field: str) -> None:
    empty = Facts()
    for operator in Operator.values:
        value = "x" if operator != "matches" else "x+"
        result = holds(field, operator, "" if operator in ("empty", "not_empty") else value, empty)
        assert result is (operator in ("empty", "not_contains", "not_equals", "not_any_of"))


def test_html_only_body_is_compared_as_text() -> None:
    facts = Facts(html="<p>Please <b>cancel</b> my order</p>")
    assert holds("body", "contains", "cancel my order", facts)


def test_non_ascii_display_name_matches_case_insensitively() -> None:
    facts = Facts(sender=[("ÉMILE Zola", "emile@example.fr")])
    assert holds("from", "contains", "émile zola", facts)
    assert not holds("from", "not_contains", "ÉMILE", facts)


def test_all_mode_reports_the_first_failing_condition() -> None:
    rule = Rule(name="r", match_mode=MatchMode.ALL)
    conditions = [
        Condition(field="subject", operator="contains", value="order"),
        Condition(field="from", operator="equals", value="bob@example.org"),
    ]
    failed = compile_rule(rule, conditions).first_failure(FACTS)
    assert failed is not None and "From is equal to" in failed.label and "bob@example.org" in failed.label


def test_any_mode_matches_when_one_condition_holds() -> None:
    rule = Rule(name="r", match_mode=MatchMode.ANY)
    conditions = [
        Condition(field="subject", operator="contains", value="nothing like it"),
        Condition(field="from", operator="equals", value="ann@example.org"),
    ]
    assert compile_rule(rule, conditions).first_failure(FACTS) is None
    conditions[1].value = "bob@example.org"
    assert compile_rule(rule, conditions).first_failure(FACTS) is not None


def test_a_rule_without_conditions_matches_everything() -> None:
    assert compile_rule(Rule(name="r"), []).first_failure(Facts()) is None


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)+$", r"(a*)*b", r"(a|aa)+$", r"(\w+\s?)+$", r"(x)\1", r"(?:a{1,10}){1,10}", "[", "a" * 600],
)
def test_dangerous_or_invalid_regular_expressions_are_refused_when_saved(pattern: str) -> None:
    with pytest.raises(InvalidCondition):
        validate("subject", "matches", pattern)


@pytest.mark.parametrize("pattern", [r"order #\d+", r"^(re|fwd):", r"inv(oice)?\s*\d{3,}", r"[a-z]+@[a-z.]+"])
def test_ordinary_regular_expressions_are_accepted(pattern: str) -> None:
    check_pattern(pattern)


def test_regex_that_blows_up_polynomially_is_refused_by_the_timed_probe() -> None:
    # No nested repetition, so only the probe can tell: O(n^5) on a long run of "a".
    with pytest.raises(InvalidCondition, match="too long"):
        validate("body", "matches", r"\w*a\w*a\w*a\w*a\w*!")


def test_regex_on_a_huge_body_searches_only_the_documented_prefix_quickly() -> None:
    facts = Facts(text="x" * 2_000_000 + " needle")
    validate("body", "matches", r"\s*needle")
    started = time.perf_counter()
    assert holds("body", "matches", r"\s*needle", facts) is False  # beyond REGEX_INPUT_LIMIT
    assert time.perf_counter() - started < 1.0
    near = Facts(text="x" * (REGEX_INPUT_LIMIT - 20) + " needle")
    assert holds("body", "matches", r"\s*needle", near) is True


def test_values_are_required_except_for_empty_checks() -> None:
    with pytest.raises(InvalidCondition):
        validate("subject", "contains", "  ")
    validate("subject", "empty", "")
    with pytest.raises(InvalidCondition):
        validate("nowhere", "contains", "x")
