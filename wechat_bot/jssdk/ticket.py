"""The account's jsapi_ticket: fetched with the account token, kept in Redis for every worker and host.

The account token's discipline: one fetcher at a time under a lease, a re-check after taking it, a new ticket
once less than the margin is left. An errcode answer, or one without a ticket, is never kept: that request
fails, and the next one asks again. 40001/42001 mean the account token went stale: it is dropped (if it is still
the one WeChat refused) and fetched again, once, before the ticket is asked for again.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

from .. import defaults
from ..account.token import AccountToken
from ..errors import WeChatError, WeChatUnavailable
from ..logs import logger
from ..metrics.registry import metrics
from ..storage.leases import Leases
from ..wechat_api import WeChatClient

log = logger("wechat_bot.jssdk")

API = "/cgi-bin/ticket/getticket"
KEY = "wechat_bot:jsapi_ticket:"  # + AppID: each account's own (the sandbox's and a real one's may share Redis)
# The last refusal, so processes that waited on the fetcher's lease fail with it instead of asking in turn.
REFUSED = ":refused"  # after the key
LEASE = "jsapi_ticket:"  # + AppID
_POLL = 0.05


@dataclass(frozen=True)
class Ticket:
    ticket: str
    expires_at: float


class JsapiTicket:
    def __init__(self, redis: Redis, client: WeChatClient, account_token: AccountToken, leases: Leases, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self._redis, self._client, self._account, self._leases = redis, client, account_token, leases
        self._clock, self._sleep = clock, sleep
        self.key, self._lease = KEY + client.appid, LEASE + client.appid

    def get(self) -> Ticket:
        """A ticket with at least the renewal margin left; raises WeChatError or WeChatUnavailable when WeChat
        refused one to this request (or to the fetch it waited for)."""
        cached = self._cached()
        if cached:
            return cached
        seen = self._redis.get(self.key + REFUSED)
        deadline = time.monotonic() + defaults.JSAPI_TICKET_LEASE_TTL
        while True:
            owner = self._leases.acquire(self._lease, ttl=defaults.JSAPI_TICKET_LEASE_TTL)
            if owner:
                try:
                    cached = self._cached()
                    if cached:
                        return cached
                    # the fetcher may have written its refusal and let go between our last look and this lease
                    self._refused_since(seen)
                    return self._fetch()
                finally:
                    self._leases.release(self._lease, owner)
            self._sleep(_POLL)
            cached = self._cached()
            if cached:
                return cached
            self._refused_since(seen)
            if time.monotonic() > deadline:
                raise WeChatUnavailable(API, "another process is fetching the ticket")

    def _refused_since(self, seen: bytes | str | None) -> None:
        """Raise the refusal written after `seen`, the one a waiter waited on."""
        refused = self._redis.get(self.key + REFUSED)
        if refused and refused != seen:
            raise _error(json.loads(refused))

    def _cached(self) -> Ticket | None:
        raw = self._redis.get(self.key)
        if not raw:
            return None
        record = json.loads(raw)
        return Ticket(record["ticket"], record["expires_at"]) if self._clock() < record["renew_at"] else None

    def _fetch(self) -> Ticket:
        try:
            ticket = self._keep(self._ask())
        except (WeChatError, WeChatUnavailable) as error:
            metrics().ticket_fetches.labels("refused" if isinstance(error, WeChatError) else "unavailable").inc()
            self._redis.set(self.key + REFUSED, json.dumps(_record(error)),
                            ex=int(defaults.JSAPI_TICKET_LEASE_TTL) + 5)
            raise
        metrics().ticket_fetches.labels("ok").inc()
        return ticket

    def _ask(self) -> dict:
        return self._account.call(self._client.jsapi_ticket)

    def _keep(self, answer: dict) -> Ticket:
        ticket = answer.get("ticket")
        lifetime = answer.get("expires_in", 7200)
        if not isinstance(ticket, str) or not ticket.strip():
            raise WeChatUnavailable(API, "an answer without a ticket")
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
            raise WeChatUnavailable(API, "an answer without a usable expires_in")
        now = self._clock()
        # a ticket that comes with less than twice the margin is used for half its life, not asked for on every page
        renew_at = now + max(lifetime - defaults.JSAPI_TICKET_MARGIN, lifetime / 2)
        self._redis.set(self.key, json.dumps({"ticket": ticket, "expires_at": now + lifetime, "renew_at": renew_at}),
                        ex=lifetime)
        log.info("jsapi_ticket fetched; it lasts %ds", lifetime)
        return Ticket(ticket, now + lifetime)


def _record(error: WeChatError | WeChatUnavailable) -> dict:
    if isinstance(error, WeChatError):
        return {"id": secrets.token_hex(8), "errcode": error.errcode, "errmsg": error.errmsg, "api": error.api}
    return {"id": secrets.token_hex(8), "reason": error.reason, "api": error.api}


def _error(record: dict) -> WeChatError | WeChatUnavailable:
    if "errcode" in record:
        return WeChatError(record["errcode"], record["errmsg"], record["api"])
    return WeChatUnavailable(record["api"], record["reason"])
