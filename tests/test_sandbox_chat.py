"""The chat page shows what WeChat shows (news cards, image bubbles, template cards) and its user sends what a WeChat
user sends (an image, a voice message, a video, a link), each push carrying a MediaId the sandbox's media/get serves."""
from __future__ import annotations

import base64
import re

import pytest
import requests
from wechatpy import WeChatClient

from tests.test_sandbox_api import _sandbox_credentials
from wechat_bot import Router, create_app
from wechat_bot.sandbox import point_at_sandbox

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture
def chat_site(redis, serve):
    """A site whose handlers answer an image with its MediaId, a link with its title and 新品 with a news card,
    served with its sandbox: (base URL, a chat session as o_chat, wechatpy on the sandbox)."""
    router, seen = Router(), {}

    @router.on("image")
    def picture(msg):
        seen["image"] = msg.media_id
        return f"收到图片 {msg.media_id}"

    @router.on("voice")
    def voice(msg):
        seen["voice"] = (msg.media_id, msg.format)
        return "收到语音"

    @router.on("video")
    def video(msg):
        seen["video"] = (msg.media_id, msg.thumb_media_id)
        return "收到视频"

    @router.on("link")
    def link(msg):
        return f"收到链接：{msg.title} {msg.url}"

    @router.keyword("新品")
    def news(msg):
        return [{"title": "秋季新品", "description": "点开看看", "url": "https://example.com/new",
                 "image": "https://example.com/new.jpg"}]

    base = serve(create_app(redis=redis, router=router, sandbox_origin=True))
    chat = requests.Session()
    chat.post(base + "/sandbox/api/user", json={"openid": "o_chat", "nickname": "小聊"}, timeout=10)
    appid, secret = _sandbox_credentials(base)
    return base, chat, point_at_sandbox(WeChatClient(appid, secret, timeout=5), base), seen


def push(base: str, chat: requests.Session, **body) -> dict:
    answer = chat.post(base + "/sandbox/api/push", json=body, timeout=15)
    assert answer.ok, answer.text
    return answer.json()


def test_an_image_sent_from_the_chat_reaches_the_image_handler_with_a_media_id_media_get_serves(chat_site):
    base, chat, client, seen = chat_site
    exchange = push(base, chat, kind="image", data="data:image/png;base64," + base64.b64encode(PNG).decode(),
                    name="a.png")
    assert exchange["reply_html"] == f"收到图片 {seen['image']}"
    assert "<MediaId><![CDATA[" + seen["image"] in exchange["request_xml"] and "<PicUrl>" in exchange["request_xml"]
    assert client.media.download(seen["image"]).content == PNG
    assert 'class="picture"' in exchange["mine_html"]  # the user sees their picture in the chat


def test_a_voice_a_video_and_a_link_from_the_chat(chat_site):
    base, chat, client, seen = chat_site
    wav = b"RIFF" + b"\x00" * 40
    assert push(base, chat, kind="voice", data="data:audio/wav;base64," + base64.b64encode(wav).decode(),
                name="语音.wav")["reply_html"] == "收到语音"
    assert seen["voice"][1] == "wav" and client.media.download(seen["voice"][0]).content == wav
    assert push(base, chat, kind="video", data="data:video/mp4;base64," + base64.b64encode(b"mp4").decode(),
                name="a.mp4")["reply_html"] == "收到视频"
    assert requests.get(client.media.download(seen["video"][0])["video_url"], timeout=5).content == b"mp4"
    assert client.media.download(seen["video"][1]).headers["Content-Type"] == "image/jpeg"
    assert push(base, chat, kind="link", url="https://example.com/a", title="一篇文章")["reply_html"] == \
        "收到链接：一篇文章 https://example.com/a"


@pytest.mark.parametrize("body, error", [
    ({"kind": "image", "data": "not a data url"}, "没有图片文件"),
    ({"kind": "link", "url": "javascript:alert(1)"}, "链接要以 http:// 或 https:// 开头"),
    ({"kind": "teleport"}, "不认识的消息类型"),
])
def test_what_cannot_be_sent_is_refused_in_chinese(chat_site, body, error):
    base, chat, _, _ = chat_site
    answer = chat.post(base + "/sandbox/api/push", json=body, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == error


def test_a_news_reply_is_a_card_that_opens_its_url(chat_site):
    base, chat, _, _ = chat_site
    card = push(base, chat, kind="text", content="新品")["reply_html"]
    assert card.startswith('<a class="card news" href="https://example.com/new">')
    assert "秋季新品" in card and "点开看看" in card and '<img src="https://example.com/new.jpg"' in card


def test_customer_service_media_and_template_messages_show_as_wechat_draws_them(chat_site, redis):
    base, chat, client, _ = chat_site
    push(base, chat, kind="text", content="你好")
    seen = chat.get(base + "/sandbox/api/inbox", timeout=10).json()
    media_id = client.media.upload("image", ("p.png", PNG, "image/png"))["media_id"]
    client.message.send_image("o_chat", media_id)
    client.message.send_music("o_chat", "https://example.com/a.mp3", "https://example.com/a.mp3", media_id,
                              title="晴天", description="周杰伦")
    app_sandbox = type(_store(redis, base))(redis, *_sandbox_credentials(base))
    app_sandbox.add_template("TM_SHIPPED", title="发货通知", content="{{first.DATA}}\n快递：{{keyword1.DATA}}")
    client.message.send_template("o_chat", "TM_SHIPPED", {"first": {"value": "您的订单已发货"},
                                                          "keyword1": {"value": "顺丰 SF123"}},
                                 url="https://example.com/order/1")
    items = chat.get(base + "/sandbox/api/inbox", params={"sent": seen["sent"], "templates": seen["templates"]},
                     timeout=10).json()["items"]
    image, music, template = items
    assert re.search(r'<img class="picture" src="/sandbox/media/[\w-]+"', image)
    assert 'class="card music" href="https://example.com/a.mp3"' in music and "晴天" in music
    assert "发货通知" in template and "服务通知" in template and "快递：顺丰 SF123" in template
    assert '<a class="more" href="https://example.com/order/1">详情</a>' in template


def _store(redis, base):
    from wechat_bot.sandbox import SandboxStore

    return SandboxStore(redis, *_sandbox_credentials(base))


def test_the_chat_speaks_chinese_about_deliveries_and_tokens(chat_site, redis):
    import time

    from wechat_bot.oauth.tokens import TokenRecord, TokenStore

    base, chat, _, _ = chat_site
    exchange = push(base, chat, kind="text", content="你好")
    assert [d["outcome"] for d in exchange["deliveries"]] == ["已应答"]
    now = int(time.time())
    TokenStore(redis, _sandbox_credentials(base)[0]).save(TokenRecord(
        "o_chat", "snsapi_base", "A" * 86, "R" * 86, now + 7200, now + 30 * 86400, now))
    row, = chat.get(base + "/sandbox/api/tokens", timeout=10).json()["users"]
    assert row["access_token"] == "AAAA…（共 86 个字符）"


def test_media_upload_beside_a_site_takes_files_larger_than_a_push(chat_site):
    """The site's body limit is for WeChat's pushes (64 KB); the sandbox's media/upload beside it takes WeChat's
    sizes."""
    base, chat, client, _ = chat_site
    photo = PNG + b"\0" * (3 << 20)
    media_id = client.media.upload("image", ("big.png", photo, "image/png"))["media_id"]
    assert client.media.download(media_id).content == photo
    exchange = push(base, chat, kind="image", data="data:image/png;base64," + base64.b64encode(photo).decode(),
                    name="big.png")
    assert exchange["reply_html"].startswith("收到图片 ")


def test_in_safe_mode_the_chat_encrypts_the_push_and_reads_the_encrypted_reply(chat_site):
    base, chat, _, _ = chat_site
    sent = push(base, chat, kind="text", content="新品", safe=True)
    assert "<Encrypt>" in sent["sent_body"] and "新品" not in sent["sent_body"]
    assert "<Encrypt>" in sent["reply_body"] and sent["reply"]["MsgType"] == "news"
    assert sent["reply"]["Articles"][0]["Title"] == "秋季新品"
