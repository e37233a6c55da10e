"""The issue-33 outage, replayed: `--users` due users (20), WeChat answering every refresh with -1 for `--seconds`
(45), one renewal worker running as `wechat-bot worker` runs it (its loop, its interval); then WeChat answers again.
Prints the refresh calls WeChat got during the outage and per user, and how long after it the users were renewed.

    python bench/renewal_outage.py [--users 20] [--seconds 45]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

import redis as redis_py  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from wechat_bot.oauth.tokens import TokenRecord, TokenStore  # noqa: E402
from wechat_bot.renewal.worker import Renewer  # noqa: E402
from wechat_bot.sandbox import Fault, SandboxStore, create_sandbox_app  # noqa: E402
from wechat_bot.storage import embedded_redis  # noqa: E402
from wechat_bot.storage.leases import Leases  # noqa: E402
from wechat_bot.wechat_api import WeChatClient  # noqa: E402

APPID, SECRET, REFRESH = "wx0123456789abcdef", "0123456789abcdef0123456789abcdef", "/sns/oauth2/refresh_token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=45)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's request log (it shows tokens)
    var = Path(tempfile.mkdtemp(prefix="wechat_bot_outage_")) / "var"
    redis = redis_py.Redis(unix_socket_path=embedded_redis.ensure_running(var))
    server = make_server("127.0.0.1", 0, create_sandbox_app(redis, APPID, SECRET), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    sandbox, store, now = SandboxStore(redis, APPID, SECRET), TokenStore(redis, APPID), int(time.time())
    records = [TokenRecord.from_exchange(sandbox.grant(f"o_out{n:03d}", "snsapi_base"), now - 7200 + 300)
               for n in range(args.users)]  # due 300 s ago, 300 s left on each access_token
    for record in records:
        store.save(record)
    sandbox.inject(REFRESH, Fault(errcode=-1), times=1_000_000)
    worker = Renewer(TokenStore(redis, APPID), WeChatClient(url, url, APPID, SECRET), Leases(redis, APPID))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        time.sleep(args.seconds)
        during = sandbox.calls(REFRESH)
        redis.delete(f"wechat_sandbox:{APPID}:faults:" + REFRESH)
        healed = time.monotonic()
        while any(store.get(r.openid).access_token == r.access_token for r in records):
            time.sleep(0.2)
        after = time.monotonic() - healed
        total = sandbox.calls(REFRESH)
    finally:
        worker.stop()
        thread.join(60)
        server.shutdown()
        embedded_redis.stop(var)
    print(f"{args.users} due users, WeChat answering -1 for {args.seconds:.0f} s: {during} refresh calls "
          f"({during / args.users:.1f} a user); every user renewed {after:.1f} s after WeChat answered again, "
          f"{total - during} calls for it")


if __name__ == "__main__":
    main()
