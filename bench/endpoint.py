"""Endpoint benchmark: /wechat under gunicorn (the same worker count for each contender) on loopback, driven by
wrk with pushes as WeChat sends them, in rounds: every contender's server up at once, its timed run cut into
slices taken in turn with the others' (so a burst of the machine's other load falls on all alike); prints each
round's req/s, p50, p99, the CPU each push cost the server (gunicorn and Redis processes, from /proc: far less
sensitive to the machine's other load than req/s) and the target ratios taken within the round, then the
medians over the rounds.

    python bench/endpoint.py [--seconds 8] [--slices 4] [--rounds 3] [--workers 2] [--connections 8]
                             [--wide 64] [--only KEY_OR_NAME ...]

Every push (a text 登录) has its own nonce, signature and timestamp, its own MsgId, and comes from one of 97
senders; in safe mode each is encrypted on its own with its own msg_signature (bench/pushes.py). wrk's Lua has
no SHA-1, so the pushes are written to a file just before each slice and bench/replay.lua sends each once: a 1 s
warm-up measures the contender's rate, then each slice's file holds twice what that rate needs (a run whose
slice still ran out is flagged `REPEATED`). Timestamps are those of the file's writing, well within wechat_bot's
default WECHAT_TIMESTAMP_TOLERANCE (300 s). Each contender gets one probe push first, whose answer must be 200
with the expected body, so a contender that answers errors is never timed. `--only` (repeatable) keeps the
contenders whose key or name contains the word: bare, one_rt, wechatpy, werobot, werobot_off, werobot_redis,
ours, own, safe, ours_wide. A ratio whose two sides did not both run prints n/a.

Each connection of wrk sends its next push as soon as the last is answered, so with C connections at R req/s a
push waits C / R on average (Little's law). That mean is printed beside each p99 target: it says how much of a
p99 is the machine's rate and how much is the tail.

Needs, none installed by this script: wrk (Debian: apt-get install wrk) and WeRoBot from PyPI
(pip install werobot==1.13.1); wechatpy, gunicorn and redis come with wechat_bot's requirements.
Redis is wechat_bot's embedded server, in this run's fresh temporary directory (WeRoBot's SQLite file too).
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import pushes  # noqa: E402

from wechat_bot.storage import embedded_redis  # noqa: E402

SECRET = "0123456789abcdef0123456789abcdef"
REPLAY = ROOT / "bench" / "replay.lua"
LINK = "点此登录".encode()
SHIPPED_SETTINGS = str(ROOT / "gunicorn.conf.py")


@dataclass(frozen=True)
class Contender:
    key: str
    name: str
    target: str
    expect: bytes  # in the answer to the probe push
    env: dict = field(default_factory=dict)
    safe: bool = False
    wide: bool = False  # driven with --wide connections instead of --connections
    shipped: bool = False  # served with the shipped production settings (gunicorn -c python:wechat_bot.gunicorn_conf)


CONTENDERS = [
    Contender("bare", "bare Flask (success)", "bare_flask:app", b"success"),
    Contender("one_rt", "Flask + 1 Redis round trip", "flask_one_roundtrip:app", b"success"),
    Contender("wechatpy", "wechatpy + Flask", "wechatpy_flask:app", LINK),
    Contender("werobot", "WeRoBot defaults (SQLite)", "werobot_app:app", LINK),
    Contender("werobot_off", "WeRoBot, session off", "werobot_app:app", LINK, {"BENCH_WEROBOT_SESSION": "off"}),
    Contender("werobot_redis", "WeRoBot, Redis session", "werobot_redis:app", LINK),
    Contender("ours", "wechat_bot", "ours:app", LINK),
    Contender("own", "wechat_bot, own handler", "ours_own_handler:app", LINK),
    Contender("safe", "wechat_bot, safe mode", "ours:app", b"<Encrypt>",
              {"WECHAT_ENCODING_AES_KEY": pushes.AES_KEY, "WECHAT_ENCRYPTION": "safe"}, safe=True),
    Contender("ours_wide", "wechat_bot (wide run)", "ours:app", LINK, wide=True),
    Contender("shipped", "wechat_bot, shipped settings", "ours:app", LINK, shipped=True),
    Contender("shipped_wide", "shipped settings (wide run)", "ours:app", LINK, wide=True, shipped=True),
]

# (label, numerator, denominator, target): a ratio of req/s within one round, met when at least the target.
RATIOS = [
    ("wechat_bot ÷ WeRoBot-Redis", "ours", "werobot_redis", 1.1),
    ("own handler ÷ WeRoBot-Redis", "own", "werobot_redis", 1.0),
    ("wechat_bot ÷ Flask + 1 round trip", "ours", "one_rt", 0.75),
    ("safe mode ÷ plaintext", "safe", "ours", 0.9),
]
# (label, contender, bound in ms): met when the p99 is under it.
P99S = [("wechat_bot p99 at {c} connections", "ours", 25.0), ("wechat_bot p99 at {w} connections", "ours_wide", 50.0),
        ("shipped settings p99 at {c} connections", "shipped", 25.0),
        ("shipped settings p99 at {w} connections", "shipped_wide", 50.0)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def probe(port: int, contender: Contender) -> None:
    """One push of its own; the contender must answer it 200 with the expected body."""
    crypto = pushes.sealer() if contender.safe else None
    target, body = pushes.one(0, safe=contender.safe, crypto=crypto)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", target, body.encode(), {"Content-Type": "text/xml"})
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    if response.status != 200 or contender.expect not in answer:
        raise RuntimeError(f"{contender.name}: the probe push got {response.status} {answer[:200]!r}")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def serving(master: int, run_dir: Path) -> list[int]:
    """The gunicorn master, its workers, and the Redis server: every process that serves the pushes."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    redis_pid = (run_dir / "var" / "redis.pid").read_text().strip()
    return [master, *map(int, children), int(redis_pid)]


def wrk(port: int, connections: int, seconds: int, pushes_file: Path) -> dict:
    output = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(REPLAY),
                             f"http://127.0.0.1:{port}/wechat", "--", str(pushes_file)],
                            capture_output=True, text=True, check=True).stdout
    return parse(output)


@dataclass
class Server:
    """A contender's gunicorn, up for a whole round, and the slices of its timed run so far."""

    contender: Contender
    port: int
    process: subprocess.Popen
    connections: int
    rate: float = 0.0  # req/s in the warm-up: sizes each slice's pushes file
    slices: list = field(default_factory=list)


def start(contender: Contender, args, env: dict, run_dir: Path) -> Server:
    """The contender's server, probed, then warmed for 1 s."""
    port = free_port()
    log = (run_dir / f"gunicorn-{contender.key}-{port}.log").open("w")
    settings = ["-c", SHIPPED_SETTINGS] if contender.shipped else ["--log-level", "warning"]
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", *settings, "-w", str(args.workers),
                                "-b", f"127.0.0.1:{port}", contender.target], cwd=run_dir,
                               env={**env, **contender.env}, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = Server(contender, port, process, args.wide if contender.wide else args.connections)
    try:
        wait_for(port)
        probe(port, contender)
        warm_file = run_dir / f"warm-{contender.key}.pushes"
        warm = wrk(port, server.connections, 1, pushes.write(warm_file, 20000, safe=contender.safe))
        warm_file.unlink()
    except BaseException:
        stop(server)
        raise
    if warm["requests"] + server.connections > 20000:
        print(f"  {contender.name}: the warm-up used all its pushes", file=sys.stderr)
    server.rate = warm["rps"]
    return server


def stop(server: Server) -> None:
    try:
        os.killpg(server.process.pid, 15)
    except ProcessLookupError:
        pass
    server.process.wait(15)


def run_slice(server: Server, seconds: int, run_dir: Path) -> dict:
    """One slice of the contender's timed run, on pushes written just before it."""
    contender, run_file = server.contender, run_dir / "run.pushes"
    count = int(server.rate * seconds * 2) + 4 * server.connections + 2000
    pushes.write(run_file, count, safe=contender.safe)
    try:
        processes = serving(server.process.pid, run_dir)
        cpu = cpu_seconds(processes)
        result = wrk(server.port, server.connections, seconds, run_file)
        result["cpu"] = cpu_seconds(processes) - cpu
        result["repeated"] = result["requests"] + server.connections > count
        return result
    finally:
        run_file.unlink(missing_ok=True)


def run_round(contenders: list[Contender], args, env: dict, run_dir: Path, number: int) -> dict:
    """Every contender's server up at once; their timed runs cut into `--slices` slices taken in turn, the order
    reversed every other slice, so a burst of the machine's other load falls on all of them alike."""
    servers: list[Server] = []
    try:
        for contender in contenders:
            servers.append(start(contender, args, env, run_dir))
        seconds = max(1, args.seconds // args.slices)
        for index in range(args.slices):
            for server in servers if index % 2 == 0 else servers[::-1]:
                server.slices.append(run_slice(server, seconds, run_dir))
            print(f"  round {number}: slice {index + 1} of {args.slices} measured", file=sys.stderr, flush=True)
        return {server.contender.key: combine(server.slices) for server in servers}
    finally:
        for server in servers:
            stop(server)


def combine(slices: list[dict]) -> dict:
    """A contender's run from its slices: req/s over their summed duration, CPU per push over all their requests,
    percentiles of all their requests (each slice's distribution, every 0.1 %, weighted by its requests)."""
    requests = sum(s["requests"] for s in slices)
    points = sorted((latency, s["requests"] / len(s["quantiles"])) for s in slices for latency in s["quantiles"])

    def percentile(p: float) -> float:
        wanted, seen = requests * p / 100, 0.0
        for latency, weight in points:
            seen += weight
            if seen >= wanted:
                return latency / 1000
        return points[-1][0] / 1000

    return {"rps": requests / sum(s["duration"] for s in slices), "p50": percentile(50), "p99": percentile(99),
            "cpu_us": sum(s["cpu"] for s in slices) / max(requests, 1) * 1e6,
            "errors": sum(s["errors"] for s in slices), "requests": requests,
            "repeated": any(s["repeated"] for s in slices)}


def parse(output: str) -> dict:
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", output)
    duration = float(total.group(2)) * {"ms": 0.001, "s": 1, "m": 60}[total.group(3)]
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "errors": int(errors.group(1)) if errors else 0, "requests": int(total.group(1)), "duration": duration,
            "quantiles": [int(value) for value in re.findall(r"^quantile [\d.]+ (\d+)$", output, re.M)]}


def ratios(results: dict) -> dict:
    return {label: results[top]["rps"] / results[bottom]["rps"]
            for label, top, bottom, _ in RATIOS if top in results and bottom in results}


def print_round(number: int, results: dict, contenders: list[Contender], args) -> None:
    print(f"\nround {number}")
    print(f"{'contender':<30}{'conns':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/push':>13}{'non-2xx':>9}")
    for contender in contenders:
        r = results[contender.key]
        flag = "  REPEATED" if r["repeated"] else ""
        conns = args.wide if contender.wide else args.connections
        print(f"{contender.name:<30}{conns:>6}{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['cpu_us']:>13.0f}"
              f"{r['errors']:>9}{flag}")
    for label, value in ratios(results).items():
        print(f"  {label:<36}{value:>6.2f}")


def print_summary(rounds: list[dict], contenders: list[Contender], args) -> None:
    print(f"\nmedians over {len(rounds)} round(s)")
    for contender in contenders:
        print(f"  {contender.name:<36}{statistics.median(r[contender.key]['rps'] for r in rounds):>6.0f} req/s"
              f"{statistics.median(r[contender.key]['cpu_us'] for r in rounds):>8.0f} CPU µs/push")
    for label, _top, _bottom, target in RATIOS:
        values = [ratios(r)[label] for r in rounds if label in ratios(r)]
        if not values:
            print(f"  {label:<36}   n/a   (target ≥ {target})")
            continue
        median = statistics.median(values)
        met = "met" if median >= target else "not met"
        print(f"  {label:<36}{median:>6.2f}   target ≥ {target}: {met}   rounds: "
              + ", ".join(f"{v:.2f}" for v in values))
    for label, key, bound in P99S:
        label = label.format(c=args.connections, w=args.wide)
        values = [r[key]["p99"] for r in rounds if key in r]
        if not values:
            print(f"  {label:<36}   n/a   (target < {bound:g} ms)")
            continue
        median = statistics.median(values)
        met = "met" if median < bound else "not met"
        conns = args.wide if "wide" in key else args.connections
        rate = statistics.median(r[key]["rps"] for r in rounds if key in r)
        print(f"  {label:<36}{median:>6.1f} ms   target < {bound:g} ms: {met}   (the closed loop's mean at "
              f"{rate:.0f} req/s: {conns / rate * 1000:.1f} ms)")


def selected(only: list[str]) -> list[Contender]:
    if not only:
        return CONTENDERS
    return [c for c in CONTENDERS if any(word == c.key or word in c.name for word in only)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="each contender's timed run (after a 1 s warm-up)")
    parser.add_argument("--slices", type=int, default=4, help="each timed run cut into this many slices, taken "
                        "in turn with the other contenders'")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wide", type=int, default=64, help="connections for the wide run's p99")
    parser.add_argument("--only", action="append", default=[], help="a contender's key or part of its name")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/endpoint.py needs wrk: apt-get install wrk")
    contenders = selected(args.only)
    if not contenders:
        sys.exit(f"--only {args.only}: no such contender")
    run_dir = Path(tempfile.mkdtemp(prefix="wechat_bot_endpoint_"))
    sock = embedded_redis.ensure_running(run_dir / "var")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench" / "contenders")]),
           "WECHAT_TOKEN": pushes.TOKEN, "WECHAT_APPID": pushes.APPID, "WECHAT_SECRET": SECRET,
           "REDIS_URL": f"unix://{sock}", "BENCH_REDIS_SOCKET": sock,
           "PUBLIC_BASE_URL": "https://bot.example.com", "WECHAT_API_BASE": "http://127.0.0.1:9",
           "WECHAT_OPEN_BASE": "https://open.weixin.qq.com"}
    print(f"{args.workers} gunicorn workers, {args.connections} connections ({args.wide} for the wide run), "
          f"{args.seconds}s each after a 1s warm-up, in {args.slices} slices taken in turn, {args.rounds} round(s); "
          f"text 登录 pushes, each with its own nonce and MsgId, from {len(pushes.SENDERS)} senders")
    rounds = []
    try:
        for number in range(1, args.rounds + 1):
            results = run_round(contenders, args, env, run_dir, number)
            rounds.append(results)
            print_round(number, results, contenders, args)
    finally:
        embedded_redis.stop(run_dir / "var")
        print(f"  gunicorn logs in {run_dir}", file=sys.stderr)
    print_summary(rounds, contenders, args)


if __name__ == "__main__":
    main()
