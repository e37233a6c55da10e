"""The parts one app works with, built once by the extension's init_app and kept in app.extensions."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import requests
from redis import Redis

from . import defaults
from .account.client import AccountClient, AccountClients
from .account.token import AccountToken
from .config import Settings
from .endpoint.cs_quota import CustomerServiceQuota
from .endpoint.envelope import PushCrypto
from .endpoint.late_replies import LateReplies
from .endpoint.responder import Responder
from .handlers import Context, Router
from .handlers.default import router as default_router
from .jssdk.ticket import JsapiTicket
from .logs import logger
from .oauth.callback import CODE, CallbackFlow
from .oauth.links import AuthorizeLinks
from .oauth.results import ResultTickets
from .oauth.state import AuthorizeStates
from .oauth.tokens import TokenStore
from .qr_login.handlers import router as qr_router
from .renewal.worker import Renewer
from .storage import connection as redis_connection
from .storage.keyspace import account_prefix
from .storage.leases import Leases
from .storage.migration import adopt_legacy_keys
from .storage.once import OnceCache
from .storage.pending_writes import PendingWrites
from .storage.replica_acks import ReplicaAcks
from .web.rate_limit import RateLimit
from .wechat_api import WeChatClient, pooled_session

log = logger("wechat_bot")
PUSH = "push:"  # + a push's identity, under the account's prefix


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: Redis
    crypto: PushCrypto | None
    responder: Responder
    client: WeChatClient
    states: AuthorizeStates
    tokens: TokenStore
    results: ResultTickets
    callback: CallbackFlow
    account_token: AccountToken
    jsapi_ticket: JsapiTicket
    sandboxed: bool = False  # the app serves its own sandbox WeChat (no credentials, run by hand)
    redis_problem: str | None = None  # what was wrong with Redis when the app started (None: it took a write)
    account_clients: AccountClients | None = None
    acks: ReplicaAcks | None = None  # confirms by a replica the writes a failover must not lose

    def warn_if_redis_was_down(self) -> None:
        """One line for whoever starts a server by hand (flask run, serve) on a Redis it cannot use."""
        if self.redis_problem:
            log.warning("Redis (%s) cannot be used now: %s; pages answer 503 and pushes the busy reply until it is "
                        "back", redis_connection.describe(self.settings), self.redis_problem)

    @classmethod
    def build(cls, settings: Settings, *, redis: Redis | None = None, router: Router | None = None,
              deadline: float = defaults.REPLY_DEADLINE,
              client: Callable[[Redis], WeChatClient] | None = None,
              api_session: Callable[[], requests.Session] | None = None) -> Services:
        """Wire the parts; `router`'s handlers answer first, the default ones after them. `client` makes the
        WeChat client (the sandbox's own, for an app that serves the sandbox); `api_session` the requests session
        `wechat.client` calls WeChat with."""
        redis = redis_connection.bytes_client(redis) if redis is not None else redis_connection.connect(settings)
        routes = Router()
        routes.include(qr_router)  # scans of our sign-in codes, before the site's own subscribe handlers
        if router is not None:
            routes.include(router)
        routes.include(default_router)
        account = settings.account  # set by now: checked at start-up, or the sandbox's own
        appid = account.appid
        keys = [key for key in (settings.aes_key, settings.aes_key_previous) if key]
        crypto = PushCrypto(account.token, appid, keys) if keys else None
        prefix = account_prefix(appid)
        acks = ReplicaAcks(redis, appid)
        replies = OnceCache(redis, prefix + PUSH, ttl=max(defaults.REPLY_CACHE_TTL, 2 * settings.timestamp_tolerance),
                            acks=acks)
        sandboxed = client is not None
        wechat = client(redis) if client is not None else WeChatClient(
            settings.api_base, settings.open_base, appid, account.secret)
        unreachable = redis_connection.probe(redis, appid)
        legacy = not unreachable and adopt_legacy_keys(redis, appid, may_claim=not sandboxed or not settings.redis_url)
        states, results = AuthorizeStates(redis, appid), ResultTickets(redis, appid)
        tokens = TokenStore(redis, appid, legacy=legacy, acks=acks)
        codes = OnceCache(redis, prefix + CODE, ttl=defaults.CALLBACK_RESULT_TTL,
                          pending_ttl=int(defaults.WECHAT_RETRY_BUDGET) + 5)
        callback = CallbackFlow(wechat, states, tokens, codes, results)
        leases = Leases(redis, appid)
        account_token = AccountToken(redis, wechat, leases)
        jsapi_ticket = JsapiTicket(redis, wechat, account_token, leases)
        late = LateReplies(wechat, account_token, CustomerServiceQuota(redis, appid))
        responder = Responder(routes, replies, crypto, late=late, deadline=deadline)
        clients = AccountClients(lambda: AccountClient(
            account_token, appid, account.secret, lambda: wechat.api_base,
            # connections for as many handler threads as call WeChat at once
            session=api_session() if api_session else pooled_session(settings.api_base, defaults.HANDLER_THREADS)))
        return cls(settings, redis, crypto, responder, wechat, states, tokens, results, callback, account_token,
                   jsapi_ticket, sandboxed=sandboxed, redis_problem=unreachable, account_clients=clients, acks=acks)

    def account_client(self) -> AccountClient:
        """This process's wechatpy client on the account token (`wechat.client`, `ctx.client`)."""
        if self.account_clients is None:  # a Services not made by build()
            raise AttributeError("Services.account_clients: not set (Services.build sets it)")
        return self.account_clients.get()

    def login_limit(self) -> RateLimit:
        """The per-client limit on authorize flows started from web pages."""
        return RateLimit(self.redis, self.settings.account.appid, "login")

    def renewer(self, **options) -> Renewer:
        """A renewal worker over this app's Redis and WeChat client, at the configured rate and concurrency."""
        options = {"rate": self.settings.renewal_rate, "concurrency": self.settings.renewal_concurrency, **options}
        return Renewer(self.tokens, self.client, Leases(self.redis, self.settings.account.appid), **options)

    def links(self, base_url: str, writes: PendingWrites | None = None, tag: str | None = None) -> AuthorizeLinks:
        """Authorize links whose callback is on `base_url` (the public origin of this request)."""
        return AuthorizeLinks(self.client, self.states, base_url, writes, tag)

    def context(self, base_url: str, tag: str | None = None) -> Context:
        """A push's context: its links' states are written with its reply, in the same round trip and, with the
        push's `tag`, in its cluster slot."""
        writes = PendingWrites()
        return Context(self.settings, self.redis, self.links(base_url, writes, tag), writes, self)


