"""GET /healthz: 200 when the server can serve, 503 naming the part that cannot."""
from __future__ import annotations

import time

from flask import Blueprint, Flask, current_app, jsonify

from . import defaults, errors, page_headers
from .renewal.circuit import CircuitState, RenewalCircuit
from .renewal.failing_users import FailingUsers
from .storage.connection import ERRORS as REDIS_ERRORS
from .storage.connection import explain, probe
from .storage.replica_acks import ReplicaAcks

bp = Blueprint("health", __name__)
page_headers.init_app(bp)
errors.init_app(bp)


@bp.get("/healthz")
def healthz():
    """200 when the server can do what serving needs: write to Redis (by a script, as a push does) and, where
    renewal runs, have swept recently, keep up (no due user waiting past the margin since first due, when tokens
    expire before they are renewed) and reach WeChat (not every renewal failing for a minute, no error that no
    retry heals); else 503 naming the part that cannot."""
    services = current_app.extensions["wechat_bot"]
    redis = _redis(services.redis, services.settings.account.appid, services.acks)
    backlog, lag = _backlog(services) if redis == "ok" else (None, None)
    circuit, failing_users = _circuit(services) if redis == "ok" else (None, None)
    renewal, failing = _renewal(services, lag, circuit)
    healthy = redis == "ok" and not failing
    body = {"status": "ok" if healthy else "down", "redis": redis, "renewal": renewal, "renewal_backlog": backlog,
            "renewal_lag_s": lag, "renewal_failures": circuit.failures if circuit else None,
            "renewal_last_error": circuit.last_error or None if circuit else None,
            "renewal_failing_users": failing_users,
            "encryption": services.settings.encryption}
    return jsonify(body), 200 if healthy else 503


def _redis(redis, appid: str, acks: ReplicaAcks | None) -> str:
    """ok when Redis takes a write by a script and, when the master has replicas, one of them confirms it."""
    problem = probe(redis, appid)
    if problem is None and acks is not None:
        try:
            problem = acks.isolated()
        except REDIS_ERRORS as error:
            problem = explain(error)
    return f"down: {problem}" if problem else "ok"


def _backlog(services) -> tuple[int | None, int | None]:
    """Users due and not yet renewed, and how long the oldest has waited (whole seconds)."""
    try:
        backlog, lag = services.tokens.backlog(time.time())
    except REDIS_ERRORS:
        return None, None
    return backlog, int(lag)


def _circuit(services) -> tuple[CircuitState | None, int | None]:
    """How renewal's calls to WeChat go, and how many users' renewals failed and are being retried."""
    try:
        appid = services.settings.account.appid
        return RenewalCircuit(services.redis, appid).state(), FailingUsers(services.redis, appid).failing()
    except REDIS_ERRORS:
        return None, None


def _renewal(services, lag: int | None, circuit: CircuitState | None) -> tuple[str, bool]:
    """What renewal's state is, and whether that is a failure: stopped by an error no retry heals; every
    renewal failing for a minute; behind, when the oldest due user has waited past the margin (its access_token
    ended first); else this process's renewal thread if it runs one (run.py serve), or any worker's heartbeat."""
    state = _sweeps(services)
    calls, failing = circuit.health(time.time()) if circuit else ("ok", False)
    if state.startswith("stopped"):
        return state, True
    if failing or calls.startswith("stopped"):
        return calls, True
    if lag is not None and lag > defaults.RENEWAL_MARGIN:
        return (f"behind: a due user has waited {lag}s since first due, past the {defaults.RENEWAL_MARGIN}s margin: "
                f"access_tokens expire before they are renewed" + ("" if state == "ok" else f" ({state})")), True
    return (calls if calls != "ok" else state), False


def _sweeps(services) -> str:
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
