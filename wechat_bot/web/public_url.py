"""The public origin links are built on: PUBLIC_BASE_URL, else the ngrok tunnel to our port, else the host
the request came to (behind a trusted reverse proxy, its X-Forwarded-Proto/-Host)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

import requests
from flask import Request
from werkzeug.sansio.utils import get_current_url, get_host

from ..config import Settings
from ..logs import logger

log = logger("wechat_bot")

# How long a discovered (or missing) tunnel is believed before asking the agent again, and how many ports' answers
# a process keeps (a server listens on one or two; SERVER_PORT can come from a header, so the cache is bounded).
DISCOVERY_TTL = 30.0
DISCOVERY_CACHE_SIZE = 8

# A cache of the agent's answers, per process: losing it costs one question to the local agent.
_cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
_lock = threading.Lock()


def public_base_url(settings: Settings, request: Request) -> str:
    return _configured_origin(settings, request.environ) or request.host_url.rstrip("/")


def origin_is_trusted(settings: Settings, request: Request) -> bool:
    """The public origin is not the client's to say: PUBLIC_BASE_URL, the tunnel, a trusted proxy's headers, or a
    Host that names this machine (a DNS-rebinding page cannot make a browser send one)."""
    from .visitor import loopback_host

    return bool(settings.trusted_proxies or _configured_origin(settings, request.environ)
                or loopback_host(request.host))


def app_base(settings: Settings, request: Request) -> str:
    """Where this app's routes live as the phone sees them: the public origin, the mount point of the WSGI app
    (SCRIPT_NAME, e.g. under DispatcherMiddleware) and WECHAT_URL_PREFIX."""
    return public_base_url(settings, request) + request.script_root + settings.url_prefix


def environ_base(settings: Settings, environ: dict) -> str:
    """app_base for a request answered before Flask's dispatch, from its WSGI environ (a Request object would
    cost ten times as much on the push's hot path)."""
    origin = _configured_origin(settings, environ)
    if not origin:
        scheme, port = environ.get("wsgi.url_scheme", "http"), environ.get("SERVER_PORT", "")
        server = (environ.get("SERVER_NAME", ""), int(port)) if port.isdigit() else None
        origin = get_current_url(scheme, get_host(scheme, environ.get("HTTP_HOST"), server)).rstrip("/")
    script_root = environ.get("SCRIPT_NAME", "").encode("latin-1").decode("utf-8", "replace").rstrip("/")
    return origin + script_root + settings.url_prefix


def _configured_origin(settings: Settings, environ: dict) -> str | None:
    """PUBLIC_BASE_URL, else the ngrok tunnel to the port the request came to (the server's own, as it was before
    TRUSTED_PROXIES' X-Forwarded-Port replaced it: a client cannot pick it); None for neither."""
    if settings.public_base_url:
        return settings.public_base_url
    port = environ.get("werkzeug.proxy_fix.orig", {}).get("SERVER_PORT") or environ.get("SERVER_PORT", "")
    return discover_tunnel(settings.ngrok_api_url, port)


def discover_tunnel(agent_url: str, port: str | int) -> str | None:
    """The https public URL of the ngrok tunnel forwarding to our port, asked of the local agent (cached); None
    for a port that is not one (SERVER_PORT may come from the Host or X-Forwarded-Port header)."""
    port = str(port)
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    key = f"{agent_url}|{int(port)}"
    with _lock:
        cached = _cache.get(key)
        if cached and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
    found = _ask_agent(agent_url, str(int(port)))
    with _lock:
        previous = _cache.pop(key, None)
        _cache[key] = (time.monotonic(), found)
        while len(_cache) > DISCOVERY_CACHE_SIZE:
            _cache.popitem(last=False)
    if found and (previous is None or previous[1] != found):
        log.info("public URL from the ngrok agent at %s: %s (tunnel to port %s)", agent_url, found, port)
    return found


def _ask_agent(agent_url: str, port: str) -> str | None:
    try:
        tunnels = requests.get(agent_url.rstrip("/") + "/api/tunnels", timeout=0.5).json().get("tunnels", [])
    except (requests.RequestException, ValueError, AttributeError):
        return None
    for tunnel in tunnels:
        public = str(tunnel.get("public_url", ""))
        target = str((tunnel.get("config") or {}).get("addr", ""))
        if public.startswith("https://") and _points_at(target, port):
            return public.rstrip("/")
    return None


def _points_at(addr: str, port: str) -> bool:
    if addr.isdigit():
        return addr == port
    parts = urlsplit(addr if "://" in addr else "http://" + addr)
    return str(parts.port or "") == port and parts.hostname in ("localhost", "127.0.0.1", "0.0.0.0", "::1", None)
