"""The JS-SDK in headless Chromium against the sandbox: the /sandbox/jssdk page reaches config:ok and its APIs
answer; a wrong signature reaches wx.error with WeChat's text; wx.js signs the landing URL on iOS and the current
one elsewhere, across pushState. (Skipped with test_browser.py when Chromium is missing, never in CI.)"""
from __future__ import annotations

import json

import pytest
import redis as redis_py
from playwright.sync_api import expect  # noqa: E402

from tests.test_browser import become, browser, sandbox_home, sandbox_server  # noqa: F401

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Mobile/15E148 MicroMessenger/8.0.50(0x18003233) NetType/WIFI Language/zh_CN")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
           "Safari/537.36 MicroMessenger/8.0.50.2600(0x28003234) NetType/WIFI Language/zh_CN")


@pytest.fixture
def phone_as(browser):  # noqa: F811
    contexts = []

    def open_with(user_agent: str | None = None):
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                      has_touch=True, user_agent=user_agent)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page
    yield open_with
    for context in contexts:
        context.close()


def outcome(page, call: str) -> str:
    """`call` (a wechatJssdk.configure(...) expression) settled: "ok", or the errMsg it was rejected with."""
    return page.evaluate(f"() => {call}.then(() => 'ok', error => error.errMsg)")


def test_the_sandbox_jssdk_page_reaches_config_ok_and_its_apis_answer(phone_as, sandbox_server):  # noqa: F811
    page = phone_as()
    become(page, sandbox_server, "o_jssdk_page", "小签")
    pushed = page.request.post(sandbox_server + "/sandbox/api/push",
                               data={"kind": "location", "lat": "31.2304", "lng": "121.4737", "label": "上海"})
    assert pushed.ok
    page.goto(sandbox_server + "/sandbox/jssdk")
    expect(page.locator("#status")).to_have_text("config:ok")
    expect(page.locator("#wx-sandbox-bar")).to_contain_text("沙箱 JS-SDK：config:ok")
    result = page.locator("#result")
    page.click("#network")
    expect(result).to_contain_text('"networkType": "wifi"')
    expect(result).to_contain_text("getNetworkType:ok")
    page.click("#location")
    expect(result).to_contain_text('"latitude": 31.2304')
    page.click("#image")
    expect(page.locator("#photo")).to_be_visible()
    assert page.locator("#photo").evaluate("img => img.complete && img.naturalWidth > 0")
    page.click("#scan")
    page.fill("#wx-sandbox-scan input", "https://example.com/qr?id=1")
    page.click("#wx-sandbox-scan [data-choice=ok]")
    expect(result).to_contain_text('"resultStr": "https://example.com/qr?id=1"')
    page.click("#share")
    expect(page.locator("#wx-sandbox-bar")).to_contain_text("分享给朋友：沙箱 JS-SDK")


def test_a_wrong_signature_reaches_wx_error_with_wechats_text(phone_as, sandbox_server):  # noqa: F811
    page = phone_as()
    page.goto(sandbox_server + "/sandbox/jssdk")
    expect(page.locator("#status")).to_have_text("config:ok")
    page.click("#wrong-url")
    expect(page.locator("#status")).to_have_text("config:invalid signature")
    page.click("#network")
    expect(page.locator("#result")).to_contain_text("getNetworkType:permission denied")
    page.click("#resign")
    expect(page.locator("#status")).to_have_text("config:ok")
    page.click("#network")
    expect(page.locator("#result")).to_contain_text("getNetworkType:ok")


def test_on_ios_wx_js_signs_the_url_the_page_landed_on_across_push_state(phone_as, sandbox_server):  # noqa: F811
    page = phone_as(IPHONE)
    page.goto(sandbox_server + "/sandbox/jssdk?from=chat#top")
    expect(page.locator("#status")).to_have_text("config:ok")
    page.evaluate("() => history.pushState({}, '', '/sandbox/jssdk?route=cart#items')")
    assert outcome(page, "wechatJssdk.configure()") == "ok"
    assert page.evaluate("() => wechatJssdk.signedUrl()") == sandbox_server + "/sandbox/jssdk?from=chat"
    assert outcome(page, "wechatJssdk.configure({url: location.href.split('#')[0]})") == "config:invalid signature"
    page.evaluate("""() => new Promise(done => {  // the app loads wx.js again after its route change
        const script = document.createElement('script');
        script.src = document.querySelector('script[data-apis]').src;
        script.onload = done;
        document.body.appendChild(script);
    })""")
    assert page.evaluate("() => wechatJssdk.landingUrl") == sandbox_server + "/sandbox/jssdk?from=chat"
    assert outcome(page, "wechatJssdk.ready") == "ok"


def test_elsewhere_wx_js_signs_the_current_url_after_push_state(phone_as, sandbox_server):  # noqa: F811
    page = phone_as(ANDROID)
    page.goto(sandbox_server + "/sandbox/jssdk?from=chat")
    expect(page.locator("#status")).to_have_text("config:ok")
    page.evaluate("() => history.pushState({}, '', '/sandbox/jssdk?route=cart#items')")
    assert outcome(page, "wechatJssdk.configure()") == "ok"
    assert page.evaluate("() => wechatJssdk.signedUrl()") == sandbox_server + "/sandbox/jssdk?route=cart"
    assert outcome(page, "wechatJssdk.configure({url: wechatJssdk.landingUrl})") == "config:invalid signature"


def test_a_page_outside_the_js_domain_gets_invalid_url_domain(phone_as, sandbox_home):  # noqa: F811
    from wechat_bot.sandbox import SandboxStore

    base, home = sandbox_home
    credentials = json.loads((home / "var" / "sandbox.json").read_text())
    redis = redis_py.Redis(unix_socket_path=str(home / "var" / "redis.sock"))
    store = SandboxStore(redis, credentials["WECHAT_APPID"], credentials["WECHAT_SECRET"])
    store.configure(js_domains="shop.example.com")
    try:
        page = phone_as()
        page.goto(base + "/sandbox/jssdk")
        expect(page.locator("#status")).to_have_text("config:invalid url domain")
    finally:
        store.configure(js_domains="")
        redis.close()

