"""What a newcomer meets in the first ten minutes: chat behaviour against real pushes, the sandbox WeChat's
fidelity, and commands that answer in one line."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import processes
from tests.conftest import project_root
from wechat_bot.handlers.default import HELP_TEXT, WELCOME_TEXT


def test_a_file_message_gets_the_help_text(wechat):
    fields = wechat.fields("file", Title="报告.pdf", Description="", FileKey="k", FileMd5="m", FileTotalLen="10")
    assert wechat.deliver(fields).content == HELP_TEXT


@pytest.mark.parametrize("key", ["scanbarcode|EAN_13|6901234567892", "scanimage|abc", "", "last_trade_no_1"])
def test_every_follow_gets_the_welcome(wechat, key):
    assert wechat.event("subscribe", key=key).content.startswith(WELCOME_TEXT)


def _menu(tmp_path, redis, sandbox, menu, *args: str) -> subprocess.CompletedProcess:
    from tests.conftest import CREDENTIALS

    (tmp_path / "menu.json").write_text(json.dumps(menu, ensure_ascii=False) if not isinstance(menu, str) else menu)
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url, PUBLIC_BASE_URL="https://bot.example.com")
    return subprocess.run([sys.executable, str(project_root() / "run.py"), "menu", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("menu", [[], {"button": ["a"]}, {"button": [{"name": "更多", "sub_button": "x"}]}, "not json"])
def test_menu_push_of_a_malformed_file_is_one_line(tmp_path, redis, sandbox, menu):
    result = _menu(tmp_path, redis, sandbox, menu, "push", "menu.json")
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")


def test_menu_show_with_no_menu_says_so_plainly(tmp_path, redis, sandbox):
    result = _menu(tmp_path, redis, sandbox, {}, "show")
    assert result.returncode == 0 and "no custom menu" in result.stdout and "46003" not in result.stdout


def test_python_run_py_takes_host_and_port_and_says_where_it_listens(tmp_path):
    port = processes.free_port()
    env = {k: v for k, v in processes.clean_env().items() if not k.startswith("WECHAT_")}
    server = processes.start([str(project_root() / "run.py"), "--port", str(port)], tmp_path, env,
                             tmp_path / "server.log")
    try:
        processes.wait_healthy(f"http://127.0.0.1:{port}", server, tmp_path / "server.log")
        assert f"127.0.0.1:{port}/sandbox/" in (tmp_path / "server.log").read_text()
    finally:
        processes.stop(server)
        from wechat_bot.storage import embedded_redis

        embedded_redis.stop(tmp_path / "var")


@pytest.mark.parametrize("port", ["99999", "-1", "0", "abc"])
def test_a_port_that_is_not_one_is_refused_in_one_line(tmp_path, port):
    result = subprocess.run([sys.executable, str(project_root() / "run.py"), "serve", "--port", port], cwd=tmp_path,
                            env=processes.clean_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "port" in result.stderr


def test_a_busy_port_is_refused_before_anything_is_announced(tmp_path):
    import socket

    from tests.conftest import CREDENTIALS

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(project_root() / "run.py"), "serve", "--port", str(port)],
                                cwd=tmp_path, env=processes.clean_env(**CREDENTIALS), capture_output=True, text=True,
                                timeout=30)
    from wechat_bot.storage import embedded_redis

    embedded_redis.stop(tmp_path / "var")
    assert result.returncode != 0 and "serving on" not in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot listen" in result.stderr


def test_gunicorn_without_credentials_stops_with_the_one_line_and_no_traceback(tmp_path):
    env = {k: v for k, v in processes.clean_env().items() if not k.startswith("WECHAT_")}
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(project_root() / "gunicorn.conf.py"),
                             "-w", "4", "-b", f"127.0.0.1:{processes.free_port()}", "wechat_bot:create_app()"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "WECHAT_TOKEN, WECHAT_APPID, WECHAT_SECRET: not set" in output
    assert len(output.splitlines()) <= 2  # gunicorn's "Starting", then ours
