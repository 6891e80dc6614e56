"""The route table: one list drives the aiohttp router, the authorization middleware,
the OpenAPI document and the authorization tests.

Each `ApiRoute` names the least role allowed (`role`, None: public) and how object
rights are checked on top (`owner`):

* ``None``: the role is enough.
* ``"self_or_supervisor"``: the ``{agent_id}`` in the path must be the caller's own, or
  the caller is a supervisor or admin (log out an agent, force not ready, watch it).
* ``"self"``: only the agent itself (preview actions, hang-up, disposition: nobody
  else works an agent's calls).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from orchestrator.api import call_data_handlers as cd
from orchestrator.api import callback_handlers as cb
from orchestrator.api import handlers as h
from orchestrator.api import schemas as s
from orchestrator.api import supervision_handlers as sv
from orchestrator.core.access import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PREVIEW_ACTIONS = ("accept", "skip", "requeue", "delay", "reschedule", "disposition", "remove")
CAMPAIGN_ACTIONS = ("start", "pause", "stop")
CALL_ACTIONS = ("switch", "cancel-consult", "conference", "leave", "remove-party",
                "pause-recording", "resume-recording")


@dataclass(frozen=True)
class ApiRoute:
    """One HTTP route and its rights."""

    method: str
    path: str
    handler: Handler
    summary: str
    role: Role | None
    """Least role allowed; None for a public route."""
    owner: str | None = None
    """None, "self" or "self_or_supervisor" (see the module docstring)."""
    body: type[BaseModel] | None = None
    """Request body model (JSON), if any."""
    tag: str = "dialer"
    websocket: bool = False
    public_reason: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


ROUTES: tuple[ApiRoute, ...] = (
    # -- public
    ApiRoute("GET", "/healthz", h.healthz, "Liveness and readiness (database, ARI socket)", None,
             tag="system", public_reason="probes run without credentials"),
    ApiRoute("GET", "/metrics", h.metrics, "Prometheus metrics", None, tag="system",
             public_reason="Prometheus scrapes without credentials; no personal data"),
    ApiRoute("GET", "/openapi.json", h.openapi, "This OpenAPI document", None, tag="system",
             public_reason="the API description is public"),
    ApiRoute("GET", "/agent", h.agent_page, "The agent desktop (web page)", None, tag="pages",
             public_reason="a static page; it asks for the token itself"),
    ApiRoute("GET", "/supervisor", h.supervisor_page, "The supervisor dashboard (web page)", None,
             tag="pages", public_reason="a static page; it asks for the token itself"),
    # -- who am I
    ApiRoute("GET", "/api/v1/me", h.me, "The caller's identity and role", Role.AGENT, tag="auth"),
    # -- agents
    ApiRoute("GET", "/api/v1/agents", h.list_sessions, "Logged-in agents and their states",
             Role.SUPERVISOR, tag="agents"),
    ApiRoute("GET", "/api/v1/agents/{agent_id}/session", h.get_session,
             "An agent's session: state, campaign, current call or preview, wrap-up codes",
             Role.AGENT, owner="self_or_supervisor", tag="agents"),
    ApiRoute("GET", "/api/v1/agents/{agent_id}/campaigns", h.agent_campaigns,
             "Campaigns the agent may log in to (through its teams, or open to all)",
             Role.AGENT, owner="self_or_supervisor", tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/session", h.login,
             "Log in to a campaign with a phone", Role.AGENT, owner="self_or_supervisor",
             body=s.LoginRequest, tag="agents"),
    ApiRoute("DELETE", "/api/v1/agents/{agent_id}/session", h.logout,
             "Log out (deferred to the end of a call in progress)", Role.AGENT,
             owner="self_or_supervisor", tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/state", h.set_state,
             "Become available, or not ready with a reason", Role.AGENT,
             owner="self_or_supervisor", body=s.StateRequest, tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/preview/{action}", h.preview_action,
             "Act on the contact shown in preview: " + ", ".join(PREVIEW_ACTIONS), Role.AGENT,
             owner="self", body=s.PreviewActionRequest, tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/hangup", h.hangup,
             "End (or cancel) the agent's current call", Role.AGENT, owner="self",
             body=s.HangupRequest, tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/hold", h.hold,
             "Put the customer of the current call on hold (music on hold)", Role.AGENT,
             owner="self", body=s.HangupRequest, tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/unhold", h.unhold,
             "Resume the customer on hold", Role.AGENT, owner="self", body=s.HangupRequest,
             tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/consult", h.consult,
             "Consult an agent, a queue, a number or an entry point (the customer is held)",
             Role.AGENT, owner="self", body=s.ConsultBody, tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/transfer", h.transfer,
             "Transfer the customer: complete the consultation, or blind with kind and target",
             Role.AGENT, owner="self", body=s.TransferBody, tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/call/{action}", h.call_action,
             "Act on the call under control: " + ", ".join(CALL_ACTIONS), Role.AGENT,
             owner="self", body=s.CallActionBody, tag="agents"),
    ApiRoute("POST", "/api/v1/agents/{agent_id}/disposition", h.disposition,
             "Wrap-up code for a call the agent handled", Role.AGENT, owner="self",
             body=s.DispositionRequest, tag="agents"),
    # -- call data
    ApiRoute("GET", "/api/v1/agents/{agent_id}/call-data", cd.get_call_data,
             "Call-associated data of the agent's current call (or ?attempt_id= of a call it "
             "handled; supervisors: any call): variables, values, version; secure values and, "
             "when the campaign masks, numbers masked", Role.AGENT, owner="self_or_supervisor",
             tag="call data"),
    ApiRoute("PUT", "/api/v1/agents/{agent_id}/call-data", cd.save_call_data,
             "Save editable variables of a call the agent handles, from the version read (the "
             "first save wins: 409 with what changed since)", Role.AGENT, owner="self",
             body=s.CallDataSave, tag="call data"),
    ApiRoute("GET", "/api/v1/campaigns/{campaign}/variables", cd.get_campaign_variables,
             "A campaign's call-data variables", Role.SUPERVISOR, tag="call data"),
    ApiRoute("PUT", "/api/v1/campaigns/{campaign}/variables", cd.put_campaign_variables,
             "Replace a campaign's call-data variables (name, label, editable, secure)",
             Role.ADMIN, body=s.CampaignVariables, tag="call data"),
    # -- campaigns
    ApiRoute("GET", "/api/v1/campaigns", h.list_campaigns, "All campaigns", Role.SUPERVISOR,
             tag="campaigns"),
    ApiRoute("POST", "/api/v1/campaigns", h.create_campaign, "Create a campaign (status draft)",
             Role.ADMIN, body=s.CampaignCreate, tag="campaigns"),
    ApiRoute("GET", "/api/v1/campaigns/{campaign}", h.get_campaign, "One campaign's settings",
             Role.SUPERVISOR, tag="campaigns"),
    ApiRoute("PATCH", "/api/v1/campaigns/{campaign}", h.update_campaign,
             "Change a campaign's settings", Role.ADMIN, body=s.CampaignUpdate, tag="campaigns"),
    ApiRoute("POST", "/api/v1/campaigns/{campaign}/{action}", h.campaign_action,
             "Start, pause or stop a campaign", Role.SUPERVISOR, tag="campaigns"),
    ApiRoute("GET", "/api/v1/campaigns/{campaign}/stats", h.campaign_stats,
             "Live statistics of one campaign", Role.SUPERVISOR, tag="stats"),
    ApiRoute("GET", "/api/v1/stats", h.live_stats,
             "Live statistics: campaigns, agents by state, calls in progress", Role.SUPERVISOR,
             tag="stats"),
    ApiRoute("GET", "/api/v1/calls", h.live_calls,
             "Calls in progress (numbers masked when the campaign masks them)",
             Role.SUPERVISOR, tag="stats"),
    # -- supervision
    ApiRoute("POST", "/api/v1/calls/{attempt_id}/supervise", sv.supervise,
             "Listen, whisper or barge into a call bridged to its agent, from the supervisor's "
             "own phone (rung first); not into a call in wrap-up", Role.SUPERVISOR,
             body=s.SuperviseRequest, tag="supervision"),
    ApiRoute("GET", "/api/v1/supervisions", sv.list_supervisions,
             "The caller's supervisions in progress", Role.SUPERVISOR, tag="supervision"),
    ApiRoute("PATCH", "/api/v1/supervisions/{supervision_id}", sv.change_supervision,
             "Switch a supervision's mode (the phone is not rung again)", Role.SUPERVISOR,
             body=s.SupervisionModeRequest, tag="supervision"),
    ApiRoute("DELETE", "/api/v1/supervisions/{supervision_id}", sv.end_supervision,
             "End a supervision (the caller's own; an admin's may end anyone's)",
             Role.SUPERVISOR, tag="supervision"),
    # -- callbacks
    ApiRoute("GET", "/api/v1/callbacks", cb.list_callbacks,
             "Callbacks (?campaign=, ?status=all, open or pending,dialing..., ?kind=, ?queue=, "
             "?mine=1, ?limit=): an agent's campaigns', or all for a supervisor; open first, "
             "each with why it waits (waiting_reason)", Role.AGENT, tag="callbacks"),
    ApiRoute("POST", "/api/v1/callbacks", cb.create_callback,
             "Schedule a callback: number, name, a date with a start-end window in an IANA "
             "zone, a campaign or queue, a reason; assigned to anyone, me, or an agent of my "
             "team (personal)", Role.AGENT, body=s.CallbackCreate, tag="callbacks"),
    ApiRoute("GET", "/api/v1/callbacks/{callback_id}", cb.get_callback, "One callback",
             Role.AGENT, tag="callbacks"),
    ApiRoute("PATCH", "/api/v1/callbacks/{callback_id}", cb.update_callback,
             "Edit a pending callback before its start time", Role.AGENT,
             body=s.CallbackUpdate, tag="callbacks"),
    ApiRoute("DELETE", "/api/v1/callbacks/{callback_id}", cb.delete_callback,
             "Delete a pending callback (until its start; a supervisor also after), logged "
             "as deleted", Role.AGENT, tag="callbacks"),
    ApiRoute("POST", "/api/v1/web-callbacks", cb.create_web_callback,
             "A website's call-me-back request (name and number), due at once; a web-callback "
             "token may do this only, for its campaign, rate limited (429 with Retry-After)",
             Role.WEB_CALLBACK, body=s.WebCallbackCreate, tag="callbacks"),
    # -- event stream
    ApiRoute("GET", "/api/v1/events", h.events_ws,
             "WebSocket event stream (token in Authorization or ?token=); agents get their "
             "own events, supervisors all", Role.AGENT, tag="events", websocket=True),
)
