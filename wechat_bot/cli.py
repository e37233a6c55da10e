"""`python run.py …`: each command parses its arguments, calls one library function, prints one line."""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from .errors import WeChatBotError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except WeChatBotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _services(sandbox_origin: str | None = None):
    from . import create_app

    app = create_app(sandbox_origin=sandbox_origin)
    return app, app.extensions["wechat_bot"]


def serve(args: argparse.Namespace) -> int:
    """Serve /wechat and the pages with Werkzeug's threaded server (gunicorn in production); with no
    WeChat credentials, the sandbox beside them."""
    from werkzeug.serving import run_simple

    from .logs import redact_werkzeug

    origin = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    app, services = _services(sandbox_origin=origin)
    sandboxed = "wechat_sandbox" in app.extensions
    if not args.no_worker:
        renewer = services.renewer(interval=1.0) if sandboxed else services.renewer()
        threading.Thread(target=renewer.run, name="renewal", daemon=True).start()
    redact_werkzeug()
    if sandboxed:
        print(f"wechat_bot sandbox: open {origin}/sandbox/ (no WeChat credentials set, so a local WeChat "
              f"serves on this port; set WECHAT_TOKEN, WECHAT_APPID, WECHAT_SECRET for a real account)", flush=True)
    else:
        print(f"wechat_bot serving on {origin}  (message endpoint: /wechat, health: /healthz)"
              + ("" if args.no_worker else "; token renewal running"), flush=True)
    run_simple(args.host, args.port, app, threaded=True)
    return 0


def worker(args: argparse.Namespace) -> int:
    """Run the token renewal: forever, or one sweep of what is due with --once."""
    _, services = _services()
    renewer = services.renewer()
    if args.once:
        result = renewer.sweep()
        print(f"renewed {result.renewed}, to retry {result.retried}, re-authorization needed {result.reauth}, "
              f"skipped {result.skipped}")
        return 0
    print("renewal worker running (SIGTERM or Ctrl-C stops it after the renewals in flight)", flush=True)
    renewer.run(install_signals=True)
    return 0


def check(args: argparse.Namespace) -> int:
    """Validate the configuration and print what to paste into the admin panel; non-zero if WeChat would refuse."""
    from . import redis_connection
    from .check import run_checks
    from .config import Settings

    settings = Settings.load()
    report = run_checks(settings, redis_connection.connect(settings), port=args.port, online=args.online)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def menu(args: argparse.Namespace) -> int:
    """Publish the custom menu from a JSON file (VIEW buttons may name a scope), or show the current one."""
    from .leases import Leases
    from .menu import build_menu
    from .oauth.account_token import AccountToken

    app, services = _services()
    token = AccountToken(services.redis, services.client, Leases(services.redis)).get()
    if args.action == "show":
        print(json.dumps(services.client.get_menu(token), ensure_ascii=False, indent=2))
        return 0
    try:
        spec = json.loads(open(args.file, encoding="utf-8").read())
    except (OSError, ValueError) as error:
        raise WeChatBotError(f"{args.file}: not a readable JSON file ({type(error).__name__})") from None
    base = services.settings.public_base_url
    if not base:
        from .oauth.public_url import discover_tunnel

        base = discover_tunnel(services.settings.ngrok_api_url, args.port)
    if not base:
        raise WeChatBotError("PUBLIC_BASE_URL: not set and no ngrok tunnel found; menu links need the public origin")
    services.client.create_menu(token, build_menu(spec, services.links(base)))
    print(f"menu published ({len(spec.get('button', []))} top-level buttons); WeChat clients see it within 5 minutes")
    return 0


def tokens(args: argparse.Namespace) -> int:
    from .oauth import report

    app, services = _services()
    now = time.time()
    if args.action == "list":
        rows = [report.describe(r, now) for r in report.all_records(services.redis, services.tokens)]
        rows = [row for row in rows if not args.status or row["status"] == args.status]
        rows.sort(key=lambda row: row["openid"])
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
        else:
            for row in rows:
                print(f"{row['openid']}  {row['status']:<15} {row['scope']:<16} "
                      f"access {_left(row['access_token_expires_at'], now)}  "
                      f"refresh {_left(row['refresh_token_expires_at'], now)}")
            print(f"{len(rows)} user(s)")
        return 0
    record = services.tokens.get(args.openid)
    if record is None:
        raise WeChatBotError(f"no tokens stored for {args.openid}")
    if args.action == "show":
        row = report.describe(record, now, reveal=args.reveal)
        print(json.dumps(row, ensure_ascii=False) if args.json
              else "\n".join(f"{key}: {value}" for key, value in row.items()))
        return 0
    if args.action == "revoke":
        services.tokens.delete(args.openid)
        print(f"forgot the tokens of {args.openid}")
        return 0
    return _refresh_now(services, args.openid)


def _refresh_now(services, openid: str) -> int:
    outcome = services.renewer().renew_now(openid)
    if outcome is None:
        raise WeChatBotError(f"{openid} is being renewed by a worker right now; try again in a moment")
    if outcome != "renewed":
        raise WeChatBotError(f"{openid} not renewed: {outcome}")
    print(f"renewed the access_token of {openid}")
    return 0


def _left(at: int, now: float) -> str:
    seconds = int(at - now)
    if seconds <= 0:
        return "expired"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h" if seconds >= 86400 else f"{seconds // 60}m"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python run.py", description="wechat_bot: a WeChat official-account server")
    parser.set_defaults(command=serve, host="127.0.0.1", port=5000, no_worker=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    serve_cmd = commands.add_parser("serve", help="serve the message endpoint and the OAuth pages")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    serve_cmd.add_argument("--no-worker", action="store_true", help="do not run token renewal in this process")
    serve_cmd.set_defaults(command=serve)
    worker_cmd = commands.add_parser("worker", help="run the scheduled token renewal")
    worker_cmd.add_argument("--once", action="store_true", help="one sweep of what is due, then exit")
    worker_cmd.set_defaults(command=worker)
    check_cmd = commands.add_parser("check", help="validate the configuration; print what to paste into WeChat")
    check_cmd.add_argument("--port", type=int, default=5000, help="the port the server listens on (for ngrok)")
    check_cmd.add_argument("--online", action="store_true", help="also check AppID and AppSecret with WeChat")
    check_cmd.set_defaults(command=check)
    menu_cmd = commands.add_parser("menu", help="publish or show the account's custom menu")
    menu_actions = menu_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    push_menu = menu_actions.add_parser("push", help="publish the menu in FILE.json")
    push_menu.add_argument("file")
    push_menu.add_argument("--port", type=int, default=5000, help="the server's port (to find the ngrok tunnel)")
    menu_actions.add_parser("show", help="print the current menu")
    menu_cmd.set_defaults(command=menu)
    tokens_cmd = commands.add_parser("tokens", help="the stored users and their tokens")
    actions = tokens_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every stored user and their token state")
    listing.add_argument("--status", choices=("active", "expiring", "reauth_required"))
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one user's record; secrets masked unless --reveal")
    show.add_argument("openid")
    show.add_argument("--json", action="store_true")
    show.add_argument("--reveal", action="store_true")
    for name, text in (("refresh", "renew this user's access_token now"), ("revoke", "forget this user's tokens")):
        actions.add_parser(name, help=text).add_argument("openid")
    tokens_cmd.set_defaults(command=tokens)
    return parser
