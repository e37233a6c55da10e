"""Endpoint benchmark: each contender under gunicorn (same worker count) on loopback, driven by wrk with the
same signed pushes (a text 登录, each with its own MsgId), one after another in one run. Prints requests/s,
p50 and p99, and each one's ratio to the baselines measured in this same run.

    python bench/endpoint.py [--seconds 8] [--workers 2] [--connections 8] [--only NAME]

Each contender runs in this run's fresh temporary directory (WeRoBot keeps its default SQLite session there).

Needs wrk (Debian: apt-get install wrk) and WeRoBot (pip install werobot), which this script does not install.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
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

PLAIN_LUA = """
local n = 0
local prefix = %d
request = function()
  n = n + 1
  local body = string.format('%s', n %% 1000, %d, prefix + n)
  return wrk.format("POST", nil, {["Content-Type"] = "text/xml"}, body)
end
"""

CONTENDERS = [
    ("bare Flask (success)", "bare_flask:app", {}),
    ("Flask + 1 Redis round trip", "flask_one_roundtrip:app", {}),
    ("wechatpy + Flask", "wechatpy_flask:app", {}),
    ("WeRoBot defaults", "werobot_app:app", {}),
    ("WeRoBot, session off", "werobot_app:app", {"BENCH_WEROBOT_SESSION": "off"}),
    ("wechat_bot", "ours:app", {}),
    ("wechat_bot, safe mode", "ours:app", {"WECHAT_ENCODING_AES_KEY": AES_KEY}),
]


BASELINES = ("bare Flask (success)", "Flask + 1 Redis round trip", "WeRoBot defaults")


def sign(*values: str) -> str:
    return hashlib.sha1("".join(sorted(values)).encode()).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lua_for(name: str, run_dir: Path, prefix: int, seconds: int) -> Path:
    script = run_dir / f"{abs(hash(name))}.lua"
    if "safe mode" not in name:
        template = TEMPLATE.replace("'", "\\'")
        script.write_text(PLAIN_LUA % (prefix, template.replace("%d", "%d"), int(time.time())), encoding="utf-8")
        return script
    from wechatpy.crypto import WeChatCrypto  # safe mode: bodies encrypted ahead of time, one per request
    from lxml import etree

    crypto, entries = WeChatCrypto(TOKEN, AES_KEY, APPID), []
    timestamp, nonce = str(int(time.time())), "42"
    for n in range(seconds * 3000):
        sealed = crypto.encrypt_message(TEMPLATE % (n % 1000, int(time.time()), prefix + n), nonce, timestamp)
        encrypt = etree.fromstring(sealed.encode()).findtext("Encrypt")
        query = urlencode({"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                           "openid": "o_bench", "encrypt_type": "aes",
                           "msg_signature": sign(TOKEN, timestamp, nonce, encrypt)})
        body = f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        entries.append(f"{{'/wechat?{query}', '{body}'}}")
    script.write_text("local pushes = {\n" + ",\n".join(entries) + "\n}\nlocal n = 0\nrequest = function()\n"
                      "  n = n + 1\n  local push = pushes[(n - 1) % #pushes + 1]\n"
                      "  return wrk.format('POST', push[1], {['Content-Type'] = 'text/xml'}, push[2])\nend\n")
    return script


def query_for() -> str:
    """The plaintext pushes' query: signed once, as WeChat signs every delivery of a push alike."""
    timestamp, nonce = str(int(time.time())), "42"
    return urlencode({"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                      "openid": "o_bench"})


def run_one(name: str, target: str, extra: dict, args, env: dict, run_dir: Path, prefix: int) -> dict:
    port = free_port()
    log = (run_dir / f"gunicorn-{port}.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                               "--log-level", "warning", target], cwd=run_dir,
                              env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(port)
        script = lua_for(name, run_dir, prefix, args.seconds)
        url = f"http://127.0.0.1:{port}/wechat?{query_for()}"
        subprocess.run(["wrk", "-t1", f"-c{args.connections}", "-d1s", "-s", str(script), url], capture_output=True)
        output = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s",
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
    parser.add_argument("--seconds", type=int, default=8)
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
    results = {}
    try:
        for index, (name, target, extra) in enumerate(CONTENDERS):
            if args.only and name not in BASELINES and not any(part in name for part in args.only):
                continue
            results[name] = run_one(name, target, extra, args, env, run_dir, (int(time.time()) % 10**6 + index) * 10**9)
            print(f"  measured {name}", file=sys.stderr, flush=True)
    finally:
        embedded_redis.stop(run_dir / "var")
    bare, ceiling = results["bare Flask (success)"]["rps"], results["Flask + 1 Redis round trip"]["rps"]
    werobot = results["WeRoBot defaults"]["rps"]
    print(f"{args.workers} gunicorn workers, {args.connections} connections, {args.seconds}s each, text 登录 pushes")
    print(f"{'contender':<30}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'÷ bare':>9}{'÷ 1-RT':>9}{'÷ WeRoBot':>11}{'non-2xx':>9}")
    for name, r in results.items():
        print(f"{name:<30}{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['rps'] / bare:>9.2f}"
              f"{r['rps'] / ceiling:>9.2f}{r['rps'] / werobot:>11.2f}{r['errors']:>9}")


if __name__ == "__main__":
    main()
