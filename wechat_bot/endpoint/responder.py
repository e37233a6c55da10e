"""From a verified push to the body WeChat gets: once per push, inside the window, always well-formed."""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.crc import key_slot
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply

from .. import defaults
from ..errors import BadPush
from ..handlers import Context, Outcome, Router
from ..handlers.router import FALLBACK_TEXT
from ..logs import loggable, logger
from ..metrics.registry import metrics
from ..oauth.tokens import reauth_key
from ..storage.connection import ERRORS as REDIS_ERRORS
from ..storage.once import Binding, BindingRefused, OnceCache
from ..wechat_api import SCOPES
from .envelope import PushCrypto
from .handler_threads import HandlerThreads, Job
from .late_replies import LateReplies
from .long_text import fit, pieces, too_long
from .push import Push
from .replies import NotAReply, render, render_text, to_reply

log = logger("wechat_bot.push")

SUCCESS = b"success"
UNAVAILABLE_TEXT = "服务暂时繁忙，请稍后再试。"
REAUTH_TEXT = "你的授权已过期，"


@dataclass
class Answer:
    body: bytes
    outcome: str  # reply, success, error, overrun, retry, retry-timeout
    handler: str = "-"
    rest: list[str] = field(default_factory=list)  # the rest of a long text, sent as customer-service messages
    after: Callable[[], object] | None = None  # for the server to call once the body is sent (the rest goes then)


class Responder:
    def __init__(
        self,
        router: Router,
        cache: OnceCache,
        crypto: PushCrypto | None,
        *,
        late: LateReplies | None = None,
        deadline: float = defaults.REPLY_DEADLINE,
        threads: int = defaults.HANDLER_THREADS,
    ) -> None:
        self.router, self.cache, self.crypto, self.late = router, cache, crypto, late
        self.deadline = deadline
        self._threads = HandlerThreads(threads)

    def respond(self, push: Push, received: float, context: Context) -> Answer:
        """The body for this delivery; `received` is the monotonic time the request arrived."""
        answer = self._respond(push, received, context)
        if answer.rest:
            answer.after = functools.partial(self._threads.submit, self._send_rest, push, answer.rest)
        return answer

    def _respond(self, push: Push, received: float, context: Context) -> Answer:
        until = received + self.deadline
        started = time.monotonic()
        outcome = self.router.dispatch(push.msg, context, pure_only=True)
        try:
            if outcome.impure_at is not None:  # stopped at a handler that is not pure
                return self._respond_once(push, until, context, outcome.impure_at)
            if time.monotonic() - started > defaults.PURE_HANDLER_SLOW:
                log.warning("pure handler %s took %.0f ms on %s: a handler that does I/O must not be declared pure",
                            outcome.handler, (time.monotonic() - started) * 1000, push.label)
            return self._commit(push, outcome, until, context)
        except BindingRefused:
            raise BadPush(403, "this signed query already came with another body") from None

    def _commit(self, push: Push, outcome: Outcome, until: float, context: Context) -> Answer:
        """A pure handler's answer: stored with its writes in one round trip (with the user's re-authorize
        marker read beside it), unless a delivery before this one stored its own (then that one is the answer).
        A user who must authorize again gets the answer with a fresh link instead (rare: a second trip)."""
        answer = self._render(push, outcome, context, None)
        writes = context.writes.take()
        in_slot, elsewhere = self._split(push, writes)
        marker = reauth_key(context.settings.account.appid, push.source)
        try:
            commit = self.cache.commit(push.identity, answer.body, in_slot, bound=self._binding(push),
                                       also=("GET", marker))
            if not commit.confirmed:
                return self._unconfirmed(push, answer)
            if commit.stored and commit.extra is not None:
                answer = self._render(push, outcome, context, commit.extra.decode())
                more_in_slot, more_elsewhere = self._split(push, context.writes.take())
                self.cache.overwrite(push.identity, answer.body, more_in_slot)
                elsewhere += more_elsewhere
            if commit.stored and elsewhere:
                self._send(context, elsewhere)
        except REDIS_ERRORS as error:
            return self._unstored(push, answer, bool(writes), error)
        if commit.stored:
            return answer
        return self._retry(push, commit.body, until)

    def _split(self, push: Push, writes: list) -> tuple[list, list]:
        """The writes whose key is in the push's cluster slot (they go in its script), and the others."""
        tag = f"{{{push.tag}}}"  # the push's keys' hash tag: a key with it first is in their slot
        slot = None
        in_slot: list[Any] = []
        elsewhere: list[Any] = []
        for command in writes:
            key = str(command[1])
            if key.find("{") == key.find(tag) != -1:
                in_slot.append(command)
                continue
            slot = slot if slot is not None else key_slot(self.cache.key(push.identity).encode())
            (in_slot if key_slot(key.encode()) == slot else elsewhere).append(command)
        return in_slot, elsewhere

    @staticmethod
    def _send(context: Context, writes: list) -> None:
        with context.redis.pipeline(transaction=False) as pipe:
            for command in writes:
                pipe.execute_command(*command)
            pipe.execute()

    def _unstored(self, push: Push, answer: Answer, had_writes: bool, error: Exception) -> Answer:
        """Redis failed to store the answer. If the handler's writes went with it (an authorize link's state),
        its reply would carry a link that cannot work: the user gets a short 稍后再试 instead."""
        if not had_writes:
            log.warning("retry cache unavailable (%s): reply to %s not remembered", type(error).__name__, push.label)
            return answer
        log.warning("Redis unavailable (%s): the writes of the reply to %s (its links' states) were not stored, "
                    "so it was answered %s", type(error).__name__, push.label, UNAVAILABLE_TEXT)
        reply = TextReply(content=UNAVAILABLE_TEXT, message=push.msg)
        return Answer(self._seal(push, render(reply)), "unavailable", answer.handler)

    def _unconfirmed(self, push: Push, answer: Answer) -> Answer:
        """No replica confirmed the writes of the reply (its links' states) in time: the master may be failing over
        or cut off, and would lose them; the user gets a short 稍后再试 instead of a link that may die."""
        log.warning("no replica confirmed the writes of the reply to %s within %d ms (a master failing over or cut "
                    "off?), so it was answered %s", push.label, defaults.REPLICA_WAIT_MS, UNAVAILABLE_TEXT)
        reply = TextReply(content=UNAVAILABLE_TEXT, message=push.msg)
        return Answer(self._seal(push, render(reply)), "unavailable", answer.handler)

    def _respond_once(self, push: Push, until: float, context: Context, start: int) -> Answer:
        """Handlers from route `start` on may have effects: claim the push first, so they run once."""
        try:
            marker = reauth_key(context.settings.account.appid, push.source)
            claim = self.cache.claim(push.identity, also=("GET", marker), bound=self._binding(push))
        except REDIS_ERRORS as error:
            log.warning("retry cache unavailable (%s): answering %s without retry protection",
                        type(error).__name__, push.label)
            answer = self._answer(push, until, context, start)
            had_writes = bool(context.writes)
            try:
                context.writes.flush(context.redis)
            except REDIS_ERRORS as flush_error:
                return self._unstored(push, answer, had_writes, flush_error)
            return answer
        if not claim.mine:
            return self._retry(push, claim.body, until)
        reauth_scope = claim.extra.decode() if claim.extra else None
        answer = self._answer(push, until, context, start, reauth_scope)
        # an overrunning handler may still be adding writes: those go out with its late answer
        overran = answer.outcome == "overrun"
        had_writes = not overran and bool(context.writes)
        try:
            confirmed = self.cache.store(push.identity, answer.body, () if overran else context.writes.take())
        except REDIS_ERRORS as error:
            return self._unstored(push, answer, had_writes, error)
        if not confirmed and had_writes:
            return self._unconfirmed(push, answer)
        if not confirmed:
            log.warning("no replica confirmed the retry record of %s within %d ms: a failover now may lose it",
                        push.label, defaults.REPLICA_WAIT_MS)
        return answer

    def _binding(self, push: Push) -> Binding:
        """The push's signed query is bound to the first body it came with (a logged query string replayed with a
        forged body is refused); WeChat's own retries bring the same body, with this query or another."""
        return self.cache.binding(f"{{{push.query.digest}}}:body", push.body_digest)

    def _retry(self, push: Push, body: bytes | None, until: float) -> Answer:
        if body is None:
            try:
                body = self.cache.wait(push.identity, until)
            except REDIS_ERRORS as error:
                log.warning("retry cache unavailable (%s) while waiting for %s", type(error).__name__, push.label)
        if body is None:
            return Answer(SUCCESS, "retry-timeout")
        return Answer(body, "retry")

    def _answer(self, push: Push, until: float, context: Context, start: int,
                reauth_scope: str | None = None) -> Answer:
        job = self._threads.submit(self._dispatch_from, push.msg, context, start)
        if not job.wait(until - time.monotonic()):
            job.then(lambda done: self._send_late(push, done, context))
            log.warning("handler overran the %.1fs window on %s: answered success", self.deadline, push.label)
            return Answer(SUCCESS, "overrun")
        return self._render(push, job.result(), context, reauth_scope)

    def _dispatch_from(self, msg: BaseMessage, context: Context, start: int) -> Outcome:
        return self.router.dispatch(msg, context, start=start)

    def _render(self, push: Push, outcome: Outcome, context: Context, reauth_scope: str | None) -> Answer:
        if type(outcome.result) is str and outcome.result and not reauth_scope and not too_long(outcome.result):
            return self._answered(push, outcome, render_text(outcome.result, push.msg))
        try:
            reply = to_reply(outcome.result, push.msg)
        except NotAReply as error:
            log.error("handler %s: %s", outcome.handler, error)
            reply, outcome = TextReply(content=FALLBACK_TEXT, message=push.msg), Outcome(outcome.route, failed=True)
        if reauth_scope and (reply is None or isinstance(reply, TextReply)):
            reply = self._with_reauth_link(push, reply, context, reauth_scope)
        if reply is None:
            return Answer(SUCCESS, "success", outcome.handler)
        rest: list[str] = []
        if isinstance(reply, TextReply) and too_long(reply.content):
            reply, rest = self._cut(push, outcome, reply)
        try:
            xml = render(reply)
        except Exception as error:  # noqa: BLE001 - a reply wechatpy cannot render (MusicReply without thumb_media_id…)
            log.error("handler %s returned a %s that cannot be rendered (%s: %s): answered the polite text instead",
                      outcome.handler, type(reply).__name__, type(error).__name__, loggable(str(error), 80))
            xml = render(TextReply(content=FALLBACK_TEXT, message=push.msg))
            outcome = Outcome(outcome.route, failed=True)
        answer = self._answered(push, outcome, xml)
        answer.rest = rest
        return answer

    def _answered(self, push: Push, outcome: Outcome, xml: str) -> Answer:
        return Answer(self._seal(push, xml), "error" if outcome.failed else "reply", outcome.handler)

    def _cut(self, push: Push, outcome: Outcome, reply: TextReply) -> tuple[TextReply, list[str]]:
        """A text over WeChat's passive limit: what fits is the reply, the rest customer-service messages within the
        user's quota (the last saying the text was cut, when the quota runs out first)."""
        needed = len(pieces(reply.content)) - 1
        granted = self.late.quota.take(push.msg, needed) if self.late is not None else 0
        texts = fit(reply.content, 1 + granted)
        log.info("handler %s replied %d bytes of text, over WeChat's %d for a reply: %d sent after it as "
                 "customer-service messages%s", outcome.handler, len(reply.content.encode()),
                 defaults.MAX_TEXT_REPLY_BYTES, len(texts) - 1, "" if granted >= needed else ", the rest cut (quota)")
        return TextReply(source=reply.source, target=reply.target, content=texts[0]), texts[1:]

    def _send_rest(self, push: Push, texts: list[str]) -> None:
        if self.late is None:  # not reached: a reply has a rest only when late replies granted quota for it
            return
        try:
            self.late.send_texts(push.msg, texts)
        except Exception as error:  # noqa: BLE001 - Redis down for the account token, WeChat unreachable…
            log.error("the rest of the reply to %s not sent: %s: %s", push.label, type(error).__name__,
                      loggable(str(error), 160, spaces=True))

    def _seal(self, push: Push, xml: str) -> bytes:
        """The reply's body: encrypted with the key the push came in with, in safe mode."""
        if push.opened is not None and xml and self.crypto is not None:  # opened: by this crypto
            xml = self.crypto.seal(xml, push.opened, push.query)
        return xml.encode("utf-8")


    def _with_reauth_link(self, push: Push, reply: TextReply | None, context: Context, scope: str) -> TextReply:
        """The user's refresh_token ran out: this reply carries a fresh authorize link, once."""
        link = context.links.for_scope(scope if scope in SCOPES else "snsapi_base", push.msg.source, None)
        notice = f'{REAUTH_TEXT}<a href="{link}">点此重新授权</a>'
        openid = push.msg.source
        context.writes.add("DEL", reauth_key(context.settings.account.appid, openid))
        if reply is None:
            return TextReply(content=notice, message=push.msg)
        reply.content = f"{reply.content}\n\n{notice}"
        return reply

    def _flush(self, context: Context, push: Push) -> None:
        try:
            context.writes.flush(context.redis)
        except REDIS_ERRORS as error:
            log.warning("writes of the handler for %s lost: Redis unavailable (%s)", push.label, type(error).__name__)

    def _send_late(self, push: Push, done: Job, context: Context) -> None:
        """The answer of a handler that overran the window, sent as a customer-service message; whatever fails
        here is one log line, in the handler thread that goes on to its next job."""
        try:
            self._send_late_answer(push, done, context)
        except Exception as error:  # noqa: BLE001 - Redis down for the account token, WeChat unreachable…
            metrics().late_replies.labels("failed").inc()
            log.error("late answer to %s not sent: %s: %s", push.label, type(error).__name__,
                      loggable(str(error), 160, spaces=True))

    def _send_late_answer(self, push: Push, done: Job, context: Context) -> None:
        outcome = done.result()
        self._flush(context, push)
        try:
            reply = to_reply(outcome.result, push.msg)
        except NotAReply as error:
            log.error("handler %s: %s", outcome.handler, error)
            return
        if reply is None:
            return
        if self.late is None:
            log.warning("late answer from handler %s on %s dropped: no customer-service sender",
                        outcome.handler, push.label)
            return
        self.late.send(push.msg, reply)
