"""The server as users start it: `python run.py` and gunicorn with several workers over one Redis."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests import processes
from tests.conftest import APPID, CREDENTIALS, TOKEN, project_root
from tests.waiting import wait_until
from tests.wechat_client import WeChat, http_transport


def test_run_py_with_credentials_in_dotenv_serves_healthz_and_wechat(tmp_path):
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in CREDENTIALS.items()))
    with processes.run_py_serving(tmp_path) as (base, log):
        health = requests.get(base + "/healthz", timeout=5).json()
        assert health["status"] == "ok" and health["redis"] == "ok"
        assert (tmp_path / "var" / "appendonly.aof").exists()
        reply = WeChat(http_transport(base), TOKEN, APPID).says("你好")
        assert reply.status == 200 and "登录" in reply.content
        assert requests.get(base + "/sandbox/chat", timeout=5).status_code == 404
    assert "push type=text openid=o_alice" in log.read_text()


@pytest.fixture
def gunicorn(tmp_path, redis):
    """gunicorn as deployed (gunicorn.conf.py: gevent workers) with two workers serving tests/slow_app.py over
    the test Redis."""
    port = processes.free_port()
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", BIND=f"127.0.0.1:{port}",
                              WEB_CONCURRENCY="2")
    log = tmp_path / "gunicorn.log"
    # sync workers here: each holds one slow delivery, so three at once must spread over both workers (a gevent
    # worker may take all three, and this test is about deliveries landing on different workers)
    server = processes.start(["-m", "gunicorn", "-c", str(project_root() / "gunicorn.conf.py"),
                              "--worker-class", "sync", "tests.slow_app:create()"], tmp_path, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_healthy(base, server, log)
        deadline = time.monotonic() + 20
        while log.read_text().count("Booting worker") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        yield base
    finally:
        processes.stop(server)


def test_two_gunicorn_workers_answer_three_concurrent_deliveries_with_one_run(gunicorn, redis):
    wechat = WeChat(http_transport(gunicorn), TOKEN, APPID)
    fields, query = wechat.fields("text", Content="hi"), wechat.query()
    from urllib.parse import urlencode

    from tests.wechat_client import push_xml

    url = gunicorn + "/wechat?" + urlencode(query)

    def deliver(delay: float):
        time.sleep(delay)
        return requests.post(url, data=push_xml(fields).encode(), timeout=10)

    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(deliver, [0, 0.2, 0.2]))
    assert [r.status_code for r in responses] == [200, 200, 200]
    bodies = {r.content for r in responses}
    assert len(bodies) == 1 and b"run 1" in bodies.pop()
    assert redis.get("test:runs") == b"1"
    assert len({r.headers["X-Worker-Pid"] for r in responses}) == 2


def test_run_py_without_credentials_serves_the_sandbox_and_says_where(tmp_path):
    with processes.run_py_serving(tmp_path) as (base, log):
        assert requests.get(base + "/sandbox/chat", timeout=5).status_code == 200
        assert requests.get(base + "/", timeout=5).url.endswith("/sandbox/chat")
        assert "WECHAT_APPID" in (tmp_path / "var" / "sandbox.json").read_text()
    assert f"open {base}/sandbox/" in log.read_text()


def test_with_real_credentials_no_sandbox_route_exists(make_app):
    client = make_app().test_client()
    for path in ("/sandbox/chat", "/connect/oauth2/authorize", "/sns/oauth2/access_token", "/sandbox/api/tokens"):
        assert client.get(path).status_code == 404


def test_gunicorn_and_two_renewal_workers_run_the_whole_flow(tmp_path, redis, sandbox, phone):
    """Production shape: gunicorn (2 workers) and 2 `run.py worker` processes over one Redis, WeChat = sandbox."""
    import re
    from dataclasses import replace

    from wechat_bot.oauth.tokens import TokenStore

    port = processes.free_port()
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    web_log, started = tmp_path / "web.log", []
    try:
        started.append(processes.start(["-m", "gunicorn", "-c", str(project_root() / "gunicorn.conf.py"),
                                        "-w", "2", "-b", f"127.0.0.1:{port}", "wechat_bot:create_app()"],
                                       tmp_path, env, web_log))
        for n in range(2):
            started.append(processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env,
                                           tmp_path / f"worker{n}.log"))
        base = f"http://127.0.0.1:{port}"
        processes.wait_healthy(base, started[0], web_log)

        reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_prod").says("登录")
        link = re.search(r'href="([^"]+)"', reply.content).group(1)
        page = phone("o_prod").get(link, timeout=10)
        assert page.status_code == 200 and "o_prod" in page.text

        store = TokenStore(redis, APPID)
        first = store.get("o_prod")
        store.save(replace(first, access_token_expires_at=int(time.time())))  # due now
        deadline = time.monotonic() + 20
        while store.get("o_prod").access_token == first.access_token and time.monotonic() < deadline:
            time.sleep(0.2)
        renewed = store.get("o_prod")
        assert renewed.access_token != first.access_token and sandbox.access(renewed.access_token)[0] == "ok"
        time.sleep(6)  # both workers sweep again: nothing more to renew
        assert sandbox.refreshes(first.refresh_token) == 1
    finally:
        for process in started:
            processes.stop(process)


def test_the_shipped_settings_import_nothing_that_loads_ssl_before_gevent_patches(tmp_path):
    """gunicorn's master loads the settings and the access log before its gevent workers patch the standard library;
    requests or urllib3 imported then stays unpatched in every worker, and its first https call recurses."""
    import subprocess
    import sys

    code = ("import sys, wechat_bot.gunicorn_settings, wechat_bot.access_log; "
            "print(sorted(m for m in ('requests', 'urllib3', 'flask', 'redis', 'prometheus_client', 'wechatpy') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env=processes.clean_env(PYTHONPATH=str(project_root())))
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_gunicorn_under_log_format_json_logs_json_and_keeps_its_control_socket_in_var(tmp_path, redis):
    """The shipped settings under LOG_FORMAT=json: gunicorn's own lines (booting, workers, shutting down) are JSON
    like the rest, and its control socket is this deployment's ./var/gunicorn.ctl, not ~/.gunicorn/ shared by
    every master of the user."""
    import json
    import os

    home = tmp_path / "home"
    home.mkdir()
    sock = redis.connection_pool.connection_kwargs["path"]
    with processes.shipped_gunicorn(tmp_path, sock, LOG_FORMAT="json", HOME=str(home),
                                    XDG_RUNTIME_DIR=None) as (base, log, _):
        assert WeChat(http_transport(base), TOKEN, APPID).says("你好").status == 200
        assert (tmp_path / "var" / "gunicorn.ctl").exists() and not (home / ".gunicorn").exists()
        assert oct(os.stat(tmp_path / "var" / "gunicorn.ctl").st_mode & 0o777) == "0o600"
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line, or this raises
    messages = [entry.get("message", "") for entry in entries]
    assert any("Booting worker" in message for message in messages)
    assert any(entry.get("logger") == "gunicorn.error" for entry in entries)
    assert any(entry.get("request", "").startswith("POST /wechat") for entry in entries)  # the access log too


def test_sighup_and_usr2_replace_gunicorns_workers_without_refusing_a_push(tmp_path, redis):
    """The README's restart advice, under pushes all along: SIGHUP (new settings, new code) replaces the workers
    gracefully; USR2 starts a new master beside the old one (a new release), then TERM ends the old one. No push
    is refused or lost in either (a stop and start would refuse them for seconds)."""
    import os
    import re
    import signal
    import sys
    import threading
    from pathlib import Path

    port = processes.free_port()
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", BIND=f"127.0.0.1:{port}",
                              WEB_CONCURRENCY="2")
    log = tmp_path / "gunicorn.log"
    gunicorn = str(Path(sys.executable).parent / "gunicorn")  # its command, as deployed: USR2 re-executes it
    server = processes.start([gunicorn, "-c", str(project_root() / "gunicorn.conf.py"), "wechat_bot:create_app()"],
                             tmp_path, env, log)
    base, answers, stop = f"http://127.0.0.1:{port}", [], threading.Event()

    def push(n: int) -> None:
        wechat = WeChat(http_transport(base), TOKEN, APPID, openid=f"o_push{n}")
        while not stop.is_set():
            try:
                answers.append(wechat.says("你好").status)
            except requests.RequestException as error:
                answers.append(type(error).__name__)

    def booted() -> int:
        return len(re.findall(r"Booting worker with pid", log.read_text()))

    def wait_for(condition, what: str) -> None:
        wait_until(condition, what, lambda: "\n" + log.read_text()[-3000:], timeout=60)

    pushers = [threading.Thread(target=push, args=(n,)) for n in range(4)]
    try:
        processes.wait_healthy(base, server, log)
        wait_for(lambda: booted() >= 2, "two workers")
        for pusher in pushers:
            pusher.start()
        wait_for(lambda: len(answers) >= 20, "pushes before the reload")
        os.kill(server.pid, signal.SIGHUP)
        wait_for(lambda: booted() >= 4, "the workers replaced on SIGHUP")
        count = len(answers)
        wait_for(lambda: len(answers) >= count + 20, "pushes after SIGHUP")
        os.kill(server.pid, signal.SIGUSR2)
        wait_for(lambda: booted() >= 6, "a new master's workers on USR2")
        count = len(answers)
        wait_for(lambda: len(answers) >= count + 20, "pushes with both masters up")
        os.kill(server.pid, signal.SIGTERM)  # the old master ends; the new one serves on
        server.wait(30)
        count = len(answers)
        wait_for(lambda: len(answers) >= count + 20, "pushes after the old master ended")
    finally:
        stop.set()
        for pusher in pushers:
            pusher.join(30)
        os.killpg(server.pid, signal.SIGTERM)  # the new master is in the old one's process group
        time.sleep(1)
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    refused = [answer for answer in answers if answer != 200]
    assert not refused and len(answers) >= 80, f"{len(refused)} of {len(answers)} pushes failed: {set(refused)}"
