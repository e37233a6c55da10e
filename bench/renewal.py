"""Renewal benchmark: the cost of finding what is due as users grow, renewals per second against the
sandbox WeChat API, and Redis memory per stored user. Run: python bench/renewal.py [--users 1000000]

Figures are ratios against a baseline measured in the same run (these machines are noisy).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis as redis_py  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from wechat_bot import embedded_redis  # noqa: E402
from wechat_bot.leases import Leases  # noqa: E402
from wechat_bot.oauth.client import WeChatClient  # noqa: E402
from wechat_bot.oauth.renewal import Renewer  # noqa: E402
from wechat_bot.oauth.tokens import DUE_KEY, TokenRecord, TokenStore, user_key  # noqa: E402
from wechat_bot.sandbox import SandboxStore, create_sandbox_app  # noqa: E402

APPID, SECRET = "wx0123456789abcdef", "0123456789abcdef0123456789abcdef"
DUE = 100


def fill(store: TokenStore, redis, count: int, start: int, now: float) -> None:
    """`count` users as TokenStore.save stores them (record, schedule entry), renewal far in the future."""
    with redis.pipeline(transaction=False) as pipe:
        for n in range(start, start + count):
            record = TokenRecord(openid=f"o{n:027d}", scope="snsapi_base", access_token="A" * 86,
                                 refresh_token="R" * 86, access_token_expires_at=int(now) + 7200 + n % 3600,
                                 refresh_token_expires_at=int(now) + 30 * 86400, consented_at=int(now),
                                 updated_at=int(now))
            pipe.set(user_key(record.openid), record.to_json(), exat=record.refresh_token_expires_at + 7 * 86400)
            pipe.zadd(DUE_KEY, {record.openid: record.renew_at})
            if len(pipe) > 3000:
                pipe.execute()
        pipe.execute()


def time_due(store: TokenStore, now: float, repeats: int = 300) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        found = store.due(now, DUE)
        samples.append(time.perf_counter() - started)
    assert len(found) == DUE
    return statistics.median(samples)


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--renewals", type=int, default=1000)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="wechat_bot_bench_"))
    redis = redis_py.Redis(unix_socket_path=embedded_redis.ensure_running(var))
    try:
        run(redis, args.users, args.renewals)
    finally:
        embedded_redis.stop(var)


def run(redis, users: int, renewals: int) -> None:
    now = time.time()
    store = TokenStore(redis)
    with redis.pipeline(transaction=False) as pipe:  # the DUE users that are due, at every size
        for n in range(DUE):
            pipe.zadd("wechat_bot:renewal:due", {f"due{n}": now - 1})
        pipe.execute()

    print(f"finding {DUE} due users (median of 300 ZRANGEBYSCORE calls)")
    memory_before = redis.info("memory")["used_memory"]
    sizes, filled, baseline = [size for size in (1_000, 10_000, 100_000) if size < users] + [users], 0, None
    for size in sizes:
        fill(store, redis, size - filled, filled, now)
        filled = size
        cost = time_due(store, now)
        baseline = baseline or cost
        print(f"  {size:>8,} users: {cost * 1e6:7.1f} µs   ratio to 1,000 users: {cost / baseline:4.2f}")
    per_user = (redis.info("memory")["used_memory"] - memory_before) / filled
    print(f"Redis memory per stored user: {per_user:,.0f} bytes (the record, a compact string, and its schedule entry; "
          f"target at most 700)")

    redis.flushall()
    sandbox = SandboxStore(redis, APPID, SECRET)
    server = make_server("127.0.0.1", 0, create_sandbox_app(redis, APPID, SECRET), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    sandbox.configure(access_token_ttl=300)
    for n in range(renewals):
        store.save(TokenRecord.from_exchange(sandbox.grant(f"o_bench{n}", "snsapi_base"), time.time()))
    client = WeChatClient(url, url, APPID, SECRET)
    print(f"renewing {renewals} due users against the sandbox API over HTTP (rate limit lifted)")
    rates = {}
    for concurrency in (1, 4):
        sandbox.configure(access_token_ttl=300)
        for n in range(renewals):  # everyone due again: their access_token has just expired
            record = store.get(f"o_bench{n}")
            store.save(replace(record, access_token_expires_at=int(time.time()) - 1))
        renewer = Renewer(store, client, Leases(redis), batch=renewals, concurrency=concurrency, rate=1e6)
        started = time.perf_counter()
        result = renewer.sweep()
        elapsed = time.perf_counter() - started
        rates[concurrency] = result.renewed / elapsed
        print(f"  concurrency {concurrency}: {result.renewed} renewed in {elapsed:.2f}s = {rates[concurrency]:,.0f}/s"
              f"   ratio to concurrency 1: {rates[concurrency] / rates[1]:4.2f}")
    server.shutdown()


if __name__ == "__main__":
    main()
