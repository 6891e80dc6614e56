"""Request bodies of the HTTP API (pydantic models: validation + JSON Schema for OpenAPI),
and the parsers of the ids it takes from paths and bodies.

A bad body is answered 422 with the first offending field named (`validation_error`).
Campaign settings are validated again, field by field, by the ledger.

Ids are ASCII: an agent or campaign id is ASCII digits within PostgreSQL's bigint, an
attempt id a UUID in its canonical 8-4-4-4-12 hex form. ``str.isdigit()`` and ``int()``
accept '²' and other scripts' digits ('١٢'), and ``uuid.UUID`` accepts them in hex too, so
none of them is applied to raw input; a malformed id is answered 400 naming its field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_ID = 2**63 - 1
"""The largest id PostgreSQL's bigint holds (a larger one is malformed, not 'not found')."""
# [0-9] and [0-9a-f] are literal ASCII ranges; \d would match every script's digits.
_ID = re.compile(r"[0-9]{1,19}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_CAMPAIGN_NAME = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,199}")


def parse_id(raw: str) -> int | None:
    """A numeric id given as text (path segment, body field): ASCII digits, 1 to the
    largest bigint (ids are serials from 1); None for anything else ('²', '١', '-1', '0',
    '1e3', ' 1', '99999999999999999999')."""
    if not _ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def parse_campaign_ref(raw: str) -> str | None:
    """A campaign named by its numeric id or its name, as the dialer service takes it:
    the id in ASCII digits (normalised, leading zeros dropped) or the name as given;
    None when it can be neither (non-ASCII text or control characters: campaign names
    are ASCII, and an all-digit ref is an id, so '²' must not reach a digit test)."""
    if raw.isascii() and raw.isdigit():  # ASCII first: then isdigit() means [0-9]+
        value = parse_id(raw)
        return str(value) if value is not None else None
    return raw if _CAMPAIGN_NAME.fullmatch(raw) else None


def parse_attempt_id(raw: str) -> str | None:
    """An attempt id (a UUID, 8-4-4-4-12 hex digits), lower-cased as the dialer writes
    it; None for anything else (no braces, no ``urn:uuid:``, no other scripts' digits)."""
    return raw.lower() if _UUID.fullmatch(raw) else None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginRequest(_Body):
    """Log an agent in to a campaign with a phone."""

    campaign: str = Field(min_length=1, max_length=64, description="Campaign name")
    endpoint: str | None = Field(
        default=None, max_length=200,
        description="Agent phone endpoint (PJSIP/1001, Local/agent1@dialer-agents): the "
                    "agent's configured one or one ORCH_AGENT_PHONES admits, never a customer "
                    "context, a trunk or a number (422 naming `endpoint`); default: the "
                    "agent's configured endpoint")
    nailed_up: bool | None = Field(
        default=None, description="Keep one leg open between calls (default: agent's phone_mode)")


class StateRequest(_Body):
    """Change an agent's readiness."""

    state: Literal["available", "not_ready"]
    reason: str = Field(default="", max_length=64, description="Not-ready reason code")


class PreviewActionRequest(_Body):
    """Parameters of a preview action; only `reschedule` and `disposition` take any."""

    local_date: dt.date | None = Field(default=None, description="reschedule: date in time_zone")
    local_time: dt.time | None = Field(default=None, description="reschedule: time of day in time_zone")
    time_zone: str | None = Field(default=None, max_length=64, description="reschedule: IANA zone")
    assignee: Literal["me", "anyone"] = "anyone"
    other_number: str | None = Field(default=None, max_length=32,
                                     description="reschedule: call another number")
    notes: str = Field(default="", max_length=2000)
    code: str | None = Field(default=None, max_length=100,
                             description="disposition: wrap-up code label")


class DispositionRequest(_Body):
    """The wrap-up code of a call the agent handled."""

    attempt_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=100, description="Wrap-up code label, e.g. Sale")
    notes: str = Field(default="", max_length=2000)
    amd_false_positive: bool = Field(
        default=False,
        description="The call was classified as a machine but a person was there: "
                    "counted as an abandon")


class HangupRequest(_Body):
    """End (or cancel) the agent's current call."""

    attempt_id: str | None = Field(default=None, max_length=64,
                                   description="The call; default: the agent's current call")


class ConsultBody(_Body):
    """Whom to consult (or transfer to)."""

    attempt_id: str | None = Field(default=None, max_length=64,
                                   description="The call; default: the agent's current call")
    kind: Literal["agent", "queue", "number", "entry"] = Field(
        description="agent: an agent id; queue: a campaign id (its longest-idle agent, never "
                    "the caller); number: 3 to 18 of digits and + # * : (other characters "
                    "dropped), admitted by ORCH_TRANSFER_NUMBERS; entry: an entry point name "
                    "admitted by ORCH_ENTRY_POINTS")
    target: str = Field(default="", max_length=64,
                        description="Agent id, campaign id (empty: the call's), number or name")


class TransferBody(_Body):
    """Complete the consultation as a transfer (no kind), or transfer blind (kind+target)."""

    attempt_id: str | None = Field(default=None, max_length=64)
    kind: Literal["agent", "queue", "number", "entry"] | None = None
    target: str = Field(default="", max_length=64)


class CallActionBody(_Body):
    """A call-control action on the agent's call."""

    attempt_id: str | None = Field(default=None, max_length=64)
    party_id: str | None = Field(default=None, max_length=16,
                                 description="remove-party: the party (p1, p2...)")


class CampaignCreate(BaseModel):
    """A new campaign: its name and any settings (the rest take their defaults)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64)
    teams: list[str] = Field(default_factory=list)


class CampaignUpdate(BaseModel):
    """Settings to change (any campaign setting, or `name`)."""

    model_config = ConfigDict(extra="allow")


class SuperviseRequest(_Body):
    """Supervise a live call from the supervisor's own phone."""

    mode: Literal["listen", "whisper", "barge"] = Field(
        description="listen: hear the agent and the customer; whisper: also speak to the agent "
                    "only; barge: join the call (everybody hears)")
    endpoint: str | None = Field(
        default=None, max_length=200,
        description="The supervisor's phone (PJSIP/1001...): their configured one or one "
                    "ORCH_AGENT_PHONES admits, as at an agent's login (422 naming `endpoint`); "
                    "default: the supervisor's configured endpoint")


class SupervisionModeRequest(_Body):
    """Switch a supervision's mode on the same phone leg (no new ring)."""

    mode: Literal["listen", "whisper", "barge"]


class CallDataSave(_Body):
    """Save call-associated data of a call the agent handles (first save wins)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    attempt_id: str = Field(min_length=1, max_length=64, description="The call")
    version: int = Field(strict=True, ge=0, le=2**31 - 1,
                         description="The call data's version the client read (GET's "
                                     "`version`); a newer one on the server: 409 with what "
                                     "changed")
    values: dict[str, str] = Field(
        strict=True,
        description="Variable name -> new value (up to 256 characters); only editable "
                    "variables; a masked value sent back as shown is left unchanged")


class CampaignVariable(_Body):
    """One call-data variable of a campaign."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    name: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]{0,31}$",
                      description="Identifier: fills from the contact's custom field of "
                                  "the same name")
    label: str | None = Field(default=None, min_length=1, max_length=64,
                              description="What the desktop shows (default: the name)")
    editable: bool = Field(default=False, strict=True,
                           description="The agent may change it (default: read-only)")
    secure: bool = Field(default=False, strict=True,
                         description="Masked in every payload; agents may still write it")


class CampaignVariables(_Body):
    """A campaign's whole list of call-data variables (it replaces the current one)."""

    variables: list[CampaignVariable] = Field(max_length=100)


_PHONE = ("7 to 15 characters: digits, a leading + with the country code, spaces and - . , "
          "(422 naming `phone` otherwise)")


class CallbackCreate(_Body):
    """A scheduled callback (a personal one when assigned to an agent): a number, a name,
    a date with a start-end window (at least 30 minutes, ending at most 31 days ahead) in
    an IANA zone, a campaign (or a queue whose callbacks a campaign dials), a reason."""

    phone: str = Field(min_length=1, max_length=64, description=_PHONE)
    name: str = Field(min_length=1, max_length=1000, description="3 to 250 characters")
    date: dt.date = Field(description="The window's day (YYYY-MM-DD) in time_zone")
    start_time: dt.time = Field(description="The window's start (HH:MM) in time_zone")
    end_time: dt.time = Field(description="The window's end (HH:MM) in time_zone")
    end_date: dt.date | None = Field(default=None,
                                     description="The end's day when the window spans days")
    time_zone: str = Field(min_length=1, max_length=64, description="IANA zone, e.g. Europe/Paris")
    campaign: str | None = Field(default=None, max_length=200,
                                 description="Campaign name or id (default: the queue's)")
    queue: str | None = Field(default=None, max_length=100,
                              description="Asterisk queue (its campaign dials the callback)")
    reason: str | None = Field(default=None, max_length=1000, description="At most 250 characters")
    notes: str | None = Field(default=None, max_length=4000, description="At most 2000 characters")
    assign_to: Literal["anyone", "me", "agent"] = Field(
        default="anyone", description="anyone of the campaign, the caller, or `agent` (of "
                                      "the caller's team; any agent for a supervisor)")
    agent: str | None = Field(default=None, max_length=64,
                              description="With assign_to agent: the agent's username or id")


class CallbackUpdate(_Body):
    """Change a pending callback before its start time: only the fields given (the window
    from the parts given and the others as they were)."""

    phone: str | None = Field(default=None, min_length=1, max_length=64, description=_PHONE)
    name: str | None = Field(default=None, min_length=1, max_length=1000)
    date: dt.date | None = None
    start_time: dt.time | None = None
    end_time: dt.time | None = None
    end_date: dt.date | None = None
    time_zone: str | None = Field(default=None, min_length=1, max_length=64)
    queue: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=1000)
    notes: str | None = Field(default=None, max_length=4000)
    assign_to: Literal["anyone", "me", "agent"] | None = None
    agent: str | None = Field(default=None, max_length=64)


class WebCallbackCreate(_Body):
    """A website's "call me back" form: the caller's name and number, due at once."""

    name: str = Field(min_length=1, max_length=1000, description="3 to 250 characters")
    phone: str = Field(min_length=1, max_length=64, description=_PHONE)
    reason: str | None = Field(default=None, max_length=1000, description="At most 250 characters")
    campaign: str | None = Field(
        default=None, max_length=200,
        description="Campaign name or id: required for a person's token; a web-callback "
                    "token's own campaign otherwise (another one: 403)")


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    LoginRequest, StateRequest, PreviewActionRequest, DispositionRequest, HangupRequest,
    ConsultBody, TransferBody, CallActionBody,
    CampaignCreate, CampaignUpdate,
    SuperviseRequest, SupervisionModeRequest,
    CallDataSave, CampaignVariable, CampaignVariables,
    CallbackCreate, CallbackUpdate, WebCallbackCreate,
)


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(field path, message) of the first validation error."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return loc, str(err.get("msg", "invalid"))


def campaign_settings(model: BaseModel) -> dict[str, Any]:
    """The extra (setting) fields of a campaign create/update body."""
    return dict(model.model_extra or {})
