"""The handler API: decorators, first answer wins, None passes, failures answered politely."""
import re

import pytest
from lxml import etree
from wechatpy.replies import ArticlesReply, ImageReply, TextReply

from tests.conftest import APPID, TOKEN
from tests.wechat_client import WeChat, flask_transport
from wechat_bot.handlers import Router
from wechat_bot.handlers.default import HELP_TEXT
from wechat_bot.handlers.router import FALLBACK_TEXT


@pytest.fixture
def router():
    return Router()


@pytest.fixture
def chat(make_app, router):
    """WeChat pushing to an app built with `router` (registrations may come after: routes are read live)."""
    def connect(**kwargs):
        app = make_app(router=router, **kwargs)
        return WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    return connect


@pytest.mark.parametrize("typed", ["登录", "  登录  ", "LOGIN", "Login", "\tlogin\n"])
def test_keyword_matches_trimmed_and_case_insensitively(router, chat, typed):
    @router.keyword("登录", "login")
    def login(msg):
        return "login link"
    assert chat().says(typed).content == "login link"


@pytest.mark.parametrize("typed", ["登录吧", "please login", "log in", ""])
def test_keyword_does_not_match_inside_other_text(router, chat, typed):
    @router.keyword("登录", "login")
    def login(msg):
        return "login link"
    assert chat().says(typed).content == HELP_TEXT


def test_regex_handler_sees_the_message(router, chat):
    @router.regex(r"订单\s*(\d+)")
    def order(msg):
        return "查询订单 " + re.search(r"(\d+)", msg.content).group(1)
    assert chat().says("我的订单 12345 到哪了").content == "查询订单 12345"


def test_first_match_wins_and_none_falls_through(router, chat):
    calls = []

    @router.text()
    def observer(msg):
        calls.append("observer")

    @router.keyword("hi")
    def first(msg):
        return "first"

    @router.keyword("hi")
    def second(msg):
        calls.append("second")
        return "second"

    assert chat().says("hi").content == "first"
    assert calls == ["observer"]


def test_event_and_event_key_routing(router, chat):
    @router.click("MENU_A")
    def menu_a(msg):
        return "A"

    @router.event("CLICK")
    def any_click(msg):
        return "some button: " + msg.key

    @router.event("scan", key="42")
    def scene_42(msg):
        return "scene 42"

    wechat = chat()
    assert wechat.event("CLICK", "MENU_A").content == "A"
    assert wechat.event("CLICK", "MENU_B").content == "some button: MENU_B"
    assert wechat.event("SCAN", "42", Ticket="t").content == "scene 42"
    assert wechat.event("SCAN", "43", Ticket="t").body == b"success"


def test_subscribe_handler_sees_qr_follows_with_the_scene(router, chat):
    @router.event("subscribe")
    def follow(msg):
        return "scene=" + (msg.scene_id if msg.event == "subscribe_scan" else "none")
    wechat = chat()
    assert wechat.event("subscribe").content == "scene=none"
    assert wechat.event("subscribe", "qrscene_77", Ticket="t").content == "scene=77"


def test_message_type_handler(router, chat):
    @router.on("image")
    def image(msg):
        return "nice picture: " + msg.image
    wechat = chat()
    assert wechat.deliver(wechat.fields("image", PicUrl="http://p/1.jpg", MediaId="m")).content == \
        "nice picture: http://p/1.jpg"


def test_handler_with_context_gets_settings_and_redis(router, chat):
    @router.keyword("count")
    def count(msg, ctx):
        return f"{ctx.settings.appid} #{ctx.redis.incr('test:count')}"
    wechat = chat()
    assert wechat.says("count").content == f"{APPID} #1"
    assert wechat.says("count").content == f"{APPID} #2"


def test_reply_objects_are_rendered_and_addressed(router, chat):
    @router.keyword("pic")
    def pic(msg):
        return ImageReply(media_id="MEDIA_1")

    @router.keyword("news")
    def news(msg):
        return ArticlesReply(message=msg, articles=[{"title": "标题", "description": "d", "image": "i", "url": "u"}])

    wechat = chat()
    reply = wechat.says("pic")
    assert reply.fields["MsgType"] == "image" and reply.fields["ToUserName"] == "o_alice"
    assert b"<MediaId><![CDATA[MEDIA_1]]></MediaId>" in reply.body
    assert b"<Title><![CDATA[\xe6\xa0\x87\xe9\xa2\x98]]></Title>" in wechat.says("news").body


@pytest.mark.parametrize("echo", ["]]>", "a]]>b]]>c", "<![CDATA[x]]>", "</Content></xml>", "\x00\x07 control"])
def test_replies_that_echo_cdata_terminators_stay_well_formed(router, chat, echo):
    @router.text()
    def parrot(msg, ctx):
        return "你说：" + echo

    reply = chat().says("anything")
    root = etree.fromstring(reply.body)  # raises if the reply is not well-formed
    expected = "你说：" + "".join(ch for ch in echo if ch >= " ")
    assert root.findtext("Content") == expected
    assert len(root) == 5


def test_cdata_terminator_in_a_safe_mode_reply(make_app, router):
    @router.text()
    def parrot(msg):
        return msg.content

    from tests.conftest import AES_KEY
    app = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY}, router=router)
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID, aes_key=AES_KEY)
    wechat.encrypted = True
    assert wechat.says("x]]>y").content == "x]]>y"


def test_a_failing_handler_gets_the_user_a_polite_fallback_and_is_logged(router, chat, push_log):
    @router.keyword("boom")
    def explode(msg):
        raise RuntimeError("database on fire")

    wechat = chat()
    reply = wechat.says("boom")
    assert reply.status == 200 and reply.content == FALLBACK_TEXT
    assert "handler explode failed" in push_log.text and "outcome=error" in push_log.text
    assert wechat.says("something else").content == HELP_TEXT


def test_a_handler_returning_nonsense_gets_the_fallback(router, chat, push_log):
    @router.keyword("dict")
    def wrong(msg):
        return {"not": "a reply"}
    assert chat().says("dict").content == FALLBACK_TEXT
    assert "handler wrong" in push_log.text


def test_empty_string_is_answered_success_not_an_empty_text(router, chat):
    @router.text()
    def silent(msg):
        return ""
    assert chat().says("hello").body == b"success"


def test_a_raising_matcher_is_a_failure_of_that_route_only(router, chat):
    @router.on("text", match=lambda msg: 1 / 0)
    def never(msg):
        return "never"
    assert chat().says("hi").content == FALLBACK_TEXT


def test_an_existing_text_reply_object_passes_through(router, chat):
    @router.text()
    def explicit(msg):
        return TextReply(content="explicit", message=msg)
    assert chat().says("hi").content == "explicit"
