"""Authorize links: a fresh state in Redis, WeChat's authorize URL around our callback."""
from __future__ import annotations

from urllib.parse import urlsplit

from ..storage.pending_writes import PendingWrites
from ..wechat_api import WeChatClient
from .state import AuthorizeStates

CALLBACK_PATH = "/oauth/callback"


def safe_next(path: str | None) -> str | None:
    """An in-site path to go to after authorizing, or None: never another origin (no open redirect)."""
    if not path or len(path) > 512 or not path.startswith("/") or path.startswith(("//", "/\\")):
        return None
    if any(ch in path for ch in "\\\r\n\t") or not path.isprintable():
        return None
    parts = urlsplit(path)
    return path if not parts.scheme and not parts.netloc else None


class AuthorizeLinks:
    def __init__(self, client: WeChatClient, states: AuthorizeStates, base_url: str,
                 writes: PendingWrites | None = None, tag: str | None = None) -> None:
        self._client, self._states, self._writes, self._tag = client, states, writes, tag
        self.callback_url = base_url.rstrip("/") + CALLBACK_PATH

    def base(self, openid: str | None = None, next_path: str | None = None) -> str:
        """A silent (snsapi_base) link: the openid only."""
        return self.for_scope("snsapi_base", openid, next_path)

    def userinfo(self, openid: str | None = None, next_path: str | None = None) -> str:
        """A consent (snsapi_userinfo) link: the profile too."""
        return self.for_scope("snsapi_userinfo", openid, next_path)

    def lasting(self, scope: str, next_path: str | None = None) -> str:
        """A link for a menu button: its state does not expire and is not used up."""
        state = self._states.issue_lasting(scope, safe_next(next_path))
        return self._client.authorize_url(self.callback_url, scope, state)

    def for_state(self, scope: str, state: str) -> str:
        """The link of a state issued before (the same flow asked for again)."""
        return self._client.authorize_url(self.callback_url, scope, state)

    def for_scope(self, scope: str, openid: str | None, next_path: str | None, browser: str | None = None) -> str:
        """A link whose state is bound to `openid` (sent in chat) or to `browser` (a flow started on a page)."""
        return self.with_state(scope, openid, next_path, browser)[1]

    def with_state(self, scope: str, openid: str | None, next_path: str | None,
                   browser: str | None = None) -> tuple[str, str]:
        """`for_scope`, and the state it issued (to ask for the same flow again with `for_state`)."""
        state = self._states.issue(scope, openid, safe_next(next_path), self._writes, browser, self._tag)
        return state, self._client.authorize_url(self.callback_url, scope, state)
