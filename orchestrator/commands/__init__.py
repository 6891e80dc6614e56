"""CLI command modules; each exposes `register(subparsers)`.

Everything the CLI prints that came from a file, the database or the command line (a
contact's name, a CSV cell quoted in an error, a campaign name, a DNC reason...) goes
through terminal_safe(): a crafted CSV must not be able to move the cursor, recolour or
clear the terminal, or reorder what is shown. Text output is printed with echo() (one
line) or echo_lines() (the CLI's own lines); JSON output is left to json.dumps, which
escapes control characters itself.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TextIO

_NOT_C0 = (
    "\x7f-\x9f"  # DEL, C1 (0x9b is a CSI like ESC [)
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates (cannot be encoded for the terminal)
)
_UNSAFE = re.compile(f"[\x00-\x1f{_NOT_C0}]")  # C0: ESC, CR, LF, TAB, BEL, BS...
_UNSAFE_IN_JSON = re.compile(f"[{_NOT_C0}]")  # json.dumps escapes C0 in strings itself
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(value: object) -> str:
    """`value` as text that is safe to print on a terminal, on one line: control
    characters (C0, DEL, C1), bidi controls and line separators are shown escaped, as
    \\x1b, \\u202e, \\n, \\r, \\t; every other character (letters of any script, emoji) is
    kept. Backslashes are kept as they are, so escaping twice changes nothing."""
    text = value if isinstance(value, str) else str(value)
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def json_text(value: Any, **dumps_args: Any) -> str:
    """json.dumps(value, **dumps_args), also safe on a terminal: json.dumps escapes C0
    characters itself, and here DEL, C1 and bidi controls (which it writes as they are
    when ensure_ascii is False) become \\u escapes too; it is the same JSON value."""
    text = json.dumps(value, **dumps_args)
    if _UNSAFE_IN_JSON.search(text) is None:
        return text
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(line: object = "", *, file: TextIO | None = None) -> None:
    """Print one line of output, escaped with terminal_safe (line breaks too)."""
    print(terminal_safe(line), file=file if file is not None else sys.stdout)


def echo_lines(text: str, *, file: TextIO | None = None) -> None:
    """Print text made of the CLI's own lines: the line breaks are kept, everything else
    is escaped with terminal_safe (values in it should have been escaped already, so that
    a line break in a value shows as \\n instead of starting a line)."""
    for line in text.split("\n"):
        echo(line, file=file)


class CliError(Exception):
    """A user-facing error: printed without a traceback; exit status 2 unless set.

    The message is escaped with terminal_safe: it often quotes a value from a file or
    the database."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(terminal_safe(message))
        self.status = status
