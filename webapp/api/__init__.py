"""The JSON API under /api/v1 for monitoring tools: incidents, and Alertmanager's webhook."""

from webapp.api.views import bp

__all__ = ["bp"]
