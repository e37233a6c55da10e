"""`wechat-bot serve` (and a bare `python run.py`): Werkzeug's threaded server for development and the sandbox,
with the renewal thread beside it; gunicorn serves in production."""
from __future__ import annotations

import os
import socket
import sys
import threading

from .errors import WeChatBotError


def serve_forever(host: str, port: int, *, no_worker: bool = False, sandbox_on_network: bool = False,
                  site: str | None = None) -> int:
    """Serve /wechat and the pages; with no WeChat credentials, the sandbox beside them."""
    from werkzeug.serving import make_server

    from .logs import redact_werkzeug
    from .sandbox.mode import ON_NETWORK_REFUSED, on_loopback

    loopback = on_loopback(host)
    origin = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    app = _serving_app(site, origin)
    if sandbox_on_network:
        from .sandbox.host_check import ON_NETWORK

        app.extensions[ON_NETWORK] = True  # a phone on the LAN names this machine by its address or name
    services = app.extensions["wechat_bot"]
    sandboxed = services.sandboxed
    if services.settings.metrics:
        from .metrics.multiprocess import join_the_workers

        join_the_workers()
    if sandboxed and not loopback and not sandbox_on_network:
        raise WeChatBotError(f"--host {host}: {ON_NETWORK_REFUSED} (--sandbox-on-network exposes it anyway)")
    listener = _listen(host, port)
    server = make_server(host, port, app, threaded=True, fd=listener.fileno())
    if sandboxed and not loopback:
        print(f"WARNING: the sandbox is reachable by anyone on the network at {host}:{port}: they can act "
              "as any sandbox user and expire tokens. Use it on a network you trust, and stop it when done.",
              file=sys.stderr, flush=True)
    if not no_worker:
        renewer = services.renewer(interval=1.0) if sandboxed else services.renewer()
        app.extensions["wechat_bot.renewer"] = renewer  # /healthz watches this thread's sweeps
        threading.Thread(target=renewer.run, name="renewal", daemon=True).start()
    redact_werkzeug()
    services.warn_if_redis_was_down()
    prefix = services.settings.url_prefix
    if sandboxed:
        print(f"wechat_bot sandbox: open {origin}{prefix}/sandbox/ (no WeChat credentials set, so a local WeChat "
              f"serves on this port; set WECHAT_TOKEN, WECHAT_APPID, WECHAT_SECRET for a real account)", flush=True)
    else:
        print(f"wechat_bot serving on {origin}  (message endpoint: {prefix}/wechat, health: {prefix}/healthz)"
              + ("" if no_worker else "; token renewal running"), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _serving_app(site: str | None, origin: str):
    """The app `serve` runs: the standalone server, or a site's, named as `flask --app` names it (`module`,
    `module:app`, `'module:create_app()'`, a path to a .py file)."""
    if not site:
        from . import create_app

        return create_app(sandbox_origin=origin)
    import re

    from flask.cli import NoAppException, locate_app, prepare_import

    from .sandbox.mode import SERVE_ENV

    path, name = (re.split(r":(?![\\/])", site, maxsplit=1) + [None])[:2]  # as `flask --app` splits it
    os.environ[SERVE_ENV] = origin  # the site's WeChatBot(app) serves the sandbox when it has no credentials
    try:
        app = locate_app(prepare_import(path), name)  # Flask's own: `module`, `module:app`, `module:create(…)`
    except NoAppException as error:
        raise WeChatBotError(f"--app {site}: cannot load it ({error.format_message()})") from None
    if "wechat_bot" not in app.extensions:
        raise WeChatBotError(f"--app {site}: the app does not use WeChatBot (WeChatBot(app) or init_app)")
    return app


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is announced; one line when the port is taken."""
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
