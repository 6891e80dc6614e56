"""Typed errors for ARI REST calls.

Every non-2xx answer from Asterisk becomes one of these, carrying the HTTP status,
the method and path (never the credentials) and Asterisk's own message
(``{"message": ...}`` or, for the 500 "Allocation failed", ``{"error": ...}``).
"""

from __future__ import annotations


class AriError(Exception):
    """Base of every ARI client error."""


class AriConnectionError(AriError):
    """Asterisk could not be reached (refused, reset, timed out) for a REST call."""


class AriNotConnected(AriError):
    """An operation that needs the application's WebSocket was attempted while it is down.

    Asterisk answers an originate into an app with no WebSocket with 200, lets the
    customer answer, then drops the call (traces README, surprise 14).
    """


class AriHTTPError(AriError):
    """Asterisk answered with an error status.

    Attributes:
        status: the HTTP status code.
        method: HTTP method of the request.
        path: request path below the ARI base URL (no query string, no credentials).
        message: Asterisk's message, or a short excerpt of a non-JSON body.
    """

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        super().__init__(f"{method} {path} -> {status}: {message}")


class AriBadRequest(AriHTTPError):
    """400: bad parameters; also an unknown channel in ``addChannel`` (surprise 19)."""


class AriUnauthorized(AriHTTPError):
    """401: wrong or missing credentials. Not retried."""


class AriNotFound(AriHTTPError):
    """404: no such channel, bridge, recording, playback or application."""


class AriConflict(AriHTTPError):
    """409: conflicting state (channel not in Stasis, id already in use, already recording).

    A 409 alone does not prove a duplicate id: on a keep-alive connection that saw a
    genuine id clash, Asterisk reports *every* later allocation failure as 409
    (surprise 15). ``duplicate_confirmed`` is True only when the client checked that
    an object with the requested id really exists, False when it checked and found
    none, None when no check was made.
    """

    def __init__(
        self,
        status: int,
        method: str,
        path: str,
        message: str,
        duplicate_confirmed: bool | None = None,
    ) -> None:
        super().__init__(status, method, path, message)
        self.duplicate_confirmed = duplicate_confirmed


class AriChannelExists(AriConflict):
    """409 on originate/create, and a channel with the requested id does exist.

    This is the signal that a retried originate was refused and not doubled.
    """


class AriUnprocessable(AriHTTPError):
    """422: the channel is not in Stasis (the ``;2`` half, a channel still ringing)."""


class AriServerError(AriHTTPError):
    """5xx: e.g. 500 "Allocation failed" for an endpoint that cannot be dialled."""


_BY_STATUS: dict[int, type[AriHTTPError]] = {
    400: AriBadRequest,
    401: AriUnauthorized,
    403: AriUnauthorized,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}


def error_for_status(status: int, method: str, path: str, message: str) -> AriHTTPError:
    """Build the typed error for an HTTP error status."""
    if status >= 500:
        return AriServerError(status, method, path, message)
    cls = _BY_STATUS.get(status, AriHTTPError)
    return cls(status, method, path, message)
