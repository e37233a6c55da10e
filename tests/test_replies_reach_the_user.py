"""Every reply reaches the user: one that cannot be rendered becomes the polite text, and a text longer than a
passive reply takes goes out in pieces, the rest as customer-service messages, within the user's quota."""
from __future__ import annotations

import threading
import time

import pytest
from wechatpy.replies import MusicReply

from tests.conftest import APPID, TOKEN
from tests.wechat_client import WeChat, flask_transport
from wechat_bot.endpoint.long_text import CUT_NOTICE, pieces
from wechat_bot.handlers import Router
from wechat_bot.handlers.router import FALLBACK_TEXT

LIMIT = 2048
LONG = "".join(f"第{n}段：今天天气很好，适合出门散步。🌤\n" for n in range(400))  # ~20 KB, 3- and 4-byte characters


def sent_texts(sandbox, openid: str = "o_alice", count: int = 1, wait: float = 30.0) -> list[str]:
    """The customer-service texts the sandbox got for `openid`, once at least `count` arrived (they go out after
    the reply, from a handler thread)."""
    deadline = time.monotonic() + wait
    while True:
        texts = [message["text"]["content"] for message in sandbox.sent(openid) if message["msgtype"] == "text"]
        if len(texts) >= count or time.monotonic() > deadline:
            return texts
        time.sleep(0.05)


@pytest.fixture
def router():
    return Router()


@pytest.fixture
def chat(make_app, sandbox, router):
    def connect(**kwargs):
        app = make_app({"WECHAT_API_BASE": sandbox.url, "WECHAT_OPEN_BASE": sandbox.url}, router=router, **kwargs)
        sandbox.interacted("o_alice")
        return WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    return connect


def test_pieces_split_on_characters_within_the_limit_in_order():
    found = pieces(LONG)
    assert "".join(found) == LONG and len(found) > 1
    assert all(0 < len(piece.encode()) <= LIMIT for piece in found)


def test_a_reply_that_cannot_be_rendered_is_the_polite_text_with_a_200(router, chat, push_log):
    @router.text
    def song(msg):
        return MusicReply(title="晴天", music_url="http://x/a.mp3")  # no thumb_media_id: wechatpy cannot render it
    reply = chat().says("来首歌")
    assert reply.status == 200 and reply.content == FALLBACK_TEXT
    assert "handler song" in push_log.text and "MusicReply" in push_log.text


def test_a_long_text_is_answered_with_what_fits_and_the_rest_follows_in_order(router, chat, sandbox):
    @router.text
    def essay(msg):
        return LONG[:2500]
    needed = len(pieces(LONG[:2500]))
    assert 2 < needed <= 6
    reply = chat().says("讲个长故事")
    assert reply.status == 200 and 0 < len(reply.content.encode()) <= LIMIT
    rest = sent_texts(sandbox, count=needed - 1)
    assert reply.content + "".join(rest) == LONG[:2500]
    assert all(len(text.encode()) <= LIMIT for text in rest)


def test_past_the_quota_the_user_is_told_the_text_was_cut(router, chat, sandbox):
    @router.text
    def essay(msg):
        return LONG
    assert len(pieces(LONG)) > 6
    reply = chat().says("全部")
    rest = sent_texts(sandbox, count=5)
    time.sleep(0.3)  # nothing more follows
    rest = sent_texts(sandbox, count=5)
    assert len(rest) == 5  # 5 customer-service messages in the 48 h after a user's message
    assert rest[-1].endswith(CUT_NOTICE) and all(len(text.encode()) <= LIMIT for text in rest)
    assert LONG.startswith(reply.content + "".join(rest[:-1]) + rest[-1][:-len(CUT_NOTICE)])


def test_a_menu_click_allows_three_and_the_last_says_it_was_cut(router, chat, sandbox):
    @router.click
    def manual(msg):
        return LONG
    wechat = chat()
    reply = wechat.event("CLICK", "MANUAL")
    assert 0 < len(reply.content.encode()) <= LIMIT
    rest = sent_texts(sandbox, count=3)
    assert len(rest) == 3 and rest[-1].endswith(CUT_NOTICE)


def test_a_late_long_reply_goes_out_in_pieces_in_order(router, chat, sandbox):
    release = threading.Event()

    @router.text
    def slow(msg):
        release.wait(30)
        return LONG[:2000]
    reply = chat(deadline=0.2).says("慢慢说")
    assert reply.status == 200 and reply.body == b"success"
    release.set()
    needed = len(pieces(LONG[:2000]))
    texts = sent_texts(sandbox, count=needed)
    assert "".join(texts) == LONG[:2000]
    assert len(texts) == needed > 1 and all(len(text.encode()) <= LIMIT for text in texts)


def test_the_rest_goes_only_once_the_reply_is_sent(router, make_app, sandbox):
    @router.text
    def essay(msg):
        return LONG[:2500]
    app = make_app({"WECHAT_API_BASE": sandbox.url, "WECHAT_OPEN_BASE": sandbox.url}, router=router)
    sandbox.interacted("o_alice")
    client = app.test_client()
    unsent = []

    def transport(method, path, body):  # reads the reply, and has not finished sending it yet
        response = client.open(path, method=method, data=body, content_type="text/xml")
        unsent.append(response)
        return response.status_code, response.get_data()
    reply = WeChat(transport, TOKEN, APPID).says("讲")
    assert 0 < len(reply.content.encode()) <= LIMIT
    time.sleep(0.5)
    assert sandbox.sent("o_alice") == []
    unsent[0].close()
    assert reply.content + "".join(sent_texts(sandbox, count=len(pieces(LONG[:2500])) - 1)) == LONG[:2500]


def test_the_rest_follows_when_the_site_has_request_hooks_and_over_http(router, make_app, sandbox, http_wechat):
    @router.text
    def essay(msg):
        return LONG[:2500]
    app = make_app({"WECHAT_API_BASE": sandbox.url, "WECHAT_OPEN_BASE": sandbox.url}, router=router)
    app.before_request(lambda: None)  # pushes now go through Flask's dispatch
    sandbox.interacted("o_alice")
    reply = http_wechat(app).says("讲")
    rest = sent_texts(sandbox, count=len(pieces(LONG[:2500])) - 1)
    assert reply.content + "".join(rest) == LONG[:2500]


def test_a_long_reply_with_a_reauthorize_link_is_not_cut_by_its_own_first_render(router, chat, sandbox, redis):
    """A user asked to authorize again gets the handler's answer rendered twice (the second time with the link): the
    quota the first render took is the push's own, so the whole text still goes, within the user's 5 messages."""
    from wechat_bot.oauth.tokens import reauth_key

    @router.text(pure=True)
    def essay(msg):
        return LONG[:2500]  # four passive replies' worth: three customer-service messages after the reply
    wechat = chat()
    redis.set(reauth_key(APPID, "o_alice"), "snsapi_base")  # the renewal found the user's refresh_token expired
    reply = wechat.says("讲")
    needed = len(pieces(LONG[:2500] + "重新授权" * 50)) - 1
    assert needed == 3
    rest = sent_texts(sandbox, count=needed)
    assert "重新授权" in reply.content + "".join(rest) and not any(CUT_NOTICE in text for text in rest)
    assert LONG[:2500].replace("\n", "") in (reply.content + "".join(rest)).replace("\n", "")


def test_a_push_delivered_again_takes_no_more_of_the_users_quota(router, chat, redis):
    """WeChat redelivers a push it got no answer to in time: the answer is rendered again, and must not spend the
    user's 5 messages again (two deliveries at once: the one stored would be cut short)."""
    from wechat_bot.endpoint.cs_quota import quota_key

    @router.text(pure=True)
    def essay(msg):
        return LONG[:1500]
    wechat = chat()
    fields, query = wechat.fields("text", Content="讲"), wechat.query()
    for _ in range(3):
        assert wechat.deliver(fields, query=query).status == 200
    assert len(pieces(LONG[:1500])) - 1 == 2
    assert redis.hget(quota_key(APPID, "o_alice"), "message:used") == b"2"
