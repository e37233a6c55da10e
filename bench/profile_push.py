"""Where the CPU of a push goes: wechat_bot's WSGI app called in-process (no HTTP server, no wrk) with the
benchmark's pushes, on the default (pure) path and with a user's own handler that is not pure; and, for
comparison, the peer WeRoBot with its Redis session (needs werobot, as bench/endpoint.py does).

    python bench/profile_push.py [--pushes 4000] [--top 25] [--only default|own|werobot] [--safe]

Prints, for each path: the app's CPU per push (this process, every thread: time.process_time), wall time
per push, Redis's own CPU per push (INFO cpu) and per command (INFO commandstats), then cProfile's top
functions by own time and by cumulative time, in µs per push. CPU time, not wall time, so the machine's other
load matters less. The push log line goes to /dev/null (its formatting is counted, the terminal is not).
"""
from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import logging
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "bench" / "contenders")]

import pushes  # noqa: E402

from wechat_bot.storage import embedded_redis  # noqa: E402


def environ(target: str, body: bytes) -> dict:
    path, _, query = target.partition("?")
    return {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
            "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
            "CONTENT_TYPE": "text/xml", "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1:8000"}


def requests(count: int, safe: bool) -> list[dict]:
    crypto = pushes.sealer() if safe else None
    return [environ(*(part if i == 0 else part.encode() for i, part in enumerate(pushes.one(n, safe=safe,
                                                                                           crypto=crypto))))
            for n in range(count)]


def serve(app, batch: list[dict]) -> None:
    status = []
    for env in batch:
        body = b"".join(app(env, lambda s, h, exc=None: status.append(s)))
        if not status[-1].startswith("200") or ("点此登录".encode() not in body and b"<Encrypt>" not in body):
            raise RuntimeError(f"push answered {status[-1]}: {body[:200]!r}")


def redis_stats(redis) -> tuple[float, dict]:
    cpu = redis.info("cpu")
    return cpu["used_cpu_user"] + cpu["used_cpu_sys"], redis.info("commandstats")


def measure(name: str, app, redis, args) -> None:
    serve(app, requests(300, args.safe))  # warm: imports, script cache, connections
    batch = requests(args.pushes, args.safe)
    redis.config_resetstat()
    server_before, _ = redis_stats(redis)
    cpu, wall = time.process_time(), time.perf_counter()
    serve(app, batch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    server_after, commands = redis_stats(redis)
    n = args.pushes
    print(f"\n== {name}{' (safe mode)' if args.safe else ''}: {n} pushes")
    print(f"app CPU {cpu / n * 1e6:.0f} µs/push, wall {wall / n * 1e6:.0f} µs/push, "
          f"Redis server CPU {(server_after - server_before) / n * 1e6:.0f} µs/push")
    for command, stats in sorted(commands.items()):
        if command.startswith("cmdstat_") and stats["calls"] >= n // 100:
            print(f"  redis {command[8:]:<10} {stats['calls'] / n:.2f} calls/push, "
                  f"{stats['usec_per_call']:.1f} µs/call")
    profiler = cProfile.Profile(time.process_time)
    batch = requests(args.pushes, args.safe)
    profiler.runcall(serve, app, batch)
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(args.top)
        print(f"-- top {args.top} by {order}, µs per push (cProfile's own overhead inflates these)")
        for line in out.getvalue().splitlines():
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[1].replace(".", "").isdigit() and fields[0][0].isdigit():
                calls, tottime, cumtime, where = fields[0], float(fields[1]), float(fields[3]), fields[5]
                print(f"  {tottime / n * 1e6:7.1f} own {cumtime / n * 1e6:7.1f} cum {calls:>9}  {where[-90:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=4000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", choices=("default", "own", "werobot"))
    parser.add_argument("--safe", action="store_true", help="safe-mode pushes")
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="wechat_bot_profile_"))
    sock = embedded_redis.ensure_running(run_dir / "var")
    os.environ.update({"BENCH_REDIS_SOCKET": sock, "WECHAT_TOKEN": pushes.TOKEN, "WECHAT_APPID": pushes.APPID,
                       "WECHAT_SECRET": "0123456789abcdef0123456789abcdef", "REDIS_URL": f"unix://{sock}",
                       "PUBLIC_BASE_URL": "https://bot.example.com", "WECHAT_API_BASE": "http://127.0.0.1:9",
                       "WECHAT_OPEN_BASE": "https://open.weixin.qq.com"})
    os.chdir(run_dir)  # the apps' var/ (secret key) goes in this run's directory
    if args.safe:
        os.environ.update(WECHAT_ENCODING_AES_KEY=pushes.AES_KEY, WECHAT_ENCRYPTION="safe")
    logger = logging.getLogger("wechat_bot")
    logger.addHandler(logging.StreamHandler(open(os.devnull, "w")))
    logger.setLevel(logging.INFO)
    from redis import Redis

    redis = Redis(unix_socket_path=sock)
    try:
        paths = [("default", "default handlers (pure)", "ours"),
                 ("own", "own handler, not pure (claim, thread, store)", "ours_own_handler"),
                 ("werobot", "peer: WeRoBot with its Redis session (a GET and a SET)", "werobot_redis")]
        for key, name, module in paths:
            if args.only in (None, key) and not (args.safe and key == "werobot"):
                measure(name, importlib.import_module(module).app, redis, args)
    finally:
        embedded_redis.stop(run_dir / "var")


if __name__ == "__main__":
    main()
