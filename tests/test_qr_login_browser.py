"""Scan to sign in, in Chromium against `python run.py`'s sandbox: the desktop page's code decodes to the url WeChat
gave, the sandbox phone scans it and confirms, and the desktop page signs itself in and goes on to `next`."""
import io

import pytest
from playwright.sync_api import expect  # noqa: E402

from tests import test_browser
from tests.test_browser import become, shoot

# test_browser's fixtures: the one sandbox both files' tests share (pytest finds a fixture by its name in the module),
# and its browser under this file's name
sandbox_home, sandbox_server = test_browser.sandbox_home, test_browser.sandbox_server
chromium = test_browser.browser

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")


def test_a_desktop_signs_in_by_scanning_with_the_sandbox_phone(chromium, sandbox_server, tmp_path):
    desktop = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
    desktop.set_default_timeout(15_000)
    desktop.goto(sandbox_server + "/oauth/qr?next=/sandbox/tokens")
    expect(desktop.locator("#qr-title")).to_have_text("请使用微信扫一扫")
    url = desktop.locator("#qr-code").get_attribute("data-url")
    picture = Image.open(io.BytesIO(desktop.locator("#qr-code svg").screenshot()))
    decoded = [barcode.text for barcode in zxingcpp.read_barcodes(picture)]
    assert decoded == [url] and url.startswith("http://weixin.qq.com/q/")
    shoot(desktop, "qr-login", tmp_path)

    phone = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                 locale="zh-CN").new_page()
    phone.set_default_timeout(15_000)
    become(phone, sandbox_server, "o_qr_newcomer", "扫码的人")
    phone.goto(f"{sandbox_server}/sandbox/chat?scan={url}")
    link = phone.locator(".bot .bubble a", has_text="确认登录")
    expect(link).to_be_visible()
    expect(phone.locator(".bot .bubble").last).to_contain_text("欢迎关注")  # not a follower: subscribe + qrscene_
    expect(desktop.locator("#qr-title")).to_have_text("已扫码，请在手机上确认")
    link.click()
    expect(phone.locator("h1")).to_contain_text("登录「")
    phone.click("#confirm")
    expect(phone.locator("h1")).to_have_text("已确认登录")

    desktop.wait_for_url("**/sandbox/tokens")
    other = chromium.new_context().new_page()
    status = other.request.get(sandbox_server + "/oauth/qr/status").json()
    assert status["state"] == "expired"  # another browser: nobody signed in there


def test_a_newcomer_signs_the_desktop_in_from_the_chat_pages_link_in_a_few_clicks(chromium, sandbox_server):
    """The sandbox alone, no user set up: 扫码登录 on the chat page, 用沙箱微信扫码 on the code, 确认登录 twice."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    desktop, phone = scanned_from_the_chat_page(context, sandbox_server)
    phone.click("#confirm")
    expect(phone.locator("h1")).to_have_text("已确认登录")
    desktop.wait_for_url("**/sandbox/tokens")
    context.close()


def test_a_cancel_on_the_phone_is_said_on_the_desktop(chromium, sandbox_server):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    desktop, phone = scanned_from_the_chat_page(context, sandbox_server)
    phone.click("#cancel")
    expect(phone.locator("h1")).to_have_text("已取消登录")
    expect(desktop.locator("#qr-title")).to_have_text("已在手机上取消登录")
    expect(desktop.locator("#again")).to_have_text("刷新二维码")
    context.close()


def scanned_from_the_chat_page(context, sandbox_server: str):
    """扫码登录 on the sandbox's chat page, 用沙箱微信扫码 on the code, the reply's 确认登录 link opened: the desktop
    page and the phone's confirm page."""
    chat = context.new_page()
    chat.set_default_timeout(15_000)
    chat.goto(sandbox_server + "/sandbox/chat")
    with context.expect_page() as opened:
        chat.click("#qr-link")
    desktop = opened.value
    expect(desktop.locator("#qr-title")).to_have_text("请使用微信扫一扫")
    with context.expect_page() as opened:
        desktop.click("#sandbox-scan")
    phone = opened.value
    phone.locator(".bot .bubble a", has_text="确认登录").click()
    return desktop, phone

