"""GET /healthz: 200 when the server can serve, 503 naming the part that cannot."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify
from redis import RedisError

from . import errors, page_headers

bp = Blueprint("health", __name__)
page_headers.init_app(bp)
errors.init_app(bp)


@bp.get("/healthz")
def healthz():
    services = current_app.extensions["wechat_bot"]
    checks = {"redis": "ok"}
    try:
        services.redis.ping()
    except RedisError as error:
        checks["redis"] = f"down: {type(error).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "down", **checks, "encryption": services.settings.encryption}
    return jsonify(body), 200 if healthy else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
