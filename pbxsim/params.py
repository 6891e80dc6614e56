"""ARI request parameters as the engine reads them (query and JSON body already merged)."""

from __future__ import annotations

from typing import Any


def int_or(v: Any, default: int | None) -> int | None:
    if v is None or v == "":
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def split_args(v: Any) -> list[str]:
    """`appArgs`: a comma-separated string or a JSON list."""
    if v is None or v == "":
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    return str(v).split(",")
