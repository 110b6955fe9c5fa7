"""Autoresponse rule-evaluation benchmark: 100 rules x 10,000 messages.

Usage (from the repository root):

    .venv/bin/python -m bench.rules [--rules 100] [--messages 10000]

Builds rules with 1-4 conditions over every field and operator (regular expressions included, each one
validated as on save), and messages with realistic subjects, 2-20 KB bodies and 1-6 addresses, then
times evaluating EVERY rule against EVERY message (the worst case: in production the first matching rule
usually stops the loop). Facts are built per message as `respond_to` does (normalisation is lazy and
cached per message), so the time includes normalising each message once. No database is used.
Target: well under one second.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("POSTROOM_DATA_DIR", tempfile.mkdtemp(prefix="postroom-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()
    run(args.rules, args.messages)


def run(rule_count: int, message_count: int) -> None:
    from postroom.autoresponse.conditions import Facts, compile_rule, validate
    from postroom.autoresponse.models import Condition, MatchMode, Operator, Rule

    rng = random.Random(7)  # noqa: S311 - reproducible test data, not secrets
    words = "order invoice parcel refund größe café délai Lieferung urgent help account password".split()
    patterns = [r"order #\d+", r"^(re|fwd):", r"inv(oice)?\s*\d{3,}", r"[a-z]+@example\.org"]
    fields = ["subject", "body", "from", "to", "cc", "bcc"]

    def condition() -> Condition:
        operator = rng.choice(Operator.values)
        if operator == Operator.MATCHES:
            value = rng.choice(patterns)
        elif operator in (Operator.ANY_OF, Operator.NOT_ANY_OF):
            value = ", ".join(rng.sample(words, 3))
        else:
            value = rng.choice(words)
        return Condition(field=rng.choice(fields), operator=operator, value=value)

    started = time.perf_counter()
    rules = []
    for n in range(rule_count):
        rule = Rule(name=f"rule {n}", match_mode=rng.choice([MatchMode.ALL, MatchMode.ANY]))
        conditions = [condition() for _ in range(rng.randint(1, 4))]
        for c in conditions:
            validate(c.field, c.operator, c.value)
        rules.append(compile_rule(rule, conditions))
    compile_seconds = time.perf_counter() - started

    def address(n: int) -> tuple[str, str]:
        return (f"Person {n} {rng.choice(words)}", f"user{n}@{rng.choice(['example.org', 'acme.example'])}")

    messages = []
    for n in range(message_count):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(300, 3000)))
        messages.append(
            dict(
                subject=f"Re: {rng.choice(words)} #{n} {rng.choice(words)}",
                text=body,
                sender=[address(n)],
                to=[address(n + i) for i in range(rng.randint(1, 3))],
                cc=[address(n + i) for i in range(rng.randint(0, 2))],
                bcc=[],
            )
        )

    started = time.perf_counter()
    all_facts = [Facts(**fields_of_message) for fields_of_message in messages]  # type: ignore[arg-type]
    for facts in all_facts:
        for name in fields:
            facts.values(name)
    normalise_seconds = time.perf_counter() - started
    started = time.perf_counter()
    matched = 0
    for facts in all_facts:
        matched += sum(1 for rule in rules if rule.matches(facts))
    rules_seconds = time.perf_counter() - started
    seconds = normalise_seconds + rules_seconds
    evaluations = rule_count * message_count
    print(f"compiled and validated {rule_count} rules in {compile_seconds:.2f} s (regex probes included)")
    print(
        f"{rule_count} rules x {message_count} messages = {evaluations:,} evaluations in {seconds:.3f} s "
        f"({evaluations / seconds:,.0f}/s); {matched:,} matches"
    )
    print(
        f"  of which normalising the messages once: {normalise_seconds:.3f} s; "
        f"evaluating the rules: {rules_seconds:.3f} s"
    )


if __name__ == "__main__":
    main()
