"""GET and POST /wechat through Flask: the handshake, and pushes when the site has request hooks (else a push is
answered before Flask's dispatch, by endpoint/receive.py)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import errors
from ..errors import BadPush
from ..logs import logger
from ..web.public_url import app_base
from . import receive as push_path
from .signature import verify_query

if TYPE_CHECKING:
    from ..services import Services

bp = Blueprint("endpoint", __name__)  # answers WeChat's servers, not browsers: no page headers
errors.init_app(bp)
log = logger("wechat_bot.push")


def _services() -> Services:
    return current_app.extensions["wechat_bot"]


@bp.get("/wechat")
def handshake() -> Response:
    """The admin panel's URL check: echostr back, verbatim, when the signature holds."""
    settings = _services().settings
    verify_query(request.args, settings.account.token, settings.timestamp_tolerance, time.time())
    echostr = request.args.get("echostr")
    if not echostr:
        raise BadPush(400, "echostr is missing")
    log.info("handshake answered")
    return Response(echostr, mimetype="text/plain")


@bp.post("/wechat")
def receive() -> Response:
    """A push, when the site's own request hooks must see it (PushReceiver passes it on to Flask then)."""
    received = time.monotonic()
    services = _services()
    try:
        answer = push_path.receive(services, request.args, lambda limit: push_path.read_body(request.environ, limit),
                                   lambda: app_base(services.settings, request), received)
    except push_path.BodyTooLarge:
        raise RequestEntityTooLarge() from None
    response = Response(answer.body, content_type=push_path.content_type(answer.body))
    if answer.after is not None:
        response.call_on_close(answer.after)
    return response
