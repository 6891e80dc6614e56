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

from orchestrator.api import handlers as h
from orchestrator.api import schemas as s
from orchestrator.core.access import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PREVIEW_ACTIONS = ("accept", "skip", "requeue", "delay", "reschedule", "disposition", "remove")
CAMPAIGN_ACTIONS = ("start", "pause", "stop")


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
    ApiRoute("POST", "/api/v1/agents/{agent_id}/disposition", h.disposition,
             "Wrap-up code for a call the agent handled", Role.AGENT, owner="self",
             body=s.DispositionRequest, tag="agents"),
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
    # -- event stream
    ApiRoute("GET", "/api/v1/events", h.events_ws,
             "WebSocket event stream (token in Authorization or ?token=); agents get their "
             "own events, supervisors all", Role.AGENT, tag="events", websocket=True),
)
