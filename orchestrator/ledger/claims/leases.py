"""Claiming targets under a lease, and renewing, releasing and expiring leases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from orchestrator.core.rules import (
    DialingPolicy,
    Verdict,
    evaluate,
)
from orchestrator.ledger.campaigns import (
    CampaignNotFound,
    get_campaign,
    load_dialing_policy,
)
from orchestrator.ledger.claims.facts import _FACT_COLUMNS, _store_verdict, target_facts
from orchestrator.ledger.claims.results import (
    DEFAULT_LEASE,
    ClaimedTarget,
    ClaimResult,
    Rejection,
)
from orchestrator.ledger.pool import AsyncConn, db_now, execute, fetch_all, fetch_one

_CLAIM_SQL = (
    "SELECT" + _FACT_COLUMNS + """
  FROM targets t
  JOIN campaigns c ON c.id = t.campaign_id
  JOIN contacts k ON k.id = t.contact_id
  LEFT JOIN phone_numbers p ON p.e164 = t.e164
 WHERE t.campaign_id = %(campaign_id)s
   AND c.status = 'running'
   AND (t.unavailable_reason IS NULL OR t.unavailable_reason IN ('Not in cadence', 'Outside calling window'))
   AND t.attempts_made < t.max_attempts
   AND t.amd_count < c.max_amd_per_target
   AND (c.max_attempts_per_contact IS NULL OR k.attempts_made < c.max_attempts_per_contact)
   AND NOT k.complete
   AND (k.expires_at IS NULL OR k.expires_at > %(now)s)
   AND (t.available_from IS NULL OR t.available_from <= %(now)s)
   AND (t.lease_expires_at IS NULL OR t.lease_expires_at <= %(now)s)
   AND (p.abandon_locked_until IS NULL OR p.abandon_locked_until <= %(now)s)
   AND (p.last_call_at IS NULL OR p.last_call_at + c.min_gap <= %(now)s)
   AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.e164 = t.e164 AND a.ended_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.contact_id = t.contact_id AND a.dispositioned_at IS NULL)
   AND NOT t.callback_only
   AND NOT EXISTS (SELECT 1 FROM callbacks cb WHERE cb.contact_id = t.contact_id
                      AND cb.status IN ('pending', 'offered', 'dialing'))
   AND NOT EXISTS (SELECT 1 FROM targets o WHERE o.contact_id = t.contact_id AND o.id <> t.id
                      AND o.lease_expires_at > %(now)s)
   AND NOT EXISTS (SELECT 1 FROM dnc_entries d
                    WHERE d.e164 = t.e164 AND (d.campaign_id IS NULL OR d.campaign_id = t.campaign_id)
                      AND (d.expires_at IS NULL OR d.expires_at > %(now)s))
 ORDER BY t.available_from NULLS FIRST, t.id
 LIMIT %(scan)s
 FOR UPDATE OF t, k SKIP LOCKED"""
)




def claimed_target(row: Mapping[str, Any], owner: str, expires: datetime,
                   verdict: Verdict) -> ClaimedTarget:
    """A target row (``_FACT_COLUMNS``) leased to ``owner`` until ``expires``: what a
    campaign's claim and a callback's claim hand to the dialer."""
    return ClaimedTarget(
        target_id=row["target_id"], contact_id=row["contact_id"], campaign_id=row["campaign_id"],
        position=row["position"], description=row["description"], e164=row["e164"],
        attempts_made=row["attempts_made"], max_attempts=row["max_attempts"],
        amd_count=row["amd_count"], contact_attempts_made=row["contact_attempts_made"],
        external_id=row["external_id"], first_name=row["first_name"], last_name=row["last_name"],
        postal_code=row["postal_code"], time_zone=row["time_zone"],
        custom_fields=dict(row["custom_fields"] or {}), lease_owner=owner, lease_expires_at=expires,
        time_zones=verdict.time_zones,
    )


async def claim_targets(
    conn: AsyncConn,
    campaign_id: int,
    *,
    owner: str,
    limit: int,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
    policy: DialingPolicy | None = None,
) -> ClaimResult:
    """Lease up to `limit` dialable targets of a running campaign to `owner`.

    Two owners calling this at once never get the same target (row locks + SKIP LOCKED,
    and the lease check is re-evaluated on the locked row). Targets the rules refuse come
    back in `rejected`, already marked in the ledger. `policy` defaults to the campaign's
    (pass it to save two queries per call when the caller caches it).
    """
    if limit < 1:
        return ClaimResult()
    async with conn.transaction():
        now = await db_now(conn, now)
        if policy is None:
            try:
                campaign = await get_campaign(conn, campaign_id)
            except CampaignNotFound:
                return ClaimResult()
            if campaign.status != "running":
                return ClaimResult()
            policy = await load_dialing_policy(conn, campaign)
        # Look at more rows than needed: some fail the window, some share a contact.
        scan = max(limit * 2, limit + 20)
        rows = await fetch_all(conn, _CLAIM_SQL, {"campaign_id": campaign_id, "now": now, "scan": scan})
        expires = now + lease
        claimed: list[ClaimedTarget] = []
        rejected: list[Rejection] = []
        contacts: set[int] = set()
        for row in rows:
            if len(claimed) >= limit:
                break
            if row["contact_id"] in contacts:
                continue
            verdict = evaluate(target_facts(row), policy, now)
            if not verdict.dialable:
                assert verdict.reason is not None
                await _store_verdict(conn, row["target_id"], verdict, now)
                rejected.append(Rejection(row["target_id"], verdict.reason, verdict.next_dialable_at,
                                          verdict.detail))
                continue
            contacts.add(row["contact_id"])
            claimed.append(claimed_target(row, owner, expires, verdict))
        if claimed:
            await execute(
                conn,
                "UPDATE targets SET lease_owner = %s, lease_expires_at = %s, unavailable_reason = NULL"
                " WHERE id = ANY(%s)",
                (owner, expires, [c.target_id for c in claimed]),
            )
    return ClaimResult(claimed, rejected)


async def renew_leases(
    conn: AsyncConn,
    owner: str,
    target_ids: Sequence[int],
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
) -> list[int]:
    """Extend this owner's unexpired leases; returns the ids still held (others were lost)."""
    if not target_ids:
        return []
    rows = await fetch_all(
        conn,
        "UPDATE targets SET lease_expires_at = coalesce(%(now)s::timestamptz, now()) + %(lease)s"
        " WHERE id = ANY(%(ids)s) AND lease_owner = %(owner)s"
        "   AND lease_expires_at > coalesce(%(now)s::timestamptz, now())"
        " RETURNING id",
        {"now": now, "lease": lease, "ids": list(target_ids), "owner": owner},
    )
    return sorted(r["id"] for r in rows)


async def release_leases(
    conn: AsyncConn,
    owner: str,
    target_ids: Iterable[int] | None = None,
    *,
    available_from: datetime | None = None,
) -> int:
    """Give back this owner's leases (all of them when target_ids is None).

    `available_from` (e.g. now + the campaign's preview delay for a Delay action) is stored
    on the released targets when given. Returns the number released.
    """
    ids = None if target_ids is None else list(target_ids)
    return await execute(
        conn,
        "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL,"
        " available_from = coalesce(%(af)s, available_from),"
        " unavailable_reason = CASE WHEN %(af)s::timestamptz IS NULL THEN unavailable_reason"
        "                           ELSE 'Not in cadence' END"
        " WHERE lease_owner = %(owner)s AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))",
        {"owner": owner, "ids": ids, "af": available_from},
    )


async def release_campaign_leases(conn: AsyncConn, owner: str, campaign_id: int) -> int:
    """Give back every lease this owner holds on one campaign's targets.

    For a dialing loop that may have lost track of what it claimed: a claim whose commit
    landed but whose answer never came back (the connection died in between) leaves
    leases nobody here knows of, and they would keep their targets out of dialing until
    they expire (the campaign's lease, a minute by default)."""
    return await execute(
        conn,
        "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL"
        " WHERE lease_owner = %s AND campaign_id = %s",
        (owner, campaign_id),
    )


async def expire_stale_leases(conn: AsyncConn, *, now: datetime | None = None) -> int:
    """Clear leases that have expired (housekeeping: claims already ignore them)."""
    return await execute(
        conn,
        "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL"
        " WHERE lease_owner IS NOT NULL AND lease_expires_at <= coalesce(%s::timestamptz, now())",
        (now,),
    )


async def mark_shown(conn: AsyncConn, target_id: int, owner: str, *, now: datetime | None = None) -> bool:
    """Record that a leased target was shown to an agent (preview): targets.last_shown_at."""
    n = await execute(
        conn,
        "UPDATE targets SET last_shown_at = coalesce(%s::timestamptz, now()) WHERE id = %s AND lease_owner = %s",
        (now, target_id, owner),
    )
    return n == 1


async def mark_offered_rejected(conn: AsyncConn, target_id: int, owner: str) -> bool:
    """An agent rejected the offered target (preview Remove): reason 'Offered', lease released."""
    n = await execute(
        conn,
        "UPDATE targets SET unavailable_reason = 'Offered', lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id = %s AND lease_owner = %s",
        (target_id, owner),
    )
    return n == 1


async def count_live_attempts(conn: AsyncConn, campaign_id: int | None = None) -> int:
    """Attempts not ended, for one campaign or system-wide."""
    row = await fetch_one(
        conn,
        "SELECT count(*) AS n FROM attempts WHERE ended_at IS NULL"
        " AND (%(cid)s::bigint IS NULL OR campaign_id = %(cid)s)",
        {"cid": campaign_id},
    )
    assert row is not None
    return int(row["n"])
