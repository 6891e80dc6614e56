"""What the ledger schema itself enforces, whatever code writes to it."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors


def _campaign_contact_target(conn: psycopg.Connection, e164: str = "+14155550101", max_attempts: int = 2) -> tuple[int, int, int]:
    cid = conn.execute("INSERT INTO campaigns (name) VALUES (%s) RETURNING id", (f"c{uuid.uuid4().hex[:6]}",)).fetchone()[0]  # type: ignore[index]
    contact = conn.execute(
        "INSERT INTO contacts (campaign_id, external_id) VALUES (%s, %s) RETURNING id", (cid, uuid.uuid4().hex)
    ).fetchone()[0]  # type: ignore[index]
    target = conn.execute(
        "INSERT INTO targets (contact_id, campaign_id, position, e164, max_attempts) VALUES (%s,%s,1,%s,%s) RETURNING id",
        (contact, cid, e164, max_attempts),
    ).fetchone()[0]  # type: ignore[index]
    return cid, contact, target


def _attempt(conn: psycopg.Connection, cid: int, contact: int, target: int, n: int, e164: str = "+14155550101") -> uuid.UUID:
    aid = uuid.uuid4()
    conn.execute(
        "INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164, mode, owner)"
        " VALUES (%s,%s,%s,%s,%s,%s,'progressive','test')",
        (aid, cid, contact, target, n, e164),
    )
    return aid


def test_seven_system_wrapup_codes_are_seeded(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT label, outcome_class FROM wrapup_codes WHERE is_system ORDER BY label").fetchall()
    assert [r[0] for r in rows] == [
        "Answering machine detected", "Busy", "Congestion", "Fax", "No answer", "Sale", "Voicemail",
    ]
    assert dict(rows)["Congestion"] == "retry"  # sql/007: congestion had no automatic code
    assert dict(rows)["Sale"] == "final_success"


@pytest.mark.parametrize("bad", ["4155550101", "+0123456789", "+1 415 555", "+1415555010a", "+1234567890123456"])
def test_e164_is_checked_by_the_database(database_url: str, bad: str) -> None:
    with psycopg.connect(database_url) as conn, pytest.raises(errors.CheckViolation):
        _campaign_contact_target(conn, e164=bad)


def test_one_live_attempt_per_number_and_attempt_counting(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cid, contact, target = _campaign_contact_target(conn)
        first = _attempt(conn, cid, contact, target, 1)
        assert conn.execute("SELECT attempts_made FROM targets WHERE id=%s", (target,)).fetchone() == (1,)
        with pytest.raises(errors.UniqueViolation):
            _attempt(conn, cid, contact, target, 2)
        # The failed insert did not count.
        assert conn.execute("SELECT attempts_made FROM targets WHERE id=%s", (target,)).fetchone() == (1,)
        conn.execute("UPDATE attempts SET state='ended', ended_at=now(), outcome='busy' WHERE id=%s", (first,))
        _attempt(conn, cid, contact, target, 2)
        conn.execute("UPDATE attempts SET state='ended', ended_at=now(), outcome='busy'")
        # max_attempts is 2: a third attempt would push the count above max.
        with pytest.raises(errors.CheckViolation):
            _attempt(conn, cid, contact, target, 3)
        assert conn.execute("SELECT attempts_made FROM contacts WHERE id=%s", (contact,)).fetchone() == (2,)


def test_dnc_number_cannot_get_an_attempt(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cid, contact, target = _campaign_contact_target(conn)
        conn.execute("INSERT INTO dnc_entries (e164, source) VALUES ('+14155550101', 'test')")
        with pytest.raises(errors.CheckViolation, match="do-not-call"):
            _attempt(conn, cid, contact, target, 1)
        # An expired entry no longer blocks.
        conn.execute("UPDATE dnc_entries SET added_at = now() - interval '2 days', expires_at = now() - interval '1 day'")
        _attempt(conn, cid, contact, target, 1)


def test_campaign_scoped_dnc_only_blocks_that_campaign(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cid, contact, target = _campaign_contact_target(conn)
        other = conn.execute("INSERT INTO campaigns (name) VALUES ('other') RETURNING id").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO dnc_entries (e164, campaign_id) VALUES ('+14155550101', %s)", (other,))
        _attempt(conn, cid, contact, target, 1)


def test_attempt_events_are_append_only(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cid, contact, target = _campaign_contact_target(conn)
        aid = _attempt(conn, cid, contact, target, 1)
        conn.execute("INSERT INTO attempt_events (attempt_id, kind) VALUES (%s, 'created')", (aid,))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE attempt_events SET kind='x'")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DELETE FROM attempt_events")


def test_external_id_unique_per_campaign(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cid = conn.execute("INSERT INTO campaigns (name) VALUES ('a') RETURNING id").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO contacts (campaign_id, external_id) VALUES (%s, 'X1')", (cid,))
        with pytest.raises(errors.UniqueViolation):
            conn.execute("INSERT INTO contacts (campaign_id, external_id) VALUES (%s, 'X1')", (cid,))
