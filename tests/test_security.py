"""What a hostile client, a hostile link and a hostile log reader can no longer do."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import APPID, TOKEN, inside_one_window
from tests.wechat_client import WeChat, flask_transport, sign
from wechat_bot.handlers import Router


def test_a_unicode_digit_timestamp_is_a_400_not_a_500(app):
    query = {"signature": sign(TOKEN, "²³", "1"), "timestamp": "²³", "nonce": "1"}
    response = app.test_client().post("/wechat?" + urlencode(query), data=b"<xml/>")
    assert response.status_code == 400 and b"timestamp" in response.data


@pytest.mark.parametrize("msg_id", ["123²", "١٢٣"])
def test_a_unicode_digit_msgid_never_reaches_int_or_a_log_line(make_app, push_log, msg_id):
    router = Router()

    @router.on()
    def boom(msg):
        raise RuntimeError("handler failed")
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    reply = wechat.deliver(wechat.fields("text", Content="hi", MsgId=msg_id))
    assert reply.status == 400 and b"MsgId" in reply.body


def test_a_failing_handlers_log_line_carries_no_forged_line(make_app, push_log):
    router = Router()

    @router.on()
    def boom(msg):
        raise RuntimeError("handler failed")
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    wechat.openid = "o_evil\n2026-01-01 INFO wechat_bot forged line"
    assert wechat.says("hi").status == 200
    for record in push_log.records:
        assert "\n" not in record.getMessage(), record.getMessage()


def test_safe_mode_refuses_a_plaintext_push_that_compatible_mode_answers(make_app):
    from tests.conftest import AES_KEY

    safe = WeChat(flask_transport(make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY,
                                            "WECHAT_ENCRYPTION": "safe"}).test_client()), TOKEN, APPID, aes_key=AES_KEY)
    compatible = WeChat(flask_transport(make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY}).test_client()), TOKEN, APPID,
                        aes_key=AES_KEY)
    assert safe.says("hi").status == 403
    safe.encrypted = True
    assert safe.says("hi").status == 200
    assert compatible.says("hi").status == 200


def test_healthz_and_check_name_the_mode_picked(make_app):
    from tests.conftest import AES_KEY
    from wechat_bot.check import run_checks

    app = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY, "WECHAT_ENCRYPTION": "safe",
                    "PUBLIC_BASE_URL": "https://bot.example"})
    assert app.test_client().get("/healthz").get_json()["encryption"] == "safe"
    services = app.extensions["wechat_bot"]
    report = run_checks(services.settings, services.redis)
    assert ("消息加解密方式", "安全模式") in report.paste
    assert all(" or " not in str(value) for _, value in report.paste)


def test_check_says_how_to_refuse_plaintext_when_the_mode_is_compatible(make_app):
    from tests.conftest import AES_KEY
    from wechat_bot.check import run_checks

    services = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY,
                         "PUBLIC_BASE_URL": "https://bot.example"}).extensions["wechat_bot"]
    report = run_checks(services.settings, services.redis)
    assert ("消息加解密方式", "兼容模式") in report.paste
    assert any("WECHAT_ENCRYPTION=safe" in line for line in report.warnings)


@pytest.mark.parametrize("mode", ["compatible", "safe"])
def test_an_encrypted_mode_without_the_key_stops_start_up(make_app, mode):
    from wechat_bot import ConfigError

    with pytest.raises(ConfigError, match="WECHAT_ENCRYPTION"):
        make_app({"WECHAT_ENCRYPTION": mode})


def _callback_url(session, url: str) -> str:
    """Follow our redirects and the sandbox's authorize page until it sends the phone to our callback."""
    while "/oauth/callback" not in url:
        response = session.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        url = response.headers["Location"]
    return url


def _link(chat_reply) -> str:
    import re

    return re.search(r'<a href="([^"]+)">', chat_reply.content).group(1)


@pytest.fixture
def chat_site(site):
    from tests.wechat_client import http_transport

    base, app = site()
    return base, WeChat(http_transport(base), TOKEN, APPID, openid="o_alice")


def test_a_used_code_replayed_with_another_state_gets_400_and_no_session(chat_site, phone):
    base, chat = chat_site
    callback = _callback_url(phone(), _link(chat.says("登录")))
    assert phone().get(callback, allow_redirects=False, timeout=10).status_code == 302
    code = callback.split("code=")[1].split("&")[0]
    replay = phone().get(f"{base}/oauth/callback", params={"code": code, "state": "a" * 32},
                         allow_redirects=False, timeout=10)
    assert replay.status_code == 400 and "session" not in replay.cookies
    assert "/oauth/result/" not in replay.headers.get("Location", "")


def test_a_login_started_in_another_browser_signs_nobody_in_here(site, phone):
    base, _ = site()
    attacker = phone("o_mallory")
    callback = _callback_url(attacker, f"{base}/oauth/login?next=/account")
    victim = phone("o_alice")
    page = victim.get(callback, allow_redirects=False, timeout=10)
    assert page.status_code == 400 and "原浏览器" in page.text and "session" not in page.cookies


def test_a_login_started_here_signs_this_browser_in(site, phone):
    base, _ = site()
    browser = phone("o_alice")
    page = browser.get(_callback_url(browser, f"{base}/oauth/login?next=/x"), allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "session" in page.cookies


def test_a_chat_links_callback_stores_the_tokens_but_signs_no_browser_in(chat_site, phone, redis):
    from wechat_bot.oauth.tokens import TokenStore

    base, chat = chat_site
    browser = phone()
    page = browser.get(_callback_url(browser, _link(chat.says("登录"))), allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "session" not in page.cookies
    assert TokenStore(redis, APPID).get("o_alice") is not None


def test_a_link_sent_to_a_forged_openid_forges_no_log_line(site, phone, push_log):
    from tests.wechat_client import http_transport

    base, _ = site()
    chat = WeChat(http_transport(base), TOKEN, APPID, openid="o_evil\n2026-01-01 INFO wechat_bot.oauth forged")
    browser = phone("o_bob")
    assert browser.get(_callback_url(browser, _link(chat.says("登录"))), timeout=10).status_code == 200
    assert "was opened by o_bob" in push_log.text
    assert all("\n" not in record.getMessage() for record in push_log.records)


def _login_cookie(client, **headers) -> str:
    response = client.get("/oauth/login?next=/x", headers=headers)
    assert response.status_code == 302
    return response.headers.get("Set-Cookie", "")


def test_the_session_cookie_is_secure_behind_a_trusted_https_proxy(make_app):
    app = make_app({"TRUSTED_PROXIES": "1"})
    assert "Secure" in _login_cookie(app.test_client(), **{"X-Forwarded-Proto": "https"})
    assert "Secure" not in _login_cookie(app.test_client())


def test_the_session_cookie_is_secure_behind_an_ngrok_https_tunnel(make_app, serve):
    from flask import Flask, jsonify

    agent = Flask("ngrok_agent")
    agent.get("/api/tunnels")(lambda: jsonify(tunnels=[{"public_url": "https://abc.ngrok-free.app",
                                                         "config": {"addr": "http://localhost:80"}}]))
    app = make_app({"NGROK_API_URL": serve(agent)})
    assert "Secure" in _login_cookie(app.test_client())


@pytest.mark.parametrize("path", ["/oauth/login?next=/x", "/oauth/result/unknown", "/oauth/callback?state=x", "/nope"])
def test_pages_keep_the_code_out_of_referer_and_refuse_framing(app, path):
    headers = app.test_client().get(path).headers
    assert headers["Referrer-Policy"] == "no-referrer" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_a_sites_own_pages_get_no_headers_from_us(redis):
    from flask import Flask

    from tests.conftest import CREDENTIALS, NOWHERE
    from wechat_bot import WeChatBot

    site = Flask("site")
    site.config.update({**CREDENTIALS, **NOWHERE})
    WeChatBot().init_app(site, redis=redis)
    site.get("/")(lambda: "home")
    assert "X-Frame-Options" not in site.test_client().get("/").headers
    assert site.test_client().get("/oauth/result/x").headers["X-Frame-Options"] == "DENY"


def test_a_sites_sandbox_pages_refuse_framing_too(redis):
    from flask import Flask

    from wechat_bot import WeChatBot

    site = Flask("site")
    WeChatBot().init_app(site, redis=redis, sandbox_origin="http://localhost")
    site.get("/")(lambda: "home")
    client = site.test_client()
    assert "X-Frame-Options" not in client.get("/").headers
    for path in ("/sandbox/chat", "/connect/oauth2/authorize?appid=x"):
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "same-origin", path


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}])
def test_the_sandboxs_state_changing_routes_refuse_cross_origin_requests(redis, headers, tmp_path):
    from wechat_bot import create_app

    app = create_app(redis=redis, sandbox_origin="http://localhost")
    client = app.test_client()
    assert client.post("/sandbox/api/user", json={"openid": "o_x"}, headers=headers).status_code == 403
    assert client.post("/sandbox/api/tokens/o_x/expire-refresh", headers=headers).status_code == 403
    assert client.post("/sandbox/api/user", json={"openid": "o_x"},
                       headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_a_link_elsewhere_cannot_make_the_sandbox_browser_another_user(redis):
    """The pick-user page's form is a same-origin POST: a cross-site link or form cannot set whom the
    developer's browser authorizes as (and so which openid their site signs in)."""
    from wechat_bot import create_app
    from wechat_bot.sandbox.authorize import USER_COOKIE

    app = create_app(redis=redis, sandbox_origin="http://localhost")
    client = app.test_client()
    appid = app.extensions["wechat_bot"].settings.appid
    back = f"/connect/oauth2/authorize?appid={appid}&redirect_uri=http%3A%2F%2Flocalhost%2Fcb" \
           "&response_type=code&scope=snsapi_base&state=s1"
    assert 'method="post"' in client.get(back).get_data(as_text=True)
    form = {"openid": "o_mallory", "back": back}
    forged = [client.get("/connect/oauth2/authorize/as", query_string=form),
              client.post("/connect/oauth2/authorize/as", data=form, headers={"Sec-Fetch-Site": "cross-site"})]
    assert [answer.status_code for answer in forged] == [405, 400]
    assert client.get_cookie(USER_COOKIE) is None
    chosen = client.post("/connect/oauth2/authorize/as", data=form, headers={"Sec-Fetch-Site": "same-origin"})
    assert chosen.status_code == 302 and chosen.location.endswith(back)
    assert client.get_cookie(USER_COOKIE).value == "o_mallory"


def test_serve_refuses_to_put_the_sandbox_on_the_network_without_the_flag(tmp_path):
    import subprocess
    import sys

    from tests import processes
    from tests.conftest import project_root

    env = {k: v for k, v in processes.clean_env().items() if not k.startswith("WECHAT_")}
    result = subprocess.run([sys.executable, str(project_root() / "run.py"), "--host", "0.0.0.0", "--port",
                             str(processes.free_port())], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    from wechat_bot.storage import embedded_redis

    embedded_redis.stop(tmp_path / "var")
    assert result.returncode != 0 and "--sandbox-on-network" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_flask_run_refuses_to_put_a_sites_sandbox_on_the_network(tmp_path):
    import subprocess
    import sys

    from tests import processes
    from wechat_bot.storage import embedded_redis

    (tmp_path / "site_app.py").write_text("from flask import Flask\nfrom wechat_bot import WeChatBot\n\n"
                                          "app = Flask(__name__)\nWeChatBot(app)\n")
    env = {k: v for k, v in processes.clean_env().items() if not k.startswith("WECHAT_")}
    try:
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "site_app", "run", "--host", "0.0.0.0",
                                 "--port", str(processes.free_port())], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("flask run served the sandbox on every interface")
    finally:
        embedded_redis.stop(tmp_path / "var")
    assert result.returncode != 0 and "--sandbox-on-network" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_one_client_cannot_start_unbounded_authorize_flows(app, redis):
    from wechat_bot import defaults
    KEY_PREFIX = f"wechat_bot:{APPID}:oauth:state:"

    client = app.test_client()
    inside_one_window(defaults.LOGIN_RATE_WINDOW)
    statuses = [client.get("/oauth/login?next=/x").status_code for _ in range(defaults.LOGIN_RATE_LIMIT + 5)]
    assert statuses[:defaults.LOGIN_RATE_LIMIT] == [302] * defaults.LOGIN_RATE_LIMIT
    assert statuses[defaults.LOGIN_RATE_LIMIT:] == [429] * 5
    assert len(redis.keys(KEY_PREFIX + "*")) == defaults.LOGIN_RATE_LIMIT
    other = app.test_client().get("/oauth/login", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 302


def test_an_ipv6_client_cannot_escape_the_limit_by_rotating_through_its_64(app):
    from wechat_bot import defaults

    client = app.test_client()
    inside_one_window(defaults.LOGIN_RATE_WINDOW)
    statuses = [client.get("/oauth/login", environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{n:x}"}).status_code
                for n in range(defaults.LOGIN_RATE_LIMIT + 1)]
    assert statuses == [302] * defaults.LOGIN_RATE_LIMIT + [429]
    assert client.get("/oauth/login", environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 302


def test_next_is_capped(app, redis):
    import json

    KEY_PREFIX = f"wechat_bot:{APPID}:oauth:state:"

    assert app.test_client().get("/oauth/login?next=/" + "a" * 600).status_code == 302
    (key,) = redis.keys(KEY_PREFIX + "*")
    assert json.loads(redis.get(key))["next"] is None  # not kept: a state stays small


def test_the_production_access_log_keeps_one_json_object_per_request(tmp_path):
    """gunicorn logs the decoded path: %0A, a backslash or a quote in it must not forge or break a line."""
    import json
    import socket

    from tests import processes
    from tests.conftest import CREDENTIALS, project_root
    from wechat_bot.storage import embedded_redis

    port, log = processes.free_port(), tmp_path / "gunicorn.log"
    env = processes.clean_env(**CREDENTIALS, BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1")
    server = processes.start(["-m", "gunicorn", "-c", str(project_root() / "gunicorn.conf.py"),
                              "wechat_bot:create_app()"], tmp_path, env, log)
    hostile = "/x%0A%7B%22remote%22:%22forged%22%7D%0D%5C%22%1B[31m%E2%80%A8"
    try:
        processes.wait_healthy(f"http://127.0.0.1:{port}", server, log)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(f"GET {hostile} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            assert connection.recv(100).startswith(b"HTTP/1.1 404")
    finally:
        processes.stop(server)
        embedded_redis.stop(tmp_path / "var")
    access = [line for line in log.read_text().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in access]  # every line is one whole JSON object
    assert [entry["request"] for entry in entries if entry["status"] == 404] == [
        'GET /x\n{"remote":"forged"}\r\\"\x1b[31m\u2028']
    assert all(entry["remote"] == "127.0.0.1" for entry in entries)
