"""The one gate every dial string passes before it reaches Asterisk.

A dial string is either a customer's (the configured template, e.g.
``Local/{number}@dialer-out/n``, with a validated E.164 number in it: the attempt it
belongs to went through DNC, calling windows and exhaustion) or an agent's phone. An
agent's phone must never be a way around the ledger: it is refused when it reaches a
customer, the AMD context, a trunk or a number, and admitted only when it is the phone an
admin configured for the agent or matches the admins' allow-list (``ORCH_AGENT_PHONES``,
glob patterns such as ``PJSIP/*`` or ``Local/*@dialer-agents``). A security probe had an
agent log in with ``Local/+14155550199@dialer-out`` (a DNC number) and
``PJSIP/+19005550100@dialer-trunk`` (premium rate), and the dialer rang them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from orchestrator.core.calls.parties import consult_number

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
"""E.164 as the ledger stores it: +, country code, 7 to 15 digits in all."""

#: Technologies a phone may use, and the characters of a resource (no option letters but /n)
_SYNTAX = re.compile(r"^(?P<tech>PJSIP|SIP|IAX2|Local)/(?P<res>[A-Za-z0-9_.+-]+)"
                     r"(?:@(?P<where>[A-Za-z0-9_.-]+))?(?P<opts>/n)?$")

#: Contexts of asterisk-conf/ (and their kin) that reach customers, trunks or the dialer's
#: own call flows: never an agent's phone.
CUSTOMER_CONTEXTS = frozenset({
    "dialer-out", "dialer-out-status", "dialer-amd", "dialer-amd-check", "dialer-stasis",
    "dialer-queue", "dialer-callback-offer", "default", "customers", "customers-long",
    "from-trunk", "from-pstn", "from-external", "dialer-transfer", "dialer-entry",
})

DEFAULT_AGENT_PHONES = ("PJSIP/*", "SIP/*", "IAX2/*", "Local/*@dialer-agents",
                        "Local/*@dialer-agents/n", "Local/testagent*@dialer-testlines",
                        "Local/testagent*@dialer-testlines/n")
"""Admitted by default: a phone endpoint (no @: not through a trunk or an AOR of another
host), a phone of [dialer-agents], a test phone of the opt-in test lines."""


DEFAULT_TRUNKS = ("dialer-trunk",)
"""PJSIP endpoints that are trunks (asterisk-conf/pjsip.conf): ``PJSIP/dialer-trunk`` would
ring the provider, so no agent's phone may be one (``ORCH_TRUNKS`` names yours)."""


class DialRefused(ValueError):
    """A dial string the gate refuses; ``field`` names the input it came from."""

    def __init__(self, field: str, reason: str, value: str) -> None:
        super().__init__(f"{field}: {reason}; got {value!r}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class DialGate:
    """What may be dialed: the customer template and the agent phone allow-list."""

    customer_template: str = "Local/{number}@dialer-out/n"
    agent_phones: tuple[str, ...] = DEFAULT_AGENT_PHONES
    trunks: tuple[str, ...] = DEFAULT_TRUNKS
    transfer_numbers: tuple[str, ...] = ()
    """Numbers an agent may consult or transfer to (glob patterns on the number as kept:
    digits and + # * :). None by default: a consult line is a way to ring anyone."""
    transfer_template: str = "Local/{number}@dialer-transfer/n"
    entry_points: tuple[str, ...] = ()
    """Entry points of the dialplan an agent may consult or transfer to, by name."""
    entry_template: str = "Local/{name}@dialer-entry/n"

    def __post_init__(self) -> None:
        if "{number}" not in self.customer_template and "{e164}" not in self.customer_template:
            raise DialRefused("customer_endpoint", "must contain {number} or {e164}",
                              self.customer_template)
        for pattern in self.agent_phones:
            if not pattern.strip() or "@" in pattern and pattern.split("@", 1)[1].split(
                    "/", 1)[0].rstrip("*") in CUSTOMER_CONTEXTS:
                raise DialRefused("agent_phones", "a pattern may not admit a customer context",
                                  pattern)

    def customer(self, e164: str) -> str:
        """The dial string of a customer's number (a validated E.164 number only)."""
        if not isinstance(e164, str) or not E164.match(e164):
            raise DialRefused("e164", "a customer is dialed by an E.164 number (+ and digits)",
                              str(e164))
        return self.customer_template.format(number=e164[1:], e164=e164)

    def transfer(self, number: str, field: str = "number") -> str:
        """The dial string of a number an agent consults or transfers to: kept as MISSION E
        says (3 to 18 of digits and + # * :) and admitted by ``transfer_numbers``."""
        try:
            kept = consult_number(number)
        except ValueError as exc:
            raise DialRefused(field, str(exc).split(": ", 1)[-1], str(number)) from None
        if not any(fnmatchcase(kept, p) for p in self.transfer_numbers):
            raise DialRefused(field, "not a number agents may consult or transfer to "
                                     "(ORCH_TRANSFER_NUMBERS)", kept)
        return self.transfer_template.format(number=kept)

    def entry_point(self, name: str, field: str = "entry") -> str:
        """The dial string of an entry point of the dialplan an agent may consult."""
        if not isinstance(name, str) or name not in self.entry_points \
                or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            raise DialRefused(field, "not an entry point agents may consult (ORCH_ENTRY_POINTS)",
                              str(name))
        return self.entry_template.format(name=name)

    def agent_phone(self, endpoint: str, *, configured: str | None = None,
                    field: str = "endpoint") -> str:
        """The phone an agent may be rung on: ``endpoint`` if it is a phone (never a
        customer, a trunk, the AMD context or a number) and either ``configured`` (the one
        an admin set for the agent) or admitted by the allow-list."""
        phone = self.admin_phone(endpoint, field, trunks=self.trunks)
        if configured is not None and phone == configured:
            return phone
        if not any(fnmatchcase(phone, p) for p in self.agent_phones):
            raise DialRefused(field, "not the agent's configured phone, and not admitted by "
                                     "the phone allow-list (ORCH_AGENT_PHONES)", phone)
        return phone

    def check_wire(self, endpoint: str, *, customer: bool, party: bool = False) -> str:
        """The last check before ARI: a customer leg must be the template with an E.164
        number; a party a call consults may also be an admitted transfer number or entry
        point; any other leg must be a phone (never a customer, trunk or number), whatever
        let it through upstream."""
        if party:
            for head in (self.transfer_template, self.entry_template):
                before, sep, after = head.partition("{")
                tail = after.partition("}")[2]
                if sep and endpoint.startswith(before) and endpoint.endswith(tail):
                    middle = endpoint[len(before):len(endpoint) - len(tail)]
                    made = (self.transfer(middle, "endpoint") if head is self.transfer_template
                            else self.entry_point(middle, "endpoint"))
                    if made == endpoint:
                        return endpoint
        if customer:
            head, sep, tail = self.customer_template.partition(
                "{number}" if "{number}" in self.customer_template else "{e164}")
            middle = endpoint[len(head):len(endpoint) - len(tail)] if sep else ""
            if not (sep and endpoint.startswith(head) and endpoint.endswith(tail)):
                raise DialRefused("endpoint", "not the customer endpoint template", endpoint)
            number = middle if middle.startswith("+") else "+" + middle
            if self.customer(number) != endpoint:
                raise DialRefused("endpoint", "not the customer endpoint template", endpoint)
            return endpoint
        return self.admin_phone(endpoint, trunks=self.trunks)

    @staticmethod
    def admin_phone(endpoint: str, field: str = "endpoint", *,
                    trunks: tuple[str, ...] = DEFAULT_TRUNKS) -> str:
        """A phone an admin configures for an agent: any phone, never a customer path
        (a customer or AMD context, a trunk, a number)."""
        if not isinstance(endpoint, str):
            raise DialRefused(field, "must be a string", str(endpoint))
        phone = endpoint.strip()
        m = _SYNTAX.match(phone)
        if m is None:
            raise DialRefused(field, "must be an Asterisk endpoint like PJSIP/1001 or "
                                     "Local/agent1001@dialer-agents", phone)
        tech, res, where = m.group("tech"), m.group("res"), m.group("where")
        if re.fullmatch(r"\+?[0-9]+", res) and (tech == "Local" or where or res[0] == "+"):
            # a number through a context or a trunk, or in international form: a customer's
            # call, not a phone (an extension-named endpoint such as PJSIP/1001 is a phone)
            raise DialRefused(field, "a phone number is not an agent's phone", phone)
        if tech != "Local" and res in trunks:
            raise DialRefused(field, "a trunk is not an agent's phone", phone)
        if tech == "Local":
            if where is None:
                raise DialRefused(field, "a Local endpoint needs its @context", phone)
            if where in CUSTOMER_CONTEXTS:
                raise DialRefused(field, f"context {where} reaches customers, not phones", phone)
        elif where is not None:
            # PJSIP/<x>@<endpoint>: dialed through another endpoint, i.e. a trunk
            raise DialRefused(field, "a phone is dialed as TECH/<endpoint>, not through a "
                                     "trunk (@...)", phone)
        elif m.group("opts"):
            raise DialRefused(field, "/n is a Local channel option", phone)
        return phone


__all__ = ["CUSTOMER_CONTEXTS", "DEFAULT_AGENT_PHONES", "DEFAULT_TRUNKS", "DialGate", "DialRefused", "E164"]
