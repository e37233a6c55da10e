"""What a handler may use besides the message: settings, the shared Redis, authorize links, the account's API
(`ctx.client`) and the users' credentials (`ctx.user(openid)`)."""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis import Redis

from ..config import Settings
from ..oauth.links import AuthorizeLinks
from ..storage.pending_writes import PendingWrites

if TYPE_CHECKING:
    from ..account.client import AccountClient
    from ..oauth.credentials import UserCredentials

handling: ContextVar[Context | None] = ContextVar("wechat_bot_handling", default=None)  # the push a handler answers


@dataclass(frozen=True)
class Context:
    settings: Settings
    redis: Redis
    links: AuthorizeLinks
    writes: PendingWrites  # Redis writes that go out with this push's reply
    services: Any = field(default=None, repr=False)  # the app's parts

    @property
    def client(self) -> AccountClient:
        """wechatpy's WeChatClient on the account token every process shares (template, menu, media, user…)."""
        return self.services.account_client()

    def user(self, openid: str) -> UserCredentials:
        """The user's credentials (as `wechat.user`); raises UnknownUser when nothing is stored for `openid`."""
        from ..oauth.credentials import user_credentials

        return user_credentials(self.services, openid)
