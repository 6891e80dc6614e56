"""Errors the dialer service raises to its callers (the HTTP API maps them to statuses)."""

from __future__ import annotations


class DialerError(Exception):
    """A refused request. ``status`` is the HTTP status the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


class NotFound(DialerError):
    """No such agent session, campaign, attempt or preview."""

    status = 404
    code = "not_found"


class Conflict(DialerError):
    """The object is not in a state that allows the request (e.g. no preview shown)."""

    status = 409
    code = "conflict"


class Invalid(DialerError):
    """A field's value is not acceptable; ``field`` names it."""

    status = 422
    code = "invalid"


class Forbidden(DialerError):
    """The caller may not act on this object (e.g. another agent's call)."""

    status = 403
    code = "forbidden"


class Unavailable(DialerError):
    """The service cannot do it now (Asterisk unreachable, shutting down)."""

    status = 503
    code = "unavailable"


def refusal(exc: Exception) -> str:
    """What an API caller is told of a refused request: the machine's rule in words
    (``why`` of AgentStateError / CallControlError), not the internal event names."""
    why = getattr(exc, "why", None)
    return why if isinstance(why, str) and why else str(exc)
