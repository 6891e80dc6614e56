"""Campaign settings, validation, status transitions and wrap-up codes against PostgreSQL."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from orchestrator.core.rules import OutcomeClass
from orchestrator.ledger import agents, campaigns
from orchestrator.ledger.pool import connect, fetch_all
from tests.support import ledger_seed

pytestmark = pytest.mark.timeout(30)
# One shared, emptied-per-test database instead of one database per test (faster).
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database


async def test_create_with_defaults_and_settings_round_trip(database_url: str) -> None:
    async with connect(database_url) as conn:
        await agents.create_team(conn, "Sales")
        c = await campaigns.create_campaign(
            conn, "Winter 2025", mode="predictive", abandon_cap=0.02, window_start="10:00", window_end="20:00",
            window_days="mon-fri", caller_id="+14155550100", max_attempts_per_target=5, amd_policy="hangup",
            abandon_lock="48h", min_gap=timedelta(hours=4), cadence={"busy": "10m", "no_answer": 7200},
            max_concurrent_calls=30, masking=True, teams=["Sales"], actor="test",
        )
        assert c.status == "draft" and c.mode == "predictive" and c.abandon_cap == 0.02
        assert (c.window_start, c.window_end, c.window_days) == (time(10), time(20), (1, 2, 3, 4, 5))
        assert c.abandon_lock == timedelta(hours=48) and c.min_gap == timedelta(hours=4)
        assert c.cadence == {"busy": 600, "no_answer": 7200}
        assert c.masking and c.max_concurrent_calls == 30 and c.preview_timeout_s == 60  # schema default
        assert await campaigns.get_campaign(conn, "Winter 2025") == c
        assert await campaigns.campaign_teams(conn, c.id) == ["Sales"]
        js = c.to_json()
        assert js["abandon_lock"] == 172800 and js["window_start"] == "10:00" and js["window_days"] == [1, 2, 3, 4, 5]


BAD_SETTINGS = (
        ({"mode": "turbo"}, "mode"),
        ({"abandon_cap": 0.5}, "abandon_cap"),
        ({"abandon_cap": "lots"}, "abandon_cap"),
        ({"caller_id": "4155550100"}, "caller_id"),
        ({"max_attempts_per_target": 0}, "max_attempts_per_target"),
        ({"no_answer_timeout_s": 5}, "no_answer_timeout_s"),
        ({"window_start": "25:00"}, "window_start"),
        ({"window_start": "21:00", "window_end": "09:00"}, "window"),
        ({"window_days": "funday"}, "window_days"),
        ({"abandon_lock": "soon"}, "abandon_lock"),
        ({"cadence": {"sometimes": 5}}, "cadence.sometimes"),
        ({"amd_policy": "guess"}, "amd_policy"),
        ({"recording": "yes"}, "recording"),
        ({"colour": "red"}, "colour"),
        ({"status": "running"}, "status"),
)


async def test_bad_settings_name_the_field(database_url: str) -> None:
    async with connect(database_url) as conn:
        for settings, field in BAD_SETTINGS:
            with pytest.raises(campaigns.CampaignError) as exc:
                await campaigns.create_campaign(conn, "Bad", **settings)
            assert exc.value.field == field, (settings, exc.value)
            assert str(exc.value).startswith(f"{field}: ")
        assert await campaigns.list_campaigns(conn) == []


async def test_name_rules_and_duplicates(database_url: str) -> None:
    async with connect(database_url) as conn:
        with pytest.raises(campaigns.CampaignError, match="^name: ") as exc:
            await campaigns.create_campaign(conn, "-bad name")
        await campaigns.create_campaign(conn, "Dup")
        with pytest.raises(campaigns.CampaignError, match="already exists") as exc:
            await campaigns.create_campaign(conn, "Dup")
        assert exc.value.field == "name"
        with pytest.raises(campaigns.CampaignError) as exc:
            await campaigns.create_campaign(conn, "X", teams=["Nobody"])
        assert exc.value.field == "team"
        assert [c.name for c in await campaigns.list_campaigns(conn)] == ["Dup"], "nothing half-created"


async def test_update_validates_against_current_values(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "Upd", window_start="09:00", window_end="12:00")
        with pytest.raises(campaigns.CampaignError) as exc:
            await campaigns.update_campaign(conn, "Upd", {"window_start": "13:00"})
        assert exc.value.field == "window"
        u = await campaigns.update_campaign(conn, c.id, {"window_end": "18:00", "max_concurrent_calls": None,
                                                          "name": "Updated"})
        assert u.window_end == time(18) and u.name == "Updated" and u.updated_at >= c.updated_at
        with pytest.raises(campaigns.CampaignNotFound):
            await campaigns.update_campaign(conn, "Upd", {"mode": "power"})


async def test_transitions_are_checked_and_audited(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "Life")
        with pytest.raises(campaigns.CampaignTransitionError, match="cannot pause campaign 'Life': it is draft"):
            await campaigns.pause_campaign(conn, "Life")
        assert (await campaigns.start_campaign(conn, "Life", actor="sup")).status == "running"
        assert (await campaigns.pause_campaign(conn, "Life", actor="sup")).status == "paused"
        assert (await campaigns.start_campaign(conn, "Life", actor="sup")).status == "running"
        await conn.execute("INSERT INTO contacts (campaign_id) VALUES (%s)", (c.id,))
        await conn.execute(
            "INSERT INTO targets (contact_id, campaign_id, position, e164, lease_owner, lease_expires_at)"
            " SELECT id, campaign_id, 1, '+447700900999', 'inst', now() + interval '1 min' FROM contacts")
        assert (await campaigns.stop_campaign(conn, "Life", actor="sup")).status == "stopped"
        rows = await fetch_all(conn, "SELECT lease_owner FROM targets")
        assert rows == [{"lease_owner": None}], "stop releases the leases"
        with pytest.raises(campaigns.CampaignTransitionError):
            await campaigns.pause_campaign(conn, "Life")
        audit = await fetch_all(
            conn, "SELECT actor, action, details FROM audit_log WHERE object_type = 'campaign' ORDER BY id")
        assert [a["action"] for a in audit] == [
            "campaign.create", "campaign.start", "campaign.pause", "campaign.start", "campaign.stop"]
        assert audit[2]["details"] == {"from": "running", "to": "paused"} and audit[2]["actor"] == "sup"


async def test_wrapup_codes_system_and_custom(database_url: str) -> None:
    async with connect(database_url) as conn:
        a = await campaigns.create_campaign(conn, "A")
        b = await campaigns.create_campaign(conn, "B")
        code = await campaigns.add_wrapup_code(conn, "A", "Callback requested", "retry", retry_after="2h")
        assert code.retry_after == timedelta(hours=2) and not code.is_system
        labels_a = [w.label for w in await campaigns.wrapup_codes(conn, a.id)]
        labels_b = [w.label for w in await campaigns.wrapup_codes(conn, b.id)]
        assert labels_b == ["Answering machine detected", "Busy", "Congestion", "Fax", "No answer", "Sale",
                            "Voicemail"]
        assert labels_a == labels_b + ["Callback requested"]
        for bad, field in (({"label": "Busy"}, "label"), ({"label": "callback requested"}, "label"),
                           ({"outcome_class": "maybe"}, "outcome_class"),
                           ({"outcome_class": "final_success", "retry_after": "1h"}, "retry_after")):
            kw = {"label": "Other", "outcome_class": "retry", **bad}
            with pytest.raises(campaigns.CampaignError) as exc:
                await campaigns.add_wrapup_code(conn, "A", kw.pop("label"), kw.pop("outcome_class"), **kw)
            assert exc.value.field == field
        assert (await campaigns.find_wrapup_code(conn, a.id, "SALE")).outcome_class == "final_success"
        with pytest.raises(campaigns.CampaignError):
            await campaigns.find_wrapup_code(conn, b.id, "Callback requested")
        # The campaign's default code must belong to its set.
        with pytest.raises(campaigns.CampaignError) as exc:
            await campaigns.update_campaign(conn, "B", {"default_wrapup_code_id": code.id})
        assert exc.value.field == "default_wrapup_code_id"
        assert (await campaigns.update_campaign(conn, "A", {"default_wrapup_code_id": code.id})).default_wrapup_code_id == code.id


async def test_dialing_policy_reflects_campaign_and_codes(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "P", window_days="mon-fri", cadence={"machine": 60},
                                            max_amd_per_target=2, min_gap="1h", max_attempts_per_contact=7)
        await campaigns.add_wrapup_code(conn, "P", "Gone away", "final_failure")
        await campaigns.add_wrapup_code(conn, "P", "Later", "retry", retry_after="3h")
        p = await campaigns.load_dialing_policy(conn, c)
        assert p.window.weekdays == frozenset({0, 1, 2, 3, 4})
        assert p.max_amd_detections == 2 and p.min_gap_between_calls == timedelta(hours=1)
        assert p.max_attempts_per_contact == 7
        assert p.classify("Gone away") is OutcomeClass.FINAL_FAILURE
        assert p.retry_delay("Later") == timedelta(hours=3)
        assert p.retry_delay("Busy") == timedelta(minutes=15)  # the system code's delay
        assert p.retry_delay("Answering machine detected") == timedelta(seconds=60)  # campaign cadence wins
