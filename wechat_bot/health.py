"""GET /healthz: 200 when the server can serve, 503 naming the part that cannot."""
from __future__ import annotations

import time

from flask import Blueprint, Flask, current_app, jsonify
from . import defaults, errors, page_headers
from .redis_connection import ERRORS as REDIS_ERRORS, probe

bp = Blueprint("health", __name__)
page_headers.init_app(bp)
errors.init_app(bp)


@bp.get("/healthz")
def healthz():
    """200 when the server can do what serving needs: write to Redis (by a script, as a push does) and, where
    renewal runs, have swept recently; else 503 naming the part that cannot."""
    services = current_app.extensions["wechat_bot"]
    checks = {"redis": _redis(services.redis), "renewal": _renewal(services)}
    healthy = checks["redis"] == "ok" and not checks["renewal"].startswith("stopped")
    body = {"status": "ok" if healthy else "down", **checks, "encryption": services.settings.encryption}
    return jsonify(body), 200 if healthy else 503


def _redis(redis) -> str:
    problem = probe(redis)
    return f"down: {problem}" if problem else "ok"


def _renewal(services) -> str:
    """This process's renewal thread if it runs one (run.py serve), else any worker's heartbeat in Redis."""
    renewer = current_app.extensions.get("wechat_bot.renewer")
    if renewer is not None:
        last = renewer.last_sweep or renewer.started  # a thread just started has not failed to sweep yet
    else:
        try:
            last = services.tokens.last_beat()
        except REDIS_ERRORS:
            return "unknown: Redis unavailable"
        if last is None:
            return f"no renewal worker seen yet (tokens renew when used; start one: `{worker_command(current_app)}`)"
    if last is None or time.time() - last > defaults.RENEWAL_STALE_AFTER:
        ago = "never" if last is None else f"{time.time() - last:.0f}s ago"
        return f"stopped: the last sweep completed {ago}"
    return "ok"


def worker_command(app: Flask) -> str:
    """How this app's renewal worker is started: the standalone server's command, or the site's flask command."""
    if app.import_name == "wechat_bot.app":
        return "wechat-bot worker"
    return f"flask --app {app.import_name} wechat worker"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
