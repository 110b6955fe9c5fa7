"""The install-wide outbound allow-list (POSTROOM_OUTBOUND_ALLOW), so the Check Connection form cannot be
used to probe internal networks.

Entries are host names (`mail.example.com`; `.example.com` or `*.example.com` also match subdomains), IP
addresses or CIDR networks (`10.0.0.0/8`, `2001:db8::/32`), each optionally with `:port` (IPv6 in
brackets then: `[2001:db8::/32]:993`). An empty list allows everything.
A name rule allows that name whatever it resolves to: the operator named it. A network rule allows a
target only when EVERY address its name resolves to lies in an allowed network, and the connection is
then made to those same addresses, so a name cannot re-resolve to somewhere else in between.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_HOSTNAME = re.compile(r"^(\*?\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Rule:
    name: str | None  # lowercased host name, leading "." for "and subdomains"
    network: IPNetwork | None
    port: int | None

    def allows_port(self, port: int) -> bool:
        return self.port is None or self.port == port

    def allows_name(self, host: str) -> bool:
        if self.name is None:
            return False
        host = host.lower().rstrip(".")
        if self.name.startswith("."):
            return host.endswith(self.name)
        return host == self.name

    def allows_address(self, address: IPAddress) -> bool:
        return self.network is not None and address in self.network


def parse_rule(entry: str) -> Rule:
    """One allow-list entry; raises ImproperlyConfigured naming the entry when it makes no sense."""
    target, port = _split_port(entry.strip())
    try:
        return Rule(None, ipaddress.ip_network(target, strict=False), port)
    except ValueError:
        pass
    name = target.lower().rstrip(".")
    if not _HOSTNAME.match(name):
        raise ImproperlyConfigured(
            f"POSTROOM_OUTBOUND_ALLOW: {entry!r} is not a host name, address or network"
        )
    return Rule(name.removeprefix("*"), None, port)


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        target, _, rest = entry[1:].partition("]")
        return target, _port(entry, rest.removeprefix(":")) if rest else None
    if entry.count(":") == 1:
        target, _, raw_port = entry.partition(":")
        return target, _port(entry, raw_port)
    return entry, None


def _port(entry: str, raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ImproperlyConfigured(f"POSTROOM_OUTBOUND_ALLOW: {entry!r} has an invalid port")
    return int(raw)


@cache
def _parse(entries: tuple[str, ...]) -> tuple[Rule, ...]:
    return tuple(parse_rule(entry) for entry in entries)


def configured_rules() -> tuple[Rule, ...]:
    return _parse(tuple(settings.POSTROOM_OUTBOUND_ALLOW))


def allowed_by_name(rules: tuple[Rule, ...], host: str, port: int) -> bool:
    return any(rule.allows_port(port) and rule.allows_name(host) for rule in rules)


def allowed_addresses(rules: tuple[Rule, ...], port: int, addresses: list[IPAddress]) -> bool:
    """True when every address is inside some network rule that also allows `port`."""
    networks = [rule for rule in rules if rule.network is not None and rule.allows_port(port)]
    return bool(addresses) and all(any(rule.allows_address(a) for rule in networks) for a in addresses)


def has_network_rules(rules: tuple[Rule, ...]) -> bool:
    return any(rule.network is not None for rule in rules)
