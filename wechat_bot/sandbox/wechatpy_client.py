"""wechatpy pointed at the sandbox in one line: every host it names (api.weixin.qq.com for the API and the token,
file.api.weixin.qq.com, mp.weixin.qq.com's showqrcode, open.weixin.qq.com's authorize page) becomes the sandbox."""
from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

T = TypeVar("T")


class ToTheSandbox(HTTPAdapter):
    """A requests adapter sending a call to any host to the sandbox, path and query kept."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__()
        self.sandbox_url = sandbox_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float | None, float | None] | None = None, verify: bool | str = True,
             cert: str | tuple[str, str] | None = None, proxies: dict[str, str] | None = None) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = self.sandbox_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def point_at_sandbox(client: T, sandbox_url: str) -> T:
    """Point a wechatpy `WeChatClient` (token fetching, `qrcode.show` and `qrcode.get_url` included) or
    `WeChatOAuth` (its authorize links too) at the sandbox at `sandbox_url`; the same client, for chaining."""
    base = sandbox_url.rstrip("/")
    adapter = ToTheSandbox(base)
    wechatpy: Any = client  # wechatpy ships no type information
    wechatpy._http.mount("https://", adapter)
    wechatpy._http.mount("http://", adapter)
    if hasattr(wechatpy, "OAUTH_BASE_URL"):
        wechatpy.OAUTH_BASE_URL = base + "/connect/"
    qrcode = getattr(wechatpy, "qrcode", None)
    if qrcode is not None:  # wechatpy calls requests.get itself here, and names mp.weixin.qq.com
        qrcode.get_url = lambda ticket: f"{base}/cgi-bin/showqrcode?ticket={quote(_ticket(ticket), safe='')}"
        qrcode.show = lambda ticket: wechatpy._http.get(base + "/cgi-bin/showqrcode",
                                                        params={"ticket": _ticket(ticket)})
    return client


def _ticket(ticket: str | dict) -> str:
    return ticket["ticket"] if isinstance(ticket, dict) else ticket
