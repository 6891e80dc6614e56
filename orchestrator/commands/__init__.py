"""CLI command modules; each exposes `register(subparsers)`."""


class CliError(Exception):
    """A user-facing error: printed without a traceback; exit status 2 unless set."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status
