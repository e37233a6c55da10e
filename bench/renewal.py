"""Renewal benchmark: the cost of finding what is due as users grow, renewals per second against the
sandbox WeChat API, Redis memory per stored user, and the worker as it runs: `run.py worker` processes against
the sandbox in a process of its own, answering each refresh after 50, 100 and 300 ms, with the renewals a
second per process, the CPU per renewal and the users one worker keeps renewed; `--profile` adds where a
renewal's CPU goes. Run: python bench/renewal.py [--users 1000000] [--worker-only] [--profile]

Figures are ratios against a baseline measured in the same run, or CPU time (these machines are noisy).
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import redis as redis_py  # noqa: E402
import renewal_worker  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from wechat_bot import defaults  # noqa: E402
from wechat_bot.oauth.tokens import TokenRecord, TokenStore, schedule_key, user_key  # noqa: E402
from wechat_bot.renewal.worker import Renewer  # noqa: E402
from wechat_bot.sandbox import SandboxStore, create_sandbox_app  # noqa: E402
from wechat_bot.storage import embedded_redis  # noqa: E402
from wechat_bot.storage.leases import Leases  # noqa: E402
from wechat_bot.wechat_api import WeChatClient  # noqa: E402

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
            pipe.set(user_key(APPID, record.openid), record.to_json(), exat=record.refresh_token_expires_at + 7 * 86400)
            pipe.zadd(schedule_key(APPID), {record.openid: record.renew_at})
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
    parser.add_argument("--worker-only", action="store_true", help="only the worker as it runs")
    parser.add_argument("--worker-users", type=int, default=3000, help="users due for each run of the worker")
    parser.add_argument("--latencies", default="50,100,300", help="the sandbox's latency for each run, in ms")
    parser.add_argument("--concurrency", type=int, help="WECHAT_RENEWAL_CONCURRENCY (default: the default)")
    parser.add_argument("--rate", type=int, help="WECHAT_RENEWAL_RATE (default: the default)")
    parser.add_argument("--profile", action="store_true", help="also: where a renewal's CPU goes, at 100 ms")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="wechat_bot_bench_"))
    socket_path = embedded_redis.ensure_running(var)
    redis = redis_py.Redis(unix_socket_path=socket_path)
    try:
        if not args.worker_only:
            run(redis, args.users, args.renewals)
            redis.flushall()
        worker_as_it_runs(redis, socket_path, args)
    finally:
        embedded_redis.stop(var)


def worker_as_it_runs(redis, socket_path: str, args) -> None:
    settings = {name: str(value) for name, value in (("WECHAT_RENEWAL_CONCURRENCY", args.concurrency),
                                                     ("WECHAT_RENEWAL_RATE", args.rate)) if value}
    concurrency, rate = args.concurrency or defaults.RENEWAL_CONCURRENCY, args.rate or defaults.RENEWAL_RATE
    latencies = [int(ms) for ms in args.latencies.split(",")]
    bench = renewal_worker.Bench(redis, socket_path, args.worker_users)
    print(f"the worker as it runs: `run.py worker` (WECHAT_RENEWAL_CONCURRENCY {concurrency}, WECHAT_RENEWAL_RATE "
          f"{rate}) against the sandbox WeChat in its own process (gunicorn gthread), {args.worker_users:,} users "
          f"due each run, each refresh answered after the latency; rates between 5 % and 95 % done")
    print("  latency  workers  renewals/s a process   CPU ms a renewal: worker  sandbox  Redis   users a worker"
          "   each once")
    try:
        runs = [bench.run(ms, 1, settings) for ms in latencies]
        if 100 in latencies:
            runs.append(bench.run(100, 2, settings))
        for one in runs:
            print(f"  {one.latency_ms:4d} ms  {one.workers:5d}  {one.per_process:16.0f}  {one.worker_cpu_ms:28.2f}"
                  f"  {one.sandbox_cpu_ms:7.2f}  {one.redis_cpu_ms:5.2f}  "
                  f"{one.per_process * renewal_worker.SECONDS_PER_RENEWAL:15,.0f}   {'yes' if one.once else 'NO'}")
        one = next((r for r in runs if (r.latency_ms, r.workers) == (100, 1)), runs[0])
        print(f"/healthz's renewal_backlog and renewal_lag_s while one worker catches up at {one.latency_ms} ms "
              "(seconds since it started: users due and not yet claimed, the oldest's wait):")
        print("  " + "  ".join(f"{at:.0f}s {backlog:,}/{lag:.0f}s" for at, backlog, lag in one.backlog))
        capacity([one for one in runs if one.workers == 1])
        if args.profile:
            print(f"where a renewal's CPU goes: Renewer.run's sweeps in this process at 100 ms, "
                  f"{args.worker_users:,} users")
            renewal_worker.profile(bench, 100, 20)
    finally:
        bench.close()


def capacity(runs) -> None:
    """Worker processes for a store of users: each renewed every 6,600 s, at the rate one process sustained."""
    shared = defaults.RENEWAL_RATE_SHARED
    print(f"capacity: worker processes needed (renewals a second = users / 6,600; all workers together start at "
          f"most {shared}/s, within WeChat's 50,000 a minute)")
    print("  users        renewals/s  " + "".join(f"  at {one.latency_ms} ms" for one in runs))
    for users in (100_000, 1_000_000, 3_000_000, 4_900_000, 10_000_000):
        needed = users / renewal_worker.SECONDS_PER_RENEWAL
        cells = "".join(f"  {math.ceil(needed / one.per_process):>{len(str(one.latency_ms)) + 6}}" for one in runs)
        if needed > shared:
            cells = f"  more than WeChat allows one account ({shared}/s keeps {shared * 6600:,} users)"
        print(f"  {users:>10,}  {needed:10.0f}  {cells}")


def run(redis, users: int, renewals: int) -> None:
    now = time.time()
    store = TokenStore(redis, APPID)
    with redis.pipeline(transaction=False) as pipe:  # the DUE users that are due, at every size
        for n in range(DUE):
            pipe.zadd(f"wechat_bot:{APPID}:renewal:due", {f"due{n}": now - 1})
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
        renewer = Renewer(store, client, Leases(redis, APPID), batch=renewals, concurrency=concurrency, rate=1e6)
        started = time.perf_counter()
        result = renewer.sweep()
        elapsed = time.perf_counter() - started
        rates[concurrency] = result.renewed / elapsed
        print(f"  concurrency {concurrency}: {result.renewed} renewed in {elapsed:.2f}s = {rates[concurrency]:,.0f}/s"
              f"   ratio to concurrency 1: {rates[concurrency] / rates[1]:4.2f}")
    server.shutdown()


if __name__ == "__main__":
    main()
