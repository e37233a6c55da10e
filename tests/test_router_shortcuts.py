"""Handlers as WeRoBot users write them: a shortcut per message and event type, with or without parentheses, and
a list of articles for a news reply."""
import pytest

from tests.conftest import APPID, TOKEN
from tests.wechat_client import WeChat, flask_transport
from wechat_bot.handlers import Router
from wechat_bot.handlers.default import HELP_TEXT


@pytest.fixture
def router():
    return Router()


@pytest.fixture
def chat(make_app, router):
    def connect():
        return WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    return connect


PUSHES = {  # shortcut: (message type, fields), as WeChat pushes them
    "image": ("image", {"PicUrl": "http://x/1.jpg", "MediaId": "m1"}),
    "voice": ("voice", {"MediaId": "m2", "Format": "amr", "Recognition": "你好"}),
    "video": ("video", {"MediaId": "m3", "ThumbMediaId": "t3"}),
    "location": ("location", {"Location_X": "23.13", "Location_Y": "113.26", "Scale": "15", "Label": "广州"}),
    "link": ("link", {"Title": "标题", "Description": "描述", "Url": "http://x/a"}),
    "subscribe": ("event", {"Event": "subscribe"}),
    "unsubscribe": ("event", {"Event": "unsubscribe"}),
    "click": ("event", {"Event": "CLICK", "EventKey": "MENU_A"}),
    "view": ("event", {"Event": "VIEW", "EventKey": "http://x/page"}),
    "scan": ("event", {"Event": "SCAN", "EventKey": "order_7", "Ticket": "tk"}),
}


@pytest.mark.parametrize("shortcut", sorted(PUSHES))
@pytest.mark.parametrize("parentheses", [False, True])
def test_each_shortcut_answers_its_own_push_with_or_without_parentheses(router, chat, shortcut, parentheses):
    decorate = getattr(router, shortcut)
    register = decorate() if parentheses else decorate

    @register
    def answer(msg):
        return f"{shortcut}:{msg.type}"
    kind, fields = PUSHES[shortcut]
    wechat = chat()
    assert wechat.deliver(wechat.fields(kind, **fields)).content == f"{shortcut}:{kind}"
    assert wechat.says("别的").content == HELP_TEXT


def test_pure_is_kept(router):
    @router.text(pure=True)
    def echo(msg):
        return msg.content

    @router.location
    def where(msg):
        return msg.label
    assert [(route.name, route.pure) for route in router.routes] == [("echo", True), ("where", False)]


def test_text_catches_every_text_the_handlers_before_it_left(router, chat):
    @router.keyword("菜单")
    def menu(msg):
        return "菜单在这里"

    @router.text
    def echo(msg):
        return "你说：" + msg.content
    wechat = chat()
    assert wechat.says("菜单").content == "菜单在这里"
    assert wechat.says("随便").content == "你说：随便"


def test_a_new_follower_who_scanned_a_code_is_seen_by_scan_and_subscribe(router, chat):
    @router.scan
    def scanned(msg):
        return "scan:" + msg.scene_id
    wechat = chat()
    follow = wechat.fields("event", Event="subscribe", EventKey="qrscene_order_7", Ticket="tk")
    assert wechat.deliver(follow).content == "scan:order_7"


def test_click_with_a_key_answers_that_button_only(router, chat):
    @router.click("MENU_A")
    def a(msg):
        return "A"

    @router.click
    def any_button(msg):
        return "any:" + msg.key
    wechat = chat()
    assert wechat.event("CLICK", "MENU_A").content == "A"
    assert wechat.event("CLICK", "MENU_B").content == "any:MENU_B"


ARTICLE = {"title": "新品", "description": "秋季上新", "url": "https://shop.example/new",
           "image": "https://shop.example/new.jpg"}


def test_a_list_of_articles_is_a_news_reply(router, chat):
    @router.text
    def news(msg):
        return [ARTICLE]
    reply = chat().says("新品")
    assert reply.fields["MsgType"] == "news" and reply.fields["ArticleCount"] == "1"
    assert b"<Title><![CDATA[\xe6\x96\xb0\xe5\x93\x81]]></Title>" in reply.body
    assert b"<PicUrl><![CDATA[https://shop.example/new.jpg]]></PicUrl>" in reply.body
    assert b"<Url><![CDATA[https://shop.example/new]]></Url>" in reply.body


def test_news_keeps_what_wechat_shows_one_article_to_a_message_eight_to_an_event(router, chat, push_log):
    @router.text
    def to_text(msg):
        return [dict(ARTICLE, title=f"第{n}条") for n in range(3)]

    @router.subscribe
    def to_follow(msg):
        return [dict(ARTICLE, title=f"第{n}条") for n in range(10)]
    wechat = chat()
    assert wechat.says("新品").fields["ArticleCount"] == "1"
    assert wechat.event("subscribe").fields["ArticleCount"] == "8"
    assert "the rest were dropped" in push_log.text
