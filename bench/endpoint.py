"""Endpoint benchmark: each contender under gunicorn (same worker count) on loopback, driven by wrk with the
same pushes as WeChat sends them: a text 登录, each push signed with its own nonce and timestamp, with its own
MsgId, from 97 different senders (safe mode: each encrypted too). Three rounds of all contenders one after
another; every ratio is taken within a round, and the medians over the rounds are printed with the targets.

    python bench/endpoint.py [--seconds 5] [--rounds 3] [--workers 2] [--connections 8] [--only NAME]

Each contender runs in this run's fresh temporary directory (WeRoBot keeps its default SQLite session there).
Needs wrk (Debian: apt-get install wrk) and WeRoBot (pip install werobot==1.13.1), which it does not install.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wechat_bot import embedded_redis  # noqa: E402

TOKEN, APPID, SECRET = "benchtoken", "wx0123456789abcdef", "0123456789abcdef0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEMPLATE = ("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench%d]]></FromUserName>"
            "<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[登录]]></Content>"
            "<MsgId>%d</MsgId></xml>")
SENDERS = 97
PUSHES_PER_SECOND = 9000  # more than any contender answers, so no push is sent twice in a run

CONTENDERS = [
    ("bare Flask (success)", "bare_flask:app", {}),
    ("Flask + 1 Redis round trip", "flask_one_roundtrip:app", {}),
    ("wechatpy + Flask", "wechatpy_flask:app", {}),
    ("WeRoBot defaults", "werobot_app:app", {}),
    ("WeRoBot, session off", "werobot_app:app", {"BENCH_WEROBOT_SESSION": "off"}),
    ("WeRoBot, Redis session", "werobot_redis:app", {}),
    ("wechat_bot", "ours:app", {}),
    ("wechat_bot, own handler", "ours_own_handler:app", {}),
    ("wechat_bot, safe mode", "ours:app", {"WECHAT_ENCODING_AES_KEY": AES_KEY, "WECHAT_ENCRYPTION": "safe"}),
]
BASELINES = ("bare Flask (success)", "Flask + 1 Redis round trip", "WeRoBot, Redis session", "wechat_bot")
# (name, numerator, denominator, target)
RATIOS = [
    ("wechat_bot ÷ WeRoBot with a Redis session", "wechat_bot", "WeRoBot, Redis session", 1.1),
    ("own handler ÷ WeRoBot with a Redis session", "wechat_bot, own handler", "WeRoBot, Redis session", 1.0),
    ("wechat_bot ÷ Flask + 1 Redis round trip", "wechat_bot", "Flask + 1 Redis round trip", 0.75),
    ("safe mode ÷ plaintext", "wechat_bot, safe mode", "wechat_bot", 0.9),
]


def sign(*values: str) -> str:
    return hashlib.sha1("".join(sorted(values)).encode()).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lua_for(name: str, run_dir: Path, first_id: int, count: int) -> Path:
    """A wrk script cycling through `count` pushes, each signed (and in safe mode sealed) on its own."""
    from lxml import etree
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID) if "safe mode" in name else None
    timestamp, entries = str(int(time.time())), []
    for n in range(count):
        nonce = str(first_id + n)
        xml = TEMPLATE % (n % SENDERS, int(time.time()), first_id + n)
        query = {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                 "openid": f"o_bench{n % SENDERS}"}
        body = xml
        if crypto is not None:
            encrypt = etree.fromstring(crypto.encrypt_message(xml, nonce, timestamp).encode()).findtext("Encrypt")
            query.update(encrypt_type="aes", msg_signature=sign(TOKEN, timestamp, nonce, encrypt))
            body = f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        entries.append("{[==[/wechat?%s]==], [==[%s]==]}" % (urlencode(query), body))
    script = run_dir / f"pushes-{first_id}.lua"
    script.write_text("local pushes = {\n" + ",\n".join(entries) + "\n}\nlocal n = 0\nrequest = function()\n"
                      "  n = n + 1\n  local push = pushes[(n - 1) % #pushes + 1]\n"
                      "  return wrk.format('POST', push[1], {['Content-Type'] = 'text/xml'}, push[2])\nend\n",
                      encoding="utf-8")
    return script


def run_one(name: str, target: str, extra: dict, args, env: dict, run_dir: Path, first_id: int,
            connections: int) -> dict:
    port = free_port()
    log = (run_dir / f"gunicorn-{port}.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                               "--log-level", "warning", target], cwd=run_dir,
                              env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(port)
        url = f"http://127.0.0.1:{port}/wechat"
        warm = lua_for(name, run_dir, first_id, 2000)
        subprocess.run(["wrk", "-t1", f"-c{connections}", "-d1s", "-s", str(warm), url], capture_output=True)
        script = lua_for(name, run_dir, first_id + 10**7, args.seconds * PUSHES_PER_SECOND)
        output = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{args.seconds}s", "--latency", "-s",
                                 str(script), url], capture_output=True, text=True).stdout
        return parse(output)
    finally:
        os.killpg(server.pid, 15)
        server.wait(15)


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                time.sleep(1.0)  # let every worker boot
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def parse(output: str) -> dict:
    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), "p50": latency("50"),
            "p99": latency("99"), "errors": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", action="append", default=[],
                        help="also measure only contenders whose name contains this (the baselines always run)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/endpoint.py needs wrk: apt-get install wrk")
    run_dir = Path(tempfile.mkdtemp(prefix="wechat_bot_endpoint_"))
    sock = embedded_redis.ensure_running(run_dir / "var")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench" / "contenders")]),
           "WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID,
           "WECHAT_SECRET": SECRET, "REDIS_URL": f"unix://{sock}", "BENCH_REDIS_SOCKET": sock,
           "PUBLIC_BASE_URL": "https://bot.example.com", "WECHAT_API_BASE": "http://127.0.0.1:9",
           "WECHAT_OPEN_BASE": "https://open.weixin.qq.com"}
    chosen = [c for c in CONTENDERS if not args.only or c[0] in BASELINES or any(p in c[0] for p in args.only)]
    rounds, next_id = [], int(time.time()) % 10**6 * 10**9
    try:
        for number in range(args.rounds):
            results = {}
            for name, target, extra in chosen:
                next_id += 10**8
                results[name] = run_one(name, target, extra, args, env, run_dir, next_id, args.connections)
                print(f"  round {number + 1}: measured {name}", file=sys.stderr, flush=True)
            rounds.append(results)
        next_id += 10**8
        crowded = run_one("wechat_bot", "ours:app", {}, args, env, run_dir, next_id, 64)
    finally:
        embedded_redis.stop(run_dir / "var")
    report(args, rounds, crowded)


def report(args, rounds: list[dict], crowded: dict) -> None:
    print(f"{args.workers} gunicorn workers (sync), {args.connections} connections, {args.seconds}s each, "
          f"{len(rounds)} rounds; text 登录 pushes, each signed on its own, from {SENDERS} senders")
    print(f"{'contender':<30}{'req/s (median)':>15}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name in rounds[0]:
        runs = [r[name] for r in rounds]
        print(f"{name:<30}{statistics.median(r['rps'] for r in runs):>15.0f}"
              f"{statistics.median(r['p50'] for r in runs):>9.2f}{statistics.median(r['p99'] for r in runs):>9.2f}"
              f"{sum(r['errors'] for r in runs):>9}")
    print()
    print(f"{'ratio (median of the rounds)':<46}{'per round':>24}{'median':>8}{'target':>8}  met")
    for label, top, bottom, target in RATIOS:
        if top not in rounds[0] or bottom not in rounds[0]:
            continue
        per_round = [r[top]["rps"] / r[bottom]["rps"] for r in rounds]
        median = statistics.median(per_round)
        print(f"{label:<46}{' '.join(f'{x:.2f}' for x in per_round):>24}{median:>8.2f}{target:>8.2f}  "
              f"{'yes' if median >= target else 'NO'}")
    p99_8 = statistics.median(r["wechat_bot"]["p99"] for r in rounds)
    print(f"{'wechat_bot p99 at ' + str(args.connections) + ' connections (ms)':<46}{'':>24}{p99_8:>8.2f}{25:>8}  "
          f"{'yes' if p99_8 < 25 else 'NO'}")
    print(f"{'wechat_bot p99 at 64 connections (ms)':<46}{'':>24}{crowded['p99']:>8.2f}{50:>8}  "
          f"{'yes' if crowded['p99'] < 50 else 'NO'}  ({crowded['rps']:.0f} req/s, {crowded['errors']} non-2xx)")


if __name__ == "__main__":
    main()
