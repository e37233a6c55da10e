"""Going live: the public URL from a tunnel, and `run.py check` telling an admin what to paste."""
import re

import pytest
from flask import Flask, jsonify

from tests.conftest import APPID, CREDENTIALS, SECRET, TOKEN, inside_one_window
from tests.wechat_client import WeChat, flask_transport
from wechat_bot.check import run_checks
from wechat_bot.config import Settings
from wechat_bot.web import public_url


@pytest.fixture(autouse=True)
def fresh_discovery():
    public_url._cache.clear()
    yield
    public_url._cache.clear()


@pytest.fixture
def ngrok_agent(serve):
    """A stand-in for the ngrok agent's local API, listing the tunnels given."""
    tunnels = []
    agent = Flask("fake_ngrok")
    agent.add_url_rule("/api/tunnels", "tunnels", lambda: jsonify(tunnels=tunnels))
    url = serve(agent)

    def with_tunnels(*entries):
        tunnels[:] = [{"public_url": public, "proto": public.split(":")[0], "config": {"addr": addr}}
                      for public, addr in entries]
        return url
    return with_tunnels


def test_links_use_the_https_tunnel_to_our_port(make_app, ngrok_agent, push_log):
    agent = ngrok_agent(("http://abc.ngrok-free.app", "http://localhost:80"),
                        ("https://other.ngrok-free.app", "http://localhost:8080"),
                        ("https://abc.ngrok-free.app", "http://localhost:80"))
    app = make_app({"NGROK_API_URL": agent})
    content = WeChat(flask_transport(app.test_client()), TOKEN, APPID).says("登录").content
    assert "redirect_uri=https%3A%2F%2Fabc.ngrok-free.app%2Foauth%2Fcallback" in content
    assert "public URL from the ngrok agent" in push_log.text and "https://abc.ngrok-free.app" in push_log.text


def test_without_an_agent_links_use_the_requests_host(make_app, tmp_path):
    app = make_app({"NGROK_API_URL": "http://127.0.0.1:9"})
    content = WeChat(flask_transport(app.test_client()), TOKEN, APPID).says("登录").content
    assert "redirect_uri=http%3A%2F%2Flocalhost%2Foauth%2Fcallback" in content


def test_public_base_url_wins_over_the_tunnel(make_app, ngrok_agent):
    agent = ngrok_agent(("https://abc.ngrok-free.app", "http://localhost:80"))
    app = make_app({"NGROK_API_URL": agent, "PUBLIC_BASE_URL": "https://bot.example.com"})
    content = WeChat(flask_transport(app.test_client()), TOKEN, APPID).says("登录").content
    assert "redirect_uri=https%3A%2F%2Fbot.example.com%2Foauth%2Fcallback" in content


def settings(**extra):
    return Settings.load({**CREDENTIALS, **extra})


def test_check_prints_what_to_paste_and_passes_the_handshake_of_a_running_server(app, serve, redis):
    base = serve(app)
    report = run_checks(settings(PUBLIC_BASE_URL=base), redis)
    pasted = dict(report.paste)
    assert pasted["URL(服务器地址)"] == base + "/wechat" and pasted["Token(令牌)"] == TOKEN
    assert pasted["网页授权域名"] == "127.0.0.1" and pasted["消息加解密方式"] == "明文模式"
    assert any(line.startswith("handshake:") for line in report.passed)
    assert "Redis takes writes" in report.passed
    assert SECRET not in "\n".join(report.lines())


def test_check_fails_what_wechat_refuses_http_and_a_port(app, serve, redis):
    report = run_checks(settings(PUBLIC_BASE_URL=serve(app)), redis)
    assert not report.ok
    assert any("is http" in line for line in report.failures)
    assert any("has port" in line for line in report.failures)


def test_check_fails_the_handshake_of_a_server_with_another_token(make_app, serve, redis):
    other = make_app({"WECHAT_TOKEN": "differenttoken"})
    report = run_checks(settings(PUBLIC_BASE_URL=serve(other)), redis)
    assert any(line.startswith("handshake:") and "403" in line for line in report.failures)


def test_check_finds_the_tunnel_and_shows_the_host_only(redis, ngrok_agent):
    agent = ngrok_agent(("https://abc.ngrok-free.app", "http://localhost:5000"))
    report = run_checks(settings(NGROK_API_URL=agent), redis, port=5000)
    assert dict(report.paste)["网页授权域名"] == "abc.ngrok-free.app"


def test_check_without_a_public_url_says_how_to_get_one(redis):
    report = run_checks(settings(NGROK_API_URL="http://127.0.0.1:9"), redis)
    assert any("no public URL" in line for line in report.failures)


@pytest.mark.parametrize("secret, verdict", [(SECRET, "accepted"), ("f" * 32, "40125")])
def test_check_online_asks_wechat_about_appid_and_secret(redis, sandbox, secret, verdict):
    report = run_checks(settings(WECHAT_SECRET=secret, WECHAT_API_BASE=sandbox.url,
                                 NGROK_API_URL="http://127.0.0.1:9"), redis, online=True)
    assert verdict in "\n".join(report.lines())


def test_check_command_exit_status_and_output(tmp_path, redis):
    import subprocess
    import sys

    from tests import processes
    from tests.conftest import project_root

    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", PUBLIC_BASE_URL="http://127.0.0.1:9")
    result = subprocess.run([sys.executable, str(project_root() / "run.py"), "check"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert re.search(r"URL\(服务器地址\): http://127\.0\.0\.1:9/wechat", result.stdout)
    assert "verdict:" in result.stdout and SECRET not in result.stdout


def test_forwarded_headers_are_ignored_unless_a_proxy_is_trusted(make_app):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bot.example.com"}
    for trusted, origin in (("0", "http%3A%2F%2Flocalhost"), ("1", "https%3A%2F%2Fbot.example.com")):
        app = make_app({"TRUSTED_PROXIES": trusted, "NGROK_API_URL": "http://127.0.0.1:9"})
        client = app.test_client()
        wechat = WeChat(lambda method, path, body, client=client: _post(client, path, body, headers), TOKEN, APPID)
        assert f"redirect_uri={origin}%2Foauth%2Fcallback" in wechat.says("登录").content


def _post(client, path, body, headers):
    response = client.post(path, data=body, headers=headers, content_type="text/xml")
    return response.status_code, response.get_data()


def test_json_log_lines(tmp_path):
    import json
    import subprocess
    import sys

    from tests import processes

    code = ("import logging; from wechat_bot import logs; logs.configure('json'); "
            "logging.getLogger('wechat_bot.push').info('push type=%s', 'text')")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=processes.clean_env(),
                            capture_output=True, text=True, timeout=30)
    entry = json.loads(result.stderr.strip())
    assert entry["message"] == "push type=text" and entry["level"] == "INFO" and entry["logger"] == "wechat_bot.push"


MENU = {"button": [
    {"type": "click", "name": "今日推荐", "key": "V1001_TODAY"},
    {"name": "我的", "sub_button": [
        {"type": "view", "name": "登录", "scope": "snsapi_base", "next": "/account"},
        {"type": "view", "name": "我的资料", "scope": "snsapi_userinfo"},
        {"type": "view", "name": "官网", "url": "https://example.com/"}]}]}


def run_menu(tmp_path, redis, sandbox, *args, public="https://bot.example.com"):
    import json
    import subprocess
    import sys

    from tests import processes
    from tests.conftest import project_root

    (tmp_path / "menu.json").write_text(json.dumps(MENU, ensure_ascii=False))
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url, PUBLIC_BASE_URL=public)
    return subprocess.run([sys.executable, str(project_root() / "run.py"), "menu", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)


def test_menu_push_builds_authorize_urls_for_scoped_view_buttons(tmp_path, redis, sandbox):
    import json

    pushed = run_menu(tmp_path, redis, sandbox, "push", "menu.json")
    assert pushed.returncode == 0, pushed.stderr
    shown = json.loads(run_menu(tmp_path, redis, sandbox, "show").stdout)
    login, profile, site = shown["menu"]["button"][1]["sub_button"]
    assert login["url"].startswith(sandbox.url + "/connect/oauth2/authorize?appid=" + APPID)
    assert "redirect_uri=https%3A%2F%2Fbot.example.com%2Foauth%2Fcallback" in login["url"]
    assert "scope=snsapi_base" in login["url"] and "scope=snsapi_userinfo" in profile["url"]
    assert "scope" not in login and "next" not in login
    assert site["url"] == "https://example.com/" and shown["menu"]["button"][0]["key"] == "V1001_TODAY"


def test_a_menu_link_works_every_time_it_is_tapped(site, phone):
    from wechat_bot.menu import build_menu

    base, app = site()
    menu = build_menu(MENU, app.extensions["wechat_bot"].links(base))
    link = menu["button"][1]["sub_button"][0]["url"]
    for openid in ("o_first", "o_second", "o_first"):
        page = phone(openid).get(link, timeout=10)
        assert page.url.split("#")[0] == base + "/account"


@pytest.mark.parametrize("button, problem", [
    ({"type": "click", "name": "x", "key": "k", "scope": "snsapi_base"}, "not of type view"),
    ({"type": "view", "name": "x", "scope": "snsapi_login"}, "scope must be one of"),
    ({"type": "view", "name": "x", "scope": "snsapi_base", "next": "https://evil.example"}, "path on this site"),
])
def test_a_wrong_menu_is_refused_naming_the_button(button, problem):
    from wechat_bot.errors import WeChatBotError
    from wechat_bot.menu import build_menu

    with pytest.raises(WeChatBotError, match=problem):
        build_menu({"button": [button]}, None)


def _logins(client, host: str, forwarded: str, count: int) -> list[int]:
    return [client.get("/oauth/login", headers={"Host": host, "X-Forwarded-For": forwarded}).status_code
            for _ in range(count)]


def test_behind_the_tunnel_the_login_limit_counts_visitors_not_the_tunnel(make_app, ngrok_agent):
    from wechat_bot import defaults

    agent = ngrok_agent(("https://abc.ngrok-free.app", "http://localhost:80"))
    client = make_app({"NGROK_API_URL": agent}).test_client()
    limit = defaults.LOGIN_RATE_LIMIT
    inside_one_window(defaults.LOGIN_RATE_WINDOW)
    assert _logins(client, "abc.ngrok-free.app", "203.0.113.7", limit + 1) == [302] * limit + [429]
    assert _logins(client, "abc.ngrok-free.app", "203.0.113.7, 198.51.100.9", 1) == [302]  # another visitor
    # what a visitor writes into X-Forwarded-For itself comes before the agent's entry: it changes nothing
    assert _logins(client, "abc.ngrok-free.app", "198.51.100.1, 203.0.113.7", 1) == [429]
    # on the loopback host the peer is who it says: a local visitor, whatever the header
    assert _logins(client, "localhost", "192.0.2.1", 1) == [302]


def test_the_tunnel_cache_is_bounded_and_asks_nothing_for_a_port_that_is_not_one():
    asked = []
    original = public_url._ask_agent
    public_url._ask_agent = lambda agent, port: asked.append(port)
    try:
        for port in ["99999", "0", "abc", "80a", "", "٣٣"]:
            assert public_url.discover_tunnel("http://127.0.0.1:9", port) is None
        assert asked == []
        for port in range(1000, 1100):
            public_url.discover_tunnel("http://127.0.0.1:9", port)
        assert len(public_url._cache) <= public_url.DISCOVERY_CACHE_SIZE and len(asked) == 100
    finally:
        public_url._ask_agent = original


def test_a_push_that_fails_its_signature_asks_the_ngrok_agent_nothing(make_app, serve):
    asked = []
    agent = Flask("counting_ngrok")
    agent.add_url_rule("/api/tunnels", "tunnels", lambda: (asked.append(1), jsonify(tunnels=[]))[1])
    client = make_app({"NGROK_API_URL": serve(agent)}).test_client()
    assert client.post("/wechat?signature=x&timestamp=1&nonce=2", data=b"<xml/>").status_code == 403
    assert asked == []


def test_behind_a_trusted_proxy_a_rotating_forwarded_port_asks_the_ngrok_agent_once(make_app, serve):
    """The tunnel is looked up for the port the server listens on, not the one X-Forwarded-Port names."""
    asked = []
    agent = Flask("counting_ngrok")
    agent.add_url_rule("/api/tunnels", "tunnels", lambda: (asked.append(1), jsonify(tunnels=[]))[1])
    client = make_app({"NGROK_API_URL": serve(agent), "TRUSTED_PROXIES": "1"}).test_client()
    for port in range(8000, 8020):
        answer = client.get("/oauth/login", headers={"X-Forwarded-Port": str(port), "X-Forwarded-For": "203.0.113.7",
                                                     "User-Agent": "MicroMessenger"})
        assert answer.status_code == 302
    assert len(asked) == 1


def test_check_pastes_the_js_domain_beside_the_web_authorization_domain_and_finds_the_verification_file(
        make_app, serve, redis):
    name = "MP_verify_Ab12Cd34Ef56Gh78.txt"
    base = serve(make_app({"WECHAT_VERIFY_FILE": name, "WECHAT_URL_PREFIX": "/wx"}))
    report = run_checks(settings(PUBLIC_BASE_URL=base, WECHAT_VERIFY_FILE=name, WECHAT_URL_PREFIX="/wx"), redis)
    pasted = dict(report.paste)
    assert pasted["JS接口安全域名"] == pasted["网页授权域名"] == "127.0.0.1"
    assert any(line.startswith(f"verification file: {base}/{name} answers") for line in report.passed)
    assert "功能设置" in report.lines()[0]


def test_check_fails_a_verification_file_the_public_origin_does_not_answer(app, serve, redis):
    base = serve(app)  # a server without WECHAT_VERIFY_FILE
    report = run_checks(settings(PUBLIC_BASE_URL=base, WECHAT_VERIFY_FILE="MP_verify_Ab12Cd34Ef56Gh78.txt"), redis)
    assert any(line.startswith("verification file:") and "404" in line for line in report.failures)
    unset = run_checks(settings(PUBLIC_BASE_URL=base), redis)
    assert any("WECHAT_VERIFY_FILE not set" in line for line in unset.warnings)
