"""The "matches" operator: regular expressions checked when a rule is saved and bounded in time when run.

Patterns use Python's `re` syntax and run on the `regex` engine, whose searches take a timeout. When a
rule is SAVED a pattern is refused if it does not compile, if it has the constructs that make a
backtracking engine explode (a repetition inside a repetition, alternatives inside a repetition,
back-references), or if it runs out of time on worst-case inputs of `REGEX_INPUT_LIMIT` characters built
from its own characters (this catches polynomial blow-ups). When a rule RUNS, each search gets at most
`SEARCH_SECONDS` and one message's searches together `MESSAGE_SECONDS`; a search that runs out of time
counts as "no match" and is recorded on the message's facts, so the admin sees why. A search's bound is
CPU time (the `regex` engine's timeout counts CPU time: a busy machine slows a search down in wall time,
but never lets it do more work); the message's is wall-clock time, which is far cheaper to read and never
less than the CPU time. Only the first
`REGEX_INPUT_LIMIT` characters of a field are searched — the documented limit of the operator.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Iterable
from typing import Protocol

import regex

REGEX_INPUT_LIMIT = 2_000  # characters of a field that `matches` looks at
REGEX_PATTERN_LIMIT = 500
SEARCH_SECONDS = 0.1  # one search on one field of one message
MESSAGE_SECONDS = 1.0  # all searches on one message
PROBE_SECONDS = 1.0  # all worst-case searches when a rule is saved; healthy patterns need milliseconds
FLAGS = regex.IGNORECASE | regex.V0  # V0: the `re`-compatible behaviour


class InvalidPattern(ValueError):
    """A pattern that cannot be saved; the message says why, for the admin."""


class SearchBudget(Protocol):
    """What a search charges its time to: the facts of one message."""

    regex_seconds_left: float

    def note_timeout(self, note: str) -> None: ...


class BoundedPattern:
    """A saved pattern, searched with a time bound. `label` names it in the note left on a timeout."""

    def __init__(self, pattern: str, label: str) -> None:
        try:
            self._compiled = regex.compile(pattern, FLAGS)
            self._required = _required_literals(_parse_tree(pattern))
        except (re.error, regex.error) as exc:
            raise InvalidPattern(f"Not a valid regular expression: {exc}.") from None
        self._label = label

    def search(self, budget: SearchBudget, text: str) -> bool:
        """Whether the pattern is found in the first `REGEX_INPUT_LIMIT` characters of a non-empty
        `text`; False for an empty one, and when the search runs out of time (noted on `budget`).
        `text` is normalised (`postroom.autoresponse.text.normalize`), which the literal check needs."""
        if not text:
            return False
        text = text[:REGEX_INPUT_LIMIT]
        # What every match contains, checked first: cannot match without it, and a timed search costs
        # microseconds of clock reads before it even starts.
        for literal in self._required:
            if literal not in text:
                return False
        seconds = min(SEARCH_SECONDS, budget.regex_seconds_left)
        if seconds <= 0:
            budget.note_timeout(
                f"{self._label} was not tried: this message used up its regular-expression time."
            )
            return False
        started = time.perf_counter()
        try:
            return self._compiled.search(text, timeout=seconds) is not None
        except TimeoutError:
            budget.note_timeout(f"{self._label} timed out after {seconds:g} s and counts as no match.")
            return False
        finally:
            budget.regex_seconds_left -= time.perf_counter() - started

    def search_any(self, budget: SearchBudget, texts: Iterable[str]) -> bool:
        return any(self.search(budget, text) for text in texts)


def check_pattern(pattern: str) -> None:
    """Refuse, with a message for the admin, a pattern that is invalid or could run for long."""
    if len(pattern) > REGEX_PATTERN_LIMIT:
        raise InvalidPattern(f"The regular expression is longer than {REGEX_PATTERN_LIMIT} characters.")
    try:
        tree = _parse_tree(pattern)
        compiled = regex.compile(pattern, FLAGS)
    except (re.error, regex.error) as exc:
        raise InvalidPattern(f"Not a valid regular expression: {exc}.") from None
    problem = _risky(tree, inside_repeat=False) or _too_slow(compiled, _sample_chars(tree))
    if problem:
        raise InvalidPattern(
            f"This regular expression could take too long on some messages ({problem}). Simplify it."
        )


def _too_slow(compiled: regex.Pattern[str], chars: str) -> str:
    """Search worst-case inputs; "" when they took less than `PROBE_SECONDS` together."""
    mix = (chars * (REGEX_INPUT_LIMIT // max(len(chars), 1) + 1))[:REGEX_INPUT_LIMIT]
    deadline = time.process_time() + PROBE_SECONDS
    for text in [c * REGEX_INPUT_LIMIT for c in chars] + [mix]:
        try:
            compiled.search(text, timeout=max(deadline - time.process_time(), 0.001))
        except TimeoutError:
            return f"it ran for over {PROBE_SECONDS:g} s on {REGEX_INPUT_LIMIT}-character test inputs"
    return ""


# --- structure -----------------------------------------------------------------------------------------
# A repetition whose body can itself repeat or choose between alternatives ("(a+)+", "(a|aa)*") can take
# exponential time, and back-references make matching NP-hard. `re._parser` is CPython's own parser of
# the pattern syntax (stable since 3.11); if it ever changed shape, `_risky` fails closed.


def _parse_tree(pattern: str) -> object:
    # Imported by name: typeshed describes `re` as one module, and whether mypy then sees `re._parser`
    # differed between a fresh and a cached run.
    parser = importlib.import_module("re._parser")
    parsed: object = parser.parse(pattern, re.IGNORECASE)
    return parsed


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
            problem = _risky(arg[-1], inside_repeat)
            if problem:
                return problem
        elif name in ("ASSERT", "ASSERT_NOT"):
            problem = _risky(arg[1], inside_repeat)
            if problem:
                return problem
    return ""


def _required_literals(tree: object) -> tuple[str, ...]:
    """Runs of characters every match contains, lower-cased: the pattern's top-level literals, checked
    before a search. Only ASCII characters other than "i" count: normalised text has no capitals, so
    their lower case is all a case-insensitive search could find of them there (the dotless "ı", which
    normalised text can hold, matches "i")."""
    runs: list[str] = []
    run = ""
    for op, arg in tree:  # type: ignore[attr-defined]
        if str(op) == "LITERAL" and arg < 128 and chr(arg) not in "iI":
            run += chr(arg).lower()
            continue
        if run:
            runs.append(run)
        run = ""
    return tuple(sorted({*runs, run} - {""}, key=len, reverse=True))


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
