"""WeChat's web-authorization API: the authorize URL, code exchange, refresh, userinfo, token check.

Every call has a timeout and is retried with backoff on -1, 5xx, timeouts and connection errors within a
time budget (a caller may cap the attempts, and be asked before each retry); any other errcode raises WeChatError
at once, and an untrusted certificate WeChatUntrusted, unretried. Attempts are logged at debug level only: the
caller logs the one line a failure deserves. Errors never carry a URL: the code exchange's
query holds the AppSecret.
"""
from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from . import defaults
from .errors import WeChatError, WeChatUnavailable, WeChatUntrusted, errcode_label
from .logs import logger
from .metrics.registry import metrics

log = logger("wechat_bot.wechat_api")

SCOPES = ("snsapi_base", "snsapi_userinfo")


class WeChatClient:
    def __init__(
        self,
        api_base: str,
        open_base: str,
        appid: str,
        secret: str,
        *,
        session: requests.Session | None = None,
        timeout: float | None = None,
        budget: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_base, self.open_base, self.appid, self._secret = api_base, open_base, appid, secret
        self._session = session or _session_for(api_base)
        self._connections = 10  # what requests keeps open to a host unless told otherwise
        self._timeout = timeout if timeout is not None else defaults.WECHAT_TIMEOUT
        self._budget = budget if budget is not None else defaults.WECHAT_RETRY_BUDGET
        self._sleep = sleep

    def reserve_connections(self, count: int) -> None:
        """Keep up to `count` connections to WeChat open, for as many threads calling at once: past the pool's
        size, each call would open and close a connection of its own (a TLS handshake each time)."""
        if count > self._connections:
            _keep_open(self._session, count)
            self._connections = count

    def authorize_url(self, redirect_uri: str, scope: str, state: str) -> str:
        """The authorize link, parameters in the order WeChat's link check insists on."""
        return self._authorize_url(self.open_base, redirect_uri, scope, state)

    def _authorize_url(self, open_base: str, redirect_uri: str, scope: str, state: str) -> str:
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        return (f"{open_base}/connect/oauth2/authorize?appid={self.appid}"
                f"&redirect_uri={_quoted(redirect_uri)}&response_type=code&scope={scope}"
                f"&state={state}&connect_redirect=1#wechat_redirect")

    def exchange_code(self, code: str) -> dict[str, Any]:
        return self._get("/sns/oauth2/access_token", appid=self.appid, secret=self._secret, code=code,
                         grant_type="authorization_code")

    def refresh(self, refresh_token: str, *, attempts: int | None = None, timeout: float | None = None,
                before_retry: Callable[[], None] | None = None) -> dict[str, Any]:
        """A user's new access_token; at most `attempts` calls, each waiting `timeout`, `before_retry` called
        before each call after the first (a rate to honour: it may wait, or raise to stop)."""
        return self._call("GET", "/sns/oauth2/refresh_token", params=dict(
            appid=self.appid, grant_type="refresh_token", refresh_token=refresh_token),
            attempts=attempts, timeout=timeout, before_retry=before_retry)

    def userinfo(self, access_token: str, openid: str, lang: str = "zh_CN") -> dict[str, Any]:
        return self._get("/sns/userinfo", access_token=access_token, openid=openid, lang=lang)

    def check(self, access_token: str, openid: str) -> bool:
        """True when WeChat still accepts this user access_token."""
        try:
            self._get("/sns/auth", access_token=access_token, openid=openid)
        except WeChatError:
            return False
        return True

    def stable_token(self, force_refresh: bool = False) -> dict[str, Any]:
        """The account's global access_token (stable_token: repeated calls return the live one)."""
        return self._call("POST", "/cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": self.appid, "secret": self._secret,
            "force_refresh": force_refresh})

    def jsapi_ticket(self, access_token: str) -> dict[str, Any]:
        """The JS-SDK's jsapi_ticket, fetched with the account's global access_token."""
        return self._get("/cgi-bin/ticket/getticket", access_token=access_token, type="jsapi")

    def send_custom_message(self, access_token: str, message: dict[str, Any]) -> dict[str, Any]:
        """A customer-service message (within the user's interaction window)."""
        return self._post_json("/cgi-bin/message/custom/send", access_token, message)

    def create_qrcode(self, access_token: str, scene: str, expire_seconds: int) -> dict[str, Any]:
        """A temporary QR code whose scan pushes `scene` (QR_STR_SCENE): its ticket and url (what the code holds)."""
        return self._post_json("/cgi-bin/qrcode/create", access_token, {
            "expire_seconds": expire_seconds, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}}})

    def create_menu(self, access_token: str, menu: dict[str, Any]) -> dict[str, Any]:
        return self._post_json("/cgi-bin/menu/create", access_token, menu)

    def get_menu(self, access_token: str) -> dict[str, Any]:
        return self._get("/cgi-bin/menu/get", access_token=access_token)

    def _post_json(self, api: str, access_token: str, body: dict[str, Any]) -> dict[str, Any]:
        """Chinese as UTF-8, not \\u escapes: WeChat shows escapes literally in menus and messages."""
        return self._call("POST", api, params={"access_token": access_token},
                          data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                          headers={"Content-Type": "application/json"})

    def _get(self, api: str, **params: str) -> dict[str, Any]:
        return self._call("GET", api, params=params)

    def _call(self, method: str, api: str, *, attempts: int | None = None, timeout: float | None = None,
              before_retry: Callable[[], None] | None = None, **request: Any) -> dict[str, Any]:
        started, pause, attempt = time.monotonic(), defaults.WECHAT_RETRY_FIRST, 0
        timeout = timeout if timeout is not None else self._timeout
        while True:
            attempt += 1
            if attempt > 1 and before_retry is not None:
                before_retry()
            try:
                answer = read_answer(self._session.request(method, self.api_base + api, timeout=timeout,
                                                           **request), api)
                metrics().wechat_calls.labels(api, "0").inc()
                return answer
            except WeChatError as error:
                metrics().wechat_calls.labels(api, errcode_label(error.errcode)).inc()
                if error.errcode != -1:
                    raise
                reason = "system busy (-1)"
            except _Transient as error:
                reason = str(error)
            except requests.exceptions.SSLError:
                metrics().wechat_calls.labels(api, "-3").inc()
                raise WeChatUntrusted(api, "its TLS certificate is not trusted (REQUESTS_CA_BUNDLE?)") from None
            except requests.RequestException as error:
                reason = type(error).__name__
            pause = pause * (1 + random.random())
            if reason != "system busy (-1)":
                metrics().wechat_calls.labels(api, "-2").inc()
            if attempt == attempts or attempts is None and time.monotonic() - started + pause + timeout > self._budget:
                raise WeChatUnavailable(api, f"{reason} ({attempt} attempt{'s' if attempt > 1 else ''})")
            log.debug("WeChat %s attempt %d failed (%s); retrying in %.2fs", api, attempt, reason, pause)
            self._sleep(pause)


def pooled_session(api_base: str, connections: int) -> requests.Session:
    """`_session_for`, keeping up to `connections` connections to WeChat open."""
    session = _session_for(api_base)
    _keep_open(session, connections)
    return session


def _keep_open(session: requests.Session, connections: int) -> None:
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=connections)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def _session_for(api_base: str) -> requests.Session:
    """A session that reads the environment's proxy and CA settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE…)
    once, here: left to trust the environment, requests walks all of it, and looks for ~/.netrc, on every call,
    a fifth of a renewal's CPU."""
    session = requests.Session()
    found = session.merge_environment_settings(api_base, {}, None, None, None)
    session.trust_env = False
    session.proxies, session.verify = found["proxies"], found["verify"]
    return session


class _Transient(Exception):
    """An HTTP-level failure worth another attempt (5xx)."""


def read_answer(response: requests.Response, api: str) -> dict[str, Any]:
    """The one reader of WeChat's answers: JSON whatever the Content-Type, UTF-8 whatever the charset."""
    if response.status_code >= 500:
        raise _Transient(f"HTTP {response.status_code}")
    try:
        body = json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WeChatUnavailable(api, f"HTTP {response.status_code} with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise WeChatUnavailable(api, "a JSON answer that is not an object")
    errcode = body.get("errcode", 0)
    if errcode not in (0, None):
        raise WeChatError(int(errcode), str(body.get("errmsg", "")), api)
    return body


@functools.lru_cache(maxsize=64)  # a few callback URLs (one an origin); bounded, as a Host header picks them
def _quoted(redirect_uri: str) -> str:
    return quote(redirect_uri, safe="")
