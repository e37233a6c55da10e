"""Faults with real processes (Redis killed under load, a renewal worker killed mid-sweep), and the callback
under load (LOAD_USERS users authorizing at once; 40 by default, more for a long run)."""
import os
import signal
import subprocess
import sys
import threading
import time

import redis as redis_py
import requests

from tests import processes
from tests.conftest import APPID, CREDENTIALS, TOKEN, project_root
from tests.wechat_client import WeChat, http_transport
from wechat_bot.oauth.tokens import TokenRecord, TokenStore, schedule_key
from wechat_bot.sandbox import Fault


def test_redis_killed_under_load_pushes_stay_answered_and_nothing_stored_is_lost(tmp_path):
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in CREDENTIALS.items()))
    with processes.run_py_serving(tmp_path) as (base, log):
        store = TokenStore(redis_py.Redis(unix_socket_path=str(tmp_path / "var" / "redis.sock")), APPID)
        saved = TokenRecord(openid="o_keep", scope="snsapi_base", access_token="A" * 20, refresh_token="R" * 20,
                            access_token_expires_at=int(time.time()) + 7200,
                            refresh_token_expires_at=int(time.time()) + 86400, consented_at=int(time.time()))
        store.save(saved)
        wechat = WeChat(http_transport(base, timeout=6), TOKEN, APPID)
        results, stop = [], threading.Event()

        def load():
            while not stop.is_set():
                reply = wechat.says("你好")
                results.append((reply.status, reply.content))

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        os.kill(int((tmp_path / "var" / "redis.pid").read_text()), signal.SIGKILL)
        time.sleep(1.5)
        stop.set()
        for worker in workers:
            worker.join(10)
        assert results and all(status == 200 for status, _ in results)
        # a real answer each time, never an empty reply (nor `success`, what a push past the window is answered)
        assert all(content for _, content in results)
        assert requests.get(base + "/healthz", timeout=5).status_code == 200  # Redis is back
        reopened = redis_py.Redis(unix_socket_path=str(tmp_path / "var" / "redis.sock"))
        assert TokenStore(reopened, APPID).get("o_keep") == saved
    assert "Traceback" not in log.read_text()


def test_a_renewal_worker_killed_mid_sweep_loses_nothing_and_is_taken_over(tmp_path, redis, sandbox):
    KEY_PREFIX = f"wechat_bot:{APPID}:lease:"

    sandbox.configure(access_token_ttl=360)
    store = TokenStore(redis, APPID)
    records = [TokenRecord.from_exchange(sandbox.grant(f"o_k{n}", "snsapi_base"), time.time() - 300)
               for n in range(6)]
    for record in records:
        store.save(record)
    sandbox.inject("/sns/oauth2/refresh_token", Fault(delay=2.0), times=4)
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url)
    victim = processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env, tmp_path / "victim.log")
    deadline = time.monotonic() + 15
    while not redis.keys(KEY_PREFIX + "*") and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    orphaned = redis.keys(KEY_PREFIX + "*")
    assert orphaned  # claims left behind by the dead worker
    assert all(store.get(r.openid) for r in records)  # no record lost
    # its batch, claimed for 60 s
    assert all(redis.zscore(schedule_key(APPID), r.openid) > time.time() for r in records)
    for key in orphaned:
        redis.pexpire(key, 1)  # their time runs out…
    store.unclaim({r.openid: time.time() - 1 for r in records})  # …and the batch's claim with them
    time.sleep(0.05)
    result = subprocess.run([sys.executable, str(project_root() / "run.py"), "worker", "--once"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    renewed = [store.get(r.openid).access_token != r.access_token for r in records]
    assert all(renewed)
    assert all(sandbox.refreshes(r.refresh_token) <= 2 for r in records)


def test_many_users_authorizing_at_once_each_end_with_their_own_tokens(site, sandbox, phone, redis):
    import re
    from concurrent.futures import ThreadPoolExecutor

    from tests.wechat_client import WeChat, http_transport

    base, _ = site()
    users = [f"o_crowd{n:02d}" for n in range(int(os.environ.get("LOAD_USERS", "40")))]

    def authorize(openid):
        reply = WeChat(http_transport(base), TOKEN, APPID, openid=openid).says("登录")
        link = re.search(r'href="([^"]+)"', reply.content).group(1)
        return phone(openid).get(link, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        pages = dict(zip(users, pool.map(authorize, users), strict=True))
    store = TokenStore(redis, APPID)
    for openid, page in pages.items():
        assert page.status_code == 200 and openid in page.text
        record = store.get(openid)
        status, token = sandbox.access(record.access_token)
        assert status == "ok" and token["openid"] == openid  # WeChat issued this token to this very user
    assert len({store.get(openid).access_token for openid in users}) == len(users)
    assert sandbox.calls("/sns/oauth2/access_token") == len(users)
