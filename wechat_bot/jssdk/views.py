"""GET /jssdk/config (wx.config's JSON for a page) and GET /jssdk/wx.js (the script that calls wx.config).

Every failure is JSON a page's script can show: 400 for a request to fix (a page on another origin), 502 when
WeChat refused the ticket, 503 when WeChat or Redis did not answer; never a traceback, never a secret.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from redis import RedisError
from redis.exceptions import RedisClusterException
from werkzeug.exceptions import HTTPException

from .. import page_headers
from ..errors import BadSigningRequest, WeChatError, WeChatUnavailable
from ..logs import logger
from .page import jssdk_config

bp = Blueprint("jssdk", __name__)
page_headers.init_app(bp)
log = logger("wechat_bot.jssdk")

STATIC = Path(__file__).resolve().parent / "static"
SCRIPT_MAX_AGE = 300  # a new wx.js reaches pages within minutes of an upgrade


@bp.get("/jssdk/config")
def config() -> Response:
    url = request.args.get("url")
    if not url:
        raise BadSigningRequest("url: required, the page's location.href.split('#')[0]")
    body = jssdk_config(current_app.extensions["wechat_bot"], url, request.args.get("apis"),
                        request.args.get("open_tags"), request.args.get("debug") in ("1", "true"))
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"  # a fresh timestamp and nonce each time, and the live ticket
    return response


@bp.get("/jssdk/wx.js")
def script() -> Response:
    return send_from_directory(STATIC, "wx.js", mimetype="text/javascript", max_age=SCRIPT_MAX_AGE)


def _answer(status: int, error: str, **extra) -> tuple[Response, int]:
    response = jsonify(error=error, **extra)
    response.headers["Cache-Control"] = "no-store"
    return response, status


@bp.errorhandler(BadSigningRequest)
def _bad_request(error: BadSigningRequest):
    log.info("jssdk signature refused: %s", error)
    return _answer(400, str(error))


@bp.errorhandler(WeChatError)
def _refused(error: WeChatError):
    log.warning("jssdk: WeChat refused the jsapi_ticket: %d %s", error.errcode, error.errmsg)
    return _answer(502, f"WeChat refused the jsapi_ticket: {error.errcode} {error.errmsg}", errcode=error.errcode)


@bp.errorhandler(WeChatUnavailable)
def _unavailable(error: WeChatUnavailable):
    log.warning("jssdk: no jsapi_ticket: %s", error)
    return _answer(503, f"WeChat did not give a jsapi_ticket: {error.reason}")


@bp.errorhandler(RedisError)
@bp.errorhandler(RedisClusterException)
def _redis_down(error: Exception):
    log.error("jssdk: Redis unavailable: %s", type(error).__name__)
    return _answer(503, "Redis unavailable: try again shortly")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return _answer(error.code or 500, f"{error.code} {error.name}")


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    log.exception("jssdk: unexpected error: %s", type(error).__name__)
    return _answer(500, "internal error")
