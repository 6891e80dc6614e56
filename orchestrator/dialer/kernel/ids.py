"""Ids as Asterisk sees them."""


def wire_id(core_id: str) -> str:
    """An ARI-safe id for a core id: no '/', which would change the REST path."""
    return core_id.replace("/", ".")
