"""A newcomer's second hour with the sandbox: the chat page, the result page, the favicon, the worker's log
lines, a mistyped REDIS_URL. Real HTTP, real processes."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import requests

from tests import processes
from tests.conftest import project_root


@pytest.fixture
def sandbox_server(redis, serve):
    from wechat_bot import create_app

    return serve(create_app(redis=redis, sandbox_origin=True))


def test_cookieless_visits_to_the_chat_page_save_no_made_up_users(sandbox_server, redis):
    from pathlib import Path

    from wechat_bot.sandbox import credentials

    APPID = credentials.load_or_create(Path("var").resolve())["WECHAT_APPID"]  # the sandbox account's, made up
    for _ in range(3):  # three curls
        assert requests.get(sandbox_server + "/sandbox/chat", timeout=10).status_code == 200
    assert not redis.smembers(f"wechat_sandbox:{APPID}:users")
    browser = requests.Session()
    page = browser.get(sandbox_server + "/sandbox/chat", timeout=10).text
    openid = re.search(r'id="current" data-openid="([^"]+)"', page).group(1)
    assert browser.get(sandbox_server + "/sandbox/chat", timeout=10).text.count(openid) >= 1  # the same user again
    assert not redis.smembers(f"wechat_sandbox:{APPID}:users")
    assert browser.post(sandbox_server + "/sandbox/api/push", json={"kind": "text", "content": "你好"}, timeout=10).ok
    assert redis.smembers(f"wechat_sandbox:{APPID}:users") == {openid.encode()}  # saved once it did something
    assert redis.hget(f"wechat_sandbox:{APPID}:user:{openid}", "nickname").decode() == f"沙箱用户{openid[-4:]}"


def test_the_result_page_leads_back_to_the_chat_in_sandbox_mode(sandbox_server):
    browser = requests.Session()
    browser.get(sandbox_server + "/sandbox/chat", timeout=10)
    reply = browser.post(sandbox_server + "/sandbox/api/push", json={"kind": "text", "content": "登录"}, timeout=10)
    link = re.search(r'href="([^"]+)"', reply.json()["reply_html"]).group(1).replace("&amp;", "&")
    result = browser.get(link, timeout=10)
    assert "/oauth/result/" in result.url
    assert 'href="/sandbox/chat"' in result.text


def test_no_page_leaves_a_favicon_404_in_the_log(sandbox_server):
    icon = requests.get(sandbox_server + "/favicon.ico", timeout=10)
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")
    for path in ("/sandbox/chat", "/sandbox/tokens", "/sandbox/jssdk"):
        assert 'rel="icon"' in requests.get(sandbox_server + path, timeout=10).text  # so browsers ask for none


def run_py(home, *args: str, env: dict, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(project_root() / "run.py"), *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("url", ["redis://:pa55word@127.0.0.1:99999/0", "redis://:pa55word@127.0.0.1:6379/0?socket_timeout=abc",
                                 "redis://:pa55word@[::1/0", "rediss://:pa55word@[fe80::1:6379"])
@pytest.mark.parametrize("command", [("worker", "--once"), ("tokens", "list"), ("serve", "--port", "0")])
def test_a_malformed_redis_url_is_one_line_without_its_password(tmp_path, url, command):
    if command[0] == "serve":
        command = ("serve", "--port", str(processes.free_port()))
    result = run_py(tmp_path, *command, env=processes.clean_env(REDIS_URL=url))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "REDIS_URL" in result.stderr, result.stderr
    assert "pa55word" not in result.stdout + result.stderr


def test_the_renewal_workers_lines_keep_their_spaces(tmp_path):
    env = processes.clean_env(REDIS_URL=f"redis://127.0.0.1:{processes.free_port()}/0")
    log = tmp_path / "worker.log"
    worker = processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env, log)
    try:
        deadline = time.monotonic() + 15
        while "renewal sweep failed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        processes.stop(worker)
    line = next(line for line in log.read_text().splitlines() if "renewal sweep failed" in line)
    assert "?" not in line and "Connection refused" in line, line
