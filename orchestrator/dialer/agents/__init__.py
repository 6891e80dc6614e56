"""The agents domain: logged-in agents' sessions and which agent takes which call."""

from orchestrator.dialer.agents.host import AgentsHost
from orchestrator.dialer.agents.sessions import AgentSession, AgentSessions

__all__ = ["AgentSession", "AgentSessions", "AgentsHost"]
