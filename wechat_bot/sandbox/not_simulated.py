"""Every path under WeChat's API that the sandbox does not simulate: WeChat's shape (HTTP 200, JSON with an
errcode), never an HTML 404, so a client such as wechatpy reports an errcode instead of failing to parse a page.
Specific routes win over this one (Werkzeug ranks a rule with converters below one without)."""
from __future__ import annotations

import json
import secrets

from flask import Response

from .api import answer, bp

API_ROOTS = ("cgi-bin", "sns", "datacube", "customservice", "card", "merchant", "semantic", "wxa", "wxaapi",
             "scan", "shakearound", "bizwifi", "device", "marketing", "tcb", "channels", "product", "media")


@bp.route(f"/<any({', '.join(json.dumps(root) for root in API_ROOTS)}):root>/<path:rest>",
          methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def not_simulated(root: str, rest: str) -> Response:
    return unsimulated(f"/{root}/{rest}")


def unsimulated(what: str) -> Response:
    """48001, as WeChat answers an API the account may not call, with what the sandbox does not simulate named."""
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return answer({"errcode": 48001, "errmsg": f"api unauthorized: the sandbox does not simulate {what} "
                                               f"(see the README's sandbox section) rid: {rid}"})
