"""Condition semantics (MISSION M7), compiled once per rule set and evaluated against a message's facts.

- Text is compared case-insensitively after Unicode normalisation (NFKC + casefold) with white space
  collapsed to single spaces, on both sides (`postroom.autoresponse.text.normalize`).
- Address fields (From, To, Cc, Bcc) hold a list of (display name, address); each address is tested by
  its address and by its display name. A positive operator (contains, equals, starts/ends with, any of,
  matches) holds if ANY address matches; a negative one (does not contain, is not equal to, is not any
  of) holds only if NO address matches the positive counterpart.
- An empty field never raises: a positive operator is false on it, a negative one true; "is empty" true.
- "is any of"/"is not any of" take comma-separated values, compared for equality.
- "matches" is a regular expression searched, with a time bound, in the first characters of the
  normalised text (`postroom.autoresponse.patterns`).

Speed: the rules are compiled together into one Python function that evaluates each distinct condition
once per message as an inline expression, and the body is normalised only as far as the operators need
(`LongText`). The generated source is made only of the fixed expression templates below, variable names
taken from the Field enum and numbered constant names: the values admins type reach it as constants in
the function's namespace, never as source text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from postroom.autoresponse.models import Condition, Field, MatchMode, Operator, Rule
from postroom.autoresponse.patterns import (
    MESSAGE_SECONDS,
    REGEX_INPUT_LIMIT,
    BoundedPattern,
    InvalidPattern,
    check_pattern,
)
from postroom.autoresponse.text import LongText, normalize
from postroom.messages.parse import html_to_text

BODY_LIMIT = 100_000  # characters of the body any operator looks at

NEGATIVE = {
    Operator.NOT_CONTAINS: Operator.CONTAINS,
    Operator.NOT_EQUALS: Operator.EQUALS,
    Operator.NOT_ANY_OF: Operator.ANY_OF,
    Operator.NOT_EMPTY: Operator.EMPTY,
}
NEEDS_VALUE = set(Operator) - {Operator.EMPTY, Operator.NOT_EMPTY}
ADDRESS_FIELDS = frozenset({"from", "to", "cc", "bcc"})
# Address values are joined into one string between separators, so that "any address contains x" is a
# single substring search. A NUL in a value or a needle is read as U+FFFD, which keeps the separator out.
SEP = "\x00"


class InvalidCondition(ValueError):
    """A condition that cannot be saved; the message says why, for the admin."""


Address = tuple[str, str]  # (display name, address)


class AddressValues(NamedTuple):
    joined: str  # SEP + SEP.join(values) + SEP, or "" when there is none
    values: tuple[str, ...]  # each address's normalised address and display name (the non-empty ones)


@dataclass(slots=True)
class Facts:
    """What conditions look at in one message, normalised lazily and once, and what happened to the
    regular-expression searches on it (`timeouts`, for the admin)."""

    subject: str = ""
    text: str = ""
    html: str = ""
    sender: Sequence[Address] = ()
    to: Sequence[Address] = ()
    cc: Sequence[Address] = ()
    bcc: Sequence[Address] = ()
    timeouts: list[str] = field(default_factory=list)
    regex_seconds_left: float = MESSAGE_SECONDS
    _subject: str | None = field(default=None, repr=False)
    _body: LongText | None = field(default=None, repr=False)
    _addresses: dict[str, AddressValues] = field(default_factory=dict, repr=False)

    def note_timeout(self, note: str) -> None:
        if note not in self.timeouts:
            self.timeouts.append(note)

    def subject_text(self) -> str:
        if self._subject is None:
            self._subject = normalize(self.subject)
        return self._subject

    def body_text(self) -> LongText:
        if self._body is None:
            source = self.text if self.text.strip() else html_to_text(self.html[: BODY_LIMIT * 4])
            self._body = LongText(source[:BODY_LIMIT] if len(source) > BODY_LIMIT else source)
        return self._body

    def addresses(self, name: str) -> AddressValues:
        cached = self._addresses.get(name)
        if cached is None:
            cached = self._addresses[name] = _address_values(
                {"from": self.sender, "to": self.to, "cc": self.cc, "bcc": self.bcc}[name]
            )
        return cached


def _address_values(addresses: Sequence[Address]) -> AddressValues:
    values: list[str] = []
    for display, address in addresses:
        if address.strip():
            values.append(normalize(address))
        if display.strip():
            values.append(normalize(display))
    if not values:
        return AddressValues("", ())
    joined = SEP.join(values)
    if joined.count(SEP) != len(values) - 1:  # a value held a NUL
        values = [_no_sep(value) for value in values]
        joined = SEP.join(values)
    return AddressValues(f"{SEP}{joined}{SEP}", tuple(values))


def _no_sep(text: str) -> str:
    return text.replace(SEP, "\ufffd")


# --- compiling -----------------------------------------------------------------------------------------

ConditionKey = tuple[str, str, str]  # (field, operator, value) as saved
RuleKey = tuple[bool, tuple[ConditionKey, ...]]  # (match any, conditions)
Evaluator = Callable[[Facts], tuple[bool, ...]]


@dataclass(frozen=True)
class CompiledCondition:
    field: str
    operator: str
    value: str
    label: str

    @property
    def key(self) -> ConditionKey:
        return (self.field, self.operator, self.value)

    def holds(self, facts: Facts) -> bool:
        return _evaluator(((False, (self.key,)),))(facts)[0]


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    conditions: tuple[CompiledCondition, ...]
    match_any: bool

    @property
    def key(self) -> RuleKey:
        return (self.match_any, tuple(c.key for c in self.conditions))

    def matches(self, facts: Facts) -> bool:
        """Whether the rule matches. A rule without conditions matches everything."""
        return _evaluator((self.key,))(facts)[0]

    def first_failure(self, facts: Facts) -> CompiledCondition | None:
        """None when the rule matches; else the condition that decided against it (the first failing
        one in "all" mode, in the admin's order; the last one in "any" mode)."""
        if self.matches(facts):
            return None
        if self.match_any:
            return self.conditions[-1]
        return next(c for c in self.conditions if not c.holds(facts))


class RuleSet:
    """Rules compiled together: `evaluate` says, in one pass over a message, which of them match."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self._evaluate = _evaluator(tuple(r.key for r in self.rules))

    def evaluate(self, facts: Facts) -> tuple[bool, ...]:
        return self._evaluate(facts)


def compile_rule(rule: Rule, conditions: Sequence[Condition]) -> CompiledRule:
    compiled = tuple(compile_condition(c) for c in conditions)
    return CompiledRule(rule, compiled, rule.match_mode == MatchMode.ANY)


def compile_condition(condition: Condition) -> CompiledCondition:
    """Prepare a saved condition for evaluation. It was validated when saved (`validate`); here only
    the cheap checks run again. Raises InvalidCondition for an unknown field or operator or a regular
    expression that does not compile."""
    if condition.field not in Field.values or condition.operator not in Operator.values:
        raise InvalidCondition(f"Unknown field or operator in {condition.field!r} {condition.operator!r}.")
    operator = Operator(condition.operator)
    label = f"{Field(condition.field).label} {operator.label}"
    if operator in NEEDS_VALUE:
        label += f" “{condition.value}”"
    compiled = CompiledCondition(str(condition.field), str(operator.value), condition.value, label)
    try:
        _evaluator(((False, (compiled.key,)),))
    except InvalidPattern as exc:
        raise InvalidCondition(str(exc)) from None
    return compiled


def validate(field_name: str, operator: str, value: str) -> None:
    """Check a condition as the admin typed it; raises InvalidCondition with a message for them."""
    if field_name not in Field.values:
        raise InvalidCondition(f"Unknown field {field_name!r}.")
    if operator not in Operator.values:
        raise InvalidCondition(f"Unknown operator {operator!r}.")
    if operator in NEEDS_VALUE and not value.strip():
        raise InvalidCondition(f"“{Operator(operator).label}” needs a value.")
    if operator == Operator.MATCHES:
        try:
            check_pattern(value)
        except InvalidPattern as exc:
            raise InvalidCondition(str(exc)) from None


# --- code generation -----------------------------------------------------------------------------------
# Each template is the POSITIVE test of an operator on one kind of field: {v} is the field's variable,
# {k} the constant prepared by `_constant`. A negative operator is "not" its positive test.

_TEXT = {
    Operator.CONTAINS: "{k} in {v}",
    Operator.EQUALS: "{v} == {k}",
    Operator.STARTS_WITH: "{v}.startswith({k})",
    Operator.ENDS_WITH: "{v}.endswith({k})",
    Operator.ANY_OF: "{v} in {k}",
    Operator.MATCHES: "{k}.search(f, {v})",
    Operator.EMPTY: "not {v}",
}
_ADDRESSES = {
    Operator.CONTAINS: "{k} in {v}_joined",
    Operator.EQUALS: "{k} in {v}_joined",  # {k} is SEP value SEP
    Operator.STARTS_WITH: "{k} in {v}_joined",  # SEP value
    Operator.ENDS_WITH: "{k} in {v}_joined",  # value SEP
    Operator.ANY_OF: "not {k}.isdisjoint({v}_values)",
    Operator.MATCHES: "{k}.search_any(f, {v}_values)",
    Operator.EMPTY: "not {v}_values",
}
_LONG = {
    Operator.CONTAINS: "{v}.contains({k})",
    Operator.EQUALS: "{v}.equals({k})",
    Operator.STARTS_WITH: "{v}.starts_with({k})",
    Operator.ENDS_WITH: "{v}.ends_with({k})",
    Operator.ANY_OF: "{v}.any_of(*{k})",  # {k} is (choices, length of the longest)
    Operator.MATCHES: f"{{k}}.search(f, {{v}}.head({REGEX_INPUT_LIMIT}))",
    Operator.EMPTY: "not {v}.present()",
}
_PRELUDE = {
    "subject": "subject = f.subject_text()",
    "body": "body = f.body_text()",
    **{name: f"{name}_joined, {name}_values = f.addresses({name!r})" for name in ADDRESS_FIELDS},
}


def _templates(field_name: str) -> dict[Operator, str]:
    if field_name in ADDRESS_FIELDS:
        return _ADDRESSES
    return _LONG if field_name == Field.BODY else _TEXT


class _Program:
    """The source and constants of one generated evaluator."""

    def __init__(self) -> None:
        self.namespace: dict[str, object] = {"__builtins__": {}}
        self.fields: list[str] = []
        self.lines: list[str] = []
        self.tests: dict[tuple[str, Operator, str], str] = {}
        self.costly: dict[str, str] = {}  # variable -> expression computed on first use

    def terms(self, keys: Sequence[ConditionKey]) -> list[str]:
        """The rule's conditions as expressions, cheap ones first: "and"/"or" give the same result in
        any order, and a costly test (the body, a regular expression) then often need not run."""
        terms = [self.term(key) for key in keys]
        return [expression for _costly, expression in sorted(terms, key=lambda term: term[0])]

    def term(self, key: ConditionKey) -> tuple[bool, str]:
        """The expression of one condition: its positive test, "not"-ed if negative. A test shared by
        several rules runs once per message: a cheap one up front, a costly one when first needed."""
        field_name, operator_name, value = key
        operator = Operator(operator_name)
        positive = NEGATIVE.get(operator, operator)
        test_key = (field_name, positive, value if positive != Operator.EMPTY else "")
        name = self.tests.get(test_key)
        if name is None:
            name = self.tests[test_key] = f"c{len(self.tests)}"
            expression = self._expression(field_name, positive, value)
            if field_name == Field.BODY or positive == Operator.MATCHES:
                self.costly[name] = expression
                self.lines.append(f"    {name} = None")
            else:
                self.lines.append(f"    {name} = {expression}")
            if field_name not in self.fields:
                self.fields.append(field_name)
        costly = name in self.costly
        if costly:
            name = f"({name} if {name} is not None else ({name} := {self.costly[name]}))"
        return costly, f"not {name}" if operator in NEGATIVE else name

    def _expression(self, field_name: str, operator: Operator, value: str) -> str:
        template = _templates(field_name)[operator]
        wanted = (
            _no_sep(normalize(value.strip())) if field_name in ADDRESS_FIELDS else normalize(value.strip())
        )
        if operator in (Operator.CONTAINS, Operator.STARTS_WITH, Operator.ENDS_WITH) and not wanted:
            return f"not ({_templates(field_name)[Operator.EMPTY]})".format(v=field_name)
        if operator == Operator.EQUALS and not wanted:
            return "False"  # an empty field has no value to be equal to; a non-empty one is not empty
        constant = f"k{len(self.namespace)}"
        self.namespace[constant] = _constant(field_name, operator, value, wanted)
        return template.format(k=constant, v=field_name)

    def function(self, outcomes: Sequence[str]) -> Evaluator:
        prelude = [f"    {_PRELUDE[name]}" for name in self.fields]
        source = "\n".join(
            ["def evaluate(f):", *prelude, *self.lines, f"    return ({''.join(o + ', ' for o in outcomes)})"]
        )
        exec(compile(source, "<autoresponse rules>", "exec"), self.namespace)  # noqa: S102 - see module doc
        evaluate: Evaluator = self.namespace["evaluate"]  # type: ignore[assignment]
        return evaluate


def _constant(field_name: str, operator: Operator, value: str, wanted: str) -> object:
    if operator == Operator.MATCHES:
        return BoundedPattern(value, f"The regular expression “{value}” on {Field(field_name).label}")
    if operator == Operator.ANY_OF:
        choices = frozenset(normalize(v.strip()) for v in value.split(",")) - {""}
        if field_name in ADDRESS_FIELDS:
            return frozenset(_no_sep(choice) for choice in choices)
        return (choices, max(map(len, choices), default=0)) if field_name == Field.BODY else choices
    if field_name in ADDRESS_FIELDS and operator != Operator.CONTAINS:
        before = SEP if operator in (Operator.EQUALS, Operator.STARTS_WITH) else ""
        after = SEP if operator in (Operator.EQUALS, Operator.ENDS_WITH) else ""
        return f"{before}{wanted}{after}"
    return wanted


@functools.lru_cache(maxsize=512)
def _evaluator(rules: tuple[RuleKey, ...]) -> Evaluator:
    """One function answering, for a message's facts, whether each rule matches. Cached: a mailbox's
    rules are compiled once, not once per message."""
    program = _Program()
    outcomes = []
    for match_any, conditions in rules:
        terms = program.terms(conditions)
        outcomes.append(f"({(' or ' if match_any else ' and ').join(terms)})" if terms else "True")
    return program.function(outcomes)
