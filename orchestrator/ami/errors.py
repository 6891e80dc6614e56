"""AMI errors."""

from __future__ import annotations


class AmiError(Exception):
    """Base of AMI errors."""


class AmiHeaderError(AmiError, ValueError):
    """An action header is malformed (CR/LF in a name or value, empty or ':' in a name).

    Checked before anything is sent: a CR or LF would let a value inject headers or a
    whole second action into the manager stream.
    """


class AmiRefused(AmiError):
    """The action is not allowed over AMI here (Originate: use ARI; panoramisk may resend it)."""


class AmiNotConnected(AmiError):
    """No logged-in AMI connection right now; the action was not sent."""


class AmiDisconnected(AmiError):
    """The connection dropped while the action was in flight.

    It may or may not have been executed by Asterisk; it is never resent.
    """


class AmiActionTimeout(AmiError, TimeoutError):
    """No answer within the action timeout; the action is forgotten, never resent."""


class AmiActionFailed(AmiError):
    """Asterisk answered ``Response: Error``."""

    def __init__(self, action: str, message: str) -> None:
        self.action = action
        self.message = message
        super().__init__(f"AMI {action} failed: {message}")


class AmiAuthError(AmiError):
    """Login refused."""


class AmiShuttingDown(AmiError):
    """Asterisk refuses every action, Login included, while it shuts down gracefully
    (manager.c: "Asterisk is shutting down"): not a credentials problem, so retried."""
