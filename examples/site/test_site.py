"""The example site end to end against the sandbox WeChat it serves in development: chat, login, binding, the
site's own pages, and WeChat's API called with the user's token. Runs against whatever wechat_bot is
importable: the checkout in the test suite, the installed wheel in CI's package check."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import wechat_bot

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command() -> list[str]:
    """The console script when it is installed beside this Python, else the module."""
    script = Path(sys.executable).with_name("wechat-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wechat_bot"]


@pytest.fixture
def site(tmp_path):
    home = tmp_path / "site"
    shutil.copytree(HERE, home, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3", "var"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "REDIS_URL", "PUBLIC_BASE_URL"))}
    env["NGROK_API_URL"] = "http://127.0.0.1:9"
    env["PYTHONPATH"] = str(Path(wechat_bot.__file__).resolve().parent.parent)  # the checkout, or site-packages
    log = (tmp_path / "site.log").open("w")
    server = subprocess.Popen([*serve_command(), "serve", "--app", "app:app", "--port", str(port)], cwd=home,
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "site.log").read_text()
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (tmp_path / "site.log").read_text()
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        pid_file = home / "var" / "redis.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass


def chat(browser: requests.Session, base: str, text: str) -> str:
    answer = browser.post(base + "/sandbox/api/push", json={"kind": "text", "content": text}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["reply_html"]


def test_a_wechat_user_binds_an_account_and_the_site_knows_them(site):
    browser = requests.Session()
    assert browser.post(site + "/sandbox/api/user", json={"openid": "o_example", "nickname": "示例用户"},
                        timeout=10).status_code == 200
    assert "还没有绑定" in chat(browser, site, "我的账号")
    bind_page = browser.get(site + "/account", timeout=10)
    assert bind_page.url.split("#")[0] == site + "/bind" and "绑定账号" in bind_page.text
    account = browser.post(site + "/bind", data={"name": "alice"}, timeout=10)
    assert account.url.split("#")[0] == site + "/account" and "用户名：alice" in account.text
    assert "你的账号：alice" in chat(browser, site, "我的账号")

    consent = browser.get(site + "/profile", timeout=10)
    assert "允许" in consent.text
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', consent.text))
    action = re.search(r'<form method="post" action="([^"]+)"', consent.text).group(1)
    profile = browser.post(site + action, data={**form, "decision": "allow"}, timeout=10)
    assert profile.url.split("#")[0] == site + "/profile" and "昵称：示例用户" in profile.text


def test_the_sites_own_pages_stay_its_own(site):
    assert "欢迎来到示例站点" in requests.get(site + "/", timeout=10).text
    missing = requests.get(site + "/nowhere", timeout=10)
    assert missing.status_code == 404 and "示例站点：页面不存在" in missing.text
    assert requests.get(site + "/admin", timeout=10).status_code == 403


def test_the_account_page_shares_itself_through_the_js_sdk(site):
    """In Chromium, against the sandbox's stand-in for jweixin: wx.config reaches config:ok and the page's
    updateAppMessageShareData is what WeChat would share. Needs Playwright and Chromium (skipped without them, as
    in the wheel's package check)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(locale="zh-CN")
            page = context.new_page()
            page.set_default_timeout(15_000)
            assert context.request.post(site + "/sandbox/api/user", data={"openid": "o_share", "nickname": "分享者"}).ok
            page.goto(site + "/account")
            page.fill("input[name=name]", "bob")
            page.click("form button")
            sync_api.expect(page.locator("h1")).to_have_text("我的账号")
            sync_api.expect(page.locator("#share")).to_have_text("已设置分享给朋友")
            bar = page.locator("#wx-sandbox-bar")
            sync_api.expect(bar).to_contain_text("config:ok")
            sync_api.expect(bar).to_contain_text("分享给朋友：bob 的账号")
        finally:
            browser.close()


def test_a_desktop_signs_in_by_scanning_the_sites_code_with_the_sandbox_phone(site):
    """The home page's desktop sign-in: the code it shows, scanned by the sandbox's phone (扫一扫), confirmed there,
    signs that desktop in to /account; a browser that did not show the code stays signed out."""
    desktop = requests.Session()
    desktop.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"
    link = re.search(r'href="([^"]+)" id="qr-sign-in"', desktop.get(site + "/", timeout=10).text).group(1)
    code_page = desktop.get(site + link.replace("&amp;", "&"), timeout=10)
    url = re.search(r'data-url="([^"]+)"', code_page.text).group(1)
    phone = requests.Session()
    assert phone.post(site + "/sandbox/api/user", json={"openid": "o_desk", "nickname": "桌面用户"},
                      timeout=10).status_code == 200
    scanned = phone.post(site + "/sandbox/api/push", json={"kind": "scan", "url": url}, timeout=10)
    confirm = re.search(r'href="([^"]+)">确认登录', scanned.json()["reply_html"]).group(1).replace("&amp;", "&")
    page = phone.get(confirm, timeout=10)
    form = dict(re.findall(r'name="(scene|t)" value="([^"]+)"', page.text))
    assert "已确认登录" in phone.post(site + "/oauth/qr/confirm", data={**form, "decision": "confirm"},
                                     timeout=10).text
    assert desktop.get(site + "/oauth/qr/status", timeout=10).json() == {"state": "confirmed", "next": "/account"}
    bind_page = desktop.get(site + "/account", timeout=10)
    assert bind_page.url.split("#")[0] == site + "/bind"  # signed in as o_desk, not yet bound to an account
    assert requests.get(site + "/oauth/qr/status", timeout=10).json()["state"] == "expired"
