"""wechatpy, pointed at the sandbox, gets WeChat's answer where WeChat refuses: customer-service counts and shapes,
forced token refreshes, token errcodes on every endpoint; and the APIs a site most uses answer instead of 48001."""
from __future__ import annotations

import io

import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from tests.conftest import APPID, SECRET
from wechat_bot.sandbox import SandboxStore, create_sandbox_app, point_at_sandbox
from wechat_bot.sandbox.api import ERRCODES, TOKEN_ERRCODES
from wechat_bot.wechat_api import WeChatClient as OurClient

PNG = b"\x89PNG\r\n\x1a\n sandbox picture"


class Clock:
    """The sandbox's time, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def timed(redis, serve, clock):
    """A sandbox over real HTTP whose clock the test moves."""
    store = SandboxStore(redis, APPID, SECRET, clock=clock)
    store.url = serve(create_sandbox_app(redis, APPID, SECRET, clock=clock))
    return store


@pytest.fixture
def client(sandbox):
    return point_at_sandbox(WeChatClient(APPID, SECRET, timeout=5), sandbox.url)


def refused(call, *args) -> int:
    with pytest.raises(WeChatClientException) as error:
        call(*args)
    return error.value.errcode


def test_five_messages_after_a_users_message_then_45047(client, sandbox):
    sandbox.pushed("o_alice", "text")
    for n in range(5):
        assert client.message.send_text("o_alice", f"第{n}条")["errcode"] == 0
    assert refused(client.message.send_text, "o_alice", "第6条") == 45047
    sandbox.pushed("o_alice", "text")  # the user writes again: five more
    assert client.message.send_text("o_alice", "又一条")["errcode"] == 0


@pytest.mark.parametrize("event", ["subscribe", "CLICK", "SCAN"])
def test_three_messages_in_the_minute_after_a_follow_a_click_or_a_scan(client, sandbox, event):
    sandbox.save_user("o_alice")
    sandbox.pushed("o_alice", "event", event)
    for n in range(3):
        assert client.message.send_text("o_alice", f"第{n}条")["errcode"] == 0
    assert refused(client.message.send_text, "o_alice", "第4条") == 45047


def test_a_view_click_opens_no_window(client, sandbox):
    sandbox.save_user("o_alice")
    sandbox.pushed("o_alice", "event", "VIEW")
    assert refused(client.message.send_text, "o_alice", "你好") == 45015


def test_the_minutes_count_ends_with_the_minute_then_45015(timed, clock):
    client = point_at_sandbox(WeChatClient(APPID, SECRET, timeout=5), timed.url)
    timed.save_user("o_alice")
    timed.pushed("o_alice", "event", "subscribe")
    assert client.message.send_text("o_alice", "欢迎")["errcode"] == 0
    clock.now += 61
    assert refused(client.message.send_text, "o_alice", "晚了") == 45015


def test_news_with_two_articles_is_45008_an_unknown_msgtype_40008(client, sandbox):
    sandbox.pushed("o_alice", "text")
    article = {"title": "标题", "description": "描述", "url": "https://example.com/", "image": ""}
    assert refused(client.message.send_articles, "o_alice", [article, article]) == 45008
    assert client.message.send_articles("o_alice", [article])["errcode"] == 0
    assert refused(client.message._send_custom_message, {"touser": "o_alice", "msgtype": "sticker",
                                                         "sticker": {"id": 1}}) == 40008
    assert refused(client.message._send_custom_message, {"touser": "o_alice", "msgtype": ["text"]}) == 40008
    assert len(sandbox.sent("o_alice")) == 1  # refused messages spend nothing and are not delivered


def test_an_image_needs_a_media_id_from_media_upload(client, sandbox):
    sandbox.pushed("o_alice", "text")
    assert refused(client.message.send_image, "o_alice", "never-uploaded") == 40007
    uploaded = client.media.upload("image", ("a.png", io.BytesIO(PNG), "image/png"))
    assert uploaded["type"] == "image" and uploaded["media_id"]
    assert client.message.send_image("o_alice", uploaded["media_id"])["errcode"] == 0
    picture = client.media.download(uploaded["media_id"])
    assert picture.content == PNG and picture.headers["Content-Type"] == "image/png"


def test_temporary_media_live_three_days(timed, clock):
    client = point_at_sandbox(WeChatClient(APPID, SECRET, timeout=5), timed.url)
    media_id = client.media.upload("voice", ("a.amr", io.BytesIO(b"#!AMR\n..."), "audio/amr"))["media_id"]
    clock.now += 3 * 24 * 3600 - 60
    assert client.media.download(media_id).content == b"#!AMR\n..."
    clock.now += 120
    assert refused(client.media.download, media_id) == 40007
    timed.pushed("o_alice", "text")
    assert refused(client.message.send_voice, "o_alice", media_id) == 40007


@pytest.mark.parametrize("kind, name, size, errcode", [
    ("thumb", "big.jpg", 64 * 1024 + 1, 40012), ("voice", "long.mp3", 2 * 1024 * 1024 + 1, 40010),
    ("voice", "a.wav", 10, 40005), ("image", "a.webp", 10, 40005), ("sticker", "a.png", 10, 40004),
    ("image", "empty.png", 0, 44001)])
def test_media_wechat_does_not_take_is_refused(client, kind, name, size, errcode):
    assert refused(client.media.upload, kind, (name, io.BytesIO(b"x" * size))) == errcode


def test_a_video_is_answered_as_its_url(client):
    media_id = client.media.upload("video", ("a.mp4", io.BytesIO(b"\x00\x00\x00 ftypmp4"), "video/mp4"))["media_id"]
    url = client.media.download(media_id)["video_url"]
    assert requests.get(url, timeout=5).content == b"\x00\x00\x00 ftypmp4"


def stable(sandbox, force: bool) -> dict:
    return requests.post(sandbox.url + "/cgi-bin/stable_token", timeout=5, json={
        "grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": force}).json()


def test_a_forced_refresh_ends_the_old_token_at_once(sandbox):
    old = stable(sandbox, force=False)["access_token"]
    new = stable(sandbox, force=True)["access_token"]
    assert new != old
    assert requests.get(sandbox.url + "/cgi-bin/menu/get", params={"access_token": old}, timeout=5).json()[
        "errcode"] == 40001
    assert requests.get(sandbox.url + "/cgi-bin/getcallbackip", params={"access_token": new}, timeout=5).json() == {
        "ip_list": ["127.0.0.1"]}


def test_forced_refreshes_are_30_seconds_apart_and_20_a_day(timed, clock):
    assert "access_token" in stable(timed, force=True)
    clock.now += 29
    assert stable(timed, force=True)["errcode"] == 45011
    for _ in range(19):
        clock.now += 30
        assert "access_token" in stable(timed, force=True)
    clock.now += 30
    assert stable(timed, force=True)["errcode"] == 45009
    assert "access_token" in stable(timed, force=False)  # an unforced call still answers
    clock.now += 24 * 3600
    assert "access_token" in stable(timed, force=True)


def test_our_client_sees_the_refusal_as_wechats_errcode(sandbox):
    ours = OurClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=2, budget=3)
    ours.stable_token(force_refresh=True)
    with pytest.raises(Exception) as error:
        ours.stable_token(force_refresh=True)
    assert getattr(error.value, "errcode", None) == 45011
    sandbox.allow_forced_refresh()
    assert ours.stable_token(force_refresh=True)["access_token"]


ACCOUNT_TOKEN_PATHS = sorted(path for path, codes in ERRCODES.items()
                             if path.startswith("/cgi-bin/") and set(TOKEN_ERRCODES) <= codes)


@pytest.mark.parametrize("path", ACCOUNT_TOKEN_PATHS)
def test_every_account_endpoint_answers_41001_42001_and_40001_as_wechat_does(timed, clock, path):
    method = "GET" if 43001 in ERRCODES[path] else "POST"

    def call(**params) -> int:
        return requests.request(method, timed.url + path, params=params, timeout=5).json().get("errcode")
    assert call() == 41001
    expiring = timed.global_token()["access_token"]
    clock.now += 7201
    assert call(access_token=expiring) == 42001
    assert call(access_token="made-up") == 40001


def test_wechatpy_recovers_from_a_token_someone_else_replaced(client, sandbox):
    client.menu.create({"button": [{"type": "click", "name": "签到", "key": "SIGN_IN"}]})
    stable(sandbox, force=True)  # another system forced a new token: wechatpy's own (cgi-bin/token) lives on
    assert client.menu.get()["menu"]["button"][0]["key"] == "SIGN_IN"


def test_followers_their_remarks_and_batchget(client, sandbox):
    for openid in ("o_alice", "o_bob", "o_carol"):
        sandbox.pushed(openid, "event", "subscribe")
    sandbox.pushed("o_carol", "event", "unsubscribe")
    listed = client.user.get_followers()
    assert listed["total"] == 2 and listed["data"]["openid"] == ["o_alice", "o_bob"]
    assert client.user.update_remark("o_bob", "老鲍")["errcode"] == 0
    assert client.user.get("o_bob")["remark"] == "老鲍"
    batch = client.user.get_batch(["o_alice", "o_bob"])
    assert [user["remark"] for user in batch] == ["", "老鲍"]
    assert refused(client.user.get_batch, ["o_nobody"]) == 40003


def test_tags_as_wechat_keeps_them(client, sandbox):
    sandbox.pushed("o_alice", "event", "subscribe")
    tag = client.tag.create("常客")
    assert tag["id"] >= 100 and tag["name"] == "常客"
    assert refused(client.tag.create, "常客") == 45157
    assert refused(client.tag.create, "名" * 11) == 45158
    assert client.tag.tag_user(tag["id"], ["o_alice"])["errcode"] == 0
    assert client.user.get("o_alice")["tagid_list"] == [tag["id"]]
    assert client.tag.get_tag_users(tag["id"])["data"]["openid"] == ["o_alice"]
    assert {"id": tag["id"], "name": "常客", "count": 1} in client.tag.get()
    assert client.tag.update(tag["id"], "熟客")["errcode"] == 0
    assert refused(client.tag.update, 2, "改名") == 45058
    assert refused(client.tag.tag_user, 999, ["o_alice"]) == 45159
    assert refused(client.tag.tag_user, tag["id"], [f"o_{n}" for n in range(51)]) == 40032
    assert client.tag.delete(tag["id"])["errcode"] == 0
    assert client.user.get("o_alice")["tagid_list"] == []


def test_a_follow_by_scanning_shows_in_user_info(client, sandbox):
    sandbox.pushed("o_alice", "event", "subscribe", scene="login-42")
    info = client.user.get("o_alice")
    assert info["subscribe_scene"] == "ADD_SCENE_QR_CODE" and info["qr_scene_str"] == "login-42"
    sandbox.pushed("o_bob", "event", "subscribe", scene="7")
    assert client.user.get("o_bob")["qr_scene"] == 7
    sandbox.pushed("o_carol", "event", "subscribe")
    assert client.user.get("o_carol")["subscribe_scene"] == "ADD_SCENE_OTHERS"


def test_what_the_sandbox_does_not_simulate_says_so(client):
    assert refused(client.menu.add_conditional, {"button": [], "matchrule": {"tag_id": "2"}}) == 48001
    try:
        client.menu.add_conditional({"button": [], "matchrule": {"tag_id": "2"}})
    except WeChatClientException as error:
        assert "the sandbox does not simulate /cgi-bin/menu/addconditional" in error.errmsg


def test_showqrcode_is_a_jpeg_of_the_code_by_its_base64_ticket(client):
    import zxingcpp
    from PIL import Image

    made = client.qrcode.create({"expire_seconds": 300, "action_name": "QR_STR_SCENE",
                                 "action_info": {"scene": {"scene_str": "login-1"}}})
    assert made["ticket"].startswith("gQ") and "+" in made["ticket"] and "/" in made["ticket"]
    shown = client.qrcode.show(made)
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(shown.content))
    assert picture.format == "JPEG"
    assert [code.text for code in zxingcpp.read_barcodes(picture)] == [made["url"]]
    assert requests.get(client.qrcode.get_url(made["ticket"]), timeout=5).status_code == 200
    unencoded = client.qrcode.get_url("x").split("?")[0] + "?ticket=" + made["ticket"]
    assert requests.get(unencoded, timeout=5).status_code == 404  # its `+` read as a space, as WeChat reads it


def test_a_follow_by_scanning_on_the_chat_page_shows_in_user_info(redis, serve):
    from tests.test_sandbox_api import _get, _sandbox_credentials
    from wechat_bot import create_app

    base = serve(create_app(redis=redis, sandbox_origin=True))
    app_sandbox = SandboxStore(redis, *_sandbox_credentials(base))
    app_sandbox.url = base
    client = point_at_sandbox(WeChatClient(app_sandbox.appid, app_sandbox.secret, timeout=5), base)
    url = client.qrcode.create({"expire_seconds": 300, "action_name": "QR_STR_SCENE",
                                "action_info": {"scene": {"scene_str": "shop-7"}}})["url"]
    chat = requests.Session()
    chat.post(base + "/sandbox/api/user", json={"openid": "o_bob"}, timeout=10)
    assert chat.post(base + "/sandbox/api/push", json={"kind": "scan", "url": url}, timeout=10).ok
    info = _get(app_sandbox, "/cgi-bin/user/info", openid="o_bob")
    assert info["subscribe_scene"] == "ADD_SCENE_QR_CODE" and info["qr_scene_str"] == "shop-7"


def test_the_readmes_wechatpy_block_runs_against_the_sandbox(redis, serve, capsys):
    import re

    from tests.conftest import project_root
    from wechat_bot import create_app

    page = (project_root() / "docs/guide/sandbox.md").read_text(encoding="utf-8")  # moved there from the README
    section = page.split("## 一行让 wechatpy 用上沙箱", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    base = serve(create_app(redis=redis, sandbox_origin=True))
    assert 'SANDBOX = "http://127.0.0.1:5000"' in code
    exec(compile(code.replace("http://127.0.0.1:5000", base), "docs/guide/sandbox.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "签到" and printed[1].startswith(base + "/connect/oauth2/authorize?")


def test_the_card_ticket_is_not_simulated_and_says_so(client):
    with pytest.raises(WeChatClientException) as error:
        client.jsapi.get_ticket("wx_card")
    assert error.value.errcode == 48001
    assert "does not simulate /cgi-bin/ticket/getticket?type=wx_card" in error.value.errmsg
