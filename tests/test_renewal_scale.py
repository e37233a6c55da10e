"""Renewal at a million users: batches that go on at once, the settings, one quota for every worker, the backlog
in /healthz, `check` and the log, and two worker processes renewing 1,000 users once each."""
import logging
import threading
import time

import pytest

from tests import processes
from tests.conftest import APPID, CREDENTIALS, SECRET, project_root
from tests.waiting import wait_until
from wechat_bot.check import run_checks
from wechat_bot.config import Settings
from wechat_bot.oauth.tokens import TokenRecord, TokenStore, schedule_key
from wechat_bot.renewal.quota import RenewalQuota
from wechat_bot.renewal.worker import Renewer
from wechat_bot.sandbox import Fault
from wechat_bot.storage.leases import Leases
from wechat_bot.wechat_api import WeChatClient

REFRESH = "/sns/oauth2/refresh_token"


@pytest.fixture
def due(sandbox, redis):
    """`count` users (live at the sandbox) whose access_token expires in `expires_in` seconds (due 600 s before)."""
    def make(count: int, expires_in: int = 100) -> list[TokenRecord]:
        store, now, records = TokenStore(redis, APPID), int(time.time()), []
        for n in range(count):
            answer = sandbox.grant(f"o_due{n:04d}", "snsapi_base")
            record = TokenRecord.from_exchange(answer, now - 7200 + expires_in)
            store.save(record)
            records.append(record)
        return records
    return make


def renewer_for(redis, sandbox, **options) -> Renewer:
    client = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=2, budget=3)
    return Renewer(TokenStore(redis, APPID), client, Leases(redis, APPID), **options)


def refreshes(redis) -> list[int]:
    return [int(count) for count in redis.hgetall(f"wechat_sandbox:{APPID}:refreshes").values()]


def test_a_full_batch_goes_on_at_once_not_after_the_interval(due, redis, sandbox):
    due(12)
    worker = renewer_for(redis, sandbox, batch=5, interval=3600)  # an hour between sweeps when nothing more is due
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: sandbox.calls(REFRESH) == 12, "three batches, no hour in between",
                   lambda: sandbox.calls(REFRESH))
    finally:
        worker.stop()
        thread.join(10)
    assert not thread.is_alive() and sorted(refreshes(redis)) == [1] * 12


def test_an_idle_worker_still_says_it_sweeps(redis, sandbox, make_app):
    """Nothing due: its sweeps find nothing, and /healthz must still hear from it."""
    worker = renewer_for(redis, sandbox, interval=0.05)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: TokenStore(redis, APPID).last_beat() is not None, "the worker's first beat")
        first = TokenStore(redis, APPID).last_beat()
        wait_until(lambda: TokenStore(redis, APPID).last_beat() > first, "another beat, while idle", timeout=10)
    finally:
        worker.stop()
        thread.join(10)
    assert make_app().test_client().get("/healthz").get_json()["renewal"] == "ok"


def test_the_settings_size_the_workers_pool_and_rate(make_app):
    services = make_app({"WECHAT_RENEWAL_CONCURRENCY": "8", "WECHAT_RENEWAL_RATE": "20"}).extensions["wechat_bot"]
    renewer = services.renewer()
    assert renewer.concurrency == 8 and renewer.batch == 40  # two seconds of work at 20 a second


def test_a_quota_error_told_to_one_worker_pauses_every_worker(due, redis, sandbox):
    records = due(4)
    sandbox.inject(REFRESH, Fault(errcode=45011))
    told = renewer_for(redis, sandbox, concurrency=1).sweep()
    assert told.quota
    other = renewer_for(redis, sandbox)  # another process: it learns of the pause from Redis
    assert other.sweep().quota and other.quota.paused_for() > 50
    assert sandbox.calls(REFRESH) == 1
    store = TokenStore(redis, APPID)
    assert all(store.get(r.openid).access_token == r.access_token for r in records)  # kept, still to renew
    assert store.backlog(time.time() + 61)[0] == 4  # due again once the pause is over
    redis.delete(f"wechat_bot:{APPID}:renewal:paused")  # the minute passes
    assert renewer_for(redis, sandbox).sweep().renewed == 3  # the one WeChat refused waits 30 s more


def test_every_worker_together_starts_at_most_the_shared_rate_a_second(redis):
    clock = [1000.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    workers = [RenewalQuota(redis, APPID, 100, shared=10, clock=lambda: clock[0], sleep=sleep) for _ in range(3)]
    started = []
    for n in range(60):
        workers[n % 3].take()
        started.append(int(clock[0]))
    per_second = [started.count(second) for second in set(started)]
    assert max(per_second) <= 10 and len(per_second) >= 6


def test_healthz_shows_the_backlog_before_a_worker_starts_and_turns_503_when_tokens_expire_first(due, redis,
                                                                                                 sandbox, make_app):
    app = make_app({"WECHAT_API_BASE": sandbox.url, "WECHAT_OPEN_BASE": sandbox.url})
    due(3, expires_in=1000)  # due 400 s from now
    body = app.test_client().get("/healthz").get_json()
    assert (body["renewal_backlog"], body["renewal_lag_s"]) == (0, 0)
    due(5)  # due 500 s ago: renewed late, but before the tokens expire
    health = app.test_client().get("/healthz")
    assert health.status_code == 200 and health.get_json()["renewal_backlog"] == 5
    assert 500 <= health.get_json()["renewal_lag_s"] < 600
    TokenStore(redis, APPID).reschedule("o_due0004", time.time() - 700)  # its token expired 100 s ago
    health = app.test_client().get("/healthz")
    body = health.get_json()
    assert health.status_code == 503 and body["renewal"].startswith("behind") and body["renewal_lag_s"] >= 700
    assert "no renewal worker seen yet" in body["renewal"]
    app.extensions["wechat_bot"].renewer().run(once=True)
    health = app.test_client().get("/healthz")
    assert health.status_code == 200
    assert (health.get_json()["renewal_backlog"], health.get_json()["renewal_lag_s"]) == (0, 0)


def test_check_reports_the_backlog(due, redis):
    settings = Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://127.0.0.1:9"})
    due(2)
    lines = run_checks(settings, redis).lines()
    assert any(line.startswith("ok    renewal: 2 user(s) due, the oldest waiting 5") for line in lines), lines
    TokenStore(redis, APPID).reschedule("o_due0000", time.time() - 900)
    lines = run_checks(settings, redis).lines()
    assert any(line.startswith("warn  renewal: 2 user(s) due, the oldest waiting 9") and "past the 600s margin"
               in line for line in lines), lines


def test_the_worker_logs_when_renewal_falls_behind(due, redis, sandbox, caplog):
    caplog.set_level(logging.INFO, logger="wechat_bot")
    due(3, expires_in=-100)  # expired 100 s ago
    renewer_for(redis, sandbox, batch=1).run(once=True)  # renews one of three
    behind = [r.getMessage() for r in caplog.records if "renewal is behind" in r.getMessage()]
    assert len(behind) == 1 and "2 users due" in behind[0] and "past the 600s margin" in behind[0]


def test_a_stopped_worker_hands_back_what_it_had_not_started(due, redis, sandbox):
    due(6)
    sandbox.inject(REFRESH, Fault(delay=2.0))  # the first refresh is still in flight when the worker is stopped
    worker = renewer_for(redis, sandbox, concurrency=1, batch=6)
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_until(lambda: sandbox.calls(REFRESH) == 1, "the first refresh", lambda: sandbox.calls(REFRESH))
    worker.stop()
    thread.join(10)
    assert not thread.is_alive() and sandbox.calls(REFRESH) == 1  # the one in flight finished, no other began
    assert TokenStore(redis, APPID).backlog(time.time())[0] == 5  # due now, for any worker: not held for a minute
    assert not redis.keys(f"wechat_bot:{APPID}:lease:" + "*")


def test_two_worker_processes_renew_each_of_1000_due_users_exactly_once(due, redis, sandbox, tmp_path):
    due(1000)
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url)
    workers = [processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env, tmp_path / f"w{n}.log")
               for n in range(2)]
    try:
        wait_until(lambda: sandbox.calls(REFRESH) >= 1000, "1000 refreshes", lambda: sandbox.calls(REFRESH), 120)
        time.sleep(1)  # a second refresh of anyone would show now
    finally:
        for worker in workers:
            processes.stop(worker)
    assert sorted(refreshes(redis)) == [1] * 1000 and sandbox.calls(REFRESH) == 1000
    assert TokenStore(redis, APPID).backlog(time.time()) == (0, 0.0)
    assert not redis.keys(f"wechat_bot:{APPID}:lease:" + "*") and redis.zcard(schedule_key(APPID)) == 1000
    for n in range(2):
        assert "Traceback" not in (tmp_path / f"w{n}.log").read_text()
