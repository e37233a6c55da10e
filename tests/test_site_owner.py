"""A site owner following "Use it in your Flask site": `flask --app SITE run` with the sandbox, configuration
mistakes in app.config, gunicorn without credentials. Real processes, real HTTP."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import requests

from tests import processes
from tests.waiting import wait_until
from wechat_bot.storage import embedded_redis

SITE = '''
from flask import Flask
from wechat_bot import WeChatBot

app = Flask(__name__)
app.config.update(SECRET_KEY="site", WECHAT_URL_PREFIX="/wx"{extra})
wechat = WeChatBot(app)


@app.get("/")
def home():
    return "the site"
'''


def write_site(home, extra: str = "") -> None:
    (home / "mysite.py").write_text(SITE.replace("{extra}", extra))


def sandbox_env() -> dict:
    return {k: v for k, v in processes.clean_env().items() if not k.startswith("WECHAT_")}


def start_flask_run(home):
    """`flask --app mysite run` of the site written in `home`, with no credentials: (process, port, its log)."""
    write_site(home)
    port, log = processes.free_port(), home / "flask.log"
    server = processes.start(["-m", "flask", "--app", "mysite", "run", "--port", str(port)], home, sandbox_env(),
                             log)
    return server, port, log


@pytest.fixture
def flask_run(tmp_path):
    """`flask --app mysite run` in a fresh folder with no credentials: (base URL, its log)."""
    server, port, log = start_flask_run(tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(base + "/", timeout=2)
                break
            except requests.RequestException:
                assert server.poll() is None, log.read_text()
                time.sleep(0.1)
        yield base, log
    finally:
        processes.stop(server)
        embedded_redis.stop(tmp_path / "var")


def test_flask_run_with_the_sandbox_says_where_it_is_and_masks_secrets_in_the_access_log(flask_run):
    base, log = flask_run
    chat = requests.Session()
    assert chat.get(base + "/wx/sandbox/chat", timeout=10).status_code == 200
    reply = chat.post(base + "/wx/sandbox/api/push", json={"kind": "text", "content": "登录"}, timeout=10).json()
    link = re.search(r'href="([^"]+)"', reply["reply_html"]).group(1).replace("&amp;", "&")
    chat.get(link, timeout=10)  # authorize (silent), the callback with its code, the exchange with the AppSecret
    # the server writes its access log line after it has answered
    wait_until(lambda: "/oauth/callback?" in log.read_text(), "the callback's access-log line", log.read_text)
    output = log.read_text()
    assert f"open {base}/wx/sandbox/" in output
    assert "/sns/oauth2/access_token?" in output and "/oauth/callback?" in output
    for name in ("secret", "access_token", "refresh_token", "code"):
        leaked = re.findall(rf"[?&]{name}=(?!\*\*\*)[^&\s\"]+", output)
        assert not leaked, f"{name}= unmasked in the access log: {leaked[:2]}"


def test_without_a_renewal_thread_the_pages_say_what_is_true(flask_run):
    base, _ = flask_run
    tokens_page = requests.get(base + "/wx/sandbox/tokens", timeout=10).text
    assert "续期线程每秒检查一次" not in tokens_page and "flask --app mysite wechat worker" in tokens_page
    renewal = requests.get(base + "/wx/healthz", timeout=10).json()["renewal"]
    assert "run.py" not in renewal and "flask --app mysite wechat worker" in renewal


def one_line_failure(result: subprocess.CompletedProcess, *expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output
    for text in expected:
        assert text in output, output


def test_flask_routes_with_a_malformed_appid_in_app_config_is_one_line(tmp_path):
    write_site(tmp_path,
               ', WECHAT_TOKEN="tok123", WECHAT_APPID="wx-bad", WECHAT_SECRET="0123456789abcdef0123456789abcdef"')
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "mysite", "routes"], cwd=tmp_path,
                            env=sandbox_env(), capture_output=True, text=True, timeout=60)
    one_line_failure(result, "WECHAT_APPID", "app.config")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_readmes_ellipsis_placeholder_is_called_a_placeholder(tmp_path):
    write_site(tmp_path, ", WECHAT_TOKEN=..., WECHAT_APPID=..., WECHAT_SECRET=...")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "mysite", "routes"], cwd=tmp_path,
                            env=sandbox_env(), capture_output=True, text=True, timeout=60)
    one_line_failure(result, "placeholder", "app.config")
    assert "Ellipsis" not in result.stderr and "characters" not in result.stderr


@pytest.mark.parametrize("options", [["-w", "1"], ["-w", "3"], ["-w", "2", "--preload"]])
def test_gunicorn_serving_a_site_without_credentials_is_one_line(tmp_path, options):
    """With several workers failing at once, one reports: two exiting with gunicorn's app-load status make its
    master print a traceback of its own (about one start in two, with two workers). With --preload the master
    loads the app (gunicorn prints a traceback for its own AppImportError there), every start alike."""
    write_site(tmp_path)
    for _ in range(1 if options == ["-w", "1"] else 3):
        result = subprocess.run([sys.executable, "-m", "gunicorn", *options, "-b",
                                 f"127.0.0.1:{processes.free_port()}", "mysite:app"], cwd=tmp_path, env=sandbox_env(),
                                capture_output=True, text=True, timeout=60)
        one_line_failure(result, "WECHAT_TOKEN, WECHAT_APPID, WECHAT_SECRET: not set", "app.config")
        assert (result.stdout + result.stderr).count("WECHAT_SECRET: not set") == 1


def test_stopping_flask_run_stops_the_embedded_redis_it_started(tmp_path):
    import signal

    server, _, log = start_flask_run(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "var" / "redis.pid").exists() and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            time.sleep(0.1)
        pid = int((tmp_path / "var" / "redis.pid").read_text())
        server.send_signal(signal.SIGINT)  # Ctrl-C
        server.wait(15)
        deadline = time.monotonic() + 10
        while (tmp_path / "var" / "redis.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (tmp_path / "var" / "redis.pid").exists(), log.read_text()
        assert not alive(pid)
    finally:
        processes.stop(server)
        embedded_redis.stop(tmp_path / "var")


def alive(pid: int, within: float = 5.0) -> bool:
    """The process still runs after `within` seconds (the pid file goes on the server's way out, before its end)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True
