"""The sandbox in a real browser (headless Chromium driven by Playwright): chat, tap the link, see the page.

Needs Debian's `chromium` (and `fonts-noto-cjk` for Chinese in screenshots); `.ci/run` installs both. Without
Chromium these tests are skipped on a developer's machine, but never in CI. UPDATE_SCREENSHOTS=1 writes the
README's screenshots to docs/screenshots/.
"""
import os
import shutil
import socket
from pathlib import Path

import pytest

from tests import processes
from tests.conftest import project_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium fonts-noto-cjk)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 # origins that are not loopback's: a made-up name, and this machine's own (a phone on the LAN)
                 f"--host-resolver-rules=MAP wechat-bot.test 127.0.0.1, MAP {socket.gethostname()} 127.0.0.1"]
SCREENSHOTS = project_root() / "docs" / "screenshots"


@pytest.fixture(scope="module")
def sandbox_home(tmp_path_factory):
    """`python run.py` on a fresh directory: no credentials, so the sandbox. (base URL, its directory)"""
    home = tmp_path_factory.mktemp("sandbox-home")
    with processes.run_py_serving(home) as (base, _):
        yield base, home


@pytest.fixture(scope="module")
def sandbox_server(sandbox_home):
    return sandbox_home[0]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN",
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shoot(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"))
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def become(page, base: str, openid: str, nickname: str) -> None:
    page.goto(base + "/sandbox/chat")
    page.fill("#openid", openid)
    page.fill("#nickname", nickname)
    page.click("#use-user")
    expect(page.locator("#current")).to_contain_text(openid)


def send(page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")


def test_login_from_the_chat_page_lands_on_the_openid(phone, sandbox_server, tmp_path):
    become(phone, sandbox_server, "o_browser_login", "小明")
    send(phone, "登录")
    link = phone.locator(".bot .bubble a", has_text="点此登录")
    expect(link).to_be_visible()
    send(phone, "你好")
    expect(phone.locator(".bot .bubble").nth(1)).to_contain_text("发送「登录」")
    shoot(phone, "chat", tmp_path)
    link.click()
    expect(phone.locator("h1")).to_have_text("登录成功")
    expect(phone.locator(".openid")).to_contain_text("o_browser_login")
    assert "/oauth/result/" in phone.url and "code=" not in phone.url


def test_userinfo_allow_shows_the_nickname(phone, sandbox_server):
    become(phone, sandbox_server, "o_browser_allow", "小红🌸")
    send(phone, "资料")
    phone.locator(".bot .bubble a").click()
    expect(phone.locator("h1")).to_have_text("申请获取以下权限")
    phone.click("#allow")
    expect(phone.locator("h1")).to_have_text("授权成功")
    expect(phone.locator(".name")).to_have_text("小红🌸")


def test_userinfo_deny_shows_the_refusal(phone, sandbox_server):
    become(phone, sandbox_server, "o_browser_deny", "小刚")
    send(phone, "资料")
    phone.locator(".bot .bubble a").click()
    phone.click("#deny")
    expect(phone.locator("h1")).to_have_text("你已拒绝授权")


def test_safe_mode_and_follow_from_the_chat_page(phone, sandbox_server):
    become(phone, sandbox_server, "o_browser_safe", "小安")
    phone.check("#safe")
    phone.click("#follow")
    expect(phone.locator(".bot .bubble").first).to_contain_text("欢迎关注")
    phone.locator("details summary").first.click()
    expect(phone.locator("details pre").nth(1)).to_contain_text("<Encrypt>")


def test_the_tokens_page_shows_renewal_and_reauthorization(phone, sandbox_server, tmp_path):
    become(phone, sandbox_server, "o_browser_tokens", "小令")
    send(phone, "登录")
    phone.locator(".bot .bubble a").click()
    expect(phone.locator("h1")).to_have_text("登录成功")
    phone.goto(sandbox_server + "/sandbox/tokens")
    card = phone.locator(".user", has_text="o_browser_tokens")
    expect(card.locator(".status")).to_have_text("有效")
    token = card.locator("dd").nth(1)
    before = token.inner_text().split("…")[0]
    card.locator("button[data-action=expire-access]").click()
    expect(token).to_contain_text("已过期")
    expect(token).to_contain_text("剩余 1 小时", timeout=15_000)  # the worker renewed it: two hours again
    assert token.inner_text().split("…")[0] != before  # with a new token
    expect(card.locator(".status")).to_have_text("有效")
    shoot(phone, "tokens", tmp_path)
    card.locator("button[data-action=expire-refresh]").click()
    expect(card.locator(".status")).to_have_text("需重新授权", timeout=15_000)
    phone.goto(sandbox_server + "/sandbox/chat")
    send(phone, "在吗")
    expect(phone.locator(".bot .bubble").last).to_contain_text("你的授权已过期")


def test_a_newcomer_types_login_first_thing_and_sees_the_link(phone, sandbox_server):
    phone.goto(sandbox_server + "/")
    expect(phone.locator("#current")).not_to_contain_text("未选择")
    send(phone, "登录")
    expect(phone.locator(".bot .bubble a", has_text="点此登录")).to_be_in_viewport()


def test_the_newest_reply_is_always_in_view(phone, sandbox_server):
    become(phone, sandbox_server, "o_browser_scroll", "小滚")
    for n in range(8):
        send(phone, f"第 {n} 条")
        expect(phone.locator(".bot .bubble")).to_have_count(n + 1)
    expect(phone.locator(".bot .bubble").last).to_be_in_viewport()


def test_history_and_the_user_survive_tapping_a_link_and_coming_back(phone, sandbox_server):
    become(phone, sandbox_server, "o_browser_back", "小回")
    send(phone, "你好")
    send(phone, "登录")
    phone.locator(".bot .bubble a", has_text="点此登录").click()
    expect(phone.locator("h1")).to_have_text("登录成功")
    phone.go_back()
    expect(phone.locator("#current")).to_contain_text("o_browser_back")
    expect(phone.locator("#known")).to_have_value("o_browser_back")
    expect(phone.locator(".me .bubble")).to_have_count(2)


def test_the_userinfo_result_shows_the_sandbox_users_avatar(phone, sandbox_server):
    become(phone, sandbox_server, "o_browser_face", "小脸")
    send(phone, "资料")
    phone.locator(".bot .bubble a").click()
    phone.click("#allow")
    avatar = phone.locator("img.avatar")
    expect(avatar).to_be_visible()
    assert "/sandbox/avatar/o_browser_face.svg" in avatar.get_attribute("src")
    assert avatar.evaluate("img => img.complete && img.naturalWidth > 0")


def test_the_tokens_page_says_expired_plainly_and_drops_a_revoked_user(phone, sandbox_home):
    import subprocess
    import sys

    base, home = sandbox_home
    become(phone, base, "o_browser_gone", "小走")
    send(phone, "登录")
    phone.locator(".bot .bubble a").click()
    expect(phone.locator("h1")).to_have_text("登录成功")
    phone.goto(base + "/sandbox/tokens")
    card = phone.locator(".user", has_text="o_browser_gone")
    card.locator("button[data-action=expire-refresh]").click()
    expect(card.locator(".status")).to_have_text("需重新授权", timeout=15_000)
    expect(card.locator("dd").nth(2)).to_have_text("已过期")
    assert "剩余 已过期" not in phone.content()
    env = {k: v for k, v in processes.clean_env().items() if not k.startswith("WECHAT_")}
    revoked = subprocess.run([sys.executable, str(project_root() / "run.py"), "tokens", "revoke", "o_browser_gone"],
                             cwd=home, env=env, capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    expect(phone.locator(".user", has_text="o_browser_gone")).to_have_count(0)


@pytest.fixture
def sandbox_on_network(tmp_path):
    """`serve --host 0.0.0.0 --sandbox-on-network` (reached over loopback only): (base URL by this machine's name,
    its directory)."""
    port, log = processes.free_port(), tmp_path / "server.log"
    server = processes.start([str(project_root() / "run.py"), "serve", "--host", "0.0.0.0", "--port", str(port),
                              "--sandbox-on-network", "--no-worker"], tmp_path, processes.clean_env(), log)
    try:
        processes.wait_healthy(f"http://127.0.0.1:{port}", server, log)
        yield f"http://{socket.gethostname()}:{port}", tmp_path
    finally:
        processes.stop(server)
        from wechat_bot.storage import embedded_redis

        embedded_redis.stop(tmp_path / "var")


def test_a_page_rebinding_its_name_to_this_machine_is_refused_by_the_sandbox(phone, sandbox_home):
    """DNS rebinding: a page whose name resolves to 127.0.0.1 reaches the port, but the sandbox answers no Host that
    does not name this machine."""
    response = phone.goto(sandbox_home[0].replace("127.0.0.1", "wechat-bot.test") + "/sandbox/chat")
    assert response.status == 403 and "本机" in phone.content()


def test_the_sandbox_on_the_network_over_plain_http_takes_its_own_forms(phone, sandbox_on_network):
    """`serve --host 0.0.0.0 --sandbox-on-network`, opened from a phone at http://<this machine's name>: no
    Sec-Fetch-Site there (not a trustworthy origin), so the same-origin check rests on the Origin header the pages
    let through."""
    import json
    from urllib.parse import quote

    base = sandbox_on_network[0]
    become(phone, base, "o_browser_lan", "小网")
    appid = json.loads((sandbox_on_network[1] / "var" / "sandbox.json").read_text())["WECHAT_APPID"]
    phone.context.clear_cookies()
    phone.goto(f"{base}/connect/oauth2/authorize?appid={appid}&redirect_uri={quote(base + '/healthz', safe='')}"
               "&response_type=code&scope=snsapi_userinfo&state=lan#wechat_redirect")
    phone.fill("input[name=openid]", "o_browser_lan")
    phone.click("form button[type=submit]")
    expect(phone.locator("h1")).to_have_text("申请获取以下权限")
    phone.click("#allow")
    phone.wait_for_url("**/healthz?code=*")


SHOP = '''
from flask import Flask
from wechat_bot import Router, WeChatBot

router = Router()
wechat = WeChatBot(router=router)

@router.keyword("催单")
def hurry(msg, ctx):
    ctx.client.message.send_template(msg.source, "TM_SHIPPED", {"first": {"value": "已加急发货"},
                                                                "keyword1": {"value": "顺丰 SF1024"}})
    return "已加急"

@router.keyword("长文")
def essay(msg):
    return "".join(f"第{n}段。" for n in range(900))

@router.keyword("新品")
def news(msg):
    return [{"title": "秋季新品上市", "description": "桂花糕、栗子蛋糕，点开看看", "url": "https://example.com/new",
             "image": ""}]

@router.on("image")
def picture(msg):
    return f"收到你的图片：{msg.media_id[:8]}"

def create():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "shop"
    wechat.init_app(app)
    app.extensions["wechat_sandbox"].add_template("TM_SHIPPED", title="订单发货通知",
                                                  content="{{first.DATA}}\\n快递：{{keyword1.DATA}}")

    @app.post("/orders/<openid>/shipped")                 # a view, not a handler, sends the template message
    def shipped(openid):
        wechat.client.message.send_template(openid, "TM_SHIPPED", {"first": {"value": "您的订单已发货"},
                                                                   "keyword1": {"value": "顺丰 SF2048"}},
                                            url="https://example.com/orders/1")
        return "ok"
    return app
'''


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A site with handlers and a view that sends a template message, served with the sandbox."""
    home = tmp_path_factory.mktemp("shop")
    (home / "shop.py").write_text(SHOP, encoding="utf-8")
    port, log = processes.free_port(), home / "serve.log"
    server = processes.start([str(project_root() / "run.py"), "serve", "--app", "shop:create()", "--port", str(port),
                              "--no-worker"], home, processes.clean_env(), log)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_healthy(base, server, log)
        yield base
    finally:
        processes.stop(server)
        from wechat_bot.storage import embedded_redis

        embedded_redis.stop(home / "var")


def test_the_chat_shows_template_and_customer_service_messages_as_they_arrive(phone, shop):
    become(phone, shop, "o_browser_shop", "顾客")
    send(phone, "催单")
    card = phone.locator(".bot .card.template", has_text="已加急发货")
    expect(card).to_contain_text("订单发货通知")
    expect(card).to_contain_text("快递：顺丰 SF1024")
    send(phone, "长文")
    expect(phone.locator(".bot .bubble", has_text="第899段。")).to_be_visible()  # the rest, after the reply


def test_a_news_reply_shows_as_a_card_that_opens_its_url(phone, shop, tmp_path):
    become(phone, shop, "o_browser_news", "看新品")
    send(phone, "新品")
    card = phone.locator(".bot a.card.news")
    expect(card).to_contain_text("秋季新品上市")
    expect(card).to_contain_text("桂花糕、栗子蛋糕，点开看看")
    assert card.get_attribute("href") == "https://example.com/new"
    shoot(phone, "chat-news", tmp_path)


def test_a_template_message_sent_from_a_view_appears_in_the_chat(phone, shop, tmp_path):
    import requests

    become(phone, shop, "o_browser_view", "等发货")
    send(phone, "你好")  # a follower who wrote
    expect(phone.locator(".bot .bubble").first).to_be_visible()
    assert requests.post(shop + "/orders/o_browser_view/shipped", timeout=10).text == "ok"
    card = phone.locator(".bot .card.template", has_text="您的订单已发货")
    expect(card).to_contain_text("服务通知")
    expect(card).to_contain_text("快递：顺丰 SF2048")
    assert card.locator("a.more").get_attribute("href") == "https://example.com/orders/1"
    shoot(phone, "chat-template", tmp_path)


def test_an_image_sent_from_the_chat_page_reaches_the_image_handler(phone, shop, tmp_path):
    become(phone, shop, "o_browser_image", "发图")
    phone.click("#more")
    phone.click("#draw-image")
    expect(phone.locator(".me img.picture")).to_be_visible()
    expect(phone.locator(".bot .bubble", has_text="收到你的图片")).to_be_visible()
    phone.set_input_files("#image-file", files=[{"name": "p.png", "mimeType": "image/png", "buffer": picture_file()}])
    expect(phone.locator(".bot .bubble", has_text="收到你的图片")).to_have_count(2)
    expect(phone.locator(".me img.picture")).to_have_count(2)
    shoot(phone, "chat-image", tmp_path)


def picture_file() -> bytes:
    """A photo from the phone's album: a real PNG."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (240, 160), "#f3c969")
    ImageDraw.Draw(image).ellipse((80, 30, 180, 130), fill="#d9534f")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
