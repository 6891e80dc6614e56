"""The FastAGI server and the dialplan hooks, over real sockets, against a real PostgreSQL.

The client is pbxsim's FastAGI client (pbxsim/agi.py: the environment, replies and
closing as recorded on Asterisk 22, tests/pbxsim/test_agi_conformance.py) or a raw
socket where a client misbehaves. Checked: screen-pop for a known and an unknown caller
(variables set, no phone number in them or in the logs), opt-out landing in DNC with
the attempt as its source (and the next claim not dialing the number), callback-offer
accepted and declined, the time limit on a silent client and a slow handler, an unknown
script, a malformed environment, and 100 requests at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from structlog.testing import capture_logs

from orchestrator.agi import AgiSession, FastAgiServer, Handler
from orchestrator.dialer.dialplan_hooks import (
    CallbackOfferHook,
    OptOutHook,
    dialplan_hooks,
    ledger_booking,
)
from orchestrator.ledger import attempts, campaigns, claims, dnc
from orchestrator.ledger.pool import AsyncConn, connect, execute, fetch_all, fetch_one, open_pool
from pbxsim.agi import AgiChannel, AgiOutcome, run_agi
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON, add_contact

pytestmark = pytest.mark.timeout(60)
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database

KNOWN = "+447911123456"
"""A caller the ledger knows (a valid UK mobile)."""
STRANGER = "+447912654321"


@contextlib.asynccontextmanager
async def agi_server(database_url: str, handlers: dict[str, Handler] | None = None,
                     timeout_s: float = 5.0) -> AsyncIterator[tuple[FastAgiServer, AsyncConnectionPool[AsyncConn]]]:
    pool = await open_pool(database_url, min_size=2, max_size=10)
    server = FastAgiServer(handlers if handlers is not None else dialplan_hooks(pool),
                           host="127.0.0.1", port=0, timeout_s=timeout_s)
    await server.start()
    task = asyncio.create_task(server.serve())
    try:
        yield server, pool
    finally:
        await server.close()
        await task
        await pool.close()


async def agi(server: FastAgiServer, script: str, args: list[str] | None = None, *,
              callerid: str = "", **variables: str) -> tuple[AgiOutcome, AgiChannel]:
    chan = AgiChannel(name="PJSIP/trunk-00000007", uniqueid="1733300000.7", type="PJSIP",
                      callerid=callerid, calleridname="Caller", context="from-trunk",
                      extension="s", priority=2, variables=dict(variables))
    out = await run_agi(f"agi://127.0.0.1:{server.port}/{script}", args or [], chan,
                        give_up_after_s=10)
    return out, chan


def commands(out: AgiOutcome) -> list[str]:
    return [line for d, line in out.transcript if d == ">>"]


def no_number_in(values: Any, number: str) -> bool:
    """Whether none of the values holds the number (its national digits, in any form)."""
    digits = number[-9:]
    text = repr(values)
    return digits not in text and digits not in "".join(ch for ch in text if ch.isdigit())


async def campaign(conn: AsyncConn, name: str = "Winter", **settings: object) -> campaigns.Campaign:
    c = await campaigns.create_campaign(conn, name, mode="progressive", **settings)
    return await campaigns.start_campaign(conn, c.id)


async def dial(conn: AsyncConn, campaign_id: int, target_id: int, owner: str = "agi-test") -> uuid.UUID:
    res = await claims.claim_targets(conn, campaign_id, owner=owner, limit=50, now=NOON)
    assert target_id in {t.target_id for t in res.claimed}, res
    ticket = await claims.write_ahead_attempt(conn, target_id, owner=owner, now=NOON)
    assert isinstance(ticket, claims.AttemptTicket), ticket
    await claims.release_leases(conn, owner)
    return ticket.attempt_id


# ------------------------------------------------------------------ screen-pop


async def test_screen_pop_known_caller(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaign(conn)
        cid, (tid,) = await add_contact(conn, c.id, numbers=[KNOWN], first_name="Ada", last_name="Lovelace")
        aid = await dial(conn, c.id, tid)
        await attempts.end_attempt(conn, aid, outcome="busy")
        await execute(conn, "INSERT INTO callbacks (kind, campaign_id, contact_id, e164, window_start, window_end,"
                            " time_zone) VALUES ('scheduled', %s, %s, %s, now() + interval '1 hour',"
                            " now() + interval '2 hours', 'UTC')", (c.id, cid, KNOWN))
    async with agi_server(database_url) as (server, _):
        with capture_logs() as logs:
            out, chan = await agi(server, "screen-pop", callerid=KNOWN)
    assert out.status == "SUCCESS", out
    assert dict(out.set_variables) == {
        "DIALER_SCREEN_POP": "found", "DIALER_CONTACT_ID": str(cid), "DIALER_CONTACT_NAME": "Ada Lovelace",
        "DIALER_CAMPAIGN": "Winter", "DIALER_LAST_OUTCOME": "Busy", "DIALER_OPEN_CALLBACKS": "1"}
    # the number was read from the channel, as recorded (GET FULL VARIABLE ${CALLERID(num)})
    assert commands(out)[0] == "GET FULL VARIABLE ${CALLERID(num)}"
    assert no_number_in(out.set_variables, KNOWN) and no_number_in(logs, KNOWN)
    assert [e["event"] for e in logs] == ["agi.request", "agi.screen_pop"] and logs[1]["found"] is True
    assert logs[0]["script"] == "screen-pop" and logs[0]["uniqueid"] == "1733300000.7"


async def test_screen_pop_unknown_caller_and_no_caller_id(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaign(conn)
        await add_contact(conn, c.id, numbers=[KNOWN])
    async with agi_server(database_url) as (server, _):
        with capture_logs() as logs:
            stranger, _ = await agi(server, "screen-pop", [STRANGER])
            anonymous, _ = await agi(server, "screen-pop", callerid="")
            garbage, _ = await agi(server, "screen-pop", ["12"])
    for out in (stranger, anonymous, garbage):
        assert out.status == "SUCCESS"
        assert out.set_variables == [("DIALER_SCREEN_POP", "unknown"), ("DIALER_OPEN_CALLBACKS", "0")]
    # a number given as an argument is not read from the channel
    assert commands(stranger)[0].startswith("SET VARIABLE")
    assert no_number_in(logs, STRANGER)


async def test_screen_pop_national_number_with_a_region(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaign(conn)
        cid, _ = await add_contact(conn, c.id, numbers=[KNOWN])
    async with agi_server(database_url) as (server, _):
        without, _ = await agi(server, "screen-pop", ["07911 123456"])
        with_region, _ = await agi(server, "screen-pop", ["07911 123456", "GB"])
    assert ("DIALER_SCREEN_POP", "unknown") in without.set_variables
    assert ("DIALER_CONTACT_ID", str(cid)) in with_region.set_variables


async def test_screen_pop_masks_numbers_and_quotes_names(database_url: str) -> None:
    """Ledger text with a phone number in it is masked; quotes and a newline in a name
    stay one value (a newline would otherwise end the command and start another)."""
    async with connect(database_url) as conn:
        c = await campaign(conn)
        await add_contact(conn, c.id, numbers=[KNOWN], first_name='Zoë "Z"\nHANGUP', last_name="call +447911000999")
    async with agi_server(database_url) as (server, _):
        out, chan = await agi(server, "screen-pop", [KNOWN])
    assert out.status == "SUCCESS"
    assert chan.variables["DIALER_CONTACT_NAME"] == 'Zoë "Z" HANGUP call ***0999'
    assert not any(line.startswith("HANGUP") for line in commands(out))
    assert no_number_in(out.set_variables, "+447911000999")


# ------------------------------------------------------------------ opt-out


async def test_opt_out_lands_in_dnc_with_the_attempt_as_source(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaign(conn)
        _, (tid_a,) = await add_contact(conn, c.id, numbers=[KNOWN])
        _, (tid_b,) = await add_contact(conn, c.id, numbers=[KNOWN])  # the same number, another contact
        _, (tid_c,) = await add_contact(conn, c.id, numbers=[STRANGER])
        aid = await dial(conn, c.id, tid_a)
    async with agi_server(database_url) as (server, _):
        with capture_logs() as logs:
            # the dialplan passes no argument: the attempt comes from DIALER_ATTEMPT
            out, chan = await agi(server, "opt-out", DIALER_ATTEMPT=str(aid))
    assert out.status == "SUCCESS" and chan.variables["DIALER_OPT_OUT"] == "done"
    assert commands(out)[0] == "GET VARIABLE DIALER_ATTEMPT"
    assert no_number_in(logs, KNOWN)
    later = NOON + timedelta(days=1)
    async with connect(database_url) as conn:
        entries = await fetch_all(conn, "SELECT * FROM dnc_entries")
        assert [(e["e164"], e["campaign_id"], e["source"]) for e in entries] == [(KNOWN, None, "opt-out")]
        assert str(aid) in entries[0]["reason"] and entries[0]["expires_at"] is None
        event = await fetch_one(conn, "SELECT data FROM attempt_events WHERE attempt_id = %s AND kind = 'opt_out'",
                                (aid,))
        assert event is not None and event["data"]["dnc_entry_id"] == entries[0]["id"]
        b = await fetch_one(conn, "SELECT unavailable_reason FROM targets WHERE id = %s", (tid_b,))
        assert b is not None and b["unavailable_reason"] == "DNC"
        await attempts.end_attempt(conn, aid, outcome="human")
        # the next claim never dials the number; the other caller's is dialed
        res = await claims.claim_targets(conn, c.id, owner="next", limit=50, now=later)
        assert {t.target_id for t in res.claimed} == {tid_c}
        await claims.release_leases(conn, "next")
    # without the entry, the same claim would have dialed the number again
    with psycopg.connect(database_url, autocommit=True) as sync:
        assert dnc.remove_entry(sync, KNOWN, campaign_id=None)
    async with connect(database_url) as conn:
        res = await claims.claim_targets(conn, c.id, owner="next", limit=50, now=later)
        assert tid_b in {t.target_id for t in res.claimed}


async def test_opt_out_campaign_scope_and_refusals(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaign(conn)
        _, (tid,) = await add_contact(conn, c.id, numbers=[KNOWN])
        aid = await dial(conn, c.id, tid)
    async with agi_server(database_url) as (_, pool):
        server = FastAgiServer({"opt-out": OptOutHook(pool, scope="campaign")}, port=0)
        await server.start()
        try:
            scoped, chan = await agi(server, "opt-out", [str(aid)])
            again, _ = await agi(server, "opt-out", [str(aid)])  # pressed twice: one entry, one event
            unknown, unknown_chan = await agi(server, "opt-out", [str(uuid.uuid4())])
            missing, missing_chan = await agi(server, "opt-out")
        finally:
            await server.close()
    assert chan.variables["DIALER_OPT_OUT"] == "done" and again.status == "SUCCESS"
    async with connect(database_url) as conn:
        entries = await fetch_all(conn, "SELECT campaign_id, source FROM dnc_entries")
        assert entries == [{"campaign_id": c.id, "source": "opt-out"}]
        n = await fetch_one(conn, "SELECT count(*) AS n FROM attempt_events WHERE kind = 'opt_out'")
        assert n is not None and n["n"] == 1
    assert "DIALER_OPT_OUT" not in unknown_chan.variables and unknown.verbose == [
        "dialer: opt-out for an unknown attempt"]
    assert "DIALER_OPT_OUT" not in missing_chan.variables and missing.verbose == [
        "dialer: opt-out without an attempt id (DIALER_ATTEMPT)"]


# ------------------------------------------------------------------ callback-offer


async def test_callback_offer_accepted_as_recorded(database_url: str) -> None:
    """The recorded request (asterisk-traces/narrow/agi_queue_dtmf.txt): queue, position
    and number as arguments; the callback keeps the caller's place."""
    async with connect(database_url) as conn:
        c = await campaign(conn)
        await execute(conn, "UPDATE campaigns SET callback_queue = 'support' WHERE id = %s", (c.id,))
    async with agi_server(database_url) as (server, _):
        with capture_logs() as logs:
            out, chan = await agi(server, "callback-offer", ["support", "4", KNOWN], callerid=KNOWN,
                                  DIALER_QUEUE="support", QUEUEPOSITION="4")
    assert out.status == "SUCCESS"
    assert chan.variables["DIALER_CALLBACK"] == "accepted"
    async with connect(database_url) as conn:
        row = await fetch_one(conn, "SELECT * FROM callbacks")
    assert row is not None and chan.variables["DIALER_CALLBACK_ID"] == str(row["id"])
    assert (row["kind"], row["queue"], row["queue_position"], row["e164"], row["campaign_id"]) == (
        "queue", "support", 4, KNOWN, c.id)
    assert row["source_channel"] == "PJSIP/trunk-00000007"
    assert no_number_in(logs, KNOWN)


async def test_callback_offer_reads_the_channel_when_arguments_are_empty(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaign(conn)
        await execute(conn, "UPDATE campaigns SET callback_queue = 'support' WHERE id = %s", (c.id,))
    async with agi_server(database_url) as (server, _):
        out, chan = await agi(server, "callback-offer", ["", "", ""], callerid=KNOWN,
                              DIALER_QUEUE="support", QUEUEPOSITION="2")
    assert commands(out)[:3] == ["GET VARIABLE DIALER_QUEUE", "GET VARIABLE QUEUEPOSITION",
                                 "GET FULL VARIABLE ${CALLERID(num)}"]
    assert chan.variables["DIALER_CALLBACK"] == "accepted"


@pytest.mark.parametrize(("args", "callerid", "why"), [
    (["nobody", "3", KNOWN], KNOWN, "dialer: callback not booked: queue refused"),
    (["support", "3", ""], "", "dialer: callback not booked: no valid number to call back"),
    (["support", "", KNOWN], KNOWN, "dialer: callback not booked: no place in the queue (argument 2 or QUEUEPOSITION)"),
    (["", "3", KNOWN], KNOWN, "dialer: callback not booked: no queue name (argument 1 or DIALER_QUEUE)"),
])
async def test_callback_offer_declined(database_url: str, args: list[str], callerid: str, why: str) -> None:
    async with connect(database_url) as conn:
        c = await campaign(conn)
        await execute(conn, "UPDATE campaigns SET callback_queue = 'support' WHERE id = %s", (c.id,))
    async with agi_server(database_url) as (server, _):
        out, chan = await agi(server, "callback-offer", args, callerid=callerid)
    assert out.status == "SUCCESS" and out.verbose == [why]
    # the dialplan's GotoIf then sends the caller back into the queue
    assert "DIALER_CALLBACK" not in chan.variables
    async with connect(database_url) as conn:
        assert await fetch_all(conn, "SELECT id FROM callbacks") == []


async def test_callback_offer_with_the_service_down_is_failure(database_url: str) -> None:
    async with agi_server(database_url) as (server, _):
        port = server.port
    out = await run_agi(f"agi://127.0.0.1:{port}/callback-offer", ["support", "1", KNOWN], AgiChannel())
    assert out.status == "FAILURE" and out.dialplan_continues and "Connection refused" in (out.error or "")


# ------------------------------------------------------------------ time limits and bad input


async def test_a_client_that_sends_nothing_is_cut_off(database_url: str) -> None:
    async with agi_server(database_url, timeout_s=0.5) as (server, _):
        with capture_logs() as logs:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            elapsed = time.monotonic() - started
            writer.close()
    assert 0.4 <= elapsed < 2.0, elapsed
    assert [(e["event"], e.get("phase")) for e in logs] == [("agi.timeout", "environment")]


async def test_a_slow_handler_is_cut_off_and_the_dialplan_goes_on(database_url: str) -> None:
    async def slow(session: AgiSession) -> None:
        await session.set_variable("DIALER_STEP", "one")
        await asyncio.sleep(30)

    async with agi_server(database_url, {"slow": slow}, timeout_s=0.3) as (server, _):
        with capture_logs() as logs:
            started = time.monotonic()
            out, chan = await agi(server, "slow")
            elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    assert out.status == "SUCCESS" and out.dialplan_continues and chan.variables == {"DIALER_STEP": "one"}
    assert [(e["event"], e.get("phase")) for e in logs] == [("agi.request", None), ("agi.timeout", "handler")]


async def test_unknown_script_gets_a_verbose_line(database_url: str) -> None:
    async with agi_server(database_url) as (server, _):
        with capture_logs() as logs:
            out, chan = await agi(server, "nope", [KNOWN], callerid=KNOWN)
    assert out.status == "SUCCESS" and chan.variables == {}
    assert commands(out) == ['VERBOSE "dialer: no FastAGI script \'nope\'" 1']
    assert [e["event"] for e in logs] == ["agi.unknown_script"] and no_number_in(logs, KNOWN)


@pytest.mark.parametrize(("sent", "reason"), [
    (b"agi_network: yes\nagi_callerid: +447911123456\nnot an agi line\n\n", "environment line 3"),
    (b"agi_network: yes\nagi_request: agi://x/screen-pop\nagi_arg_2: +447911123456\n\n", "agi_arg_N"),
    (b"agi_network: yes\nagi_callerid: +447911123456\n", "closed before the empty line"),
    (b"agi_network: yes\n\n", "neither agi_request nor agi_network_script"),
    (b"agi_network_script: x\n" + b"agi_x: " + b"y" * 20000 + b"\n\n", "bytes"),
])
async def test_malformed_environment_is_closed_and_logged_without_its_content(
        database_url: str, sent: bytes, reason: str) -> None:
    async with agi_server(database_url) as (server, _):
        with capture_logs() as logs:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(sent)
            await writer.drain()
            if not sent.endswith(b"\n\n"):
                writer.write_eof()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no command sent
            writer.close()
            await asyncio.sleep(0.05)
    assert [e["event"] for e in logs] == ["agi.malformed"]
    assert reason in logs[0]["reason"] and no_number_in(logs, KNOWN)


async def test_a_hundred_requests_at_once_are_all_answered(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaign(conn)
        cid, _ = await add_contact(conn, c.id, numbers=[KNOWN])
    async with agi_server(database_url) as (server, _):
        results = await asyncio.gather(*(agi(server, "screen-pop", [KNOWN if n % 2 else STRANGER])
                                         for n in range(100)))
        assert server.active_sessions == 0
    assert all(out.status == "SUCCESS" for out, _ in results)
    found = [chan.variables["DIALER_SCREEN_POP"] for _, chan in results]
    assert found.count("found") == 50 and found.count("unknown") == 50
    assert {chan.variables.get("DIALER_CONTACT_ID") for _, chan in results} == {str(cid), None}


async def test_the_server_is_built_with_the_ledger_booking(database_url: str) -> None:
    async with agi_server(database_url) as (server, pool):
        assert sorted(server.handlers) == ["callback-offer", "opt-out", "screen-pop"]
        hook = server.handlers["callback-offer"]
        assert isinstance(hook, CallbackOfferHook) and hook.book is ledger_booking()


async def test_a_cancelled_server_releases_its_port(database_url: str) -> None:
    """The TaskGroup cancels serve() when another task fails: the port must be free again."""
    async with agi_server(database_url) as (_, pool):
        server = FastAgiServer(dialplan_hooks(pool), port=0)
        await server.start()
        task = asyncio.create_task(server.serve())
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        out = await run_agi(f"agi://127.0.0.1:{server.port}/screen-pop", [KNOWN], AgiChannel())
    assert out.status == "FAILURE"
