"""GET /metrics: what an operator watches, in Prometheus' text format, summed over every gunicorn worker."""
from __future__ import annotations

import re
import time

import pytest
import requests

from tests import processes
from tests.conftest import APPID, CREDENTIALS, TOKEN, project_root
from tests.waiting import wait_until
from tests.wechat_client import WeChat, flask_transport, http_transport
from wechat_bot.oauth.tokens import TokenRecord, TokenStore


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_pushes_are_counted_by_type_and_outcome_and_refusals_by_why(make_app):
    app = make_app()
    client = app.test_client()
    before = client.get("/metrics").text
    wechat = WeChat(flask_transport(client), TOKEN, APPID)
    fields, query = wechat.fields("text", Content="登录"), wechat.query()
    wechat.deliver(fields, query=query)
    wechat.deliver(fields, query=query)  # WeChat's retry, absorbed
    wechat.event("subscribe")
    client.post("/wechat?signature=x&timestamp=1&nonce=2", data=b"<xml/>")
    after = client.get("/metrics")
    assert after.status_code == 200 and after.content_type.startswith("text/plain")
    delta = lambda name, **labels: sample(after.text, name, **labels) - sample(before, name, **labels)  # noqa: E731
    assert delta("wechat_bot_pushes_total", type="text", outcome="reply") == 1
    assert delta("wechat_bot_pushes_total", type="text", outcome="retry") == 1
    assert delta("wechat_bot_pushes_total", type="event:subscribe", outcome="reply") == 1
    assert delta("wechat_bot_pushes_total", outcome="refused_signature") == 1
    assert delta("wechat_bot_push_seconds_bucket", outcome="reply", le="5.0") == 2
    assert "o_alice" not in after.text


def test_only_loopback_or_a_key_may_scrape_and_it_can_be_turned_off(make_app):
    key = "m" * 40
    client = make_app({"WECHAT_API_KEYS": f"prom:{key}"}).test_client()
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=outside).status_code == 401
    assert client.get("/metrics", environ_base=outside, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert make_app({"WECHAT_METRICS": "off"}).test_client().get("/metrics").status_code == 404


@pytest.mark.parametrize("overrides, host", [
    ({"PUBLIC_BASE_URL": "https://bot.example.com"}, "bot.example.com"),
    ({"PUBLIC_BASE_URL": "https://bot.example.com"}, "bot.example.com:443"),  # the same host, its port spelt out
    ({"PUBLIC_BASE_URL": "https://bot.example.com"}, "bot.example.com."),  # the same host, fully qualified
    ({"PUBLIC_BASE_URL": "https://bot.example.com"}, "abc.ngrok-free.app"),  # the tunnel's own name
    ({"NGROK_API_URL": "http://127.0.0.1:9"}, "abc.ngrok-free.app"),  # the agent's API not answering
])
def test_a_visitor_through_a_tunnel_is_not_loopback_whatever_host_it_names(make_app, overrides, host):
    client = make_app(overrides).test_client()
    tunnelled = client.get("/metrics", headers={"Host": host, "X-Forwarded-For": "203.0.113.9"})
    assert tunnelled.status_code == 401
    for loopback in ("localhost:5000", "127.0.0.1", "[::1]:5000"):  # a Host header is the client's to write
        forwarded = client.get("/metrics", headers={"Host": loopback, "X-Forwarded-For": "203.0.113.9"})
        assert forwarded.status_code == 401
    assert client.get("/metrics", headers={"Host": "localhost:5000"}).status_code == 200


def test_users_by_state_and_refresh_tokens_ending_soon(make_app, redis):
    store, now = TokenStore(redis, APPID), int(time.time())
    for openid, ends in (("o_fine", now + 20 * 86400), ("o_soon", now + 2 * 86400), ("o_week", now + 5 * 86400),
                         ("o_gone", now - 60)):
        store.save(TokenRecord(openid=openid, scope="snsapi_base", access_token="A", refresh_token="R",
                               access_token_expires_at=now + 3600, refresh_token_expires_at=ends,
                               consented_at=now))
    text = make_app().test_client().get("/metrics").text
    assert sample(text, "wechat_bot_users", state="active") == 2
    assert sample(text, "wechat_bot_users", state="expiring") == 1
    assert sample(text, "wechat_bot_users", state="reauth_required") == 1
    assert [sample(text, "wechat_bot_refresh_tokens_ending", days=d) for d in ("1", "3", "7")] == [0, 1, 2]
    assert sample(text, "wechat_bot_renewal_backlog") == 0 and sample(text, "wechat_bot_renewal_lag_seconds") == 0


def test_every_scrape_under_two_gunicorn_workers_counts_every_push(tmp_path, redis):
    sock = redis.connection_pool.connection_kwargs["path"]
    with processes.shipped_gunicorn(tmp_path, sock, WECHAT_API_BASE="http://127.0.0.1:9",
                                    PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics")) as (base, log, _):
        wechat = WeChat(http_transport(base), TOKEN, APPID)
        for n in range(40):
            assert wechat.says(f"你好 {n}").status == 200
        scrapes = [requests.get(base + "/metrics", timeout=10).text for _ in range(6)]
        pids = {line.split("pid:")[1].split(")")[0] for line in log.read_text().splitlines() if "pid:" in line}
    assert [sample(text, "wechat_bot_pushes_total", type="text") for text in scrapes] == [40] * 6
    assert len(pids) >= 2  # both workers answered (the kernel's queue hands out connections to either)


def a_user_due(site, phone) -> TokenRecord:
    """o_metrics, authorized through a 登录 link, with an access_token past its end: the next sweep renews it."""
    base, app = site()
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_metrics").says("登录").content
    assert phone("o_metrics").get(re.search(r'href="([^"]+)"', reply).group(1), timeout=10).status_code == 200
    store = app.extensions["wechat_bot"].tokens
    record = store.get("o_metrics")
    store.save(TokenRecord(**{**record.__dict__, "access_token_expires_at": int(time.time()) - 1}))
    return record


def test_the_renewal_workers_renewals_reach_the_folder_a_scrape_sums(tmp_path, redis, sandbox, site, phone):
    """`wechat-bot worker` writes its metrics where gunicorn's workers write theirs (./var/metrics by default), so
    a scrape of the web server counts its renewals."""
    import os
    import subprocess
    import sys

    store, record = TokenStore(redis, APPID), a_user_due(site, phone)
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    worker = processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 30
        while store.get("o_metrics").access_token == record.access_token and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        processes.stop(worker)
    folder = tmp_path / "var" / "metrics"
    code = ("from prometheus_client import CollectorRegistry, generate_latest; "
            "from prometheus_client.multiprocess import MultiProcessCollector; r = CollectorRegistry(); "
            "MultiProcessCollector(r); print(generate_latest(r).decode())")
    scraped = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
                             capture_output=True, text=True, timeout=60).stdout
    assert sample(scraped, "wechat_bot_renewals_total", result="renewed") == 1


def test_threads_that_count_first_at_once_make_the_metrics_once(tmp_path):
    """A renewal pool's first batch counts from many threads at once: the metrics are made once, never registered
    twice (prometheus_client refuses that, and the renewal in that thread would fail)."""
    import subprocess
    import sys

    code = ("import threading\nfrom wechat_bot.metrics.registry import metrics\n"
            "barrier, failed = threading.Barrier(32), []\n"
            "def count():\n    barrier.wait()\n    try:\n        metrics().renewals.labels('renewed', '0').inc()\n"
            "    except Exception as error:\n        failed.append(error)\n"
            "threads = [threading.Thread(target=count) for _ in range(32)]\n[t.start() for t in threads]\n"
            "[t.join() for t in threads]\nprint(len(failed), metrics().renewals.labels('renewed', '0')._value.get())")
    runs = [subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env=processes.clean_env()) for _ in range(5)]
    assert [run.stdout.split() for run in runs] == [["0", "32.0"]] * 5, [run.stderr[-300:] for run in runs]


def test_the_development_server_counts_a_worker_beside_it(tmp_path, redis, sandbox, site, phone):
    """`run.py serve --no-worker` with `run.py worker` beside it (as `flask run` with `flask wechat worker`): the
    server's /metrics counts the worker's renewals and its own pushes."""
    store, record = TokenStore(redis, APPID), a_user_due(site, phone)
    sock, port = redis.connection_pool.connection_kwargs["path"], processes.free_port()
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              PUBLIC_BASE_URL="https://bot.example.com")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    server = processes.start([str(project_root() / "run.py"), "serve", "--no-worker", "--port", str(port)], tmp_path,
                             env, log)
    worker = processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env, tmp_path / "worker.log")
    served = f"http://127.0.0.1:{port}"
    try:
        processes.wait_healthy(served, server, log)
        assert WeChat(http_transport(served), TOKEN, APPID).says("你好").status == 200
        deadline = time.monotonic() + 30
        while store.get("o_metrics").access_token == record.access_token and time.monotonic() < deadline:
            time.sleep(0.2)
        scraped = requests.get(served + "/metrics", timeout=10).text
    finally:
        processes.stop(worker)
        processes.stop(server)
    assert sample(scraped, "wechat_bot_renewals_total", result="renewed") == 1
    assert sample(scraped, "wechat_bot_pushes_total", type="text") == 1


def test_a_killed_workers_counts_stay_in_the_sum_when_another_process_starts(tmp_path, redis):
    """kill -9 of a gunicorn worker leaves its files; a renewal worker starting later retires them (they used to be
    deleted, and the pushes total went down): no scraped counter or histogram ever goes down across the restart."""
    import os
    import signal

    folder, sock = tmp_path / "metrics", redis.connection_pool.connection_kwargs["path"]
    with processes.shipped_gunicorn(tmp_path, sock, WECHAT_API_BASE="http://127.0.0.1:9",
                                    PROMETHEUS_MULTIPROC_DIR=str(folder)) as (base, log, env):
        wechat = WeChat(http_transport(base), TOKEN, APPID)
        for n in range(40):
            assert wechat.says(f"你好 {n}").status == 200
        before = requests.get(base + "/metrics", timeout=10).text
        counted = {int(name.split("_")[-1][:-3]) for name in os.listdir(folder) if name.startswith("counter_")}
        os.kill(max(counted), signal.SIGKILL)  # a web worker that had counted pushes dies
        wait_until(lambda: len(set(re.findall(r"Booting worker with pid: (\d+)", log.read_text()))) >= 3,
                   "the dead worker's replacement", log.read_text)
        worker = processes.start([str(project_root() / "run.py"), "worker"], tmp_path, env, tmp_path / "worker.log")
        worker_log = (tmp_path / "worker.log").read_text

        def tidied() -> bool:
            assert worker.poll() is None, worker_log()
            return not [name for name in os.listdir(folder) if name.endswith(f"_{max(counted)}.db")]
        try:  # it starts by tidying the folder: the dead worker's files go
            wait_until(tidied, "the dead worker's files to go", worker_log)
            after = [requests.get(base + "/metrics", timeout=10).text for _ in range(3)]
        finally:
            processes.stop(worker)
    assert sample(before, "wechat_bot_pushes_total") == 40
    assert [sample(text, "wechat_bot_pushes_total") for text in after] == [40] * 3
    assert [sample(text, "wechat_bot_push_seconds_count") for text in after] == [40] * 3
