"""The previews domain: a claimed target shown to one agent before any dial."""

from orchestrator.dialer.previews.host import PreviewsHost
from orchestrator.dialer.previews.offers import Preview, PreviewService

__all__ = ["Preview", "PreviewService", "PreviewsHost"]
