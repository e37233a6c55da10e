"""GET and POST /wechat: parse, verify, route, reply."""
from __future__ import annotations

import time

from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import defaults, errors
from ..errors import BadPush
from ..logs import loggable, logger
from ..oauth.public_url import app_base
from .push import open_push
from .signature import verify_query

if TYPE_CHECKING:
    from ..services import Services

bp = Blueprint("endpoint", __name__)  # answers WeChat's servers, not browsers: no page headers
errors.init_app(bp)
log = logger("wechat_bot.push")


def _services() -> "Services":
    return current_app.extensions["wechat_bot"]


@bp.get("/wechat")
def handshake() -> Response:
    """The admin panel's URL check: echostr back, verbatim, when the signature holds."""
    settings = _services().settings
    verify_query(request.args, settings.token, settings.timestamp_tolerance, time.time())
    echostr = request.args.get("echostr")
    if not echostr:
        raise BadPush(400, "echostr is missing")
    log.info("handshake answered")
    return Response(echostr, mimetype="text/plain")


@bp.post("/wechat")
def receive() -> Response:
    received = time.monotonic()
    services = _services()
    settings = services.settings
    query = verify_query(request.args, settings.token, settings.timestamp_tolerance, time.time())
    if settings.refuses_plaintext and not query.encrypted:
        raise BadPush(403, "plaintext push refused: WECHAT_ENCRYPTION is safe, so WeChat encrypts every push")
    push = open_push(_read_body(defaults.MAX_PUSH_BYTES), query, services.crypto)
    answer = services.responder.respond(push, received,
                                        services.context(app_base(settings, request), push.query.digest))
    log.info("push type=%s openid=%s handler=%s outcome=%s ms=%.1f", push.kind, loggable(push.msg.source),
             answer.handler, answer.outcome, (time.monotonic() - received) * 1000)
    mimetype = "application/xml" if answer.body.startswith(b"<") else "text/plain"
    return Response(answer.body, mimetype=mimetype)


def _read_body(limit: int) -> bytes:
    """The request body, 413 above `limit` bytes, whether it came with a Content-Length or chunked."""
    if request.content_length is not None:
        request.max_content_length = limit  # for this route only: a site's own limits stay the site's
        return request.get_data(cache=False)  # Flask refuses a declared length over the limit
    stream, body = request.input_stream, b""
    while len(body) <= limit:
        chunk = stream.read(limit + 1 - len(body))
        if not chunk:
            return body
        body += chunk
    raise RequestEntityTooLarge()
