"""A site's own test suite: `TESTING` with no credentials serves the sandbox account in process, and
`wechat_bot.testing.WeChatUser` chats with the site and opens its pages through Flask's test client."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from flask import Flask
from wechatpy.replies import ArticlesReply

from tests.conftest import AES_KEY, CREDENTIALS, NOWHERE
from tests.waiting import wait_until
from wechat_bot import ConfigError, Router, WeChatBot
from wechat_bot.testing import WeChatUser


def make_site(testing: bool = True) -> tuple[Flask, WeChatBot, threading.Event]:
    router, release = Router(), threading.Event()

    @router.keyword("发货")
    def ship(msg, ctx):
        ctx.client.message.send_template(msg.source, "TM_SHIPPED", {"first": {"value": "已发货"}})
        return "已通知"

    @router.keyword("慢")
    def slow(msg):
        release.wait(30)
        return "久等了"

    @router.click("CALL_ME")
    def call_me(msg, ctx):
        ctx.client.message.send_text(msg.source, "客服来了")  # a click opens custom/send for a minute (§6)
        return "好的"

    @router.click
    def menu(msg):
        return [{"title": "菜单", "description": msg.key, "url": "https://shop.example/", "image": ""}]

    @router.location
    def where(msg):
        return f"你在{msg.label}"

    @router.scan
    def scanned(msg):
        return "扫了 " + msg.scene_id

    @router.keyword("我是谁")
    def whoami(msg, ctx):
        return f"{ctx.user(msg.source).userinfo()['nickname']} / {wechat.user(msg.source).scope}"

    @router.unsubscribe
    def bye(msg):
        seen.append(msg.source)

    seen: list[str] = []
    app = Flask("shop")
    app.config.update(TESTING=testing, SECRET_KEY="shop")
    wechat = WeChatBot(router=router)
    wechat.init_app(app)  # WeChat's own 4.5 s: a handler that calls the sandbox stays inside it on a busy machine
    app.extensions["shop.unfollowed"] = seen

    @app.get("/account")
    @wechat.login_required(scope="snsapi_userinfo")
    def account():
        user = wechat.current_user
        return f"{user.openid} {user.nickname}"

    @app.post("/orders/<openid>/shipped")
    def shipped(openid: str):
        wechat.client.message.send_template(openid, "TM_SHIPPED", {"first": {"value": "到了"}})
        return "ok"
    return app, wechat, release


@pytest.fixture
def site():
    app, wechat, release = make_site()
    app.extensions["wechat_sandbox"].add_template("TM_SHIPPED")
    app.extensions["shop.release"] = release
    yield app, wechat
    release.set()


def test_a_site_with_testing_and_no_credentials_imports_and_leaves_nothing_here(tmp_path):
    app, _, _ = make_site()
    assert app.extensions["wechat_bot"].sandboxed
    assert not (Path.cwd() / "var").exists()
    other, _, _ = make_site()
    assert other.extensions["wechat_bot"].settings.var_dir != app.extensions["wechat_bot"].settings.var_dir


def test_without_testing_missing_credentials_still_stop_start_up():
    with pytest.raises(ConfigError, match=r'WECHAT_TOKEN.*set app.config\["TESTING"\] = True'):
        make_site(testing=False)


def test_chat_replies_have_text_links_xml_and_the_wechatpy_reply(site):
    app, _ = site
    user = WeChatUser(app, openid="oBuyer")
    welcome = user.follow()
    assert "登录" in welcome.text and welcome.links and welcome.xml.startswith("<xml>")
    news = user.click("MENU_NEWS")
    assert isinstance(news.reply, ArticlesReply) and news.reply.articles[0]["description"] == "MENU_NEWS"
    assert user.location(23.13, 113.26, "广州塔").text == "你在广州塔"
    assert user.unfollow().xml == "success"
    assert app.extensions["shop.unfollowed"] == ["oBuyer"]


def test_in_safe_mode_the_user_encrypts_as_wechat_does(redis):
    app = Flask("safe_site")
    app.config.update(CREDENTIALS, **NOWHERE, TESTING=True, WECHAT_ENCRYPTION="safe", WECHAT_ENCODING_AES_KEY=AES_KEY)
    WeChatBot().init_app(app, redis=redis)
    user = WeChatUser(app, openid="oSafe")
    assert "snsapi_base" in user.send("登录").links[0]  # safe mode refuses a plaintext push (403)


def test_a_chat_login_link_opens_the_landing_page_and_signs_the_client_in(site):
    app, _ = site
    user = WeChatUser(app, openid="oBuyer", nickname="小王")
    page = user.open(user.send("资料").links[0])
    assert page.status_code == 200 and "小王" in page.get_data(as_text=True)
    assert user.client.get("/account").get_data(as_text=True) == "oBuyer 小王"
    assert user.send("我是谁").text == "小王 / snsapi_userinfo"  # ctx.user and wechat.user, no app context


def test_a_page_behind_login_is_reached_through_the_sandboxs_consent(site):
    app, _ = site
    user = WeChatUser(app, openid="oGuest", nickname="访客")
    assert user.client.get("/account").status_code == 302
    assert user.open("/account").get_data(as_text=True) == "oGuest 访客"
    refused = WeChatUser(app, openid="oNo").open("/account", allow=False)
    assert "拒绝" in refused.get_data(as_text=True)


def test_template_messages_from_a_handler_and_a_view_reach_the_sandbox(site):
    app, _ = site
    user = WeChatUser(app, openid="oBuyer")
    assert user.send("发货").text == "已通知"
    assert user.client.post("/orders/oBuyer/shipped").status_code == 200
    assert [sent["data"]["first"]["value"] for sent in user.templates()] == ["已发货", "到了"]
    sandbox = app.extensions["wechat_sandbox"]
    assert sandbox.calls("/cgi-bin/token") == 0 and sandbox.calls("/cgi-bin/stable_token") == 1


def test_a_user_who_follows_from_the_start_gets_a_views_template_before_ever_writing(site):
    app, _ = site
    user = WeChatUser(app, openid="oQuiet")
    assert user.client.post("/orders/oQuiet/shipped").status_code == 200
    assert [sent["data"]["first"]["value"] for sent in user.templates()] == ["到了"]


def test_a_late_reply_arrives_as_a_customer_service_message(site):
    app, _ = site
    user = WeChatUser(app, openid="oBuyer")
    assert user.send("慢").xml == "success"  # past the window (4.5 s): answered success, the answer follows
    app.extensions["shop.release"].set()
    wait_until(user.messages, "the late answer")
    assert [sent["text"]["content"] for sent in user.messages()] == ["久等了"]


def test_scanning_one_of_the_accounts_codes(site):
    app, wechat = site
    with app.app_context():
        code = wechat.client.qrcode.create({"expire_seconds": 60, "action_name": "QR_STR_SCENE",
                                             "action_info": {"scene": {"scene_str": "table_9"}}})
    user = WeChatUser(app, openid="oDiner")
    user.follow()
    assert user.scan(code["url"]).text == "扫了 table_9"
    newcomer = WeChatUser(app, openid="oNew", following=False)
    assert newcomer.scan(code["url"]).text == "扫了 table_9"
    with app.app_context():
        assert wechat.client.user.get("oNew")["qr_scene_str"] == "table_9"  # followed by scanning that code


def test_a_menu_click_lets_the_handler_write_to_the_user(site):
    app, _ = site
    user = WeChatUser(app, openid="oClicker")
    assert user.click("CALL_ME").text == "好的"
    assert [sent["text"]["content"] for sent in user.messages()] == ["客服来了"]
