"""Scheduled renewal: every token renewed once before it expires, nothing lost, re-auth asked when due."""
import re
import threading
import time

import pytest

from tests.conftest import APPID, SECRET, TOKEN
from tests.waiting import wait_until
from tests.wechat_client import WeChat, http_transport
from wechat_bot.oauth.tokens import REAUTH_REQUIRED, TokenRecord, TokenStore
from wechat_bot.renewal.worker import Renewer
from wechat_bot.sandbox import Fault
from wechat_bot.storage.leases import Leases
from wechat_bot.wechat_api import WeChatClient

REFRESH = "/sns/oauth2/refresh_token"


@pytest.fixture
def store(redis):
    return TokenStore(redis, APPID)


@pytest.fixture
def authorized(sandbox, store):
    """Users who consented (through the sandbox) 5 minutes ago with 6-minute tokens: due for renewal now."""
    def make(count: int = 1, scope: str = "snsapi_base") -> list[TokenRecord]:
        sandbox.configure(access_token_ttl=360)
        records = []
        for n in range(count):
            answer = sandbox.grant(f"o_user{n}", scope)
            record = TokenRecord.from_exchange(answer, time.time() - 300)
            store.save(record)
            records.append(record)
        return records
    return make


def renewer_for(redis, sandbox, clock=time.time, **options) -> Renewer:
    client = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=2, budget=3)
    return Renewer(TokenStore(redis, APPID, clock=clock), client, Leases(redis, APPID), clock=clock, **options)


def test_a_due_token_is_renewed_before_it_expires(authorized, redis, sandbox, store):
    (old,) = authorized()
    result = renewer_for(redis, sandbox).sweep()
    new = store.get("o_user0")
    assert result.renewed == 1
    assert new.access_token != old.access_token and sandbox.access(new.access_token)[0] == "ok"
    assert new.refresh_token == old.refresh_token and new.refresh_token_expires_at == old.refresh_token_expires_at
    assert sandbox.refreshes(old.refresh_token) == 1


def test_nothing_is_due_right_after_renewal(authorized, redis, sandbox):
    authorized()
    first = renewer_for(redis, sandbox).sweep()
    assert first.renewed == 1
    assert renewer_for(redis, sandbox).sweep().renewed == 0


def test_three_workers_renew_each_due_token_exactly_once(authorized, redis, sandbox, store):
    records = authorized(30)
    sandbox.inject(REFRESH, Fault(delay=0.05), times=30)
    workers = [renewer_for(redis, sandbox, concurrency=3) for _ in range(3)]
    threads = [threading.Thread(target=worker.sweep) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [sandbox.refreshes(r.refresh_token) for r in records] == [1] * 30
    assert all(store.get(r.openid).access_token != r.access_token for r in records)


def test_a_killed_workers_claims_are_taken_over_once_they_run_out(authorized, redis, sandbox, store):
    records = authorized(3)
    dead_worker = Leases(redis, APPID)
    for record in records:
        assert dead_worker.acquire(f"renew:{record.openid}", ttl=60)  # what a worker killed mid-claim leaves
    assert renewer_for(redis, sandbox).sweep().skipped == 3
    assert renewer_for(redis, sandbox).sweep().skipped == 0  # claimed by the first sweep: out of the way
    for record in records:
        redis.pexpire(f"wechat_bot:{APPID}:lease:" + f"renew:{record.openid}", 1)  # their 60 s pass…
    time.sleep(0.01)
    later = time.time() + 61  # …and the first sweep's claims with them
    assert renewer_for(redis, sandbox, clock=lambda: later).sweep().renewed == 3


@pytest.mark.parametrize("fault", [Fault(errcode=-1), Fault(status=502), Fault(delay=2.5)])
def test_transient_failures_keep_the_record_and_retry_later(authorized, redis, sandbox, store, fault):
    (old,) = authorized()
    sandbox.inject(REFRESH, fault, times=10)
    first = renewer_for(redis, sandbox, call_timeout=2).sweep()
    assert first.retried == 1 and store.get("o_user0") == old
    redis.delete(f"wechat_sandbox:{APPID}:faults:" + REFRESH)
    later = renewer_for(redis, sandbox, clock=lambda: time.time() + 31).sweep()
    assert later.renewed == 1 and store.get("o_user0").access_token != old.access_token


def test_a_quota_error_pauses_the_worker(authorized, redis, sandbox, store):
    authorized(5)
    sandbox.inject(REFRESH, Fault(errcode=45011))
    worker = renewer_for(redis, sandbox, concurrency=1)
    first = worker.sweep()
    assert first.quota and first.renewed < 5
    assert worker.sweep().renewed == 0  # paused
    assert all(store.get(f"o_user{n}") for n in range(5))


def test_a_dead_refresh_token_asks_the_user_again_with_the_next_reply(authorized, redis, sandbox, store, site):
    authorized()
    sandbox.expire_refresh_token("o_user0")
    assert renewer_for(redis, sandbox).sweep().reauth == 1
    record = store.get("o_user0")
    assert record.status == REAUTH_REQUIRED and record.reported_status(time.time()) == REAUTH_REQUIRED
    assert renewer_for(redis, sandbox, clock=lambda: time.time() + 10**6).sweep().renewed == 0  # left the schedule

    base, _ = site()
    wechat = WeChat(http_transport(base), TOKEN, APPID, openid="o_user0")
    first = wechat.says("随便聊聊")
    assert "重新授权" in first.content and "scope=snsapi_base" in first.content
    assert first.content.startswith("发送「登录」")  # the handler's own answer comes first
    assert "重新授权" not in wechat.says("再聊聊").content  # once


def test_a_renewal_racing_a_new_authorization_leaves_the_new_tokens(authorized, redis, sandbox, store, site,
                                                                     phone):
    (old,) = authorized()
    sandbox.inject(REFRESH, Fault(delay=1.0))
    renewal = threading.Thread(target=renewer_for(redis, sandbox).sweep)
    renewal.start()
    time.sleep(0.2)
    base, _ = site()
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_user0").says("登录")
    link = re.search(r'href="([^"]+)"', reply.content).group(1)
    assert phone("o_user0").get(link, timeout=10).status_code == 200
    fresh = store.get("o_user0")
    renewal.join(10)
    final = store.get("o_user0")
    assert final.refresh_token == fresh.refresh_token != old.refresh_token
    assert final.access_token == fresh.access_token


def test_a_rotated_refresh_token_restarts_its_30_days(authorized, redis, sandbox, store):
    (old,) = authorized()
    sandbox.configure(rotate_refresh_token=True)
    later = time.time() + 3600
    renewer_for(redis, sandbox, clock=lambda: later).sweep()
    new = store.get("o_user0")
    assert new.refresh_token != old.refresh_token
    assert new.refresh_token_expires_at == int(later) + 30 * 24 * 3600


def test_finding_what_is_due_reads_only_what_is_due(store, redis):
    now = time.time()
    with redis.pipeline() as pipe:
        for n in range(2000):
            pipe.zadd(f"wechat_bot:{APPID}:renewal:due", {f"o_{n}": now + 3600 + n})
        pipe.execute()
    store.reschedule("o_5", now - 1)
    assert store.due(now, limit=100) == ["o_5"]


def test_stop_finishes_in_flight_renewals_then_returns(authorized, redis, sandbox, store):
    (old,) = authorized()
    sandbox.inject(REFRESH, Fault(delay=0.5))
    worker = renewer_for(redis, sandbox, interval=0.1)
    thread = threading.Thread(target=worker.run)
    thread.start()
    time.sleep(0.2)
    worker.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert store.get("o_user0").access_token != old.access_token  # the in-flight renewal was finished
    assert not redis.keys(f"wechat_bot:{APPID}:lease:" + "*")  # and its claim released


def test_a_slow_handlers_reply_arrives_as_a_customer_service_message(site, sandbox, push_log):
    from wechat_bot.handlers import Router

    sandbox.interacted("o_alice")  # the WeChat user who is chatting (custom/send needs their message within 48 h)

    router = Router()

    @router.keyword("slow")
    def slow(msg):
        time.sleep(0.5)
        return "久等了：这是迟到的回复"

    base, _ = site(router=router, deadline=0.2)
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice").says("slow")
    assert reply.body == b"success"
    wait_until(lambda: sandbox.sent("o_alice"), "the late reply")
    assert sandbox.sent("o_alice") == [{"touser": "o_alice", "msgtype": "text",
                                        "text": {"content": "久等了：这是迟到的回复"}}]


def test_the_account_token_is_fetched_once_and_a_stale_one_dropped_only_if_still_current(redis, sandbox):
    from wechat_bot.account.token import AccountToken

    client = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=2, budget=3)
    tokens = [AccountToken(redis, client, Leases(redis, APPID)) for _ in range(4)]
    results = []
    threads = [threading.Thread(target=lambda t=t: results.append(t.get())) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(set(results)) == 1 and sandbox.calls("/cgi-bin/stable_token") == 1
    assert not tokens[0].invalidate("some-older-token")
    assert tokens[0].get() == results[0]
    assert tokens[0].invalidate(results[0])
    assert sandbox.calls("/cgi-bin/stable_token") == 1 and tokens[1].get()
    assert sandbox.calls("/cgi-bin/stable_token") == 2


def test_on_demand_use_renews_an_expired_token_once_without_racing_the_worker(authorized, redis, sandbox, store):
    (old,) = authorized()
    later = time.time() + 120  # the 6-minute token issued 5 minutes ago has expired
    worker = renewer_for(redis, sandbox, clock=lambda: later)
    sandbox.inject(REFRESH, Fault(delay=0.5))
    results = []
    threads = [threading.Thread(target=lambda: results.append(worker.valid_access_token("o_user0")))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    worker.sweep()
    for thread in threads:
        thread.join(10)
    assert len(set(results)) == 1 and results[0] != old.access_token
    assert sandbox.refreshes(old.refresh_token) == 1


def test_on_demand_use_of_a_dead_refresh_token_says_ask_again(authorized, redis, sandbox):
    authorized()
    sandbox.expire_refresh_token("o_user0")
    later = time.time() + 120
    assert renewer_for(redis, sandbox, clock=lambda: later).valid_access_token("o_user0") is None


def test_a_record_kept_by_the_previous_version_moves_to_the_new_keys_when_first_read(redis):
    """Upgrading drops no user's tokens: the record of 0.10 (a hash, no hash tag, no account) is found and moved."""
    from wechat_bot.oauth.report import all_records
    from wechat_bot.oauth.tokens import TokenRecord, TokenStore, user_key

    answer = {"openid": "o_old", "scope": "snsapi_base", "access_token": "a" * 40, "refresh_token": "r" * 40}
    record = TokenRecord.from_exchange(answer, time.time())
    redis.hset("wechat_bot:user:o_old", mapping=record.to_hash())
    store = TokenStore(redis, APPID, legacy=True)
    assert store.get("o_old") == record
    assert redis.exists(user_key(APPID, "o_old")) and not redis.exists("wechat_bot:user:o_old")
    assert [found.openid for found in all_records(redis, store)] == ["o_old"]
    assert TokenStore(redis, "wx_other_account0", legacy=False).get("o_old") is None
