"""The public origin links are built on: PUBLIC_BASE_URL when set, else the host the request came to."""
from __future__ import annotations

from flask import Request

from ..config import Settings


def public_base_url(settings: Settings, request: Request) -> str:
    return settings.public_base_url or request.host_url.rstrip("/")
