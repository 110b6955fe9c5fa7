"""Autoresponse rule-evaluation benchmark: 100 rules x 10,000 messages.

Usage (from the repository root):

    .venv/bin/python -m bench.rules [--rules 100] [--messages 10000]

Builds rules with 1-4 conditions over every field and operator (regular expressions included, each one
validated as on save), and messages with realistic subjects, 2-20 KB bodies and 1-6 addresses, then
times evaluating EVERY rule against EVERY message (the worst case: in production the first matching rule
usually stops the loop), with the rules compiled together as `respond_to` compiles a mailbox's rules.
Two phases are reported: building each message's facts and normalising its subject and addresses, then
evaluating the rules (which includes normalising as much of each body as the body conditions need).
No database is used. Target: well under one second.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable

from bench import _stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with _stack.data_dir("postroom-bench-rules-"):
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
        import django

        django.setup()
        run(args.rules, args.messages)


def run(rule_count: int, message_count: int) -> None:
    from postroom.autoresponse.conditions import Facts, RuleSet, compile_rule, validate
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

    rule_set = RuleSet(rules)
    all_facts: list[Facts] = []

    def build_facts() -> None:
        for fields_of_message in messages:
            facts = Facts(**fields_of_message)  # type: ignore[arg-type]
            facts.subject_text()
            for name in ("from", "to", "cc", "bcc"):
                facts.addresses(name)
            all_facts.append(facts)

    matched = 0

    def evaluate() -> None:
        nonlocal matched
        for facts in all_facts:
            matched += sum(rule_set.evaluate(facts))

    facts_wall, facts_cpu = _timed(build_facts)
    rules_wall, rules_cpu = _timed(evaluate)
    evaluations = rule_count * message_count
    wall, cpu = facts_wall + rules_wall, facts_cpu + rules_cpu
    print(f"compiled and validated {rule_count} rules in {compile_seconds:.2f} s (regex probes included)")
    print(
        f"{rule_count} rules x {message_count} messages = {evaluations:,} evaluations in {wall:.3f} s "
        f"(CPU {cpu:.3f} s; {evaluations / wall:,.0f}/s); {matched:,} matches"
    )
    print(
        f"  building the messages' facts (subject and addresses normalised): {facts_wall:.3f} s "
        f"(CPU {facts_cpu:.3f} s)"
    )
    print(f"  evaluating the rules (bodies normalised as needed): {rules_wall:.3f} s (CPU {rules_cpu:.3f} s)")
    # For reference, the worst case for bodies: a needle found in none, so every body is normalised whole.
    absent = RuleSet(
        [compile_rule(Rule(name="absent"), [Condition(field="body", operator="contains", value="zq")])]
    )
    whole_wall, whole_cpu = _timed(lambda: [absent.evaluate(facts) for facts in all_facts])
    print(f"  for reference, normalising every body in full: {whole_wall:.3f} s (CPU {whole_cpu:.3f} s)")


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of `work` (the CPU time says more on a busy machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
