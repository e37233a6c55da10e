"""A user's credentials for the site's own code: an access_token that is always valid, or ReauthRequired.

    creds = wechat.user(openid)
    creds.userinfo()          # WeChat's profile, decoded right (WeChat serves JSON as text/plain)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import has_request_context, request

from ..errors import WeChatBotError
from ..web.public_url import app_base, discover_tunnel
from .tokens import TokenRecord

if TYPE_CHECKING:
    from ..services import Services


class UnknownUser(WeChatBotError, LookupError):
    """No tokens are stored for this openid: the user never authorized (or was revoked)."""


class ReauthRequired(WeChatBotError):
    """The user's refresh_token has run out: only the user can fix it, by authorizing again at `authorize_url`
    (None when no public origin is known: outside a request, with neither PUBLIC_BASE_URL nor a tunnel)."""

    def __init__(self, openid: str, authorize_url: str | None) -> None:
        super().__init__(f"{openid} must authorize again")
        self.openid, self.authorize_url = openid, authorize_url


class UserCredentials:
    """One user's tokens; `access_token` is renewed on the spot (under the renewal worker's lease) when expired."""

    def __init__(self, services: Services, record: TokenRecord, *, return_here: bool = True) -> None:
        self._services, self._record, self._return_here = services, record, return_here

    @property
    def openid(self) -> str:
        """The user's openid."""
        return self._record.openid

    @property
    def scope(self) -> str:
        """The scope the user's tokens were granted (`snsapi_base` or `snsapi_userinfo`)."""
        return self._record.scope

    @property
    def expires_at(self) -> int:
        """When the access_token last handed out expires (Unix seconds)."""
        return self._record.access_token_expires_at

    @property
    def refresh_token_expires_at(self) -> int:
        """When the refresh_token runs out (Unix seconds): then only the user can authorize again."""
        return self._record.refresh_token_expires_at

    @property
    def access_token(self) -> str:
        """A valid access_token; ReauthRequired when the refresh_token has run out."""
        token = self._services.renewer().valid_access_token(self.openid)
        record = self._services.tokens.get(self.openid)
        if token is None or record is None:
            raise ReauthRequired(self.openid, _authorize_url(self._services, self._record, self._return_here))
        self._record = record
        return token

    def userinfo(self, lang: str = "zh_CN") -> dict[str, Any]:
        """/sns/userinfo with a valid token (needs snsapi_userinfo; WeChat answers 48001 for a base token)."""
        return self._services.client.userinfo(self.access_token, self.openid, lang)

    def check(self) -> bool:
        """True when WeChat still accepts the access_token (/sns/auth)."""
        return self._services.client.check(self.access_token, self.openid)

    def __repr__(self) -> str:
        return f"UserCredentials(openid={self.openid!r}, scope={self.scope!r}, expires_at={self.expires_at})"


def user_credentials(services: Services, openid: str, *, return_here: bool = True) -> UserCredentials:
    """`return_here`: a fresh authorize link brings the user back to the page being served (False: to the result
    page, when the request is another system's, not a page the user opened)."""
    record = services.tokens.get(openid)
    if record is None:
        raise UnknownUser(f"no tokens stored for {openid}")
    return UserCredentials(services, record, return_here=return_here)


def _authorize_url(services: Services, record: TokenRecord, return_here: bool) -> str | None:
    settings = services.settings
    scope = "snsapi_userinfo" if record.has_scope("snsapi_userinfo") else "snsapi_base"
    if has_request_context():
        base = app_base(settings, request)
        next_path = request.script_root + request.full_path.rstrip("?") if return_here else None
    else:
        origin = settings.public_base_url or discover_tunnel(settings.ngrok_api_url, 5000)
        if origin is None:
            return None
        base, next_path = origin + settings.url_prefix, None
    return services.links(base).for_scope(scope, record.openid, next_path)
