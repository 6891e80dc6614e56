"""Report numbers on a crafted dataset (real PostgreSQL)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta

import pytest

from orchestrator.ledger import agents, campaigns, reports
from orchestrator.ledger.pool import AsyncConn, connect, execute
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON, add_contact

pytestmark = pytest.mark.timeout(30)
# One shared, emptied-per-test database instead of one database per test (faster).
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database

R = NOON + timedelta(days=10)  # the report's "now"
H = timedelta(hours=1)


async def _attempt(
    conn: AsyncConn, campaign_id: int, outcome: str | None, *, answered: datetime | None = None,
    connected: datetime | None = None, ended: datetime | None = None, agent_id: int | None = None,
    created: datetime | None = None, note: str | None = None,
) -> uuid.UUID:
    contact_id, (target_id,) = await add_contact(conn, campaign_id)
    aid = uuid.uuid4()
    created = created or (answered or ended or R) - timedelta(seconds=20)
    await execute(
        conn,
        """INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164, mode, owner,
                                 state, outcome, agent_id, created_at, originated_at, answered_at,
                                 connected_at, ended_at, disposition_note)
           SELECT %s, %s, %s, t.id, 1, t.e164, 'predictive', 'inst', %s, %s, %s, %s, %s, %s, %s, %s, %s
             FROM targets t WHERE t.id = %s""",
        (aid, campaign_id, contact_id, "ended" if ended else "bridged", outcome, agent_id, created, created,
         answered, connected, ended, note, target_id),
    )
    return aid


async def test_campaign_report_numbers(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "Rep", mode="predictive", abandon_cap=0.03)
        other = await campaigns.create_campaign(conn, "Elsewhere")
        await agents.create_team(conn, "T")
        await agents.link_team_to_campaign(conn, "T", "Rep")
        amy, _ = await agents.create_agent(conn, "amy", display_name="Amy", teams=["T"])
        bob, _ = await agents.create_agent(conn, "bob", display_name="Bob")

        # Last 24 h: 98 human (3 of them connected to Amy), 2 abandoned, 4 busy, 2 machine.
        for i in range(98):
            at = R - timedelta(hours=20) + timedelta(minutes=i)
            connected = at if i < 3 else None
            await _attempt(conn, c.id, "human", answered=at, connected=connected, ended=at + timedelta(minutes=2),
                           agent_id=amy.id if i < 3 else None)
        for i in range(2):
            await _attempt(conn, c.id, "abandoned", answered=R - 2 * H - timedelta(minutes=i), ended=R - 2 * H)
        for _ in range(4):
            await _attempt(conn, c.id, "busy", ended=R - 3 * H)
        for _ in range(2):
            await _attempt(conn, c.id, "machine", answered=R - 4 * H, ended=R - 4 * H)
        # Older: 1 abandoned 5 days ago, 49 human 10 days ago, 1 abandoned 40 days ago.
        await _attempt(conn, c.id, "abandoned", answered=R - timedelta(days=5), ended=R - timedelta(days=5))
        for _ in range(49):
            await _attempt(conn, c.id, "human", answered=R - timedelta(days=10), ended=R - timedelta(days=10))
        await _attempt(conn, c.id, "abandoned", answered=R - timedelta(days=40), ended=R - timedelta(days=40))
        # One live call; one call in another campaign that must not count.
        await _attempt(conn, c.id, "human", answered=R - timedelta(minutes=1), connected=R - timedelta(minutes=1),
                       agent_id=amy.id)
        await _attempt(conn, other.id, "abandoned", answered=R - H, ended=R - H)

        # Amy's day: available since before the period, talk 30 min, wrap 30 min, idle 1 h, not ready 1 h.
        for at, state, cid in ((R - 30 * H, "available", c.id), (R - 9 * H, "on_call", c.id),
                               (R - 8.5 * H, "wrap_up", c.id), (R - 8 * H, "available", c.id),
                               (R - 7 * H, "not_ready", None), (R - 6 * H, "logged_out", None)):
            await agents.record_agent_state(conn, amy.id, state, campaign_id=cid, at=at)
        # Bob is not in the campaign's teams and his rows name no campaign: not in this report.
        await agents.record_agent_state(conn, bob.id, "available", at=R - 5 * H)

        r = await reports.campaign_report(conn, "Rep", now=R)

    assert r.attempts_total == 98 + 2 + 4 + 2 + 1 + 49 + 1 + 1
    assert r.attempts_live == 1
    assert r.outcomes == {"abandoned": 4, "busy": 4, "human": 147 + 1, "machine": 2}
    a24, a30 = r.abandon_24h, r.abandon_30d
    assert (a24.abandoned, a24.live_answers) == (2, 101)  # 98 + 1 live human + 2 abandoned
    assert a24.rate == pytest.approx(2 / 101)
    assert a24.remaining_budget == 3 - 2  # floor(0.03 * 101) - 2
    assert (a30.abandoned, a30.live_answers) == (3, 151)
    assert a30.remaining_budget == 4 - 3
    assert r.answer_rate == pytest.approx((98 + 2 + 2) / (98 + 2 + 4 + 2))
    assert r.contacts_total == 158 and r.targets_by_reason == {"dialable": 158}

    assert [a.username for a in r.agents] == ["amy"]
    amy_t = r.agents[0]
    assert amy_t.logged_in_s == pytest.approx(18 * 3600)  # 15 h + 0.5 + 0.5 + 1 + 1, clipped at R - 24 h
    assert (amy_t.talk_s, amy_t.wrap_s) == (pytest.approx(1800), pytest.approx(1800))
    assert amy_t.idle_s == pytest.approx(16 * 3600) and amy_t.not_ready_s == pytest.approx(3600)
    assert amy_t.occupancy == pytest.approx(1 / 18)
    assert amy_t.connects == 4 and amy_t.connects_per_hour == pytest.approx(4 / 18)
    assert r.occupancy == pytest.approx(1 / 18) and r.connects == 4
    assert r.connects_per_agent_hour == pytest.approx(4 / 18)
    js = r.to_json()
    assert js["abandon_24h"]["abandoned"] == 2 and js["generated_at"] == R.isoformat()


async def test_abandon_stats_without_live_answers(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "Quiet")
        s = await reports.abandon_stats(conn, c.id, reports.UK_WINDOW, cap=0.03, now=R)
        assert s.rate is None and s.remaining_budget == 0


async def test_attempts_csv_export(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "Csv")
        amy, _ = await agents.create_agent(conn, "amy", display_name="Amy")
        first = await _attempt(conn, c.id, "human", answered=R - H, connected=R - H, ended=R - H + timedelta(seconds=95),
                               agent_id=amy.id, note="=HYPERLINK(1)", created=R - H - timedelta(seconds=12))
        await _attempt(conn, c.id, "busy", ended=R - 2 * H)
        await _attempt(conn, c.id, "busy", ended=R - 30 * H)
        out = io.StringIO()
        n = await reports.export_attempts_csv(conn, "Csv", out, since=R - 3 * H)
        assert n == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0].keys()) == list(reports.CSV_COLUMNS)
    assert [r["outcome"] for r in rows] == ["busy", "human"]  # oldest first
    h = rows[1]
    assert h["attempt_id"] == str(first) and h["agent"] == "amy" and h["attempt"] == "1"
    assert h["target"] == "Mobile" and h["e164"].startswith("+447700")
    assert h["ring_s"] == "12.0" and h["talk_s"] == "95.0"
    assert h["note"] == "'=HYPERLINK(1)", "cells that spreadsheets would run are defused"
