"""Safe when shared (issue 29): no Host header trusted by the sandbox, no call of the server's sent where a
request points it, no 500 from input, Redis down answered with a page, a pool that holds what a process runs."""
from __future__ import annotations

import http.server
import json
import logging
import threading

import pytest
import requests

from tests.conftest import CREDENTIALS, NOWHERE
from wechat_bot import WeChatBot, create_app

FOREIGN = "attacker.example"
DEEP = b"[" * 1000 + b"]" * 1000


@pytest.fixture
def sandbox_site(redis, serve):
    return serve(create_app(redis=redis, sandbox_origin=True))


@pytest.fixture
def listener():
    """A loopback port that counts what reaches it (where a Host header would have sent the server's calls)."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"access_token": "STOLEN", "expires_in": 7200}')

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], hits
    server.shutdown()


@pytest.mark.parametrize("path", ["/sandbox/chat", "/sandbox/api/tokens", "/sandbox/tokens",
                                  "/connect/oauth2/authorize?appid=x"])
def test_the_sandbox_answers_no_foreign_host(sandbox_site, path, caplog):
    port = sandbox_site.rsplit(":", 1)[1]
    refused = requests.get(sandbox_site + path, headers={"Host": f"{FOREIGN}:{port}",
                                                         "Origin": f"http://{FOREIGN}:{port}"}, timeout=10)
    assert refused.status_code == 403 and "本机" in refused.text
    assert "DNS rebinding" in caplog.text
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert requests.get(sandbox_site + path, headers={"Host": host}, timeout=10).status_code != 403


def test_the_servers_own_calls_go_where_it_listens_never_where_a_host_header_points(sandbox_site, listener):
    port, hits = listener
    page = f"http://127.0.0.1:{port}/page"  # a loopback Host the check lets through: only the port is the caller's
    signed = requests.get(sandbox_site + "/jssdk/config", params={"url": page},
                          headers={"Host": f"127.0.0.1:{port}"}, timeout=10)
    assert signed.status_code == 200 and signed.json()["appId"]
    assert hits == []  # the AppSecret went to the sandbox the server listens on, not to the listener


@pytest.mark.parametrize("url", ["http://%5B::1", "http://[::1", "http://example.com:port/"])
def test_a_malformed_page_url_is_a_400(make_app, url):
    answer = make_app({"PUBLIC_BASE_URL": "https://bot.example.com"}).test_client().get("/jssdk/config?url=" + url)
    assert answer.status_code == 400 and answer.is_json


def test_jssdk_config_signs_only_loopback_pages_when_the_public_origin_is_unknown(make_app):
    client = make_app().test_client()
    foreign = client.get("/jssdk/config", query_string={"url": f"http://{FOREIGN}/p"}, headers={"Host": FOREIGN})
    assert foreign.status_code == 400 and "PUBLIC_BASE_URL" in foreign.get_json()["error"]


def test_json_nested_a_thousand_deep_is_a_400_not_a_500(make_app, sandbox_site):
    app = make_app({"WECHAT_API_KEYS": "crm:" + "k" * 40})
    invalid = app.test_client().post("/api/account-token/invalid", data=DEEP, content_type="application/json",
                                     headers={"Authorization": "Bearer " + "k" * 40})
    assert invalid.status_code == 400 and invalid.is_json
    for path in ("/sandbox/api/user", "/sandbox/api/push", "/sandbox/jssdk/verify"):
        answer = requests.post(sandbox_site + path, data=DEEP, headers={"Content-Type": "application/json"},
                               timeout=10)
        assert answer.status_code < 500, (path, answer.status_code)
    stable = requests.post(sandbox_site + "/cgi-bin/stable_token", data=DEEP, timeout=10)
    assert stable.status_code == 200 and stable.json()["errcode"] == 47001


def test_the_sandbox_authorize_page_refuses_a_broken_redirect_uri(sandbox_site):
    answer = requests.get(sandbox_site + "/connect/oauth2/authorize",
                          params={"appid": "x", "redirect_uri": "http://[::1", "response_type": "code",
                                  "scope": "snsapi_base", "state": "s"}, timeout=10)
    assert answer.status_code < 500


def a_site_whose_redis_is_down(sandboxed: bool = False):
    from flask import Flask

    app = Flask("site")
    app.config.update(SECRET_KEY="site", REDIS_URL="redis://127.0.0.1:9", **({} if sandboxed else CREDENTIALS),
                      **NOWHERE)
    wechat = WeChatBot()
    wechat.init_app(app, sandbox_origin=True if sandboxed else None)

    @app.get("/account")
    @wechat.login_required
    def account():
        return "mine"

    @app.get("/hello")
    def hello():
        return f"hello {wechat.current_user}"
    return app


def test_redis_down_in_a_sites_own_pages_is_the_friendly_503(caplog):
    app = a_site_whose_redis_is_down()
    with caplog.at_level(logging.WARNING):
        app.extensions["wechat_bot"].warn_if_redis_was_down()  # what flask run and serve say at start
    assert "Redis (redis://127.0.0.1:9) cannot be used now: unreachable" in caplog.text
    client = app.test_client()
    for path, headers in (("/account", {"User-Agent": "MicroMessenger"}), ("/hello", {})):
        with client.session_transaction() as session:
            session["wechat_openid"], session["wechat_scope"] = "o_alice", "snsapi_base"
        answer = client.get(path, headers=headers)
        assert answer.status_code == 503 and "服务暂时不可用" in answer.get_data(as_text=True), path
        assert "Traceback" not in caplog.text


def test_redis_down_on_the_sandbox_chat_page_is_a_503_page():
    answer = a_site_whose_redis_is_down(sandboxed=True).test_client().get("/sandbox/chat")
    assert answer.status_code == 503 and "服务暂时不可用" in answer.get_data(as_text=True)


def test_one_process_holds_more_than_a_hundred_redis_connections_at_once(redis):
    """150 handler threads each in a Redis command at the same moment (redis-py's default pool stops at 100): every
    one gets its connection, without waiting on a clock (a blocking command held past the client's socket timeout
    on a busy machine)."""
    socket = redis.connection_pool.connection_kwargs["path"]
    app = create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": f"unix://{socket}"})
    pool = app.extensions["wechat_bot"].redis.connection_pool
    held = []
    try:
        for _ in range(150):
            connection = pool.get_connection()
            held.append(connection)
            connection.send_command("PING")
        assert [connection.read_response() for connection in held] == [b"PONG"] * 150
    finally:
        for connection in held:
            pool.release(connection)


def test_an_errcode_label_is_one_wechat_documents_or_other():
    from wechat_bot.errors import errcode_label

    assert errcode_label(40001) == "40001" and errcode_label(-1) == "-1"
    assert {errcode_label(code) for code in range(900000, 900100)} == {"other"}
    assert json.dumps(errcode_label(0)) == '"0"'


def test_a_lone_surrogate_or_a_body_that_is_not_an_object_is_refused_not_a_500(sandbox_site):
    surrogate = b'{"kind": "text", "content": "\\ud800", "grant_type": "client_credential"}'
    for path in ("/sandbox/api/push", "/sandbox/api/user", "/cgi-bin/stable_token"):
        for body in (surrogate, b"1", b'"x"', b"[]", b"null"):
            answer = requests.post(sandbox_site + path, data=body, headers={"Content-Type": "application/json"},
                                   timeout=10)
            assert answer.status_code < 500, (path, body, answer.status_code)


def test_a_media_id_names_only_a_medium(sandbox_site, redis):
    """`<id>:data` would name the medium's bytes, read as its record (a 500; a forged record if the bytes are JSON)."""
    import json
    import time
    from pathlib import Path

    from wechat_bot.sandbox import credentials

    appid = credentials.load_or_create(Path("var").resolve())["WECHAT_APPID"]
    record = {"type": "image", "content_type": "image/png", "filename": "a.png", "created_at": time.time()}
    redis.set(f"wechat_sandbox:{appid}:media:M1", json.dumps(record))
    redis.set(f"wechat_sandbox:{appid}:media:M1:data", b"\x89PNG not JSON")
    assert requests.get(f"{sandbox_site}/sandbox/media/M1", timeout=10).status_code == 200
    for media_id in ("M1:data", "../M1", "a" * 500):
        assert requests.get(f"{sandbox_site}/sandbox/media/{media_id}", timeout=10).status_code == 404


def test_a_foreign_host_is_refused_before_the_sandbox_counts_or_injects_anything(sandbox_site, redis):
    from pathlib import Path

    from wechat_bot.sandbox import credentials

    appid = credentials.load_or_create(Path("var").resolve())["WECHAT_APPID"]
    port = sandbox_site.rsplit(":", 1)[1]
    before = redis.hgetall(f"wechat_sandbox:{appid}:calls")
    for path in ("/cgi-bin/tags/get?access_token=x", "/cgi-bin/" + "z" * 3000, "/media/" + "y" * 3000):
        refused = requests.get(sandbox_site + path, headers={"Host": f"{FOREIGN}:{port}"}, timeout=10)
        assert refused.status_code == 403
    requests.get(sandbox_site + "/cgi-bin/" + "z" * 3000, timeout=10)  # loopback, but no API of WeChat's
    assert redis.hgetall(f"wechat_sandbox:{appid}:calls") == before  # nothing counted: the count cannot grow


def test_behind_trusted_proxies_the_sandbox_still_calls_itself_where_it_listens(redis, serve, listener):
    port, hits = listener
    site = serve(create_app({"TRUSTED_PROXIES": "1"}, redis=redis, sandbox_origin=True))
    answer = requests.get(site + "/oauth/qr", headers={"X-Forwarded-Host": f"127.0.0.1:{port}"}, timeout=10)
    assert answer.status_code < 500 and hits == []  # stable_token with the AppSecret went to the sandbox itself
