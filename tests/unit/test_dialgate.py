"""The dial gate (core.dialgate): every refusal, and what it admits."""

from __future__ import annotations

import pytest

from orchestrator.core.dialgate import DEFAULT_AGENT_PHONES, DialGate, DialRefused

GATE = DialGate()


@pytest.mark.parametrize("endpoint, why", [
    ("Local/+14155550199@dialer-out", "phone number"),          # a DNC number, the probe's
    ("PJSIP/+19005550100@dialer-trunk", "phone number"),        # premium rate through the trunk
    ("PJSIP/19005550100@dialer-trunk", "phone number"),
    ("PJSIP/agent1@dialer-trunk", "trunk"),                     # any @: through another endpoint
    ("PJSIP/+19005550100", "phone number"),                     # a number as an endpoint name
    ("SIP/+33612345678", "phone number"),
    ("PJSIP/dialer-trunk", "trunk is not"),                     # the trunk itself: the provider
    ("Local/s@dialer-amd", "reaches customers"),                # the AMD context
    ("Local/agent1@dialer-out/n", "reaches customers"),
    ("Local/x@dialer-stasis", "reaches customers"),
    ("Local/x@default", "reaches customers"),
    ("Local/1001@dialer-agents", "phone number"),               # digits: a number
    ("Local/agent1", "@context"),
    ("Local/agent1@dialer-agents/x", "Asterisk endpoint"),      # options other than /n
    ("PJSIP/agent1/n", "Local channel option"),
    ("DAHDI/1", "Asterisk endpoint"),
    ("PJSIP/agent 1", "Asterisk endpoint"),
    ("PJSIP/agent1,30", "Asterisk endpoint"),                   # Dial() argument injection
    ("Local/a&PJSIP/x@dialer-agents", "Asterisk endpoint"),     # a second dial string
    ("", "Asterisk endpoint"),
])
def test_never_a_phone(endpoint: str, why: str) -> None:
    for check in (GATE.admin_phone, GATE.agent_phone):
        with pytest.raises(DialRefused) as exc:
            check(endpoint)
        assert exc.value.field == "endpoint" and why in str(exc.value), str(exc.value)
    with pytest.raises(DialRefused):
        GATE.check_wire(endpoint, customer=False)


@pytest.mark.parametrize("endpoint", [
    "PJSIP/agent1001", "SIP/2001", "IAX2/desk-7", "Local/agent1@dialer-agents",
    "Local/agent1@dialer-agents/n", "Local/testagent3@dialer-testlines",
])
def test_the_allow_list_admits_phones(endpoint: str) -> None:
    assert GATE.agent_phone(endpoint) == endpoint


def test_outside_the_allow_list_only_the_configured_phone() -> None:
    gate = DialGate(agent_phones=("Local/*@dialer-agents",))
    with pytest.raises(DialRefused) as exc:
        gate.agent_phone("PJSIP/agent9")
    assert "allow-list" in str(exc.value)
    assert gate.agent_phone("PJSIP/agent9", configured="PJSIP/agent9") == "PJSIP/agent9"
    # the configured phone is still a phone: an admin cannot configure a customer path
    with pytest.raises(DialRefused):
        gate.agent_phone("Local/+14155550199@dialer-out",
                         configured="Local/+14155550199@dialer-out")
    with pytest.raises(DialRefused):
        DialGate(agent_phones=("Local/*@dialer-out",))


def test_customers_only_by_e164_through_the_template() -> None:
    assert GATE.customer("+4930123456") == "Local/4930123456@dialer-out/n"
    assert DialGate("Local/{e164}@dialer-testlines/n").customer("+4930123456") == \
        "Local/+4930123456@dialer-testlines/n"
    for bad in ("4930123456", "+0123456789", "+49301", "+4930123456&PJSIP/x", "+49 301234567",
                "+4930123456@x", "+４９30123456"):
        with pytest.raises(DialRefused) as exc:
            GATE.customer(bad)
        assert exc.value.field == "e164"
    with pytest.raises(DialRefused):
        DialGate("Local/1234@dialer-out/n")  # a template without the number


def test_the_wire_check() -> None:
    assert GATE.check_wire("Local/4930123456@dialer-out/n", customer=True)
    for bad in ("Local/4930123456@dialer-amd/n", "Local/49301@dialer-out/n",
                "PJSIP/4930123456@dialer-trunk", "Local/agent1@dialer-agents"):
        with pytest.raises(DialRefused):
            GATE.check_wire(bad, customer=True)
    assert GATE.check_wire("Local/agent1@dialer-agents", customer=False)


def test_defaults_never_admit_a_customer_context() -> None:
    for p in DEFAULT_AGENT_PHONES:
        DialGate(agent_phones=(p,))  # would raise


def test_trunks_are_named_by_the_admin() -> None:
    gate = DialGate(trunks=("carrier-a",))
    with pytest.raises(DialRefused, match="trunk is not"):
        gate.agent_phone("PJSIP/carrier-a")
    with pytest.raises(DialRefused, match="trunk is not"):
        gate.check_wire("PJSIP/carrier-a", customer=False)
    assert gate.agent_phone("PJSIP/dialer-trunk") == "PJSIP/dialer-trunk"  # not a trunk here


# ------------------------------------------------- numbers and entry points agents consult

XFER = DialGate(transfer_numbers=("1???", "+4930*"), entry_points=("survey",))


@pytest.mark.parametrize("typed, endpoint", [
    ("1234", "Local/1234@dialer-transfer/n"),
    ("+49 (30) 123-456", "Local/+4930123456@dialer-transfer/n"),   # spaces, brackets, dashes dropped
    ("+49.30.12:34", "Local/+493012:34@dialer-transfer/n"),        # : kept (MISSION E)
])
def test_a_consulted_number_is_kept_then_admitted(typed: str, endpoint: str) -> None:
    assert XFER.transfer(typed) == endpoint
    assert XFER.check_wire(endpoint, customer=False, party=True) == endpoint


@pytest.mark.parametrize("typed, why", [
    ("12", "3 to 18"),                                # too short once kept
    ("1" * 19, "3 to 18"),
    ("+1 900 555 0100", "ORCH_TRANSFER_NUMBERS"),     # not admitted: premium rate
    ("12345", "ORCH_TRANSFER_NUMBERS"),               # 1??? is four characters exactly
    ("***", "no digit"),
])
def test_a_consulted_number_refused_names_the_rule(typed: str, why: str) -> None:
    with pytest.raises(DialRefused) as err:
        XFER.transfer(typed)
    assert why in str(err.value) and err.value.field == "number"


def test_a_context_typed_into_the_number_never_reaches_the_dial_string() -> None:
    # everything outside digits and + # * : is dropped: this is 1234, in the transfer context
    assert XFER.transfer("1234@dialer-out") == "Local/1234@dialer-transfer/n"


def test_no_number_is_admitted_by_default() -> None:
    with pytest.raises(DialRefused, match="ORCH_TRANSFER_NUMBERS"):
        DialGate().transfer("1234")


def test_entry_points_by_name_only() -> None:
    assert XFER.entry_point("survey") == "Local/survey@dialer-entry/n"
    for bad in ("billing", "survey@dialer-out", "Survey", "../x"):
        with pytest.raises(DialRefused, match="ORCH_ENTRY_POINTS"):
            XFER.entry_point(bad)


@pytest.mark.parametrize("endpoint", [
    "Local/9005550100@dialer-transfer/n",      # a number nobody admitted
    "Local/1234@dialer-transfer",              # not the template (no /n)
    "Local/billing@dialer-entry/n",
    "Local/+14155550199@dialer-out/n",         # a customer's line is no party's
])
def test_the_wire_check_refuses_a_party_leg_the_lists_do_not_admit(endpoint: str) -> None:
    with pytest.raises(DialRefused):
        XFER.check_wire(endpoint, customer=False, party=True)


def test_transfer_and_entry_contexts_are_never_an_agent_phone() -> None:
    for endpoint in ("Local/agent1@dialer-transfer/n", "Local/agent1@dialer-entry/n"):
        with pytest.raises(DialRefused, match="reaches customers"):
            GATE.agent_phone(endpoint)
