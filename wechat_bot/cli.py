"""`python run.py …`: each command parses its arguments, calls one library function, prints one line."""
from __future__ import annotations

import argparse
import sys

from .errors import WeChatBotError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except WeChatBotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def serve(args: argparse.Namespace) -> int:
    """Serve /wechat and the pages with Werkzeug's threaded server (gunicorn in production)."""
    from werkzeug.serving import run_simple

    from . import create_app

    app = create_app()
    print(f"wechat_bot serving on http://{args.host}:{args.port}  (message endpoint: /wechat, health: /healthz)",
          flush=True)
    run_simple(args.host, args.port, app, threaded=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python run.py", description="wechat_bot: a WeChat official-account server")
    parser.set_defaults(command=serve, host="127.0.0.1", port=5000)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    serve_cmd = commands.add_parser("serve", help="serve the message endpoint and the OAuth pages")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    serve_cmd.set_defaults(command=serve)
    return parser
