"""Structured logging (structlog): one JSON object per line, phone numbers masked, secrets dropped.

`configure_logging()` is called once by `orchestrator run` (and by tests that want it).
Two processors run on every event, before rendering:

* `drop_secrets`: a key that names a secret (password, secret, token, authorization,
  cookie, ...) is replaced by ``"***"``; a `pydantic.SecretStr` value is never
  unwrapped; credentials inside URLs (``postgresql://u:pw@h``) are cut out.
* `mask_phone_numbers`: every phone number in a string value (E.164 ``+15551234567``,
  a bare run of 7-15 digits, ``Local/15551234567@ctx``) keeps only its last 4 digits:
  ``***4567``. Keys that always hold a number (``e164``, ``number``, ``phone`` ...) are
  masked whatever their shape.

The stdlib ``logging`` records of libraries (aiohttp, psycopg, panoramisk) go through
the same processors, so no library can print a number or a password either.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

__all__ = ["configure_logging", "drop_secrets", "mask_phone", "mask_phone_numbers", "mask_text"]

_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|authori[sz]ation|cookie|api[_-]?key|credential|dsn|database_url)",
    re.IGNORECASE,
)
_PHONE_KEY = re.compile(r"^(e164|number|phone|phone_number|msisdn|caller_id|callerid|dialstring|"
                        r"connected_number|caller_number|to|from)$", re.IGNORECASE)

# A phone number: an optional '+', then 7-15 digits, possibly grouped by single spaces,
# dots or dashes; not glued to letters or other digits (so UUIDs, hex ids and ISO dates
# survive: a date has only 8 digits split 4-2-2 and is excluded by the grouping rule below).
_E164 = re.compile(r"(?<![\w+])\+\d{7,15}(?!\w)")
_BARE_DIGITS = re.compile(r"(?<![\w.:-])\d{7,15}(?![\w.:-]|;\d)")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@",
                              re.IGNORECASE)
_KV_SECRET = re.compile(r"(?P<k>\b(?:password|secret|token)=)(?P<v>[^\s&]+)", re.IGNORECASE)


def mask_phone(value: str) -> str:
    """``"+15551234567"`` -> ``"***4567"``: keep only the last 4 digits of a number."""
    digits = [c for c in value if c.isdigit()]
    return "***" + "".join(digits[-4:])


def mask_text(text: str) -> str:
    """Mask every phone number and every URL or ``key=value`` credential inside ``text``."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _KV_SECRET.sub(lambda m: m["k"] + "***", text)
    text = _E164.sub(lambda m: mask_phone(m.group(0)), text)
    text = _BARE_DIGITS.sub(lambda m: mask_phone(m.group(0)), text)
    return text


def _scrub(key: str | None, value: Any, depth: int = 0) -> Any:
    if isinstance(value, SecretStr):
        return "***"
    if key is not None and _SECRET_KEY.search(key):
        return "***" if value not in (None, "") else value
    if isinstance(value, str):
        if key is not None and _PHONE_KEY.match(key) and any(c.isdigit() for c in value):
            return mask_phone(value)
        return mask_text(value)
    if depth >= 4:
        return value
    if isinstance(value, Mapping):
        return {k: _scrub(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(None, v, depth + 1) for v in value]
    return value


def drop_secrets(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: hide values of secret-named keys and of SecretStr fields."""
    for key in list(event_dict):
        value = event_dict[key]
        if isinstance(value, SecretStr) or (_SECRET_KEY.search(key) and value not in (None, "")):
            event_dict[key] = "***"
    return event_dict


def mask_phone_numbers(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers (and URL credentials) in every value."""
    for key in list(event_dict):
        if key in ("timestamp", "level", "logger"):
            continue
        event_dict[key] = _scrub(key if key != "event" else None, event_dict[key])
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.format_exc_info,
        drop_secrets,
        mask_phone_numbers,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str | int = "INFO", *, json: bool = True, stream: Any = None) -> None:
    """Route structlog and stdlib logging through the masking processors to ``stream`` (stderr).

    ``json=False`` renders human-readable lines (still masked) for a terminal.
    """
    if isinstance(level, str):
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            raise ValueError(f"log level: unknown level {level!r}")
        level = numeric
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    shared = _shared_processors()
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared[1:]],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log prints request lines (paths may carry ids); keep it at warning.
    logging.getLogger("aiohttp.access").setLevel(max(level, logging.WARNING))
