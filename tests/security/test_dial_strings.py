"""Dial strings an agent (or a supervisor on its behalf) must not get the dialer to ring,
through the API: each login with such an ``endpoint`` is answered 422 naming the field
``endpoint``, leaves the agent logged out, and the PBX never sees a call: pbxsim counts
no originate and no channel, and its call log (calls that ended) is empty. The last
test is the witness: the same agent logging in with its own phone, nailed up, makes the
PBX ring that phone, so the counters do show a dial when there is one.

The gate itself is orchestrator/core/dialgate.py (unit tests: tests/unit/test_dialgate.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.e2e.support import wait_for
from tests.security.conftest import CAMPAIGN, World

module_loop = pytest.mark.asyncio(loop_scope="module")

REFUSED: list[tuple[str, Any]] = [
    # customers, the probe's own two, and other ways to a number
    ("customer context", "Local/+14155550199@dialer-out"),
    ("customer context, Local option", "Local/14155550199@dialer-out/n"),
    ("customer context, a name", "Local/agent1@dialer-out"),
    ("trunk, premium number", "PJSIP/+19005550100@dialer-trunk"),
    ("trunk, a name", "PJSIP/agent1@dialer-trunk"),
    ("the trunk itself", "PJSIP/dialer-trunk"),
    ("a number as an endpoint name", "PJSIP/+19005550100"),
    ("SIP through a host", "SIP/19005550100@203.0.113.7"),
    ("AMD context", "Local/s@dialer-amd"),
    ("AMD check context", "Local/s@dialer-amd-check"),
    ("the dialer's Stasis context", "Local/x@dialer-stasis"),
    ("default context", "Local/+14155550199@default"),
    ("inbound trunk context", "Local/s@from-trunk"),
    ("a number through the agents' context", "Local/+14155550199@dialer-agents"),
    ("a number through the test lines", "Local/4930123456@dialer-testlines"),
    ("a bare number", "+14155550199"),
    ("bare digits", "14155550199"),
    ("a Local channel without context", "Local/agent1"),
    ("another technology", "DAHDI/g1/14155550199"),
    ("a Local channel option on PJSIP", "PJSIP/agent1/n"),
    # more than one dial string, or Dial() arguments
    ("two dial strings", "PJSIP/agent1&PJSIP/+19005550100@dialer-trunk"),
    ("two dial strings, Local", "Local/agent1@dialer-agents&Local/+14155550199@dialer-out"),
    ("Dial() arguments", "PJSIP/agent1,30,U(sub^x)"),
    ("dialplan variable", "Local/${EXTEN}@dialer-agents"),
    ("dialplan function", "PJSIP/${CALLERID(num)}"),
    # control characters
    ("newline, a second line", "PJSIP/agent1\nPJSIP/+19005550100@dialer-trunk"),
    ("CRLF, an AMI action", "PJSIP/agent1\r\nAction: Originate"),
    ("NUL", "PJSIP/agent1\x00@dialer-trunk"),
    ("tab", "PJSIP/age\tnt1"),
    ("escape", "PJSIP/agent1\x1b[2J"),
    ("DEL", "PJSIP/agent1\x7f"),
    # very long
    ("long, past the field limit", "PJSIP/" + "a" * 300),
    ("very long", "Local/" + "9" * 10_000 + "@dialer-agents"),
    ("long customer context under the limit", "Local/" + "a" * 150 + "@dialer-out"),
    # Unicode lookalikes of allowed phones and of refused contexts
    ("fullwidth PJSIP", "ＰＪＳＩＰ/agent1"),
    ("Cyrillic a in the resource", "PJSIP/аgent1"),
    ("fullwidth digits", "PJSIP/１００１"),
    ("fullwidth plus", "Local/＋14155550199@dialer-agents"),
    ("Unicode hyphen in the context", "Local/agent1@dialer‐agents"),
    ("Cyrillic o in the context", "Local/agent1@dialer-оut"),
    ("Arabic-Indic digits", "Local/١٤١٥@dialer-agents"),
    ("superscript digits", "Local/¹⁴¹⁵@dialer-agents"),
    ("zero-width space", "PJSIP/agent1\u200b"),
    ("right-to-left override", "Local/agent1@dialer-agents\u202e"),
    ("fullwidth ampersand", "PJSIP/agent1＆PJSIP/+19005550100@dialer-trunk"),
    # not a string at all
    ("a JSON number", 14155550199),
    ("a JSON list", ["PJSIP/agent1", "PJSIP/+19005550100@dialer-trunk"]),
    ("a JSON object", {"tech": "PJSIP", "resource": "+19005550100"}),
]


async def _dialed(world: World) -> dict[str, Any]:
    """What pbxsim was asked to dial: its counters, and the calls it logged (ended ones)."""
    async with aiohttp.ClientSession() as s, s.get(f"{world.pbx.control_url}/_pbxsim/stats") as r:
        assert r.status == 200
        stats = await r.json()
    return {"originates": stats["originates"], "channels": stats["channels_created"],
            "logged": world.pbx.read_call_log()}


NOTHING = {"originates": 0, "channels": 0, "logged": []}


async def _session(world: World) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {world.agent.token}"}
    async with aiohttp.ClientSession(headers=headers) as s, s.get(
            f"{world.api}/api/v1/agents/{world.agent.id}/session") as r:
        assert r.status == 200
        session: dict[str, Any] = await r.json()
        return session


@module_loop
@pytest.mark.parametrize("as_supervisor", [False, True], ids=["by the agent", "by a supervisor"])
@pytest.mark.parametrize("endpoint", [e for _, e in REFUSED], ids=[w for w, _ in REFUSED])
async def test_a_login_with_this_endpoint_is_refused(world: World, endpoint: Any,
                                                     as_supervisor: bool) -> None:
    who = world.supervisor if as_supervisor else world.agent
    before = await _dialed(world)
    url = f"{world.api}/api/v1/agents/{world.agent.id}/session"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {who.token}"}) as s:
        async with s.post(url, json={"campaign": CAMPAIGN, "endpoint": endpoint}) as r:
            status = r.status
            body = await r.json(content_type=None)
        if status < 300:  # admitted: log out again, so that the next case starts clean
            async with s.delete(url):
                pass
    assert status == 422 and body.get("field") == "endpoint", (endpoint, status, body)
    assert (await _session(world))["state"] == "logged_out"
    assert await _dialed(world) == before, "the PBX was asked to ring something"


@module_loop
async def test_nothing_was_dialed_and_the_witness_sees_a_real_login(world: World) -> None:
    await asyncio.sleep(0.5)  # anything a refused login might have set off
    assert await _dialed(world) == NOTHING
    assert (await _session(world))["state"] == "logged_out"
    # The witness: the agent's own phone, nailed up, is rung at login.
    headers = {"Authorization": f"Bearer {world.agent.token}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.post(f"{world.api}/api/v1/agents/{world.agent.id}/session",
                          json={"campaign": CAMPAIGN, "endpoint": world.agent.endpoint,
                                "nailed_up": True}) as r:
            assert r.status == 200, await r.text()

        async def rung() -> bool:
            return bool((await _dialed(world))["originates"] > 0)

        await wait_for(rung, 5, what="the agent's phone was not rung")
        async with s.get(f"{world.pbx.control_url}/_pbxsim/calls") as r:
            calls = await r.json()
        async with s.delete(f"{world.api}/api/v1/agents/{world.agent.id}/session") as r:
            assert r.status == 200
    # ...that phone and nothing else (a Local channel has two halves, ;1 and ;2)
    assert calls and all(c["kind"] == "agent" and c["name"].startswith(world.agent.endpoint + "-")
                         for c in calls), calls
