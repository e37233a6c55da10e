"""The JS-SDK: wx.config signed with the account's one jsapi_ticket, checked by the sandbox as WeChat's client checks
it; the ticket shared, renewed before it runs out, never kept when refused; pages on another origin refused."""
from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from flask import Flask

from tests import processes
from tests.conftest import APPID, CREDENTIALS, SECRET
from wechat_bot import WeChatBot
from wechat_bot.account.token import AccountToken
from wechat_bot.errors import BadSigningRequest, WeChatError
from wechat_bot.jssdk.signing import signature
from wechat_bot.jssdk.ticket import KEY as TICKET_KEY
from wechat_bot.jssdk.ticket import LEASE, JsapiTicket
from wechat_bot.jssdk.ticket import REFUSED as REFUSAL_SUFFIX
from wechat_bot.sandbox import Fault, SandboxStore
from wechat_bot.sandbox import init_app as serve_sandbox
from wechat_bot.storage.leases import Leases
from wechat_bot.wechat_api import WeChatClient

GETTICKET = "/cgi-bin/ticket/getticket"


def wechat_says(sandbox_url: str, config: dict, url: str) -> str:
    """What WeChat's client answers to wx.config(config) on the page at `url` (the sandbox makes its checks)."""
    answer = requests.post(sandbox_url + "/sandbox/api/jssdk/verify", json={**config, "url": url}, timeout=10)
    return answer.json()["errMsg"]


def test_wechats_worked_example_signs_to_its_signature():
    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    assert signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value") == \
        "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_a_page_gets_a_config_wechat_accepts_without_its_fragment(site, sandbox):
    base, _ = site()
    answer = requests.get(base + "/jssdk/config", params={
        "url": base + "/shop/item?id=7&from=timeline#/cart", "apis": "updateAppMessageShareData,chooseImage",
        "open_tags": "wx-open-launch-weapp"}, timeout=10)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    config = answer.json()
    assert config["appId"] == APPID and isinstance(config["timestamp"], int) and config["nonceStr"]
    assert config["jsApiList"] == ["updateAppMessageShareData", "chooseImage"]
    assert config["openTagList"] == ["wx-open-launch-weapp"]
    assert wechat_says(sandbox.url, config, base + "/shop/item?id=7&from=timeline") == "config:ok"
    assert wechat_says(sandbox.url, config, base + "/shop/item?id=7") == "config:invalid signature"
    assert sandbox.calls(GETTICKET) == 1
    again = requests.get(base + "/jssdk/config", params={"url": base + "/other"}, timeout=10).json()
    assert wechat_says(sandbox.url, again, base + "/other") == "config:ok"
    assert sandbox.calls(GETTICKET) == 1  # the ticket is kept, not asked for again


REFUSED = [
    ({}, "url: required"),
    ({"url": "https://evil.example/page"}, "url: on https://evil.example"),
    ({"url": "{https-base}/page"}, "not this site's public origin"),
    ({"url": "http://127.0.0.1:1/page"}, "not this site's public origin"),
    ({"url": "javascript:alert(1)"}, "url: must be an http(s) URL"),
    ({"url": "{base}/a page"}, "percent-encoded"),
    ({"url": "{base}/页面"}, "percent-encoded"),
    ({"url": "{base}/" + "a" * 5000}, "longer than"),
    ({"url": "http://user@127.0.0.1/page"}, "url: must be an http(s) URL"),
    ({"url": "{base}/page", "apis": "chooseImage,<script>"}, "apis: '<script>'"),
    ({"url": "{base}/page", "open_tags": "launch-weapp"}, "open_tags:"),
    ({"url": "{base}/page", "apis": ",".join(["getLocation"] * 101)}, "at most 100"),
]


@pytest.mark.parametrize("params, reason", REFUSED)
def test_a_request_to_fix_gets_400_json_saying_what_and_no_ticket_is_fetched(site, sandbox, params, reason):
    base, _ = site()
    params = {name: value.replace("{base}", base).replace("{https-base}", base.replace("http:", "https:"))
              for name, value in params.items()}
    answer = requests.get(base + "/jssdk/config", params=params, timeout=10)
    assert answer.status_code == 400 and answer.headers["Content-Type"] == "application/json"
    assert reason in answer.json()["error"]
    assert sandbox.calls(GETTICKET) == 0


def test_behind_a_trusted_proxy_the_page_is_signed_on_the_forwarded_origin(site, sandbox):
    base, _ = site({"TRUSTED_PROXIES": "1"})
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com"}
    page = "https://shop.example.com/item?id=1"
    sandbox.configure(js_domains="shop.example.com")
    config = requests.get(base + "/jssdk/config", params={"url": page}, headers=forwarded, timeout=10).json()
    assert wechat_says(sandbox.url, config, page) == "config:ok"
    http_page = requests.get(base + "/jssdk/config", params={"url": page.replace("https", "http")},
                             headers=forwarded, timeout=10)
    assert http_page.status_code == 400 and "https://shop.example.com" in http_page.json()["error"]


def test_a_page_on_another_domain_than_the_js_domain_gets_wechats_invalid_url_domain(site, sandbox):
    base, _ = site()
    sandbox.configure(js_domains="shop.example.com")
    config = requests.get(base + "/jssdk/config", params={"url": base + "/page"}, timeout=10).json()
    assert wechat_says(sandbox.url, config, base + "/page") == "config:invalid url domain"


def make_site(redis, sandbox, config: dict) -> tuple[Flask, WeChatBot]:
    app = Flask("site")
    app.config.update({"SECRET_KEY": "site", **CREDENTIALS, "WECHAT_API_BASE": sandbox.url,
                       "WECHAT_OPEN_BASE": sandbox.url, **config})
    wechat = WeChatBot()
    wechat.init_app(app, redis=redis)

    @app.get("/shop/<path:rest>")
    def shop(rest):
        return wechat.jssdk_config(apis=("updateAppMessageShareData",))

    @app.get("/script")
    def script():
        return wechat.jssdk_script_url
    return app, wechat


def test_jssdk_config_in_a_view_signs_the_page_as_the_browser_sent_it_on_the_public_origin(redis, sandbox, serve):
    app, _ = make_site(redis, sandbox, {"PUBLIC_BASE_URL": "https://shop.example.com", "WECHAT_URL_PREFIX": "/wx"})
    base = serve(app)
    sandbox.configure(js_domains="shop.example.com")
    path = "/shop/%E5%95%86%E5%93%81?q=%E8%8C%B6&sort=new"
    config = requests.get(base + path, timeout=10).json()
    assert config["jsApiList"] == ["updateAppMessageShareData"]
    assert wechat_says(sandbox.url, config, "https://shop.example.com" + path) == "config:ok"
    assert requests.get(base + "/script", timeout=10).text == "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
    assert requests.get(base + "/wx/jssdk/wx.js", timeout=10).headers["Content-Type"].startswith("text/javascript")


def test_jssdk_config_refuses_a_page_on_another_origin_in_python_too(redis, sandbox):
    app, wechat = make_site(redis, sandbox, {"PUBLIC_BASE_URL": "https://shop.example.com"})
    with app.test_request_context("/shop/x"):
        with pytest.raises(BadSigningRequest, match="not this site's public origin"):
            wechat.jssdk_config("https://elsewhere.example.com/x")
        assert wechat.jssdk_config("https://shop.example.com/x#top")["signature"]


def test_forty_requests_on_two_processes_sharing_redis_cause_one_getticket(tmp_path, redis, sandbox):
    sock = redis.connection_pool.connection_kwargs["path"]
    env = processes.clean_env(**CREDENTIALS, REDIS_URL=f"unix://{sock}", WECHAT_API_BASE=sandbox.url,
                              WECHAT_OPEN_BASE=sandbox.url, PUBLIC_BASE_URL="https://shop.example.com")
    sandbox.configure(js_domains="shop.example.com")
    sandbox.inject(GETTICKET, Fault(delay=0.5))  # the first fetch is slow: the other requests arrive meanwhile
    with processes.run_py_servers(2, tmp_path, env) as bases:
        pages = [f"https://shop.example.com/item?id={n}" for n in range(40)]
        barrier = threading.Barrier(40)

        def ask(n: int) -> requests.Response:
            barrier.wait()
            return requests.get(bases[n % 2] + "/jssdk/config", params={"url": pages[n]}, timeout=30)

        with ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(ask, range(40)))
    assert [answer.status_code for answer in answers] == [200] * 40
    assert sandbox.calls(GETTICKET) == 1
    assert all(wechat_says(sandbox.url, answers[n].json(), pages[n]) == "config:ok" for n in range(40))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_ticket_that_ran_out_is_replaced_before_a_signature_uses_it(redis, serve):
    """WeChat and our server on one clock, moved forward: a ticket past its end fails at WeChat, and ours never
    signs with one; a ticket within the margin of its end is replaced while it still works."""
    from wechat_bot.jssdk.signing import wx_config

    clock = Clock(1_700_000_000.0)
    wechat_app = Flask("wechat")
    serve_sandbox(wechat_app, SandboxStore(redis, APPID, SECRET, clock=clock))
    wechat = serve(wechat_app)
    client = WeChatClient(wechat, wechat, APPID, SECRET, timeout=2, budget=3)
    leases = Leases(redis, APPID)
    tickets = JsapiTicket(redis, client, AccountToken(redis, client, leases, clock=clock), leases, clock=clock)
    page = "http://127.0.0.1/page"

    def signed_with(ticket: str) -> str:
        return wechat_says(wechat, wx_config(APPID, ticket, page, [], [], now=clock.now), page)

    first = tickets.get().ticket
    assert signed_with(first) == "config:ok"
    clock.now += 7200 + 1  # it ran out, at WeChat too
    assert signed_with(first) == "config:invalid signature"
    second = tickets.get().ticket
    assert second != first and signed_with(second) == "config:ok"
    clock.now += 7200 - 100  # 100 s left: within the margin
    third = tickets.get().ticket
    assert third != second and signed_with(third) == "config:ok"
    assert SandboxStore(redis, APPID, SECRET).calls(GETTICKET) == 3


@pytest.mark.parametrize("fault, status, says", [
    (Fault(errcode=45009), 502, "45009"),
    (Fault(errcode=40164), 502, "40164"),
    (Fault(errcode=0), 503, "an answer without a ticket"),  # errcode 0 and no ticket: never kept
])
def test_a_refused_ticket_is_never_served_and_the_next_request_asks_again(site, sandbox, redis, caplog, fault,
                                                                          status, says):
    caplog.set_level(logging.INFO, logger="wechat_bot")
    base, _ = site()
    sandbox.inject(GETTICKET, fault)
    refused = requests.get(base + "/jssdk/config", params={"url": base + "/page"}, timeout=10)
    assert refused.status_code == status and says in refused.json()["error"]
    assert redis.get(TICKET_KEY + APPID) is None
    config = requests.get(base + "/jssdk/config", params={"url": base + "/page"}, timeout=10).json()
    assert wechat_says(sandbox.url, config, base + "/page") == "config:ok"
    assert sandbox.calls(GETTICKET) == 2
    ticket = json.loads(redis.get(TICKET_KEY + APPID))["ticket"]
    token = json.loads(redis.get("wechat_bot:account_token:" + APPID))["token"]
    ours = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("wechat_bot"))
    assert "getticket" in ours or "jsapi_ticket" in ours
    for secret in (ticket, token, SECRET):
        assert secret not in refused.text and secret not in ours


def test_a_stale_account_token_is_renewed_once_then_the_ticket(site, sandbox):
    base, _ = site()
    sandbox.inject(GETTICKET, Fault(errcode=40001))
    config = requests.get(base + "/jssdk/config", params={"url": base + "/page"}, timeout=10).json()
    assert wechat_says(sandbox.url, config, base + "/page") == "config:ok"
    assert sandbox.calls(GETTICKET) == 2 and sandbox.calls("/cgi-bin/stable_token") == 2


def test_a_token_refused_twice_is_not_renewed_again_and_again(site, sandbox, redis):
    base, _ = site()
    sandbox.inject(GETTICKET, Fault(errcode=42001), times=5)
    refused = requests.get(base + "/jssdk/config", params={"url": base + "/page"}, timeout=10)
    assert refused.status_code == 502 and refused.json()["errcode"] == 42001
    assert sandbox.calls(GETTICKET) == 2 and sandbox.calls("/cgi-bin/stable_token") == 2
    assert redis.get(TICKET_KEY + APPID) is None


def test_processes_waiting_on_a_fetch_that_was_refused_fail_with_it_instead_of_asking_in_turn(redis, sandbox):
    # the refused fetch takes long enough that every thread has started waiting on it, even on a busy machine (a
    # thread that starts after the refusal was written asks again, as the next request should)
    sandbox.inject(GETTICKET, Fault(errcode=45009, delay=2.0))
    client = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=4, budget=5)
    leases = Leases(redis, APPID)
    tickets = JsapiTicket(redis, client, AccountToken(redis, client, leases), leases)
    barrier = threading.Barrier(10)

    def ask(_: int) -> str:
        barrier.wait()
        try:
            return tickets.get().ticket
        except WeChatError as error:
            return f"refused {error.errcode}"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(ask, range(10)))
    assert outcomes == ["refused 45009"] * 10 and sandbox.calls(GETTICKET) == 1
    assert not tickets.get().ticket.startswith("refused") and sandbox.calls(GETTICKET) == 2


class _RefusalLandsAfterTheLook:
    """The waiter's Redis: just after its poll reads "no refusal yet", the fetcher refuses and lets the lease go."""

    def __init__(self, real, fetcher_finishes):
        self._real, self._finish, self._reads = real, fetcher_finishes, 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def get(self, key):
        value = self._real.get(key)
        if key.endswith(REFUSAL_SUFFIX):
            self._reads += 1
            if self._reads == 2:  # the first read is what the waiter has seen before waiting
                self._finish()
        return value


def test_a_waiter_that_takes_the_lease_the_moment_the_fetcher_let_go_fails_with_its_refusal(redis, sandbox):
    sandbox.inject(GETTICKET, Fault(errcode=45009))
    client = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=4, budget=5)
    leases = Leases(redis, APPID)
    account = AccountToken(redis, client, leases)
    fetcher = JsapiTicket(redis, client, account, leases)
    held = leases.acquire(LEASE + APPID, ttl=30)  # the fetcher is at work
    refusals = []

    def fetcher_finishes():
        leases.release(LEASE + APPID, held)
        with pytest.raises(WeChatError) as refused:
            fetcher.get()
        refusals.append(refused.value.errcode)

    waiter = JsapiTicket(_RefusalLandsAfterTheLook(redis, fetcher_finishes), client, account, leases)
    with pytest.raises(WeChatError) as waited:
        waiter.get()
    assert refusals == [45009] and waited.value.errcode == 45009 and sandbox.calls(GETTICKET) == 1


def test_redis_down_is_a_503_json_not_a_traceback(sandbox, make_app, serve):
    import redis as redis_py

    app = make_app({"WECHAT_API_BASE": sandbox.url}, redis=redis_py.Redis(port=processes.free_port(),
                                                                          socket_connect_timeout=0.2))
    base = serve(app)
    answer = requests.get(base + "/jssdk/config", params={"url": base + "/page"}, timeout=10)
    assert answer.status_code == 503 and "Redis" in answer.json()["error"]



def test_wx_js_is_served_for_pages_to_include(app):
    answer = app.test_client().get("/jssdk/wx.js")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert b"window.wechatJssdk" in answer.data


def test_the_ticket_and_token_kept_for_another_account_are_not_served(redis, sandbox):
    """The sandbox and then real credentials share ./var/'s Redis: the sandbox's ticket and account token, still
    fresh, must not be signed with or sent to WeChat for the real account (config:invalid signature for 2 hours)."""
    leases = Leases(redis, APPID)
    sandboxed = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=2, budget=3)
    JsapiTicket(redis, sandboxed, AccountToken(redis, sandboxed, leases), leases).get()
    real = WeChatClient(sandbox.url, sandbox.url, "wx" + "1" * 16, SECRET, timeout=2, budget=3)
    with pytest.raises(WeChatError):  # it asks WeChat for its own (refused here: the sandbox knows one account)
        AccountToken(redis, real, leases).get()
    with pytest.raises(WeChatError):
        JsapiTicket(redis, real, AccountToken(redis, real, leases), leases).get()
