"""`python run.py …`: each command parses its arguments, calls one library function, prints one line."""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

from .errors import WeChatBotError, WeChatError
from .redis_connection import ERRORS as REDIS_ERRORS, explain, probe


def main(argv: list[str] | None = None, *, app=None) -> int:
    """`python run.py …` and `wechat-bot …`; with `app`, the commands act on that application (`flask wechat …`)."""
    args = _parser().parse_args(argv)
    args.app = app
    try:
        return args.command(args)
    except WeChatBotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except REDIS_ERRORS as error:
        print(f"error: Redis ({_where_redis(args)}) {explain(error)}", file=sys.stderr)
        return 3


def _where_redis(args: argparse.Namespace) -> str:
    from .config import Settings
    from .redis_connection import describe

    try:
        settings = args.app.extensions["wechat_bot"].settings if args.app is not None else Settings.load()
        return describe(settings)
    except WeChatBotError:
        return "REDIS_URL"


def _services(args: argparse.Namespace):
    """The app the command acts on: the site's under `flask wechat`, else the standalone one; with no WeChat
    credentials, the sandbox account's (the API reached where `run.py` serves the sandbox)."""
    if args.app is not None:
        return args.app, args.app.extensions["wechat_bot"]
    from . import create_app

    app = create_app(sandbox_origin=True)
    return app, app.extensions["wechat_bot"]


def _serving_app(args: argparse.Namespace, origin: str):
    """The app `serve` runs: the standalone server, or a site's (`--app module:app`, or a factory to call)."""
    if not args.site:
        from . import create_app

        return create_app(sandbox_origin=origin)
    import importlib

    from flask import Flask

    from .sandbox.mode import SERVE_ENV

    module_name, _, name = args.site.partition(":")
    os.environ[SERVE_ENV] = origin  # the site's WeChatBot(app) serves the sandbox when it has no credentials
    sys.path.insert(0, os.getcwd())
    try:
        target = getattr(importlib.import_module(module_name), name or "app")
    except (ImportError, AttributeError) as error:
        raise WeChatBotError(f"--app {args.site}: cannot load it ({error})") from None
    app = target if isinstance(target, Flask) else target()
    if "wechat_bot" not in app.extensions:
        raise WeChatBotError(f"--app {args.site}: the app does not use WeChatBot (WeChatBot(app) or init_app)")
    return app


def serve(args: argparse.Namespace) -> int:
    """Serve /wechat and the pages with Werkzeug's threaded server (gunicorn in production); with no
    WeChat credentials, the sandbox beside them."""
    from werkzeug.serving import make_server

    from .logs import redact_werkzeug
    from .sandbox.mode import ON_NETWORK_REFUSED, on_loopback

    loopback = on_loopback(args.host)
    origin = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    app = _serving_app(args, origin)
    services = app.extensions["wechat_bot"]
    sandboxed = services.sandboxed
    if sandboxed and not loopback and not args.sandbox_on_network:
        raise WeChatBotError(f"--host {args.host}: {ON_NETWORK_REFUSED} (--sandbox-on-network exposes it anyway)")
    listener = _listen(args.host, args.port)
    server = make_server(args.host, args.port, app, threaded=True, fd=listener.fileno())
    if sandboxed and not loopback:
        print(f"WARNING: the sandbox is reachable by anyone on the network at {args.host}:{args.port}: they can act "
              "as any sandbox user and expire tokens. Use it on a network you trust, and stop it when done.",
              file=sys.stderr, flush=True)
    if not args.no_worker:
        renewer = services.renewer(interval=1.0) if sandboxed else services.renewer()
        app.extensions["wechat_bot.renewer"] = renewer  # /healthz watches this thread's sweeps
        threading.Thread(target=renewer.run, name="renewal", daemon=True).start()
    redact_werkzeug()
    prefix = services.settings.url_prefix
    if sandboxed:
        print(f"wechat_bot sandbox: open {origin}{prefix}/sandbox/ (no WeChat credentials set, so a local WeChat "
              f"serves on this port; set WECHAT_TOKEN, WECHAT_APPID, WECHAT_SECRET for a real account)", flush=True)
    else:
        print(f"wechat_bot serving on {origin}  (message endpoint: {prefix}/wechat, health: {prefix}/healthz)"
              + ("" if args.no_worker else "; token renewal running"), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are one line on standard error (and exit 2), like every other failure."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _listen(host: str, port: int):
    """The listening socket, bound before anything is announced; one line when the port is taken."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError as error:
        reason = error.strerror or str(error)
        raise WeChatBotError(f"cannot listen on {host}:{port}: {reason}") from None
    return listener


def _port(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (1-65535)")
    return int(value)


def worker(args: argparse.Namespace) -> int:
    """Run the token renewal: forever, or one sweep of what is due with --once."""
    _, services = _services(args)
    if services.settings.metrics and not args.once:  # beside gunicorn's workers, in the folder a scrape sums
        from .metrics.multiprocess import prepare

        prepare()
    renewer = services.renewer()
    if args.once:
        problem = probe(services.redis)  # a sweep with nothing due writes nothing: a read-only Redis would pass
        if problem:
            print(f"error: Redis ({_where_redis(args)}) {problem}", file=sys.stderr)
            return 3
        try:
            result = renewer.sweep()
        finally:
            renewer.close()
        print(f"renewed {result.renewed}, to retry {result.retried}, re-authorization needed {result.reauth}, "
              f"skipped {result.skipped}")
        return 0
    settings = services.settings
    print(f"renewal worker running: {settings.renewal_concurrency} at once, at most {settings.renewal_rate} a second "
          "(SIGTERM or Ctrl-C stops it after the renewals in flight)", flush=True)
    renewer.run(install_signals=True)
    return 0


def check(args: argparse.Namespace) -> int:
    """Validate the configuration and print what to paste into the admin panel; non-zero if WeChat would refuse."""
    from . import redis_connection
    from .check import run_checks
    from .config import Settings

    if args.app is not None:
        services = args.app.extensions["wechat_bot"]
        settings, redis = services.settings, services.redis
    else:
        settings = Settings.load()
        redis = redis_connection.connect(settings)
    report = run_checks(settings, redis, port=args.port, online=args.online)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def menu(args: argparse.Namespace) -> int:
    """Publish the custom menu from a JSON file (VIEW buttons may name a scope), or show the current one."""
    from .leases import Leases
    from .menu import build_menu
    from .oauth.account_token import AccountToken

    app, services = _services(args)
    token = AccountToken(services.redis, services.client, Leases(services.redis)).get()
    if args.action == "show":
        try:
            menu = services.client.get_menu(token)
        except WeChatError as error:
            if error.errcode != 46003:
                raise
            print("no custom menu is published yet (publish one with: menu push FILE.json)")
            return 0
        print(json.dumps(menu, ensure_ascii=False, indent=2))
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
    services.client.create_menu(token, build_menu(spec, services.links(base + services.settings.url_prefix)))
    print(f"menu published ({len(spec.get('button', []))} top-level buttons); WeChat clients see it within 5 minutes")
    return 0


def tokens(args: argparse.Namespace) -> int:
    from .oauth import report

    app, services = _services(args)
    now = time.time()
    if args.action == "account":
        return _account_token(services, args.reveal)
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


def _account_token(services, reveal: bool) -> int:
    """The account's token, the one every worker and the token service hand out (fetched if none is kept)."""
    from .oauth.report import mask

    token, expires_at = services.account_token.current()
    print(f"access_token: {token if reveal else mask(token)}")
    print(f"expires_at: {int(expires_at)} ({_left(int(expires_at), time.time())} left)")
    return 0


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
    invoked = os.path.basename(sys.argv[0])
    prog = "python run.py" if invoked == "run.py" else "python -m wechat_bot" if invoked == "__main__.py" else "wechat-bot"
    parser = _OneLineParser(prog=prog, description="wechat_bot: a WeChat official-account server")
    parser.set_defaults(command=serve, no_worker=False, site=None, sandbox_on_network=False)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=5000, help="port to listen on (default 5000)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    serve_cmd = commands.add_parser("serve", help="serve the message endpoint and the OAuth pages")
    serve_cmd.add_argument("--host", default=argparse.SUPPRESS, help="address to listen on (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=_port, default=argparse.SUPPRESS, help="port to listen on (default 5000)")
    serve_cmd.add_argument("--no-worker", action="store_true", help="do not run token renewal in this process")
    serve_cmd.add_argument("--sandbox-on-network", action="store_true",
                           help="let the sandbox listen on a non-loopback address (anyone there can use it)")
    serve_cmd.add_argument("--app", dest="site", metavar="MODULE:APP",
                           help="serve your Flask site (which uses WeChatBot) instead of the standalone server")
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
    account = actions.add_parser("account", help="the account's access_token, the one every process shares; "
                                 "masked unless --reveal")
    account.add_argument("--reveal", action="store_true")
    tokens_cmd.set_defaults(command=tokens)
    return parser


def _flask_group():
    """`flask --app SITE wechat …`: the commands above that do not serve, acting on the site's app."""
    import click
    from flask import current_app
    from flask.cli import with_appcontext

    @click.command("wechat", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                               "help_option_names": []},
                   help="wechat_bot's commands: worker, check, menu, tokens (add --help for each).")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @with_appcontext
    def wechat(args: tuple[str, ...]) -> None:
        if args and args[0] == "serve":
            raise click.UsageError("serve: use `flask run` (or `wechat-bot serve --app SITE:app`)")
        raise SystemExit(main(list(args) or ["--help"], app=current_app._get_current_object()))
    return wechat


flask_group = _flask_group()
