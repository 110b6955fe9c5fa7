"""The fast paths of rule evaluation give the answers of the plain definition: rules compiled together
into one function, bodies normalised a stretch at a time, literal checks before regular expressions —
and regular expressions that run too long count as no match, within their time bound, and say so."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
import regex

from postroom.autoresponse.conditions import (
    BODY_LIMIT,
    NEGATIVE,
    Facts,
    RuleSet,
    compile_condition,
    compile_rule,
)
from postroom.autoresponse.models import Condition, MatchMode, Operator, Rule
from postroom.autoresponse.patterns import MESSAGE_SECONDS, REGEX_INPUT_LIMIT, SEARCH_SECONDS
from postroom.autoresponse.text import LongText, normalize

# Pieces chosen to land on every path: case and compatibility forms, combining marks, white-space runs of
# every kind, NUL, the dotless i, and text long enough to need several stretches and the regex limit.
ATOMS = [
    "order", "ORDER", "Größe", "GROSSE", "ﬁle", "file", "ＡＢＣ", "abc", "e\u0301", "é", "  ", "\n", "\t",
    " ", "x", "𝐇ello", "hello", ":", "#12", "@example.org", "\x00", "ı", "İ", "ß", "café", "\u00a0", "aaa",
    "\r\n",
]  # fmt: skip
VALUES = ["order", "grösse", "abc", "é", "file", "hello", "x", "order grösse", "e", "#12", "example.org",
          "a, b , order", "ı", "i", "HELLO X"]  # fmt: skip
PATTERNS = [r"order", r"^abc", r"x$", r"\d+", r"gr(o|ö)sse", r"e\s*x", r"hello\s+x"]
FIELDS = ["subject", "body", "from", "to", "cc", "bcc"]


def reference(field: str, operator: str, value: str, facts: Facts) -> bool:
    """MISSION M7's definition, written out plainly: normalise every value in full, test each one."""
    if field == "subject":
        candidates = [normalize(facts.subject)]
    elif field == "body":
        candidates = [normalize(facts.text[:BODY_LIMIT])]
    else:
        raw = {"from": facts.sender, "to": facts.to, "cc": facts.cc, "bcc": facts.bcc}[field]
        candidates = [normalize(part) for display, address in raw for part in (address, display)]
    candidates = [c for c in candidates if c]
    positive = NEGATIVE.get(Operator(operator), Operator(operator))
    wanted = normalize(value.strip())
    tests: dict[Operator, Callable[[str], object]] = {
        Operator.CONTAINS: lambda text: wanted in text,
        Operator.EQUALS: lambda text: text == wanted,
        Operator.STARTS_WITH: lambda text: text.startswith(wanted),
        Operator.ENDS_WITH: lambda text: text.endswith(wanted),
        Operator.ANY_OF: lambda text: text in {normalize(v.strip()) for v in value.split(",") if v.strip()},
        Operator.MATCHES: lambda text: regex.search(value, text[:REGEX_INPUT_LIMIT], regex.I | regex.V0),
    }
    found = not candidates if positive == Operator.EMPTY else any(tests[positive](c) for c in candidates)
    return bool(found) is (positive == operator)


def random_text(rng: random.Random, atoms: int) -> str:
    return "".join(rng.choice(ATOMS) for _ in range(rng.randint(0, atoms)))


def random_facts(rng: random.Random) -> Facts:
    def addresses(most: int) -> list[tuple[str, str]]:
        return [(random_text(rng, 2), random_text(rng, 3)) for _ in range(rng.randint(0, most))]

    return Facts(
        subject=random_text(rng, 6),
        text=random_text(rng, rng.choice([5, 60, 400, 1500])),
        sender=addresses(1),
        to=addresses(3),
        cc=addresses(1),
        bcc=addresses(2),
    )


def random_condition(rng: random.Random) -> Condition:
    operator = rng.choice(Operator.values)
    value = (
        rng.choice(PATTERNS) if operator == Operator.MATCHES else rng.choice([*VALUES, random_text(rng, 2)])
    )
    return Condition(field=rng.choice(FIELDS), operator=operator, value=value)


def test_compiled_conditions_agree_with_the_plain_definition() -> None:
    rng = random.Random(20261124)
    for _ in range(3000):
        facts, condition = random_facts(rng), random_condition(rng)
        expected = reference(condition.field, condition.operator, condition.value, facts)
        assert compile_condition(condition).holds(facts) is expected, (condition, facts)


def test_a_rule_set_agrees_with_each_rule_on_its_own() -> None:
    rng = random.Random(7)
    rules = [
        compile_rule(
            Rule(name=f"r{n}", match_mode=rng.choice([MatchMode.ALL, MatchMode.ANY])),
            [random_condition(rng) for _ in range(rng.randint(0, 4))],
        )
        for n in range(40)
    ]
    rule_set = RuleSet(rules)
    for _ in range(300):
        facts = random_facts(rng)
        together = rule_set.evaluate(facts)
        alone = tuple(rule.matches(random_facts_copy(facts)) for rule in rules)
        assert together == alone
        by_definition = tuple(
            (any if rule.match_any else all)(
                reference(c.field, c.operator, c.value, facts) for c in rule.conditions
            )
            or not rule.conditions
            for rule in rules
        )
        assert together == by_definition


def random_facts_copy(facts: Facts) -> Facts:
    """The same message with nothing normalised yet."""
    return Facts(facts.subject, facts.text, facts.html, facts.sender, facts.to, facts.cc, facts.bcc)


@pytest.mark.parametrize("seed", range(5))
def test_long_text_prefixes_and_suffixes_are_those_of_the_whole(seed: int) -> None:
    rng = random.Random(seed)
    raw = random_text(rng, 3000)
    whole = normalize(raw)
    for length in (0, 1, 5, 63, 64, 65, 500, 2_000, 10_000):
        head, tail = LongText(raw).head(length), LongText(raw).tail(length)
        assert whole.startswith(head) and (len(head) >= length or head == whole)
        assert whole.endswith(tail) and (len(tail) >= length or tail == whole)
    body = LongText(raw)
    for needle in ("order", "grosse x", "zq", whole[-30:], whole[900:940]):
        assert body.contains(needle) is (needle in whole), needle


def test_normalised_text_has_no_capitals_even_from_compatibility_forms() -> None:
    assert normalize("𝐀𝐁𝐂 ℌello ＡＢＣ Straße") == "abc hello abc strasse"
    assert compile_condition(Condition(field="subject", operator="contains", value="abc")).holds(
        Facts(subject="Your 𝐀𝐁𝐂 offer")
    )


def test_a_pattern_is_not_searched_when_its_literal_text_is_absent_and_still_matches_otherwise() -> None:
    condition = compile_condition(Condition(field="subject", operator="matches", value=r"Order #\d+"))
    assert condition.holds(Facts(subject="ORDER #42 is late"))
    assert not condition.holds(Facts(subject="order 42 is late"))


def test_catastrophic_backtracking_times_out_within_the_bound_and_counts_as_no_match() -> None:
    # Saved before validation existed (or imported): compiled without the checks of `validate`.
    condition = compile_condition(Condition(field="subject", operator="matches", value=r"(a|aa)+$"))
    facts = Facts(subject="a" * 40 + "b")

    started = time.process_time()
    result = condition.holds(facts)
    used = time.process_time() - started

    assert result is False
    assert used < SEARCH_SECONDS + 0.2  # CPU time: the bound the engine enforces
    [note] = facts.timeouts
    assert "(a|aa)+$" in note and "Subject" in note and "timed out" in note and "no match" in note


def test_a_costly_condition_does_not_run_when_a_cheap_one_decides() -> None:
    rule = compile_rule(
        Rule(name="r", match_mode=MatchMode.ANY),
        [
            Condition(field="subject", operator="matches", value=r"(a|aa)+$"),
            Condition(field="subject", operator="contains", value="b"),
        ],
    )
    facts = Facts(subject="a" * 40 + "b")
    assert rule.matches(facts) and not facts.timeouts  # the cheap condition decided: no search ran


def test_one_message_gets_a_bounded_total_of_regular_expression_time() -> None:
    slow = [
        Condition(field="subject", operator="matches", value=rf"(a|aa)+$|x{{{n}}}")
        for n in range(int(MESSAGE_SECONDS / SEARCH_SECONDS) + 3)
    ]
    rule = compile_rule(Rule(name="r", match_mode=MatchMode.ANY), slow)
    facts = Facts(subject="a" * 40 + "b")

    started = time.process_time()
    assert not rule.matches(facts)

    assert time.process_time() - started < MESSAGE_SECONDS + 0.5
    assert any("was not tried" in note for note in facts.timeouts)
