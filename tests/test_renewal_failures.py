"""WeChat failing: /healthz and `check` see it, WeChat is not hammered, each user is still tried before its token
ends, and an error no retry heals stops renewal with one line a minute."""
import itertools
import logging
import re
import time

import pytest
from werkzeug.serving import make_server

from tests.conftest import APPID, CREDENTIALS, SECRET
from tests.test_renewal import renewer_for
from wechat_bot.check import run_checks
from wechat_bot.config import Settings
from wechat_bot.oauth.tokens import TokenRecord, TokenStore, schedule_key
from wechat_bot.renewal.quota import RenewalQuota
from wechat_bot.renewal.worker import Renewer
from wechat_bot.sandbox import Fault
from wechat_bot.storage.leases import Leases
from wechat_bot.wechat_api import WeChatClient

REFRESH = "/sns/oauth2/refresh_token"
FAULTS = f"wechat_sandbox:{APPID}:faults:" + REFRESH
HALT_KEY = f"wechat_bot:{APPID}:renewal:halted"


@pytest.fixture
def due(sandbox, redis):
    """`count` users (live at the sandbox) whose access_token ends in `expires_in` s (each due 600 s before)."""
    def make(count: int, expires_in: int = 100, first: int = 0) -> list[TokenRecord]:
        store, now, records = TokenStore(redis, APPID), int(time.time()), []
        for n in range(first, first + count):
            record = TokenRecord.from_exchange(sandbox.grant(f"o_due{n:02d}", "snsapi_base"), now - 7200 + expires_in)
            store.save(record)
            records.append(record)
        return records
    return make


def wechat_answers(sandbox, redis, errcode: int | None) -> None:
    """From now on every refresh gets `errcode` (None: WeChat is well again)."""
    redis.delete(FAULTS)
    if errcode is not None:
        sandbox.inject(REFRESH, Fault(errcode=errcode), times=10_000)


def health(app) -> tuple[int, dict]:
    answer = app.test_client().get("/healthz")
    return answer.status_code, answer.get_json()


def test_lag_counts_from_the_first_due_time_and_an_ended_token_makes_healthz_503(due, redis, sandbox, make_app):
    app = make_app()
    due(1, expires_in=100)  # due 500 s ago
    wechat_answers(sandbox, redis, -1)
    assert renewer_for(redis, sandbox).sweep().retried == 1  # tried again later: its schedule entry moves on
    status, body = health(app)
    assert status == 200 and body["renewal_lag_s"] >= 500 and body["renewal_failures"] == 1
    assert "-1" in body["renewal_last_error"]
    due(1, expires_in=-5, first=1)  # another user's token ended 5 s ago…
    renewer_for(redis, sandbox).sweep()  # …and its renewal fails too
    status, body = health(app)
    assert status == 503 and body["renewal"].startswith("behind") and body["renewal_lag_s"] >= 600
    assert body["renewal_failing_users"] == 2
    wechat_answers(sandbox, redis, None)
    assert renewer_for(redis, sandbox, clock=lambda: time.time() + 121).sweep().renewed == 2
    status, body = health(app)
    assert status == 200 and body["renewal_lag_s"] == 0 and body["renewal_failures"] == 0
    assert body["renewal_failing_users"] == 0


def test_every_renewal_failing_for_a_minute_is_a_503_and_check_fails_it(due, redis, sandbox, make_app):
    app = make_app()
    settings = Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://127.0.0.1:9"})
    due(3, expires_in=530)  # due 70 s ago, far from ending: only the failures count
    wechat_answers(sandbox, redis, -1)
    renewer_for(redis, sandbox, clock=lambda: time.time() - 65, batch=1).sweep()  # failing since 65 s ago…
    status, body = health(app)
    failing_for = re.match(r"failing: 1 renewal\(s\) in a row failed over (\d+)s", body["renewal"])
    assert status == 503 and failing_for and int(failing_for.group(1)) >= 65, body["renewal"]
    assert "(-1)" in body["renewal"]
    renewer_for(redis, sandbox, batch=1).sweep()  # …and still failing now
    status, body = health(app)
    assert status == 503 and body["renewal_failures"] == 2
    assert any(line.startswith("FAIL  renewal: failing: 2 renewal(s)") for line in run_checks(settings, redis).lines())
    wechat_answers(sandbox, redis, None)
    assert renewer_for(redis, sandbox).sweep().renewed == 2  # a renewal WeChat answers ends it
    status, body = health(app)
    assert status == 200 and not body["renewal"].startswith("failing")
    assert body["renewal_failures"] == 0


def test_a_failure_of_a_few_seconds_is_not_yet_a_503(due, redis, sandbox, make_app):
    due(1, expires_in=600)
    wechat_answers(sandbox, redis, -1)
    renewer_for(redis, sandbox).sweep()
    status, body = health(make_app())
    assert status == 200 and body["renewal_failures"] == 1


def test_wechat_answering_minus_one_gets_two_calls_an_attempt_then_one_probe_at_a_time(due, redis, sandbox,
                                                                                        push_log):
    records = due(20)
    wechat_answers(sandbox, redis, -1)
    first = renewer_for(redis, sandbox, concurrency=1).sweep()
    assert first.retried == 5  # five failures in a row opened the circuit; the other 15 were handed back
    assert sandbox.calls(REFRESH) == 10  # two calls each, not the client's whole retry budget
    failures = [r for r in push_log.records if r.name.startswith("wechat_bot") and "renewal of" in r.getMessage()]
    assert len(failures) == 5 and all(r.levelno == logging.WARNING for r in failures)
    assert not [r for r in push_log.records if r.name == "wechat_bot.wechat_api" and r.levelno >= logging.INFO]
    for _ in range(3):  # while the circuit is open, each sweep sends one probe
        assert renewer_for(redis, sandbox).sweep().retried == 1
    assert sandbox.calls(REFRESH) == 16
    wechat_answers(sandbox, redis, None)
    assert renewer_for(redis, sandbox).sweep().renewed == 1  # the probe gets through: the circuit closes
    assert renewer_for(redis, sandbox).sweep().renewed == 19  # the rest at once: those handed back, and those
    store = TokenStore(redis, APPID)  # waiting for their retry, whose wait ended when WeChat answered again
    assert all(store.get(r.openid).access_token != r.access_token for r in records)


def test_every_call_a_retry_included_draws_from_the_shared_budget(due, redis, sandbox):
    due(1)
    sandbox.inject(REFRESH, Fault(errcode=-1), times=1)  # the first call fails, its retry succeeds
    quota = RenewalQuota(redis, APPID, 10)  # a tenth of a second's work per draw: one permit
    assert renewer_for(redis, sandbox, quota=quota).sweep().renewed == 1
    drawn = sum(int(redis.get(key)) for key in redis.scan_iter(f"wechat_bot:{APPID}:renewal:budget:*"))
    assert sandbox.calls(REFRESH) == 2 and drawn == 2


def test_a_user_failing_is_tried_less_and_less_often_yet_once_more_before_its_token_ends(due, redis, sandbox):
    (record,) = due(1, expires_in=600)  # due now; its token ends in 600 s
    start = time.time()
    wechat_answers(sandbox, redis, -1)
    tries, now = [], start
    while now < record.access_token_expires_at:
        result = renewer_for(redis, sandbox, clock=lambda now=now: now).sweep()
        if result.retried:
            tries.append(now - start)
        now = max(now + 1, float(redis.zscore(schedule_key(APPID), record.openid)))  # straight to its next try
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert gaps[0] == pytest.approx(30, abs=2) and max(gaps) > 2 * gaps[0]  # the waits grow…
    assert record.access_token_expires_at - start - tries[-1] <= 60  # …yet a last try comes before the end
    assert len(tries) <= 10


def test_an_error_no_retry_heals_stops_renewal_with_one_line_a_minute_and_healthz_names_it(due, redis, sandbox,
                                                                                           make_app, push_log):
    due(10)
    wechat_answers(sandbox, redis, 40164)
    worker = renewer_for(redis, sandbox, concurrency=1)
    assert worker.sweep().retried == 1 and sandbox.calls(REFRESH) == 1  # no retry, and nobody else tried
    for _ in range(3):
        assert renewer_for(redis, sandbox).sweep().held
    assert sandbox.calls(REFRESH) == 1
    status, body = health(make_app())
    assert status == 503 and body["renewal"].startswith("stopped") and "40164" in body["renewal"]
    assert "IP whitelist" in body["renewal"]
    redis.pexpire(HALT_KEY, 1)  # a minute passes
    time.sleep(0.01)
    assert renewer_for(redis, sandbox).sweep().retried == 1 and sandbox.calls(REFRESH) == 2  # one probe
    stopped = [r for r in push_log.records if "renewal stopped" in r.getMessage()]
    assert len(stopped) == 2 and all(r.levelno == logging.ERROR for r in stopped)  # one line each minute
    wechat_answers(sandbox, redis, None)
    redis.pexpire(HALT_KEY, 1)  # the whitelist fixed, the next minute's probe succeeds and renewal goes on
    time.sleep(0.01)
    assert renewer_for(redis, sandbox).sweep().renewed == 1
    assert renewer_for(redis, sandbox).sweep().renewed == 9  # the rest, the two that had failed included
    assert health(make_app())[0] == 200


def test_an_untrusted_certificate_is_not_retried_and_stops_renewal(due, redis, sandbox, make_app):
    """WeChat's origin over https with a certificate this machine does not trust (a CA left out)."""
    from wechat_bot.sandbox import create_sandbox_app

    server = make_server("127.0.0.1", 0, create_sandbox_app(redis, APPID, SECRET), ssl_context="adhoc")
    import threading
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        due(3)
        client = WeChatClient(f"https://127.0.0.1:{server.server_port}", sandbox.url, APPID, SECRET)
        worker = Renewer(TokenStore(redis, APPID), client, Leases(redis, APPID), concurrency=1)
        assert worker.sweep().retried == 1
        status, body = health(make_app())
        assert status == 503 and "certificate is not trusted" in body["renewal"]
    finally:
        server.shutdown()


def test_metrics_say_how_long_renewal_has_failed_from_the_first_attempt(due, redis, sandbox, make_app):
    app = make_app()
    due(1, expires_in=530)
    wechat_answers(sandbox, redis, 40125)  # a wrong AppSecret from the start: no renewal ever succeeded
    renewer_for(redis, sandbox, clock=lambda: time.time() - 65).sweep()
    scraped = app.test_client().get("/metrics").get_data(as_text=True)
    failing = float(re.search(r"^wechat_bot_renewal_failing_seconds (\S+)$", scraped, re.M).group(1))
    assert failing >= 65 and re.search(r"^wechat_bot_renewal_halted 1\.0$", scraped, re.M)


def test_when_wechat_answers_again_every_failing_user_is_renewed_at_once_not_after_its_backoff(due, redis, sandbox):
    records = due(5)
    wechat_answers(sandbox, redis, -1)
    assert renewer_for(redis, sandbox, concurrency=1).sweep().retried == 5  # the circuit opens; nobody is due now
    wechat_answers(sandbox, redis, None)
    assert renewer_for(redis, sandbox).sweep().renewed == 1  # the probe: the user failing longest
    assert renewer_for(redis, sandbox).sweep().renewed == 4  # the others' waits ended with it
    store = TokenStore(redis, APPID)
    assert all(store.get(r.openid).access_token != r.access_token for r in records)
