"""Ids as Asterisk sees them."""


def ascii_int(text: str | None) -> int | None:
    """A number written in ASCII digits, else None (``str.isdigit()`` alone admits '²',
    which ``int()`` refuses, and '٣', which it reads as 3)."""
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


def wire_id(core_id: str) -> str:
    """An ARI-safe id for a core id: no '/', which would change the REST path."""
    return core_id.replace("/", ".")
