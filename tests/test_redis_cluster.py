"""REDIS_URL at one node of a real 3-master Redis Cluster: every script and transaction stays in one slot."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from tests import processes
from tests.conftest import APPID, CREDENTIALS, NOWHERE, TOKEN, project_root
from tests.redis_cluster import Cluster
from tests.wechat_client import WeChat, flask_transport, http_transport
from wechat_bot import create_app
from wechat_bot.endpoint.responder import UNAVAILABLE_TEXT
from wechat_bot.oauth.tokens import TokenRecord, TokenStore

USERS = [f"o_cluster{n}" for n in range(6)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    found = Cluster(tmp_path_factory.mktemp("cluster"))
    yield found
    found.stop()


def _authorize(base: str, phone, openid: str) -> None:
    chat = WeChat(http_transport(base), TOKEN, APPID, openid=openid)
    reply = chat.says("登录")
    link = re.search(r'<a href="([^"]+)">', reply.content)
    assert link, (reply.status, reply.content)
    page = phone(openid).get(link.group(1), timeout=10)
    assert page.status_code == 200 and openid in page.text, page.text


def test_a_cluster_serves_the_whole_flow_and_two_workers_renew_each_token_once(cluster, sandbox, serve, phone,
                                                                             tmp_path):
    settings = {**CREDENTIALS, "REDIS_URL": cluster.url, "WECHAT_API_BASE": sandbox.url,
                "WECHAT_OPEN_BASE": sandbox.url}
    app = create_app(settings)
    base = serve(app)
    assert app.test_client().get("/healthz").status_code == 200, app.test_client().get("/healthz").get_json()
    for openid in USERS:
        _authorize(base, phone, openid)

    store = TokenStore(cluster.client(), APPID)
    before = {}
    for openid in USERS:  # all due now
        record = store.get(openid)
        before[openid] = record
        store.save(TokenRecord(**{**record.__dict__, "access_token_expires_at": int(time.time()) - 1}))
    env = processes.clean_env(**settings)
    workers = [processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env, tmp_path / f"w{n}.log")
               for n in range(2)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(store.get(o).access_token != before[o].access_token for o in USERS):
                break
            time.sleep(0.2)
        assert all(store.get(o).access_token != before[o].access_token for o in USERS)
        time.sleep(1)
        assert [sandbox.refreshes(before[o].refresh_token) for o in USERS] == [1] * len(USERS)
    finally:
        for worker in workers:
            processes.stop(worker)
    listed = subprocess.run([sys.executable, str(project_root() / "run.py"), "tokens", "list", "--json"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert sorted(row["openid"] for row in json.loads(listed.stdout)) == USERS
    assert app.test_client().get("/healthz").status_code == 200


def test_on_a_cluster_a_retry_with_a_new_nonce_gets_the_first_reply_and_a_reused_query_no_other_body(cluster):
    app = create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": cluster.url})
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID, openid="o_cluster_retry")
    fields, query = wechat.fields("text", Content="登录"), wechat.query()
    first = wechat.deliver(fields, query=query)
    again = wechat.deliver(fields, query=wechat.query(nonce="another"))
    forged = wechat.deliver({**fields, "FromUserName": "o_mallory", "MsgId": 7}, query=query)
    assert (first.status, again.status, forged.status) == (200, 200, 403)
    assert "点此登录" in first.content and again.body == first.body


def test_a_cluster_gone_down_still_answers_pushes_as_a_single_redis_does(tmp_path):
    """Every node gone: redis-py's cluster client raises RedisClusterException, not a RedisError; the push is
    answered all the same (a reply without a link, 稍后再试 for a link), never a 503 that WeChat shows as an error."""
    gone = Cluster(tmp_path / "gone")
    try:
        app = create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": gone.url})
        wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID)
        assert wechat.says("你好").content.startswith("发送「登录」")
    finally:
        gone.stop()
    hello, login = wechat.says("你好"), wechat.says("登录")
    assert (hello.status, login.status) == (200, 200)
    assert hello.content.startswith("发送「登录」") and login.content == UNAVAILABLE_TEXT
