"""The domain-verification file (MP_verify_<code>.txt) WeChat asks to fetch before it saves the 网页授权域名 or the
JS接口安全域名: served at the site's root whatever WECHAT_URL_PREFIX, its body the code, from WECHAT_VERIFY_FILE.

Only that one name answers; any other MP_verify_* name is 404, so an old or guessed code proves nothing.
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app

bp = Blueprint("verify_file", __name__)


@bp.get("/MP_verify_<code>.txt")
def verify_file(code: str) -> Response:
    name = current_app.extensions["wechat_bot"].settings.verify_file
    if name != f"MP_verify_{code}.txt":
        abort(404)
    response = Response(code, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-cache"
    return response


def init_app(app: Flask, verify_file_name: str | None) -> None:
    """Mount the route at the root (not under the prefix) when a file is configured; else leave the name alone."""
    if verify_file_name:
        app.register_blueprint(bp)


def code_of(name: str) -> str:
    """The code a verification file answers with: its name between MP_verify_ and .txt (checked by Settings)."""
    return name[len("MP_verify_"):-len(".txt")]
