"""The commands with no WeChat credentials (the sandbox account), from run.py and from `flask --app SITE wechat`."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import redis as redis_py

from tests import processes
from tests.conftest import project_root
from wechat_bot.oauth.tokens import TokenRecord, TokenStore
from wechat_bot.sandbox import credentials
from wechat_bot.storage import embedded_redis

SITE = '''
from flask import Flask
from wechat_bot import WeChatBot

app = Flask(__name__)
app.config["SECRET_KEY"] = "site"
wechat = WeChatBot(app)


@app.get("/")
def home():
    return "the site"
'''


@pytest.fixture
def sandbox_home(tmp_path):
    """A working directory whose embedded Redis holds one sandbox user's tokens, and a mysite.py beside it."""
    (tmp_path / "mysite.py").write_text(SITE)
    client = redis_py.Redis(unix_socket_path=embedded_redis.ensure_running(tmp_path / "var"))
    answer = {"openid": "o_sandboxer", "scope": "snsapi_base", "access_token": "a" * 40, "refresh_token": "r" * 40,
              "expires_in": 7200}
    appid = credentials.load_or_create(tmp_path / "var")["WECHAT_APPID"]  # the sandbox account the site will use
    TokenStore(client, appid).save(TokenRecord.from_exchange(answer, time.time()))
    yield tmp_path
    client.close()
    embedded_redis.stop(tmp_path / "var")


def run(home, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in processes.clean_env().items() if not k.startswith("WECHAT_")}
    return subprocess.run([sys.executable, *args], cwd=home, env=env, capture_output=True, text=True, timeout=60)


def test_run_py_tokens_list_lists_the_sandbox_users(sandbox_home):
    result = run(sandbox_home, str(project_root() / "run.py"), "tokens", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert [row["openid"] for row in json.loads(result.stdout)] == ["o_sandboxer"]


def test_flask_wechat_tokens_list_lists_the_sandbox_users(sandbox_home):
    result = run(sandbox_home, "-m", "flask", "--app", "mysite", "wechat", "tokens", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert [row["openid"] for row in json.loads(result.stdout)] == ["o_sandboxer"]


def test_worker_once_runs_with_the_sandbox_account(sandbox_home):
    result = run(sandbox_home, str(project_root() / "run.py"), "worker", "--once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("renewed 0")


def test_flask_wechat_does_not_serve(sandbox_home):
    result = run(sandbox_home, "-m", "flask", "--app", "mysite", "wechat", "serve")
    assert result.returncode != 0 and "flask run" in result.stderr


def help_body(text: str) -> str:
    """A help text without its usage line (each entry point has its own)."""
    return text.split("\n", 2)[2]


def test_one_command_tree_with_one_help_text_for_every_entry_point(sandbox_home):
    run_py = run(sandbox_home, str(project_root() / "run.py"), "--help")
    module = run(sandbox_home, "-m", "wechat_bot", "--help")
    flask = run(sandbox_home, "-m", "flask", "--app", "mysite", "wechat", "--help")
    for result in (run_py, module, flask):
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert run_py.stdout.startswith("Usage: python run.py ")
    assert module.stdout.startswith("Usage: python -m wechat_bot ")
    assert flask.stdout.startswith("Usage: python -m flask wechat ")
    assert help_body(run_py.stdout) == help_body(module.stdout)
    def commands(text: str) -> list[str]:
        return [line.strip() for line in text.split("Commands:", 1)[1].split("\n\n", 1)[0].splitlines() if line]
    assert commands(flask.stdout) == [line for line in commands(run_py.stdout) if not line.startswith("serve ")]
    assert any(line.startswith("serve ") for line in commands(run_py.stdout))
    assert "flask run" in flask.stdout  # where serving is, said in the help rather than in an error
    for name in ("worker", "check", "tokens", "menu"):
        mine = run(sandbox_home, str(project_root() / "run.py"), name, "--help").stdout
        theirs = run(sandbox_home, "-m", "flask", "--app", "mysite", "wechat", name, "--help").stdout
        assert help_body(mine) == help_body(theirs)


def test_flask_wechat_check_in_the_sandbox_says_so_and_offers_nothing_to_paste(sandbox_home):
    result = run(sandbox_home, "-m", "flask", "--app", "mysite", "wechat", "check")
    assert result.returncode == 1 and "sandbox" in result.stdout and "Paste" not in result.stdout
    assert "renewal: 0 user(s) due" in result.stdout  # the sandbox's renewal is real: its backlog is shown


def test_run_py_check_in_the_sandbox_shows_the_renewal_backlog(sandbox_home):
    result = run(sandbox_home, str(project_root() / "run.py"), "check")
    assert result.returncode == 1 and "this is the sandbox" in result.stdout
    assert "Redis takes writes" in result.stdout and "renewal: 0 user(s) due" in result.stdout


def test_a_group_without_its_command_shows_its_help(sandbox_home):
    result = run(sandbox_home, str(project_root() / "run.py"), "tokens")
    assert result.returncode == 2 and "list" in result.stdout and "Traceback" not in result.stderr


def test_flask_wechat_check_looks_for_the_tunnel_of_the_port_flask_runs_on(tmp_path, redis):
    from tests.conftest import CREDENTIALS

    (tmp_path / "mysite.py").write_text(SITE)
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", FLASK_RUN_PORT="8123",
                              NGROK_API_URL="http://127.0.0.1:9")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "mysite", "wechat", "check"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "ngrok tunnel to port 8123" in result.stdout, result.stdout + result.stderr
