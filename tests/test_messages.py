"""Every message type and event of the protocol reaches a handler as a typed wechatpy object."""
import pytest
from wechatpy import events, messages

from tests.conftest import TOKEN
from wechat_bot.handlers import Router
from wechat_bot.handlers.default import HELP_TEXT, WELCOME_TEXT

SAMPLES = [
    ("text", {"Content": "你好"}, messages.TextMessage, {"content": "你好"}),
    ("text", {"Content": "from an article", "MsgDataId": "88", "Idx": 1}, messages.TextMessage,
     {"msg_data_id": "88", "idx": 1}),
    ("image", {"PicUrl": "http://mmbiz/x.jpg", "MediaId": "m1"}, messages.ImageMessage, {"image": "http://mmbiz/x.jpg"}),
    ("voice", {"MediaId": "m2", "Format": "amr", "Recognition": "", "MediaId16K": "m16"}, messages.VoiceMessage,
     {"format": "amr", "media_id_16k": "m16"}),
    ("video", {"MediaId": "m3", "ThumbMediaId": "t3"}, messages.VideoMessage, {"thumb_media_id": "t3"}),
    ("shortvideo", {"MediaId": "m4", "ThumbMediaId": "t4"}, messages.ShortVideoMessage, {"media_id": "m4"}),
    ("location", {"Location_X": "23.134521", "Location_Y": "113.358803", "Scale": "20", "Label": "广州"},
     messages.LocationMessage, {"label": "广州", "location_x": "23.134521"}),
    ("link", {"Title": "t", "Description": "d", "Url": "https://example.com"}, messages.LinkMessage,
     {"url": "https://example.com"}),
]

EVENTS = [
    ({"Event": "subscribe"}, events.SubscribeEvent, {"key": ""}),
    ({"Event": "subscribe", "EventKey": ""}, events.SubscribeEvent, {}),
    ({"Event": "subscribe", "EventKey": "qrscene_123", "Ticket": "TK"}, events.SubscribeScanEvent,
     {"scene_id": "123", "ticket": "TK"}),
    ({"Event": "unsubscribe"}, events.UnsubscribeEvent, {}),
    ({"Event": "SCAN", "EventKey": "123", "Ticket": "TK"}, events.ScanEvent, {"scene_id": "123"}),
    ({"Event": "LOCATION", "Latitude": "23.137466", "Longitude": "113.352425", "Precision": "119.385040"},
     events.LocationEvent, {"latitude": 23.137466}),
    ({"Event": "CLICK", "EventKey": "V1001_TODAY"}, events.ClickEvent, {"key": "V1001_TODAY"}),
    ({"Event": "VIEW", "EventKey": "https://example.com/a", "MenuId": "42"}, events.ViewEvent,
     {"url": "https://example.com/a", "menu_id": "42"}),
]


@pytest.fixture
def seen(make_app):
    """An app whose first handler records every message it is given, then passes."""
    from tests.wechat_client import WeChat, flask_transport

    router, received = Router(), []

    @router.on()
    def record(msg):
        received.append(msg)

    app = make_app(router=router)
    return WeChat(flask_transport(app.test_client()), TOKEN, "wx0123456789abcdef"), received


@pytest.mark.parametrize("msg_type, fields, cls, attrs", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_message_types_arrive_typed_and_get_the_help_text(seen, msg_type, fields, cls, attrs):
    wechat, received = seen
    reply = wechat.deliver(wechat.fields(msg_type, **fields))
    assert reply.status == 200 and reply.content == HELP_TEXT
    (msg,) = received
    assert isinstance(msg, cls) and msg.source == "o_alice" and msg.target == "gh_test"
    for name, value in attrs.items():
        assert getattr(msg, name) == value


@pytest.mark.parametrize("fields, cls, attrs", EVENTS, ids=[e[0]["Event"] + str(len(e[0])) for e in EVENTS])
def test_events_arrive_typed(seen, fields, cls, attrs):
    wechat, received = seen
    reply = wechat.deliver(wechat.fields("event", **fields))
    assert reply.status == 200
    (msg,) = received
    assert isinstance(msg, cls)
    for name, value in attrs.items():
        assert getattr(msg, name) == value


@pytest.mark.parametrize("fields", [{"Event": "subscribe"}, {"Event": "subscribe", "EventKey": "qrscene_7"}])
def test_following_gets_the_welcome_with_a_login_link(wechat, fields):
    content = wechat.deliver(wechat.fields("event", **fields)).content
    assert content.startswith(WELCOME_TEXT) and "scope=snsapi_base" in content and "点此登录</a>" in content


@pytest.mark.parametrize("fields", [{"Event": "unsubscribe"}, {"Event": "CLICK", "EventKey": "K"},
                                    {"Event": "VIEW", "EventKey": "https://x"}, {"Event": "weapp_audit_success"}])
def test_other_events_are_answered_success(wechat, fields):
    reply = wechat.deliver(wechat.fields("event", **fields))
    assert (reply.status, reply.body) == (200, b"success")


def test_unknown_message_type_is_answered_not_crashed_on(wechat, push_log):
    reply = wechat.deliver(wechat.fields("hologram", Beam="on"))
    assert reply.status == 200 and reply.content.startswith("发送「登录」")  # any other message: the help text
    assert "type=hologram" in push_log.text


def test_each_push_logs_one_line_with_type_openid_handler_outcome_and_time(wechat, push_log):
    wechat.says("随便说点什么")
    lines = [r.getMessage() for r in push_log.records if r.getMessage().startswith("push ")]
    assert len(lines) == 1
    line = lines[0]
    for part in ("type=text", "openid=o_alice", "handler=help_text", "outcome=reply", "ms="):
        assert part in line
