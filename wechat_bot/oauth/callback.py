"""The callback's work: state checked, code exchanged once, tokens and profile stored, a result ticket made.

Every way it can fail ends in CallbackRefused with a kind the page table in views.py knows; nothing a
user can retry is lost on the way (a state is put back, a code claim released, when WeChat was the problem).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import WeChatBotError, WeChatError, WeChatUnavailable
from ..logs import loggable, logger
from ..storage.once import OnceCache
from ..wechat_api import WeChatClient
from .results import ResultTickets
from .state import AuthorizeStates, StateRecord, well_formed
from .tokens import ACTIVE, TokenRecord, TokenStore

log = logger("wechat_bot.oauth")

CODE = "oauth:code:"  # + the code's digest, under the account's prefix


class CallbackRefused(WeChatBotError):
    """The callback ends on an explanatory page: `kind` picks it, `status` is its HTTP status; `errcode` is WeChat's
    when it refused the code (40029 invalid, 40163 already used)."""

    def __init__(self, kind: str, status: int, errcode: int | None = None) -> None:
        super().__init__(kind)
        self.kind, self.status, self.errcode = kind, status, errcode


@dataclass(frozen=True)
class Completed:
    ticket: str
    openid: str
    scope: str
    next_path: str | None
    first: bool  # False for WeChat's second call with the same code
    record: TokenRecord | None = None
    signs_in: bool = False  # the flow was started in this very browser, so the browser may be signed in


class CallbackFlow:
    def __init__(self, client: WeChatClient, states: AuthorizeStates, tokens: TokenStore, codes: OnceCache,
                 results: ResultTickets, *, clock: Callable[[], float] = time.time) -> None:
        self.client, self.states, self.tokens, self.codes, self.results = client, states, tokens, codes, results
        self._clock = clock

    def complete(self, code: str | None, state: str | None, until: float, browser: str | None = None) -> Completed:
        """`until` is the monotonic time a repeat call stops waiting for the first one; `browser` is the digest
        of the calling browser's id, if it has one."""
        if not well_formed(state):
            raise CallbackRefused("state", 400)
        if not code:
            self.states.consume(state)
            raise CallbackRefused("denied", 200)
        if len(code) > 512:
            raise CallbackRefused("code", 400)
        key = hashlib.sha256(code.encode()).hexdigest()
        came_with = hashlib.sha256(state.encode()).hexdigest()[:32]
        claim = self.codes.claim(key)
        if not claim.mine:
            kept = claim.body or self.codes.wait(key, until)
            if kept is None:
                raise CallbackRefused("busy", 503)
            first_state, _, ticket = kept.decode().partition(":")
            if first_state != came_with:  # a used code replayed with another state: its result is not theirs
                log.warning("callback refused: a used code came back with another state")
                raise CallbackRefused("state", 400)
            return self._repeat(ticket, browser)
        try:
            done = self._first(code, state, browser)
        except BaseException:
            self.codes.release(key)
            raise
        self.codes.store(key, f"{came_with}:{done.ticket}".encode())
        return done

    def _kept_consent(self, record: TokenRecord) -> TokenRecord | None:
        """A silent snsapi_base authorize (a base page, the QR sign-in's confirm on the phone) does not replace the
        user's active snsapi_userinfo tokens: they stay, with their profile, and the user is signed in with them."""
        if record.has_scope("snsapi_userinfo"):
            return None
        kept = self.tokens.get(record.openid)
        if kept is None or not kept.has_scope("snsapi_userinfo") or \
                kept.reported_status(self._clock()) != ACTIVE:  # within its last days: the new 30 days serve better
            return None
        log.info("kept the stored snsapi_userinfo tokens of %s: a snsapi_base authorize does not replace them",
                 loggable(record.openid))
        return kept

    def _repeat(self, ticket: str, browser: str | None) -> Completed:
        result = self.results.load(ticket)
        if result is None:
            raise CallbackRefused("state", 400)
        log.info("callback repeated with a used code: answered with the first call's result")
        bound = result.get("browser")
        return Completed(ticket, result["openid"], result["scope"], result.get("next"), first=False,
                         signs_in=bool(bound) and bound == browser)

    def _first(self, code: str, state: str, browser: str | None) -> Completed:
        link = self.states.consume(state)
        if link is None:
            raise CallbackRefused("state", 400)
        if link.browser and link.browser != browser:
            log.warning("callback refused: a login started in another browser (login CSRF?); nobody signed in")
            raise CallbackRefused("other_browser", 400)
        answer = self._exchange(code, state, link)
        if answer.get("is_snapshotuser") == 1:
            log.info("snapshot-page user (virtual openid) not stored; they must tap 使用完整服务")
            raise CallbackRefused("snapshot", 200)
        record = TokenRecord.from_exchange(answer, self._clock())
        if record.has_scope("snsapi_userinfo"):
            record = self._with_profile(record)
        kept = self._kept_consent(record)
        if kept is None:
            self.tokens.save(record)
        record = kept or record
        if link.openid and link.openid != record.openid:
            log.info("authorize link sent to %s was opened by %s: stored the visitor's own tokens",
                     loggable(link.openid), loggable(record.openid))
        result = {"openid": record.openid, "scope": record.scope, "nickname": record.nickname,
                  "headimgurl": record.headimgurl, "next": link.next, "browser": link.browser}
        ticket = self.results.save(result)
        log.info("authorized openid=%s scope=%s", loggable(record.openid), loggable(record.scope))
        return Completed(ticket, record.openid, record.scope, link.next, first=True, record=record,
                         signs_in=link.browser is not None)

    def _exchange(self, code: str, state: str, link: StateRecord) -> dict:
        try:
            return self.client.exchange_code(code)
        except WeChatError as error:
            if error.bad_code:
                log.info("code refused by WeChat (%d): the user is asked to tap the link again", error.errcode)
                raise CallbackRefused("code", 400, error.errcode) from None
            log.error("code exchange failed: %s", error)
            self.states.restore(state, link)
            raise CallbackRefused("wechat", 503) from None
        except WeChatUnavailable as error:
            log.warning("code exchange: %s; the state is kept so a refresh can retry", error)
            self.states.restore(state, link)
            raise CallbackRefused("wechat", 503) from None

    def _with_profile(self, record: TokenRecord) -> TokenRecord:
        try:
            profile = self.client.userinfo(record.access_token, record.openid)
        except (WeChatError, WeChatUnavailable) as error:
            log.warning("userinfo for %s failed (%s): tokens stored without a profile", loggable(record.openid), error)
            return record
        avatar = str(profile.get("headimgurl") or "")
        if not avatar.startswith(("https://", "http://")):
            profile = {**profile, "headimgurl": ""}
        return record.with_profile(profile)
