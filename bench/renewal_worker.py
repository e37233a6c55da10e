"""The renewal worker as it runs: `run.py worker` processes against the sandbox WeChat in a process of its own,
answering each refresh after an injected latency, and where a renewal's CPU goes (cProfile, every thread).

Used by bench/renewal.py (`--worker`, `--profile`). The sandbox runs under gunicorn's gthread worker, which keeps
connections alive as api.weixin.qq.com does (Werkzeug's server closes each one).
"""
from __future__ import annotations

import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis as redis_py  # noqa: E402

from wechat_bot.oauth.tokens import TokenRecord, TokenStore, schedule_key, user_key  # noqa: E402
from wechat_bot.sandbox import SandboxStore  # noqa: E402

APPID, SECRET, TOKEN = "wx0123456789abcdef", "0123456789abcdef0123456789abcdef", "benchtoken"
REFRESH = "/sns/oauth2/refresh_token"
SECONDS_PER_RENEWAL = 6600  # each user is renewed every 2 h less the 10-minute margin


@dataclass
class Run:
    workers: int
    latency_ms: int
    rate: float  # renewals a second, all workers together, between 5 % and 95 % done
    worker_cpu_ms: float  # CPU per renewal: the worker processes
    sandbox_cpu_ms: float  # the sandbox WeChat
    redis_cpu_ms: float
    once: bool  # every user refreshed exactly once
    backlog: list  # (seconds since the workers started, renewal_backlog, renewal_lag_s) about every second

    @property
    def per_process(self) -> float:
        return self.rate / self.workers


def sandbox_app():
    """The sandbox WeChat's API for gunicorn (gthread: one thread a connection, kept alive as WeChat's are)."""
    from wechat_bot.sandbox import create_sandbox_app

    return create_sandbox_app(redis_py.Redis(unix_socket_path=os.environ["BENCH_REDIS_SOCKET"]), APPID, SECRET)


class Bench:
    """The sandbox process and `users` users with live refresh_tokens, made due again for each run."""

    def __init__(self, redis, socket_path: str, users: int) -> None:
        self.redis, self.sandbox, self.store = redis, SandboxStore(redis, APPID, SECRET), TokenStore(redis, APPID)
        self.home = Path(tempfile.mkdtemp(prefix="wechat_bot_worker_bench_"))
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "256", "--keep-alive", "30", "-b",
             f"127.0.0.1:{port}", "renewal_worker:sandbox_app()"], cwd=self.home,
            env={**os.environ, "BENCH_REDIS_SOCKET": socket_path, "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"},
            stdout=subprocess.DEVNULL, stderr=(self.home / "sandbox.log").open("w"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "REDIS_URL"))}
        self.env.update(WECHAT_TOKEN=TOKEN, WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, REDIS_URL=f"unix://{socket_path}",
                        WECHAT_API_BASE=self.url, WECHAT_OPEN_BASE=self.url, PYTHONPATH=str(ROOT))
        self.sandbox.configure(access_token_ttl=7200)
        self.refresh_tokens = [self.sandbox.grant(f"o_w{n:06d}", "snsapi_base")["refresh_token"]
                               for n in range(users)]
        _wait_listening(port)

    def make_due(self) -> None:
        """Every user due for renewal, the first 500 s ago, the last 100 s ago (their access_tokens expiring in
        100 to 500 s), so the lag shrinks as a worker catches up, oldest first."""
        now, users = int(time.time()), len(self.refresh_tokens)
        with self.redis.pipeline(transaction=False) as pipe:
            for n, refresh_token in enumerate(self.refresh_tokens):
                record = TokenRecord(openid=f"o_w{n:06d}", scope="snsapi_base", access_token="A" * 86,
                                     refresh_token=refresh_token, access_token_expires_at=now + 100 + 400 * n // users,
                                     refresh_token_expires_at=now + 20 * 86400, consented_at=now - 7000,
                                     updated_at=now - 7000)
                pipe.set(user_key(APPID, record.openid), record.to_json(), ex=30 * 86400)
                pipe.zadd(schedule_key(APPID), {record.openid: record.renew_at})
            pipe.delete(f"wechat_sandbox:{APPID}:refreshes")
            pipe.execute()

    def run(self, latency_ms: int, workers: int = 1, settings: dict | None = None) -> Run:
        self.sandbox.configure(latency=latency_ms / 1000)
        self.make_due()
        users, base = len(self.refresh_tokens), self.sandbox.calls(REFRESH)
        env = {**self.env, **(settings or {})}
        started = [subprocess.Popen([sys.executable, str(ROOT / "run.py"), "worker"], cwd=self.home, env=env,
                                    stdout=subprocess.DEVNULL, stderr=(self.home / f"worker{n}.log").open("w"))
                   for n in range(workers)]
        watched = [psutil.Process(p.pid) for p in started] + [psutil.Process(self.server.pid)]
        try:
            marks = self._watch(users, base, watched)
        finally:
            for process in started:
                process.terminate()
            for process in started:
                process.wait(30)
        (t1, c1, cpu1, r1), (t2, c2, cpu2, r2) = marks
        renewed = c2 - c1
        counts = [int(v) for v in self.redis.hgetall(f"wechat_sandbox:{APPID}:refreshes").values()]
        once = len(counts) == users and set(counts) == {1}
        per = lambda a, b: 1000 * (b - a) / renewed  # noqa: E731  ms of CPU a renewal
        return Run(workers, latency_ms, renewed / (t2 - t1), per(sum(cpu1[:-1]), sum(cpu2[:-1])),
                   per(cpu1[-1], cpu2[-1]), per(r1, r2), once, self.backlog)

    def _watch(self, users: int, base: int, watched: list) -> list[tuple]:
        """(time, refreshes, CPU of each process, Redis's CPU) when 5 % and when 95 % of users were refreshed;
        returns once all were."""
        marks, goals, deadline = [], [int(users * 0.05), int(users * 0.95), users], time.monotonic() + 30 + users / 5
        started, self.backlog = time.monotonic(), []
        while goals and time.monotonic() < deadline:
            if time.monotonic() - started >= len(self.backlog):  # what /healthz reads, about once a second
                self.backlog.append((time.monotonic() - started, *self.store.backlog(time.time())))
            done = self.sandbox.calls(REFRESH) - base
            if done >= goals[0]:
                marks.append((time.monotonic(), done, [_cpu(p) for p in watched], _redis_cpu(self.redis)))
                goals.pop(0)
            time.sleep(0.02)
        time.sleep(1)  # a renewal twice would show now
        if goals:
            raise RuntimeError(f"the worker renewed {self.sandbox.calls(REFRESH) - base} of {users} in time; see "
                               f"{self.home}/worker0.log")
        return marks[:2]

    def close(self) -> None:
        self.server.terminate()
        self.server.wait(10)


def profile(bench: Bench, latency_ms: int, top: int) -> None:
    """A Renewer's loop in this process, every thread under cProfile timing thread CPU, against the sandbox."""
    from wechat_bot.oauth.tokens import TokenStore
    from wechat_bot.renewal.worker import Renewer
    from wechat_bot.storage.leases import Leases
    from wechat_bot.wechat_api import WeChatClient

    bench.sandbox.configure(latency=latency_ms / 1000)
    bench.make_due()
    renewer = Renewer(TokenStore(bench.redis, APPID), WeChatClient(bench.url, bench.url, APPID, SECRET),
                      Leases(bench.redis, APPID))
    profilers, lock = [], threading.Lock()
    local = threading.local()
    renew = renewer._renew_claimed

    def profiled(*args):
        if not hasattr(local, "profiler"):
            local.profiler = cProfile.Profile(time.thread_time)
            with lock:
                profilers.append(local.profiler)
        local.profiler.enable()
        try:
            return renew(*args)
        finally:
            local.profiler.disable()

    renewer._renew_claimed = profiled
    main = cProfile.Profile(time.thread_time)
    profilers.append(main)
    cpu, renewed = time.process_time(), 0
    main.enable()
    while renewed < len(bench.refresh_tokens):
        result = renewer.sweep()
        renewed += result.renewed
        if not result.full:
            break
    main.disable()
    cpu = time.process_time() - cpu
    renewer.close()
    stats = pstats.Stats(profilers[0])
    for more in profilers[1:]:
        stats.add(more)
    print(f"  {renewed} renewals in this process: CPU {1e6 * cpu / renewed:,.0f} µs a renewal (all threads, "
          f"cProfile's overhead included)")
    total = sum(own for (_, _, own, _, _) in stats.stats.values())
    print("  by step (cumulative thread CPU, µs a renewal, cProfile's overhead included):")
    for label, path, name in STEPS:
        spent = sum(cumulative for (where, _, function), (_, _, _, cumulative, _) in stats.stats.items()
                    if where.endswith(path) and function == name)
        print(f"    {label:<66} {1e6 * spent / renewed:7.0f}")
    print(f"    {'everything, all threads':<66} {1e6 * total / renewed:7.0f}")
    print("  by library (own thread CPU, µs a renewal; built-ins are mostly requests' str and isinstance calls):")
    for family, spent in _families(stats):
        print(f"    {family:<66} {1e6 * spent / renewed:7.0f}")
    print(f"  top {top} functions by own time (µs a renewal):")
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for (path, line, name), (_, calls, own, _cumulative, _) in rows:
        print(f"    {1e6 * own / renewed:7.1f}  {calls / renewed:5.1f} calls  {_short(path)}:{line} {name}")


STEPS = (  # a renewal's steps in wechat_bot, by the function that does each
    ("the refresh over HTTP (requests: build, send, wait, read, parse)", "oauth/client.py", "_call"),
    ("the renewed record written (compare-and-set script)", "oauth/tokens.py", "apply_refresh"),
    ("the rate and the shared budget (RenewalQuota.take)", "oauth/renewal_quota.py", "take"),
    ("a batch claimed in the schedule (script)", "oauth/tokens.py", "claim_due"),
    ("leases taken and records read for a batch (two pipelines)", "oauth/renewal.py", "_take"),
    ("a batch's end: next renewals (one ZADD), leases released", "oauth/renewal_batch.py", "finish"),
)

FAMILIES = (  # by where a function lives: the first that matches
    ("HTTP client (requests, urllib3, http.client)", ("requests", "urllib3", "http/client", "email/")),
    ("Redis client (redis-py, hiredis)", ("/redis/", "hiredis")),
    ("sockets and SSL", ("socket", "ssl", "selectors")),
    ("JSON", ("json",)),
    ("threads, locks, the pool", ("threading", "concurrent", "queue")),
    ("wechat_bot", ("wechat_bot",)),
)


def _families(stats: pstats.Stats) -> list[tuple[str, float]]:
    spent: dict[str, float] = {}
    for (path, _, name), (_, _, own, _, _) in stats.stats.items():
        family = next((label for label, marks in FAMILIES if any(m in path or m in name for m in marks)),
                      "built-ins and the rest")
        spent[family] = spent.get(family, 0.0) + own
    return sorted(spent.items(), key=lambda item: item[1], reverse=True)


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _cpu(process: psutil.Process) -> float:
    """The CPU of a process and of its children (gunicorn's worker under its master)."""
    total = 0.0
    for one in [process, *process.children(recursive=True)]:
        times = one.cpu_times()
        total += times.user + times.system
    return total


def _redis_cpu(redis) -> float:
    cpu = redis.info("cpu")
    return cpu["used_cpu_user"] + cpu["used_cpu_sys"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the sandbox did not listen on port {port}")

