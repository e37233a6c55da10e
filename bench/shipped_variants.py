"""The shipped gunicorn settings, one change at a time: each variant serves wechat_bot under gunicorn with two
workers for a few seconds of wrk with the same pushes; prints req/s, wrk's p99 and CPU per push (gunicorn and
Redis). How bench/README.md ("The shipped settings") found why keep-alive made the tail slow.

    python bench/shipped_variants.py [--connections 8] [--seconds 5] [VARIANT ...]

A variant is extra gunicorn options after `-c gunicorn.conf.py` ("--keep-alive 5", "--reuse-port", "-k sync"),
or `shipped` for none. Needs wrk, as bench/endpoint.py does.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import endpoint  # noqa: E402
import pushes  # noqa: E402

from wechat_bot.storage import embedded_redis  # noqa: E402

DEFAULT = ["shipped", "--keep-alive 5", "--keep-alive 5 --workers 1", "--keep-alive 5 --reuse-port", "-k sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("variants", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="wechat_bot_variants_"))
    sock = embedded_redis.ensure_running(run_dir / "var")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench" / "contenders")]),
           "WECHAT_TOKEN": pushes.TOKEN, "WECHAT_APPID": pushes.APPID, "WECHAT_SECRET": endpoint.SECRET,
           "REDIS_URL": f"unix://{sock}", "PUBLIC_BASE_URL": "https://bot.example.com",
           "WECHAT_API_BASE": "http://127.0.0.1:9"}
    try:
        for variant in args.variants:
            extra = [] if variant == "shipped" else shlex.split(variant)
            port = endpoint.free_port()
            log = (run_dir / f"{len(os.listdir(run_dir))}.log").open("w")
            server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", endpoint.SHIPPED_SETTINGS, "-w", "2",
                                       *extra, "-b", f"127.0.0.1:{port}", "ours:app"], cwd=run_dir, env=env,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                endpoint.wait_for(port)
                file = pushes.write(run_dir / "run.pushes", 60000, safe=False)
                serving = endpoint.serving(server.pid, run_dir)
                cpu = endpoint.cpu_seconds(serving)
                result = endpoint.wrk(port, args.connections, args.seconds, file)
                cpu = (endpoint.cpu_seconds(serving) - cpu) / max(result["requests"], 1) * 1e6
                quantiles = sorted(result["quantiles"])
                p99 = quantiles[int(len(quantiles) * 0.99) - 1] / 1000
                print(f"{variant:<36}{result['rps']:>8.0f} req/s   p99 {p99:7.1f} ms   {cpu:6.0f} µs CPU a push",
                      flush=True)
            finally:
                os.killpg(server.pid, 15)
                server.wait(15)
                time.sleep(0.2)
    finally:
        embedded_redis.stop(run_dir / "var")


if __name__ == "__main__":
    main()
