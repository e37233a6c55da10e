"""GET {prefix}/metrics: Prometheus' text format, summed over every process sharing PROMETHEUS_MULTIPROC_DIR (else
this process's), for loopback callers (not a visitor through the ngrok tunnel) or a key of WECHAT_API_KEYS."""
from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, request

from ..token_service.callers import caller_of
from ..web.visitor import is_loopback, visitor_address
from .multiprocess import ENV
from .retired import folder_lock
from .users import UsersCollector

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape():
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    services = current_app.extensions["wechat_bot"]
    if not is_loopback(visitor_address(services.settings, request)) and caller_of(
            request.headers.get("Authorization"), services.settings.api_keys) is None:
        return Response('{"error": "unauthorized"}\n', status=401, content_type="application/json")
    registry = CollectorRegistry()
    if os.environ.get(ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_Process(REGISTRY))
    registry.register(UsersCollector(services.redis, services.settings.account.appid))
    if not os.environ.get(ENV):
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    with folder_lock(os.environ[ENV], shared=True):  # never halfway through a dead process's retirement
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _Process:
    """This process's own metrics (no multiprocess folder): the default registry's, passed through."""

    def __init__(self, source) -> None:
        self._source = source

    def collect(self):
        return self._source.collect()

