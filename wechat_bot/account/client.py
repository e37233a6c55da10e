"""`wechat.client` and `ctx.client`: wechatpy's WeChatClient, every API of it, on the account token we keep.

The token is the one `AccountToken` holds (stable_token under the lease, shared by every process and host): this
client never fetches one itself, so no `cgi-bin/token` call leaves the process. Its calls go to WECHAT_API_BASE (the
sandbox when sandboxed). When WeChat calls the token stale (40001/42001), it is reported through the same
compare-and-renew the token service uses, and the call is made once more with the new one.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from .. import defaults
from ..logs import logger
from .token import STALE_TOKEN, AccountToken

log = logger("wechat_bot.wechat_api")

WECHAT_API_ORIGIN = "https://api.weixin.qq.com"


class AccountClient(WeChatClient):
    """wechatpy's client whose access token is the account token every process shares."""

    def __init__(self, account_token: AccountToken, appid: str, secret: str, api_base: Callable[[], str], *,
                 session: requests.Session | None = None, timeout: float = defaults.WECHAT_TIMEOUT) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self._account_token, self._api_base = account_token, api_base
        if session is not None:
            self._http = session

    @property
    def access_token(self) -> str:
        return self._account_token.get()

    def fetch_access_token(self) -> dict[str, Any]:
        """The kept account token in wechatpy's shape (never a call to cgi-bin/token)."""
        token, expires_at = self._account_token.current()
        return {"access_token": token, "expires_in": max(int(expires_at - time.time()), 0)}

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        base = kwargs.pop("api_base_url", self.API_BASE_URL)
        url = url_or_endpoint if url_or_endpoint.startswith(("http://", "https://")) else base + url_or_endpoint
        url = self._on_our_api(url)
        params = kwargs.pop("params", None)
        if params is not None and not isinstance(params, dict):
            return super()._request(method, url, params=params, **kwargs)
        params = dict(params or {})
        token = params.get("access_token") or self.access_token
        try:
            return super()._request(method, url, params={**params, "access_token": token}, **kwargs)
        except WeChatClientException as error:
            if error.errcode not in STALE_TOKEN:
                raise
            log.warning("WeChat refused the account token (%d) on %s; renewing it once", error.errcode,
                        url.split("?", 1)[0].replace(self._api_base(), ""))
            fresh, _ = self._account_token.renew_if_current(token)
            _rewind(kwargs.get("files"))
            return super()._request(method, url, params={**params, "access_token": fresh}, **kwargs)

    def _on_our_api(self, url: str) -> str:
        base = self._api_base().rstrip("/")
        if base != WECHAT_API_ORIGIN and url.startswith(WECHAT_API_ORIGIN + "/"):
            return base + url[len(WECHAT_API_ORIGIN):]
        return url


def _rewind(files: Any) -> None:
    """Files of an upload, read by the first attempt, from their start again for the second."""
    for value in (files or {}).values() if isinstance(files, dict) else ():
        stream = value[1] if isinstance(value, tuple) and len(value) > 1 else value
        if hasattr(stream, "seek"):
            stream.seek(0)


class AccountClients:
    """One AccountClient per process for one app, made on first use (a forked worker makes its own: a
    connection pool is not shared across a fork); safe to ask from any thread or greenlet."""

    def __init__(self, make: Callable[[], AccountClient]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._client: AccountClient | None = None
        self._pid = 0

    def get(self) -> AccountClient:
        client, pid = self._client, os.getpid()
        if client is not None and self._pid == pid:
            return client
        with self._lock:
            if self._client is None or self._pid != pid:
                self._client, self._pid = self._make(), pid
            return self._client
