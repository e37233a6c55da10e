"""The page being signed: its URL on the public origin (the one redirect_uri is built on), and wx.config for it."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import has_request_context, request, url_for

from .. import defaults
from ..errors import BadSigningRequest
from ..web.public_url import origin_is_trusted, public_base_url
from . import signing

if TYPE_CHECKING:
    from ..services import Services


def jssdk_config(services: Services, url: str | None = None, apis: str | Iterable[str] | None = (),
                 open_tags: str | Iterable[str] | None = (), debug: bool = False) -> dict[str, Any]:
    """wx.config's dict for `url` (by default the current request's page, on the public origin)."""
    settings = services.settings
    origin = public_base_url(settings, request) if has_request_context() else settings.public_base_url
    if has_request_context() and not origin_is_trusted(settings, request):
        raise BadSigningRequest("url: this site's public origin is not known (set PUBLIC_BASE_URL, or TRUSTED_PROXIES "
                                "behind a proxy), so only pages on this machine are signed")
    if url is None:
        if not has_request_context():
            raise BadSigningRequest("url: outside a request there is no current page; pass the page's URL")
        url = public_base_url(settings, request) + sent_path(request.environ)  # the origin above
    page = signing.page_url(url, origin)
    chosen, tags = signing.names(apis, "apis"), signing.names(open_tags, "open_tags")
    return signing.wx_config(settings.account.appid, services.jsapi_ticket.get().ticket, page, chosen, tags, debug)


def sent_path(environ: dict) -> str:
    """The path and query as the browser sent them: the request line's target when the server kept it (gunicorn's
    RAW_URI, werkzeug's REQUEST_URI), else the decoded path quoted again as browsers quote it."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if raw.startswith("/") and raw.isascii():
        return raw
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1")
    query = environ.get("QUERY_STRING", "")
    return quote(path, safe="/!$&'()*+,;=:@~-._") + (f"?{query}" if query else "")


def script_url(services: Services) -> str:
    """WeChat's jweixin, or in sandbox mode the sandbox's stand-in (which checks signatures as WeChat does)."""
    if services.sandboxed:
        return url_for("sandbox_jssdk.jweixin")
    return defaults.JWEIXIN_URL

