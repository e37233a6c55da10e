"""`python run.py worker` and `python run.py tokens …` as an operator runs them."""
import json
import signal
import subprocess
import sys
import time

import pytest

from tests import processes
from tests.conftest import APPID, CREDENTIALS, project_root
from wechat_bot.oauth.tokens import TokenRecord, TokenStore
from wechat_bot.sandbox import Fault


@pytest.fixture
def run(redis, sandbox, tmp_path):
    """run.py with the test credentials, the test Redis and the sandbox WeChat."""
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url)

    def call(*args, timeout=30):
        return subprocess.run([sys.executable, str(project_root() / "run.py"), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)
    call.env = env
    return call


@pytest.fixture
def users(sandbox, redis):
    sandbox.configure(access_token_ttl=360)
    store = TokenStore(redis, APPID)
    for openid, scope in (("o_alice", "snsapi_userinfo"), ("o_bob", "snsapi_base")):
        record = TokenRecord.from_exchange(sandbox.grant(openid, scope), time.time() - 300)  # due now
        store.save(record.with_profile({"nickname": "爱丽丝"}) if openid == "o_alice" else record)
    return store


def test_tokens_list_json_has_the_interface_fields_with_secrets_masked(run, users):
    result = run("tokens", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["openid"] for row in rows] == ["o_alice", "o_bob"]
    alice = rows[0]
    for field in ("openid", "scope", "status", "access_token_expires_at", "refresh_token_expires_at",
                  "access_token", "refresh_token", "unionid", "nickname"):
        assert field in alice
    assert alice["status"] == "active" and alice["nickname"] == "爱丽丝"
    real = users.get("o_alice")
    assert real.access_token not in result.stdout and real.refresh_token not in result.stdout
    assert alice["access_token"].startswith(real.access_token[:4])


def test_tokens_list_filters_by_status_and_prints_a_table(run, users):
    users.mark_reauth(users.get("o_bob"), time.time())
    table = run("tokens", "list")
    assert "o_alice" in table.stdout and "2 user(s)" in table.stdout
    only = json.loads(run("tokens", "list", "--status", "reauth_required", "--json").stdout)
    assert [row["openid"] for row in only] == ["o_bob"]


def test_tokens_show_reveals_only_when_asked(run, users):
    real = users.get("o_alice")
    masked = json.loads(run("tokens", "show", "o_alice", "--json").stdout)
    revealed = json.loads(run("tokens", "show", "o_alice", "--json", "--reveal").stdout)
    assert masked["access_token"] != real.access_token and revealed["access_token"] == real.access_token


def test_tokens_refresh_and_revoke(run, users, sandbox):
    old = users.get("o_bob")
    refreshed = run("tokens", "refresh", "o_bob")
    assert refreshed.returncode == 0 and "renewed" in refreshed.stdout
    assert users.get("o_bob").access_token != old.access_token
    assert run("tokens", "revoke", "o_bob").returncode == 0
    assert users.get("o_bob") is None
    missing = run("tokens", "show", "o_bob")
    assert missing.returncode != 0 and missing.stderr.strip().splitlines() == ["error: no tokens stored for o_bob"]


def test_worker_once_sweeps_what_is_due_and_exits(run, users):
    old = users.get("o_alice")
    result = run("worker", "--once")
    assert result.returncode == 0 and "renewed 2" in result.stdout
    assert users.get("o_alice").access_token != old.access_token


def test_worker_stops_on_sigterm_after_its_renewals_in_flight(run, users, sandbox, tmp_path, redis):
    sandbox.inject("/sns/oauth2/refresh_token", Fault(delay=1.0), times=2)
    before = {openid: users.get(openid).access_token for openid in ("o_alice", "o_bob")}
    log = tmp_path / "worker.log"
    worker = processes.start([str(project_root() / "run.py"), "worker"], tmp_path, run.env, log)
    deadline = time.monotonic() + 15
    while sandbox.calls("/sns/oauth2/refresh_token") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    renewed = sum(users.get(openid).access_token != token for openid, token in before.items())
    assert renewed == sandbox.calls("/sns/oauth2/refresh_token") >= 1  # every refresh begun was written back
    assert not redis.keys(f"wechat_bot:{APPID}:lease:*")
    assert "Traceback" not in log.read_text()


def test_tokens_account_with_wechat_unreachable_is_one_line_and_exit_4(run, tmp_path):
    from tests.conftest import SECRET

    env = {**run.env, "WECHAT_API_BASE": f"http://127.0.0.1:{processes.free_port()}"}
    result = subprocess.run([sys.executable, str(project_root() / "run.py"), "tokens", "account"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: WeChat:"), result.stderr
    assert SECRET not in result.stderr
