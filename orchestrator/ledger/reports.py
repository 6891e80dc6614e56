"""Campaign reports from the ledger: outcomes, dispositions, abandon rate, agent time.

Definitions (the numbers the CLI, the API and the supervisor view show):

- Abandon rate over a window W (24 h, the UK Ofcom window; 30 days, the US FTC/TSR
  window) = abandoned / live answers, where live answers = attempts answered by a person,
  i.e. outcome 'human' (connected to an agent, or answered and not abandoned) plus outcome
  'abandoned', whose answer time (attempts.answered_at) lies in [now - W, now).
  Answering machines, fax and unanswered calls are not live answers. None when there was
  no live answer. The remaining drop budget is floor(cap x live answers) - abandoned
  (how many more abandons the window can take right now; negative when over the cap).
- Agent time comes from agent_state_history: each row opens an interval that lasts until
  the agent's next row (or `now`), clipped to the report period. Talk = ringing, on_call,
  hold, consulting, conferencing (MISSION G: talk time sums ring and conversation);
  wrap = wrap_up; idle = available, reserved; not ready = not_ready; logged-in time = every
  state but logged_out. For a campaign, an interval counts when its row names the campaign,
  or names none and the agent is in one of the campaign's teams.
- Occupancy = (talk + wrap) / logged-in time.
- Connects per agent hour = attempts connected to an agent (connected_at) in the period
  / logged-in hours of the campaign's agents.
- Answer rate = attempts answered (human, machine, fax, abandoned) / attempts ended, over
  the period.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from orchestrator.ledger.campaigns import get_campaign
from orchestrator.ledger.pool import AsyncConn, db_now, fetch_all, fetch_one

UK_WINDOW = timedelta(hours=24)
US_WINDOW = timedelta(days=30)
TALK_STATES = ("ringing", "on_call", "hold", "consulting", "conferencing")
WRAP_STATES = ("wrap_up",)
IDLE_STATES = ("available", "reserved")
NOT_READY_STATES = ("not_ready",)
ANSWERED_OUTCOMES = ("human", "machine", "fax", "abandoned")


@dataclass(frozen=True)
class AbandonStats:
    window_seconds: int
    abandoned: int
    live_answers: int
    rate: float | None
    cap: float
    remaining_budget: int
    """floor(cap x live answers) - abandoned; negative when over the cap."""


@dataclass(frozen=True)
class AgentTimes:
    agent_id: int
    username: str
    display_name: str
    logged_in_s: float
    talk_s: float
    wrap_s: float
    idle_s: float
    not_ready_s: float
    connects: int
    occupancy: float | None
    """(talk + wrap) / logged-in time; None when not logged in during the period."""
    connects_per_hour: float | None


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: int
    campaign: str
    status: str
    mode: str
    generated_at: datetime
    period_start: datetime
    """Agent times, connects and answer rate cover [period_start, generated_at)."""
    attempts_total: int
    """All attempts of the campaign, ever."""
    attempts_live: int
    outcomes: dict[str, int]
    """All attempts by outcome ('live' for those not ended)."""
    dispositions: dict[str, int]
    """Dispositioned attempts by wrap-up code label ('(automatic)' without a code)."""
    abandon_24h: AbandonStats
    abandon_30d: AbandonStats
    answer_rate: float | None
    contacts_total: int
    contacts_complete: int
    targets_total: int
    targets_by_reason: dict[str, int]
    """Targets by unavailable reason; 'dialable' for none."""
    talk_s: float
    wrap_s: float
    idle_s: float
    logged_in_s: float
    occupancy: float | None
    connects: int
    connects_per_agent_hour: float | None
    agents: list[AgentTimes] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("generated_at", "period_start"):
            d[k] = d[k].isoformat()
        return d


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


async def abandon_stats(
    conn: AsyncConn, campaign_id: int, window: timedelta, *, cap: float, now: datetime | None = None
) -> AbandonStats:
    """Abandon rate of a campaign over [now - window, now) (definition in the module doc)."""
    now = await db_now(conn, now)
    row = await fetch_one(
        conn,
        """SELECT count(*) FILTER (WHERE outcome = 'abandoned') AS abandoned,
                  count(*) FILTER (WHERE outcome IN ('human', 'abandoned')) AS live
             FROM attempts
            WHERE campaign_id = %s AND answered_at >= %s AND answered_at < %s""",
        (campaign_id, now - window, now),
    )
    assert row is not None
    abandoned, live = int(row["abandoned"]), int(row["live"])
    return AbandonStats(
        window_seconds=int(window.total_seconds()), abandoned=abandoned, live_answers=live,
        rate=_ratio(abandoned, live), cap=cap,
        remaining_budget=math.floor(cap * live + 1e-9) - abandoned,
    )


_AGENT_TIME_SQL = """
WITH spans AS (
    SELECT h.agent_id, h.state, h.campaign_id,
           greatest(h.at, %(since)s) AS s,
           least(coalesce(lead(h.at) OVER (PARTITION BY h.agent_id ORDER BY h.at, h.id), %(now)s), %(now)s) AS e
      FROM agent_state_history h
     WHERE h.at < %(now)s
)
SELECT a.id AS agent_id, a.username, a.display_name,
       coalesce(sum(extract(epoch FROM e - s)) FILTER (WHERE state <> 'logged_out'), 0) AS logged_in_s,
       coalesce(sum(extract(epoch FROM e - s)) FILTER (WHERE state = ANY(%(talk)s)), 0) AS talk_s,
       coalesce(sum(extract(epoch FROM e - s)) FILTER (WHERE state = ANY(%(wrap)s)), 0) AS wrap_s,
       coalesce(sum(extract(epoch FROM e - s)) FILTER (WHERE state = ANY(%(idle)s)), 0) AS idle_s,
       coalesce(sum(extract(epoch FROM e - s)) FILTER (WHERE state = ANY(%(nr)s)), 0) AS not_ready_s
  FROM spans JOIN agents a ON a.id = spans.agent_id
 WHERE e > s
   AND (%(cid)s::bigint IS NULL OR spans.campaign_id = %(cid)s
        OR (spans.campaign_id IS NULL AND spans.agent_id IN (
              SELECT at.agent_id FROM agent_teams at JOIN campaign_teams ct ON ct.team_id = at.team_id
               WHERE ct.campaign_id = %(cid)s)))
 GROUP BY a.id, a.username, a.display_name
 ORDER BY a.username
"""


async def agent_times(
    conn: AsyncConn,
    *,
    since: datetime,
    now: datetime | None = None,
    campaign_id: int | None = None,
) -> list[AgentTimes]:
    """Per-agent talk/wrap/idle/not-ready/logged-in seconds and connects over [since, now)."""
    now = await db_now(conn, now)
    rows = await fetch_all(conn, _AGENT_TIME_SQL, {
        "since": since, "now": now, "cid": campaign_id, "talk": list(TALK_STATES),
        "wrap": list(WRAP_STATES), "idle": list(IDLE_STATES), "nr": list(NOT_READY_STATES),
    })
    connects = {
        r["agent_id"]: int(r["n"])
        for r in await fetch_all(
            conn,
            """SELECT agent_id, count(*) AS n FROM attempts
                WHERE agent_id IS NOT NULL AND connected_at >= %(since)s AND connected_at < %(now)s
                  AND (%(cid)s::bigint IS NULL OR campaign_id = %(cid)s)
                GROUP BY agent_id""",
            {"since": since, "now": now, "cid": campaign_id},
        )
    }
    out: list[AgentTimes] = []
    for r in rows:
        logged = float(r["logged_in_s"])
        busy = float(r["talk_s"]) + float(r["wrap_s"])
        n = connects.get(r["agent_id"], 0)
        out.append(AgentTimes(
            agent_id=r["agent_id"], username=r["username"], display_name=r["display_name"],
            logged_in_s=logged, talk_s=float(r["talk_s"]), wrap_s=float(r["wrap_s"]),
            idle_s=float(r["idle_s"]), not_ready_s=float(r["not_ready_s"]), connects=n,
            occupancy=_ratio(busy, logged), connects_per_hour=_ratio(n, logged / 3600),
        ))
    return out


async def campaign_report(
    conn: AsyncConn,
    name_or_id: str | int,
    *,
    period: timedelta = UK_WINDOW,
    now: datetime | None = None,
) -> CampaignReport:
    """The campaign's report; agent figures over the last `period` (24 h by default)."""
    campaign = await get_campaign(conn, name_or_id)
    now = await db_now(conn, now)
    since = now - period
    cid = campaign.id
    outcome_rows = await fetch_all(
        conn,
        "SELECT coalesce(outcome, CASE WHEN ended_at IS NULL THEN 'live' ELSE 'unknown' END) AS o, count(*) AS n"
        " FROM attempts WHERE campaign_id = %s GROUP BY 1 ORDER BY 1",
        (cid,),
    )
    # An attempt not ended counts as live, even when its outcome is already known (bridged).
    live_row = await fetch_one(
        conn, "SELECT count(*) AS n FROM attempts WHERE campaign_id = %s AND ended_at IS NULL", (cid,)
    )
    assert live_row is not None
    outcomes = {r["o"]: int(r["n"]) for r in outcome_rows}
    disp_rows = await fetch_all(
        conn,
        "SELECT coalesce(w.label, e.data->>'label', '(automatic)') AS label, count(*) AS n FROM attempts a"
        " LEFT JOIN wrapup_codes w ON w.id = a.wrapup_code_id"
        " LEFT JOIN attempt_events e ON e.attempt_id = a.id AND e.kind = 'dispositioned'"
        " WHERE a.campaign_id = %s AND a.dispositioned_at IS NOT NULL GROUP BY 1 ORDER BY 1",
        (cid,),
    )
    ans = await fetch_one(
        conn,
        """SELECT count(*) FILTER (WHERE outcome = ANY(%(answered)s)) AS answered, count(*) AS ended
             FROM attempts WHERE campaign_id = %(cid)s AND ended_at >= %(since)s AND ended_at < %(now)s""",
        {"answered": list(ANSWERED_OUTCOMES), "cid": cid, "since": since, "now": now},
    )
    assert ans is not None
    contacts = await fetch_one(
        conn,
        "SELECT count(*) AS total, count(*) FILTER (WHERE complete) AS complete FROM contacts WHERE campaign_id = %s",
        (cid,),
    )
    assert contacts is not None
    reason_rows = await fetch_all(
        conn,
        "SELECT coalesce(unavailable_reason, 'dialable') AS r, count(*) AS n FROM targets"
        " WHERE campaign_id = %s GROUP BY 1 ORDER BY 1",
        (cid,),
    )
    agents = await agent_times(conn, since=since, now=now, campaign_id=cid)
    talk = sum(a.talk_s for a in agents)
    wrap = sum(a.wrap_s for a in agents)
    logged = sum(a.logged_in_s for a in agents)
    connects_row = await fetch_one(
        conn,
        "SELECT count(*) AS n FROM attempts WHERE campaign_id = %s AND connected_at >= %s AND connected_at < %s",
        (cid, since, now),
    )
    assert connects_row is not None
    connects = int(connects_row["n"])
    return CampaignReport(
        campaign_id=cid, campaign=campaign.name, status=campaign.status, mode=campaign.mode,
        generated_at=now, period_start=since,
        attempts_total=sum(outcomes.values()), attempts_live=int(live_row["n"]), outcomes=outcomes,
        dispositions={r["label"]: int(r["n"]) for r in disp_rows},
        abandon_24h=await abandon_stats(conn, cid, UK_WINDOW, cap=campaign.abandon_cap, now=now),
        abandon_30d=await abandon_stats(conn, cid, US_WINDOW, cap=campaign.abandon_cap, now=now),
        answer_rate=_ratio(int(ans["answered"]), int(ans["ended"])),
        contacts_total=int(contacts["total"]), contacts_complete=int(contacts["complete"]),
        targets_total=sum(int(r["n"]) for r in reason_rows),
        targets_by_reason={r["r"]: int(r["n"]) for r in reason_rows},
        talk_s=talk, wrap_s=wrap, idle_s=sum(a.idle_s for a in agents), logged_in_s=logged,
        occupancy=_ratio(talk + wrap, logged), connects=connects,
        connects_per_agent_hour=_ratio(connects, logged / 3600),
        agents=agents,
    )


CSV_COLUMNS = (
    "attempt_id", "campaign", "contact_id", "external_id", "attempt", "target", "e164", "mode",
    "owner", "state", "outcome", "cause", "cause_txt", "amd_status", "agent", "disposition",
    "outcome_class", "note", "created_at", "originated_at", "answered_at", "connected_at",
    "ended_at", "dispositioned_at", "ring_s", "talk_s",
)


def _iso(v: datetime | None) -> str:
    return v.isoformat() if v is not None else ""


async def export_attempts_csv(
    conn: AsyncConn,
    name_or_id: str | int,
    out: TextIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the campaign's attempts as CSV (header + one row each, oldest first); returns rows.

    Numbers are written in full: the export is an admin tool (agents never get it).
    Values starting with = + - @ are prefixed with ' so spreadsheets do not run them.
    """
    campaign = await get_campaign(conn, name_or_id)
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    # A server-side cursor inside a transaction streams a large export in batches.
    async with conn.transaction(), conn.cursor("attempts_export") as cur:
        await cur.execute(
            """SELECT a.*, k.external_id, t.description, ag.username AS agent_username,
                      w.label AS disposition, w.outcome_class AS code_class
                 FROM attempts a
                 JOIN contacts k ON k.id = a.contact_id
                 JOIN targets t ON t.id = a.target_id
                 LEFT JOIN agents ag ON ag.id = a.agent_id
                 LEFT JOIN wrapup_codes w ON w.id = a.wrapup_code_id
                WHERE a.campaign_id = %(cid)s
                  AND (%(since)s::timestamptz IS NULL OR a.created_at >= %(since)s)
                  AND (%(until)s::timestamptz IS NULL OR a.created_at < %(until)s)
                ORDER BY a.created_at, a.id""",
            {"cid": campaign.id, "since": since, "until": until},
        )
        cols = [d.name for d in cur.description or ()]
        async for tup in cur:
            r = dict(zip(cols, tup, strict=True))
            ring = talk = ""
            if r["originated_at"] and r["answered_at"]:
                ring = f"{(r['answered_at'] - r['originated_at']).total_seconds():.1f}"
            if r["connected_at"] and r["ended_at"]:
                talk = f"{(r['ended_at'] - r['connected_at']).total_seconds():.1f}"
            row = [
                str(r["id"]), campaign.name, r["contact_id"], r["external_id"] or "", r["attempt_number"],
                r["description"], r["e164"], r["mode"], r["owner"], r["state"], r["outcome"] or "",
                "" if r["cause"] is None else r["cause"], r["cause_txt"] or "", r["amd_status"] or "",
                r["agent_username"] or "", r["disposition"] or "", r["code_class"] or "",
                r["disposition_note"] or "", _iso(r["created_at"]), _iso(r["originated_at"]),
                _iso(r["answered_at"]), _iso(r["connected_at"]), _iso(r["ended_at"]),
                _iso(r["dispositioned_at"]), ring, talk,
            ]
            writer.writerow([_safe_cell(v) for v in row])
            n += 1
    return n


def _safe_cell(v: Any) -> Any:
    if not isinstance(v, str) or not v:
        return v
    if v[0] in ("=", "-", "@") or (v[0] == "+" and not v[1:].isdigit()):
        return "'" + v
    return v


# ------------------------------------------------------------------ live calls


@dataclass(frozen=True)
class LiveCall:
    """An attempt in progress (not ended), whichever instance placed it."""

    attempt_id: str
    campaign_id: int
    campaign: str
    masking: bool
    """The campaign masks numbers: show only the last 4 digits."""
    e164: str
    target_description: str
    state: str
    """The ledger's state: pending, dialing, ringing, answered, bridged."""
    mode: str
    agent_id: int | None
    agent: str | None
    """The agent's display name."""
    owner: str
    created_at: datetime
    answered_at: datetime | None
    connected_at: datetime | None


async def live_calls(conn: AsyncConn, *, campaign_id: int | None = None) -> list[LiveCall]:
    """Attempts not ended yet, oldest first (the supervisor's live calls)."""
    rows = await fetch_all(
        conn,
        """SELECT a.id, a.campaign_id, c.name AS campaign, c.masking, a.e164, t.description, a.state,
                  a.mode, a.agent_id, ag.display_name AS agent, a.owner, a.created_at, a.answered_at,
                  a.connected_at
             FROM attempts a JOIN campaigns c ON c.id = a.campaign_id
             JOIN targets t ON t.id = a.target_id
             LEFT JOIN agents ag ON ag.id = a.agent_id
            WHERE a.ended_at IS NULL AND (%(cid)s::bigint IS NULL OR a.campaign_id = %(cid)s)
            ORDER BY a.created_at, a.id""",
        {"cid": campaign_id},
    )
    return [LiveCall(str(r["id"]), int(r["campaign_id"]), r["campaign"], bool(r["masking"]), r["e164"],
                     r["description"] or "", r["state"], r["mode"], r["agent_id"], r["agent"], r["owner"],
                     r["created_at"], r["answered_at"], r["connected_at"]) for r in rows]
