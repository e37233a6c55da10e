"""The default Redis: embedded under ./var/, shared by every worker, append-only, restarted when gone."""
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import APPID, CREDENTIALS, NOWHERE, TOKEN
from tests.wechat_client import WeChat, flask_transport
from wechat_bot import create_app
from wechat_bot.storage import embedded_redis


@pytest.fixture
def var_dir():
    path = Path("var").resolve()
    yield path
    embedded_redis.stop(path)


def server_pid(var_dir: Path) -> int:
    return int((var_dir / "redis.pid").read_text())


def test_without_redis_url_the_app_starts_an_embedded_redis_under_var(var_dir):
    app = create_app({**CREDENTIALS, **NOWHERE})
    assert app.test_client().get("/healthz").json["redis"] == "ok"
    redis = app.extensions["wechat_bot"].redis
    assert redis.config_get("appendonly") == {"appendonly": "yes"}
    assert redis.config_get("dir")["dir"] == str(var_dir)
    assert (var_dir / "redis.sock").exists()


def test_workers_of_one_machine_share_one_server(var_dir):
    first, second = create_app({**CREDENTIALS, **NOWHERE}), create_app({**CREDENTIALS, **NOWHERE})
    first.extensions["wechat_bot"].redis.set("shared", "yes")
    assert second.extensions["wechat_bot"].redis.get("shared") == b"yes"
    assert len({server_pid(var_dir)}) == 1


def test_data_survives_a_kill_9_of_the_server(var_dir):
    redis = create_app({**CREDENTIALS, **NOWHERE}).extensions["wechat_bot"].redis
    redis.set("token:o_alice", "precious")
    os.kill(server_pid(var_dir), signal.SIGKILL)
    time.sleep(0.2)
    assert redis.get("token:o_alice") == b"precious"  # the client starts the server again from ./var/


def test_a_push_after_the_server_died_is_answered_and_the_server_is_back(var_dir):
    app = create_app({**CREDENTIALS, **NOWHERE})
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    wechat.says("before")
    old_pid = server_pid(var_dir)
    os.kill(old_pid, signal.SIGKILL)
    time.sleep(0.2)
    assert wechat.says("after").status == 200
    assert server_pid(var_dir) != old_pid
    assert app.test_client().get("/healthz").status_code == 200


def test_a_long_working_directory_still_gets_a_socket(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    try:
        app = create_app({**CREDENTIALS, **NOWHERE})
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        embedded_redis.stop(deep / "var")
