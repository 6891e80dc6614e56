"""The FastAGI hooks end to end: `orchestrator run` (a Runtime) listens for them, and a
customer sent to asterisk-conf's [dialer-opt-out] (pbxsim runs that context, its AGI()
speaks FastAGI as Asterisk 22 does) lands on the DNC list with its attempt as source."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from orchestrator.agi import FastAgiServer
from orchestrator.dialer.dialplan_hooks import dialplan_hooks
from orchestrator.ledger import campaigns, claims
from orchestrator.ledger.pool import connect, fetch_all, fetch_one, open_pool
from pbxsim.agi import AgiChannel, run_agi
from tests.e2e.support import REAL_ASTERISK, running_service, service_settings
from tests.pbxsim.helpers import ari_client, is_
from tests.support.ledger_seed import NOON, add_contact

pytestmark = pytest.mark.timeout(60)

CUSTOMER = "+447911123451"
"""Answers in pbxsim's "digits" profile (last digit 1)."""


async def test_run_starts_the_fastagi_server_and_stops_it(database_url: str, pbx: Any) -> None:
    settings = service_settings(database_url, pbx, agi_port=0, agi_timeout_s=2.0)
    async with running_service(settings) as rt:
        assert rt.agi_port is not None
        out = await run_agi(f"agi://127.0.0.1:{rt.agi_port}/screen-pop", [CUSTOMER], AgiChannel())
        assert out.status == "SUCCESS"
        assert out.set_variables == [("DIALER_SCREEN_POP", "unknown"), ("DIALER_OPEN_CALLBACKS", "0")]
        port = rt.agi_port
    out = await run_agi(f"agi://127.0.0.1:{port}/screen-pop", [CUSTOMER], AgiChannel())
    assert out.status == "FAILURE"


async def test_run_without_agi(database_url: str, pbx: Any) -> None:
    async with running_service(service_settings(database_url, pbx, agi_enabled=False)) as rt:
        assert rt.agi_port is None


@pytest.mark.skipif(REAL_ASTERISK, reason="originates into pbxsim's [dialer-out] customer rules")
async def test_opt_out_key_press_through_the_dialplan_lands_in_dnc(database_url: str, pbx: Any) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "Spring", mode="progressive")
        await campaigns.start_campaign(conn, c.id)
        _, (tid,) = await add_contact(conn, c.id, numbers=[CUSTOMER])
        await claims.claim_targets(conn, c.id, owner="e2e", limit=5, now=NOON)
        ticket = await claims.write_ahead_attempt(conn, tid, owner="e2e", now=NOON)
        assert isinstance(ticket, claims.AttemptTicket), ticket
    aid = str(ticket.attempt_id)
    pool = await open_pool(database_url, min_size=1, max_size=4)
    server = FastAgiServer(dialplan_hooks(pool), port=0)
    await server.start()
    try:
        async with ari_client(pbx) as ari:
            st, body = await ari.request(
                "POST", "/channels", endpoint=f"Local/{CUSTOMER}@dialer-out/n", channelId=aid, app="dialer",
                json={"variables": {"DIALER_ATTEMPT": aid, "DIALER_AGI": f"agi://127.0.0.1:{server.port}"}})
            assert st == 200, body
            await ari.wait_for(is_("StasisStart", aid), within=15)
            # the customer pressed the opt-out key: the dialer sends the channel to the hook
            st, body = await ari.request("POST", f"/channels/{aid}/continue", context="dialer-opt-out",
                                         extension="s", priority=1)
            assert st == 204, body
            opt_out = await ari.wait_for(is_("ChannelVarset", aid, variable="DIALER_OPT_OUT"), within=15)
            status = await ari.wait_for(is_("ChannelVarset", aid, variable="AGISTATUS"), within=15)
            assert opt_out["value"] == "done" and status["value"] == "SUCCESS"
            await ari.wait_for(lambda e: e["type"] in ("ChannelDestroyed", "StasisEnd")
                               and e["channel"]["id"] == aid, within=15)
    finally:
        await server.close()
        await pool.close()
    async with connect(database_url) as conn:
        entries = await fetch_all(conn, "SELECT e164, campaign_id, source, reason FROM dnc_entries")
        event = await fetch_one(conn, "SELECT kind FROM attempt_events WHERE attempt_id = %s AND kind = 'opt_out'",
                                (uuid.UUID(aid),))
    assert [(e["e164"], e["campaign_id"], e["source"]) for e in entries] == [(CUSTOMER, None, "opt-out")]
    assert aid in entries[0]["reason"] and event is not None


@pytest.mark.skipif(REAL_ASTERISK, reason="pbxsim's dialplan")
async def test_opt_out_with_the_service_down_goes_on_and_says_so(pbx: Any) -> None:
    async with ari_client(pbx) as ari:
        cid = "optout-down"
        st, body = await ari.request(
            "POST", "/channels", endpoint=f"Local/{CUSTOMER}@dialer-out/n", channelId=cid, app="dialer",
            json={"variables": {"DIALER_ATTEMPT": str(uuid.uuid4()), "DIALER_AGI": "agi://127.0.0.1:1"}})
        assert st == 200, body
        await ari.wait_for(is_("StasisStart", cid), within=15)
        st, _ = await ari.request("POST", f"/channels/{cid}/continue", context="dialer-opt-out",
                                  extension="s", priority=1)
        assert st == 204
        status = await ari.wait_for(is_("ChannelVarset", cid, variable="AGISTATUS"), within=15)
        assert status["value"] == "FAILURE"
        log = await ari.wait_for(lambda e: e["type"] == "ChannelDialplan" and e["channel"]["id"] == cid
                                 and e["dialplan_app"] == "Log", within=15)
        assert "NOT recorded (AGISTATUS=FAILURE)" in log["dialplan_app_data"]
