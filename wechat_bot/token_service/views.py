"""The token service's routes (`Authorization: Bearer KEY`, only when WECHAT_API_KEYS is set): one log line a call,
naming the caller, never the key or a token; 401 for no key or a wrong one and nothing more; a limit per caller."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from .. import defaults
from ..account.token import ForcesSpent
from ..errors import WeChatError, WeChatUnavailable
from ..json_body import request_json
from ..logs import loggable, logger
from ..metrics.registry import metrics
from ..oauth.credentials import ReauthRequired, UnknownUser, user_credentials
from ..storage.connection import ERRORS as REDIS_ERRORS
from ..web.rate_limit import RateLimit
from .callers import caller_of

bp = Blueprint("token_service", __name__)
log = logger("wechat_bot.token_service")


def _services():
    return current_app.extensions["wechat_bot"]


@bp.before_request
def authenticate():
    services = _services()
    g.caller = caller_of(request.headers.get("Authorization"), services.settings.api_keys)
    if g.caller is None:
        return _json(401, error="unauthorized")
    try:
        allowed = RateLimit(services.redis, services.settings.account.appid, "api",
                            limit=defaults.TOKEN_SERVICE_RATE_LIMIT,
                            window=defaults.TOKEN_SERVICE_RATE_WINDOW).allow_key(g.caller)
    except REDIS_ERRORS:
        return _json(503, error="Redis unavailable")
    if not allowed:
        return _json(429, error=f"more than {defaults.TOKEN_SERVICE_RATE_LIMIT} calls a minute from this caller")
    return None


@bp.after_request
def log_call(response: Response) -> Response:
    log.info("token service: caller=%s %s %s -> %d", getattr(g, "caller", None) or "-", request.method,
             loggable(request.path, 120), response.status_code)
    response.headers["Cache-Control"] = "no-store"
    metrics().token_service_calls.labels(getattr(g, "caller", None) or "-", str(response.status_code)).inc()
    return response


@bp.errorhandler(WeChatError)
def wechat_refused(error: WeChatError):
    return _json(502, error=f"WeChat refused: {error.errcode}", errcode=error.errcode)


@bp.errorhandler(WeChatUnavailable)
def wechat_unavailable(error: WeChatUnavailable):
    return _json(503, error="WeChat unavailable, try again")


def redis_down(error: Exception):
    return _json(503, error="Redis unavailable")


for _error in REDIS_ERRORS:
    bp.register_error_handler(_error, redis_down)


@bp.get("/api/account-token")
def account_token():
    """The one account token every worker and host uses."""
    token, expires_at = _services().account_token.current()
    return jsonify(access_token=token, expires_at=int(expires_at))


@bp.post("/api/account-token/invalid")
def account_token_invalid():
    """WeChat said 40001/42001 to the caller: renewed once, however many callers report the same token."""
    body = request_json(request)
    reported = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(reported, str) or not reported:
        return _json(400, error='the body must be JSON {"access_token": "<the token WeChat refused>"}')
    services, caller = _services(), g.caller
    forces = RateLimit(services.redis, services.settings.account.appid, "forced",
                       limit=defaults.TOKEN_SERVICE_FORCES_PER_CALLER, window=24 * 3600)  # a UTC day
    try:
        token, expires_at = services.account_token.renew_if_current(reported, lambda: forces.allow_key(caller))
    except ForcesSpent:
        log.warning("token service: caller=%s reported the account token past its %d forced renewals today: kept",
                    caller, defaults.TOKEN_SERVICE_FORCES_PER_CALLER)
        return _json(429, error=f"this caller has caused {defaults.TOKEN_SERVICE_FORCES_PER_CALLER} forced renewals "
                     "today (WeChat allows the account 20): the token is kept; check the caller uses the newest one")
    return jsonify(access_token=token, expires_at=int(expires_at))


@bp.get("/api/jsapi-ticket")
def jsapi_ticket():
    ticket = _services().jsapi_ticket.get()
    return jsonify(ticket=ticket.ticket, expires_at=int(ticket.expires_at))


@bp.get("/api/users/<openid>/token")
def user_token(openid: str):
    """A valid user access_token (renewed on the spot under the renewal lease), 409 with a link, or 404."""
    try:
        credentials = user_credentials(_services(), openid, return_here=False)  # the user lands on the result page
        token = credentials.access_token
    except UnknownUser:
        return _json(404, error="no tokens stored for this openid")
    except ReauthRequired as needed:
        return _json(409, reauth_required=True, authorize_url=needed.authorize_url)
    return jsonify(access_token=token, expires_at=credentials.expires_at, scope=credentials.scope)


@bp.route("/api/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    """Any other path or method under /api, after the key check: JSON, as the rest of the service answers."""
    return _json(404, error="no such call: see the README's token service")


def _json(status: int, **body) -> tuple[Response, int]:
    return jsonify(body), status
