"""Condition semantics (MISSION M7), compiled once per rule and evaluated against a message's facts.

- Text is compared case-insensitively after Unicode normalisation (NFKC + casefold) with white space
  collapsed to single spaces, on both sides.
- Address fields (From, To, Cc, Bcc) hold a list of (display name, address); each address is tested by
  its address and by its display name. A positive operator (contains, equals, starts/ends with, any of,
  matches) holds if ANY address matches; a negative one (does not contain, is not equal to, is not any
  of) holds only if NO address matches the positive counterpart.
- An empty field never raises: a positive operator is false on it, a negative one true; "is empty" true.
- "is any of"/"is not any of" take comma-separated values, compared for equality.
- "matches" is a regular expression searched in the normalised text. Python's `re` cannot be
  interrupted, so time is bounded when the rule is SAVED, twice over: the constructs that make a
  backtracking engine explode (nested or alternated repetition, back-references) are refused, and the
  pattern is then run, in a child process allowed `PROBE_SECONDS` of CPU time, against worst-case inputs of
  `REGEX_INPUT_LIMIT` characters built from its own characters (this catches polynomial blow-ups such as
  "a*a*b"). At evaluation only the first `REGEX_INPUT_LIMIT` characters of a field are searched — the
  documented limit of the operator.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from postroom.autoresponse.models import Condition, Field, MatchMode, Operator, Rule
from postroom.messages.parse import html_to_text

REGEX_INPUT_LIMIT = 2_000  # characters of a field that `matches` looks at
REGEX_PATTERN_LIMIT = 500
PROBE_SECONDS = 2.0  # CPU time of the whole worst-case probe; healthy patterns need milliseconds
PROBE_KILL_SECONDS = 20.0
BODY_LIMIT = 100_000  # characters of the body any operator looks at

NEGATIVE = {
    Operator.NOT_CONTAINS: Operator.CONTAINS,
    Operator.NOT_EQUALS: Operator.EQUALS,
    Operator.NOT_ANY_OF: Operator.ANY_OF,
}
NEEDS_VALUE = set(Operator) - {Operator.EMPTY, Operator.NOT_EMPTY}


class InvalidCondition(ValueError):
    """A condition that cannot be saved; the message says why, for the admin."""


def normalize(text: str) -> str:
    """Case-insensitive, compatibility-normalised form of `text` (so "ＡＢＣ", "ABC" and "abc" agree),
    with runs of white space (line breaks included) collapsed to one space and trimmed."""
    if text.isascii():  # the common case, and NFKC leaves ASCII alone
        return " ".join(text.lower().split())
    # casefold then NFKC: full-width and ligature forms fold too ("Ａ" -> "ａ" -> "a"), in one pass.
    return " ".join(_nfkc(text.casefold()).split())


def _nfkc(text: str) -> str:
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


Address = tuple[str, str]  # (display name, address)


@dataclass
class Facts:
    """What conditions look at in one message, normalised lazily and once."""

    subject: str = ""
    text: str = ""
    html: str = ""
    sender: Sequence[Address] = ()
    to: Sequence[Address] = ()
    cc: Sequence[Address] = ()
    bcc: Sequence[Address] = ()
    _cache: dict[str, tuple[bool, list[str]]] = field(default_factory=dict)
    # (field, positive operator, value) -> whether any value of the field passed that test: rules that
    # share a condition (or a regular expression over the body) pay for it once per message.
    _hits: dict[tuple[str, str, str], bool] = field(default_factory=dict)

    @cached_property
    def body(self) -> str:
        source = self.text if self.text.strip() else html_to_text(self.html[: BODY_LIMIT * 4])
        return normalize(source[:BODY_LIMIT])

    def values(self, name: str) -> tuple[bool, list[str]]:
        """(whether the field is non-empty, its normalised strings): one string for Subject and Body;
        for an address field each address's address and display name."""
        cached = self._cache.get(name)
        if cached is None:
            cached = self._cache[name] = self._values(name)
        return cached

    def _values(self, name: str) -> tuple[bool, list[str]]:
        if name == "subject":
            subject = normalize(self.subject)
            return bool(subject), [subject] if subject else []
        if name == "body":
            return bool(self.body), [self.body] if self.body else []
        raw = {"from": self.sender, "to": self.to, "cc": self.cc, "bcc": self.bcc}[name]
        entries = [(normalize(addr), normalize(disp)) for disp, addr in raw if addr.strip() or disp.strip()]
        return bool(entries), [part for pair in entries for part in pair if part]


Test = Callable[[str], bool]


@dataclass(frozen=True)
class CompiledCondition:
    field: str
    operator: str
    test: Test | None  # the positive test; None for empty/not_empty
    negative: bool
    label: str
    key: tuple[str, str, str]  # identifies the positive test, for sharing its result per message

    def holds(self, facts: Facts) -> bool:
        present, candidates = facts.values(self.field)
        if self.test is None:  # is empty / is not empty
            return present is (self.operator == Operator.NOT_EMPTY)
        hit = facts._hits.get(self.key)
        if hit is None:
            test = self.test
            hit = facts._hits[self.key] = any(test(value) for value in candidates)
        return hit is not self.negative


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    conditions: tuple[CompiledCondition, ...]
    match_any: bool
    cheapest_first: tuple[CompiledCondition, ...] = ()

    def first_failure(self, facts: Facts) -> CompiledCondition | None:
        """None when the rule matches; else the condition that decided against it (the first failing
        one in "all" mode, in the admin's order; the last one in "any" mode). A rule without conditions
        matches everything."""
        if self.matches(facts):
            return None
        if self.match_any:
            return self.conditions[-1]
        return next(c for c in self.conditions if not c.holds(facts))

    def matches(self, facts: Facts) -> bool:
        """Whether the rule matches, trying cheap conditions (addresses, subject) before the body and
        regular expressions: the outcome of AND/OR does not depend on the order."""
        if self.match_any:
            return not self.conditions or any(c.holds(facts) for c in self.cheapest_first)
        return all(c.holds(facts) for c in self.cheapest_first)


def compile_rule(rule: Rule, conditions: Sequence[Condition]) -> CompiledRule:
    compiled = tuple(compile_condition(c) for c in conditions)
    by_cost = tuple(sorted(compiled, key=_cost))
    return CompiledRule(rule, compiled, rule.match_mode == MatchMode.ANY, by_cost)


def _cost(condition: CompiledCondition) -> int:
    return (condition.field == "body") * 2 + (condition.operator == Operator.MATCHES)


def compile_condition(condition: Condition) -> CompiledCondition:
    """Prepare a saved condition for evaluation. It was validated when saved (`validate`); here only
    the cheap checks run again. Raises InvalidCondition for an unknown field or operator."""
    if condition.field not in Field.values or condition.operator not in Operator.values:
        raise InvalidCondition(f"Unknown field or operator in {condition.field!r} {condition.operator!r}.")
    operator = Operator(condition.operator)
    positive = NEGATIVE.get(operator, operator)
    test = (
        None
        if operator in (Operator.EMPTY, Operator.NOT_EMPTY)
        else _positive_test(positive, condition.value)
    )
    label = f"{Field(condition.field).label} {operator.label}"
    if operator in NEEDS_VALUE:
        label += f" “{condition.value}”"
    key = (str(condition.field), str(positive.value), condition.value)
    return CompiledCondition(
        str(condition.field), str(operator.value), test, operator in NEGATIVE, label, key
    )


def validate(field_name: str, operator: str, value: str) -> None:
    """Check a condition as the admin typed it; raises InvalidCondition with a message for them."""
    if field_name not in Field.values:
        raise InvalidCondition(f"Unknown field {field_name!r}.")
    if operator not in Operator.values:
        raise InvalidCondition(f"Unknown operator {operator!r}.")
    if operator in NEEDS_VALUE and not value.strip():
        raise InvalidCondition(f"“{Operator(operator).label}” needs a value.")
    if operator == Operator.MATCHES:
        check_pattern(value)


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise InvalidCondition(f"Not a valid regular expression: {exc}.") from None


def check_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a "matches" pattern, refusing what could run for a long time (see module docstring)."""
    if len(pattern) > REGEX_PATTERN_LIMIT:
        raise InvalidCondition(f"The regular expression is longer than {REGEX_PATTERN_LIMIT} characters.")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
        tree = _parse_tree(pattern)
    except re.error as exc:
        raise InvalidCondition(f"Not a valid regular expression: {exc}.") from None
    problem = _risky(tree, inside_repeat=False) or _too_slow(pattern, _sample_chars(tree))
    if problem:
        raise InvalidCondition(
            f"This regular expression could take too long on some messages ({problem}). Simplify it."
        )
    return compiled


def _positive_test(operator: Operator, value: str) -> Test:
    wanted = normalize(value.strip())
    if operator == Operator.CONTAINS:
        return lambda text: wanted in text
    if operator == Operator.EQUALS:
        return lambda text: text == wanted
    if operator == Operator.STARTS_WITH:
        return lambda text: text.startswith(wanted)
    if operator == Operator.ENDS_WITH:
        return lambda text: text.endswith(wanted)
    if operator == Operator.ANY_OF:
        choices = frozenset(normalize(v.strip()) for v in value.split(",") if v.strip())
        return lambda text: text in choices
    if operator == Operator.MATCHES:
        pattern = _compiled(value)
        return lambda text: pattern.search(text[:REGEX_INPUT_LIMIT]) is not None
    raise InvalidCondition(f"Unknown operator {operator!r}.")


# --- regular-expression safety -------------------------------------------------------------------------
# Python's `re` backtracks; a repetition whose body can itself repeat or choose between alternatives
# ("(a+)+", "(a|aa)*") can take exponential time, and back-references make matching NP-hard. We refuse
# those when the rule is saved. `re._parser` is CPython's own parser of pattern syntax (stable since 3.11);
# if it ever changed shape, `_parse_tree` fails closed and the pattern is refused.


def _parse_tree(pattern: str) -> object:
    from re import _parser  # type: ignore[attr-defined]  # CPython's pattern parser has no stubs

    return _parser.parse(pattern, re.IGNORECASE)


_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}


def _risky(tree: object, inside_repeat: bool) -> str:
    for op, arg in tree:  # type: ignore[attr-defined]
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return "back-references"
        if name in _REPEATS:
            low, high, body = arg
            unbounded_ish = high is not None and high > 1
            if inside_repeat and unbounded_ish:
                return "a repetition inside a repetition"
            problem = _risky(body, inside_repeat or unbounded_ish)
            if problem:
                return problem
        elif name == "BRANCH":
            if inside_repeat:
                return "alternatives inside a repetition"
            for branch in arg[1]:
                problem = _risky(branch, inside_repeat)
                if problem:
                    return problem
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            body = arg[-1]
            problem = _risky(body, inside_repeat)
            if problem:
                return problem
        elif name in ("ASSERT", "ASSERT_NOT"):
            problem = _risky(arg[1], inside_repeat)
            if problem:
                return problem
    return ""


_CATEGORY_SAMPLES = {"DIGIT": "0", "SPACE": " ", "WORD": "a", "LINEBREAK": "\n"}


def _sample_chars(tree: object) -> str:
    """Characters the pattern can consume: what worst-case inputs are made of."""
    found: set[str] = {"a", " ", "0", "!"}
    _collect(tree, found)
    return "".join(sorted(found))[:16]


def _collect(tree: object, found: set[str]) -> None:
    for op, arg in tree:  # type: ignore[attr-defined]
        name = str(op)
        if name == "LITERAL":
            found.add(chr(arg))
        elif name == "RANGE":
            found.update({chr(arg[0]), chr(arg[1])})
        elif name == "CATEGORY":
            category = str(arg).removeprefix("CATEGORY_").removeprefix("NOT_")
            found.add(_CATEGORY_SAMPLES.get(category, "a"))
        elif name in ("IN", "ATOMIC_GROUP"):
            _collect(arg, found)
        elif name in _REPEATS:
            _collect(arg[2], found)
        elif name == "SUBPATTERN":
            _collect(arg[-1], found)
        elif name == "BRANCH":
            for branch in arg[1]:
                _collect(branch, found)
        elif name in ("ASSERT", "ASSERT_NOT"):
            _collect(arg[1], found)


_PROBE = """
import re, sys, time
pattern, chars, size, budget = sys.stdin.read().split("\\x00")
size, budget = int(size), float(budget)
compiled = re.compile(pattern, re.IGNORECASE)
mix = (chars * (size // max(len(chars), 1) + 1))[:size]
for text in [c * size for c in chars] + [mix]:
    compiled.search(text)
    if time.process_time() > budget:
        break
print(time.process_time())
"""


def _too_slow(pattern: str, chars: str) -> str:
    """Run the pattern on worst-case inputs in a child process; "" when it used less than
    `PROBE_SECONDS` of CPU time. CPU time rather than wall time, so a busy machine does not refuse a
    good pattern; the child is killed outright after `PROBE_KILL_SECONDS` of wall time."""
    payload = "\x00".join([pattern, chars.replace("\x00", ""), str(REGEX_INPUT_LIMIT), str(PROBE_SECONDS)])
    too_long = f"it ran for over {PROBE_SECONDS:g} s on a {REGEX_INPUT_LIMIT}-character test input"
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and code; the pattern travels on stdin
            [sys.executable, "-I", "-c", _PROBE],
            input=payload,
            text=True,
            timeout=PROBE_KILL_SECONDS,
            check=True,
            capture_output=True,
        )
    except subprocess.TimeoutExpired:
        return too_long
    except subprocess.CalledProcessError:
        return "it failed on a test input"
    try:
        return too_long if float(done.stdout.strip()) > PROBE_SECONDS else ""
    except ValueError:
        return "it failed on a test input"
